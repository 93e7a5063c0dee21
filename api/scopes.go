package api

import (
	"github.com/gin-gonic/gin"
)

// scope admits an API-key principal only when its key was granted the scope
// (RFC 6749 §3.3), 403 otherwise. User tokens pass: their role decides, as
// before API keys existed.
//
// The map (issue 6 §4): messages:send — POST /messages, its revoke and unlock,
// and the pre-send checks of /detect; messages:read — GET /messages[/{id}];
// directory:read — /directory/*, /recipients/resolve. Administration is
// refused to every API key (noAPIKeys, operatorOnly).
func scope(name string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if p := principal(c); p.IsAPIKey() && !p.Allows(name) {
			_ = c.Error(newError(kindForbidden, "this API key lacks the scope "+name))
			c.Abort()
			return
		}
		c.Next()
	}
}
