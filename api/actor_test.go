package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/auth"
)

func TestAuditActor(t *testing.T) {
	gin.SetMode(gin.TestMode)
	long := "x" + strings.Repeat("é", 200) // 401 bytes: byte 256 splits a character
	tests := []struct {
		name string
		ua   string
		p    *auth.Principal
		want audit.Actor
	}{
		{"anonymous", "Browser/1", nil, audit.Actor{IP: "192.0.2.4", UserAgent: "Browser/1"}},
		{"user", "Browser/1", &auth.Principal{UserID: "u1", OrganisationID: "o1", Role: auth.RoleSender,
			Email: "canary@a.example"},
			audit.Actor{UserID: "u1", OrganisationID: "o1", Role: "sender", IP: "192.0.2.4", UserAgent: "Browser/1"}},
		{"API key", "", &auth.Principal{UserID: "u2", OrganisationID: "o1", Role: auth.RoleSender, APIKeyID: "k1"},
			audit.Actor{UserID: "u2", APIKeyID: "k1", OrganisationID: "o1", Role: "sender", IP: "192.0.2.4"}},
		{"long user agent", long, nil, audit.Actor{IP: "192.0.2.4", UserAgent: "x" + strings.Repeat("é", 127)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got audit.Actor
			r := gin.New()
			r.Use(auditActor())
			r.GET("/", func(c *gin.Context) {
				if tt.p != nil {
					withPrincipal(c, *tt.p)
				}
				got = audit.ActorFrom(c.Request.Context())
			})
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "192.0.2.4:5555"
			req.Header.Set("User-Agent", tt.ua)
			r.ServeHTTP(httptest.NewRecorder(), req)
			if got != tt.want {
				t.Errorf("actor %+v, want %+v", got, tt.want)
			}
		})
	}
}
