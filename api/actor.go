package api

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/auth"
)

// maxUserAgent bounds the user agent kept in audit events (see audit.Actor).
const maxUserAgent = 256

// auditActor puts who is calling into every request's context, for the audit
// trail (NTA 7516 §6.4.2, NEN 7513): the client's address and user agent now,
// the account once authenticate has checked the credential (withPrincipal).
func auditActor() gin.HandlerFunc {
	return func(c *gin.Context) {
		a := audit.Actor{IP: c.ClientIP(), UserAgent: cutUserAgent(c.Request.UserAgent())}
		c.Request = c.Request.WithContext(audit.WithActor(c.Request.Context(), a))
		c.Next()
	}
}

// withPrincipal adds the authenticated account to the request's audit actor.
func withPrincipal(c *gin.Context, p auth.Principal) {
	ctx := c.Request.Context()
	a := audit.ActorFrom(ctx)
	if a.IP == "" {
		a.IP = c.ClientIP()
	}
	a.UserID, a.APIKeyID, a.OrganisationID, a.Role = p.UserID, p.APIKeyID, p.OrganisationID, string(p.Role)
	c.Request = c.Request.WithContext(audit.WithActor(ctx, a))
}

// cutUserAgent keeps at most maxUserAgent bytes of valid UTF-8.
func cutUserAgent(ua string) string {
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	return strings.ToValidUTF8(ua, "")
}
