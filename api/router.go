// Package api is Veilig's HTTP API (gin): routing, authentication, request limits
// and the one place where errors become RFC 9457 problem details. The contract is
// api/openapi.yaml (OpenAPI 3.1), served at /api/v1/openapi.yaml and checked
// against every request and response in the API tests.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/metrics"
)

// Options are the HTTP-level settings.
type Options struct {
	MaxBodyBytes   int64    // largest JSON body accepted
	TrustedProxies []string // CIDRs whose X-Forwarded-For is believed; none by default
	MetricsAllow   []string // CIDRs that may read /metrics; empty means loopback only

	// MaxMessageBytes caps the whole body of POST /api/v1/messages (multipart or
	// message/rfc822), counted while streaming; VEILIG_MAX_MESSAGE_BYTES.
	MaxMessageBytes int64
	// SpoolDir holds uploads while a request runs ($DataDir/spool); created 0700.
	SpoolDir string
	// SPFInclude is the domain organisations include in their SPF record.
	SPFInclude string
	// PreviewTimeout bounds the transport preview of one resolve request; 0 = 3 s.
	PreviewTimeout time.Duration
	// AddinOrigins are the exact origins (scheme://host[:port]) whose browser
	// code may call /api/v1 (CORS); none = same-origin only.
	AddinOrigins []string
}

// Deps are the services the handlers call; each is a small interface owned here.
type Deps struct {
	Log       *slog.Logger
	Metrics   *metrics.Metrics
	Directory DirectoryReader
	Status    StatusReader
	Login     Login
	Tokens    TokenVerifier
	Ready     func(ctx context.Context) error

	// Optional: the routes of a nil service are not served (404).
	Messages      Messages           // POST/GET /api/v1/messages
	Organisations OrganisationReader // GET /api/v1/organisations/{id}/dns
	DKIM          DNSRecords         // GET /api/v1/organisations/{id}/dns
	Transport     TransportPreview   // "transport" in POST /api/v1/recipients/resolve
	Revoker       Revoker            // POST /api/v1/messages/{id}/revoke
	Unlocker      Unlocker           // POST /api/v1/messages/{id}/recipients/{address}/unlock
	Settings      SettingsStore      // GET/PUT /api/v1/organisations/{id}/settings
	Detector      Detector           // POST /api/v1/detect, GET /api/v1/detect/patterns
	Enrolments    Enrolments         // /api/v1/enrolments (public) and /api/v1/admin/enrolments (operators)
	Events        EventLog           // GET /api/v1/admin/events
	Pins          Pins               // POST /api/v1/admin/domains/{domain}/pin
	Users         OrgUsers           // /api/v1/organisations/{id}/users, POST /api/v1/auth/invitations/accept
	APIKeys       APIKeyStore        // /api/v1/organisations/{id}/api-keys
	Reports       DomainReports      // GET /api/v1/organisations/{id}/report
	Audit         AuditLog           // GET /api/v1/audit/events
	Pages         []Registrar        // routes outside the API: the viewer (/v), the dev mailbox, the add-ins (/addin)
}

// New builds the router with every route and middleware.
func New(opts Options, d Deps) (http.Handler, error) {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, err
	}
	h := &handlers{opts: opts, Deps: d}
	corsHandler, err := cors(opts.AddinOrigins)
	if err != nil {
		return nil, err
	}
	r.Use(requestID(), auditActor(), h.observe(), recovery(d.Log), securityHeaders(), corsHandler, renderErrors(d.Log))
	r.NoRoute(func(c *gin.Context) { _ = c.Error(newError(kindNotFound, "no such route")) })
	r.NoMethod(func(c *gin.Context) { _ = c.Error(newError(kindMethodNotAllowed, "method not allowed")) })

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	metricsHandler, err := h.metrics(opts.MetricsAllow)
	if err != nil {
		return nil, err
	}
	r.GET("/metrics", metricsHandler)
	r.GET("/.well-known/jwks.json", h.jwks)
	r.GET("/api/v1/openapi.yaml", h.openapi)

	v1 := r.Group("/api/v1")
	v1.POST("/auth/token", h.limitBody(), h.token)
	v1.POST("/auth/revoke", h.limitBody(), h.revoke)
	authed := v1.Group("", h.authenticate())
	authed.GET("/directory/search", scope(auth.ScopeDirectoryRead), h.search)
	authed.GET("/directory/status", scope(auth.ScopeDirectoryRead), h.status)
	authed.POST("/recipients/resolve", scope(auth.ScopeDirectoryRead), h.limitBody(), h.resolve)
	if d.Messages != nil {
		if err := prepareSpool(opts); err != nil {
			return nil, err
		}
		send, read := scope(auth.ScopeMessagesSend), scope(auth.ScopeMessagesRead)
		authed.POST("/messages", send, h.submit)
		authed.GET("/messages", read, h.listMessages)
		authed.GET("/messages/:id", read, h.getMessage)
		if d.Revoker != nil {
			authed.POST("/messages/:id/revoke", send, h.revokeMessage)
		}
		if d.Unlocker != nil {
			authed.POST("/messages/:id/recipients/:address/unlock", send, h.unlockRecipient)
		}
	}
	for _, p := range d.Pages {
		p.Register(r)
	}
	if d.Detector != nil {
		send := scope(auth.ScopeMessagesSend)
		authed.POST("/detect", send, h.limitBody(), h.detectText)
		authed.GET("/detect/patterns", send, h.detectPatterns)
	}
	h.organisationRoutes(authed.Group("/organisations/:id", noAPIKeys()))
	h.enrolmentRoutes(v1, authed)
	auditRoutes(authed, d.Audit)
	if d.Users != nil {
		v1.POST("/auth/invitations/accept", h.limitBody(), h.acceptInvitation)
	}
	return r, nil
}

// organisationRoutes are an organisation's administration: its administrators
// and operators; anyone else gets 404 as for an unknown id.
func (h *handlers) organisationRoutes(org gin.IRoutes) {
	if h.Organisations == nil {
		return
	}
	if h.DKIM != nil {
		org.GET("/dns", h.organisationDNS)
	}
	if h.Settings != nil {
		org.GET("/settings", h.getSettings)
		org.PUT("/settings", h.limitBody(), h.putSettings)
	}
	if h.Users != nil {
		org.GET("/users", h.listUsers)
		org.POST("/users", h.limitBody(), h.inviteUser)
		org.POST("/users/:user/disable", h.disableUser)
	}
	if h.APIKeys != nil {
		org.GET("/api-keys", h.listAPIKeys)
		org.POST("/api-keys", h.limitBody(), h.createAPIKey)
		org.DELETE("/api-keys/:key", h.revokeAPIKey)
	}
	if h.Reports != nil {
		org.GET("/report", h.organisationReport)
	}
}

// enrolmentRoutes: the public enrolment calls (no account; the status token
// as bearer token) and the operators' admission.
func (h *handlers) enrolmentRoutes(v1 *gin.RouterGroup, authed *gin.RouterGroup) {
	if h.Enrolments != nil {
		v1.POST("/enrolments", h.limitBody(), h.createEnrolment)
		v1.GET("/enrolments/:id", h.getEnrolment)
		v1.POST("/enrolments/:id/verify", h.verifyEnrolment)
		v1.POST("/enrolments/:id/activate", h.limitBody(), h.activateEnrolment)
		v1.GET("/enrolments/:id/report", h.enrolmentReport)
	}
	admin := authed.Group("/admin", operatorOnly())
	if h.Enrolments != nil {
		admin.GET("/enrolments", h.listEnrolments)
		admin.GET("/enrolments/:id", h.inspectEnrolment)
		admin.POST("/enrolments/:id/approve", h.approveEnrolment)
		admin.POST("/enrolments/:id/reject", h.limitBody(), h.rejectEnrolment)
	}
	if h.Events != nil {
		admin.GET("/events", h.listEvents)
	}
	if h.Pins != nil {
		admin.POST("/domains/:domain/pin", h.limitBody(), h.repin)
	}
}

// prepareSpool checks the message options and makes the spool directory private.
func prepareSpool(opts Options) error {
	if opts.MaxMessageBytes <= 0 || opts.SpoolDir == "" {
		return fmt.Errorf("api: messages need MaxMessageBytes and SpoolDir")
	}
	if err := os.MkdirAll(opts.SpoolDir, 0o700); err != nil {
		return fmt.Errorf("api: spool directory: %w", err)
	}
	if err := os.Chmod(opts.SpoolDir, 0o700); err != nil {
		return fmt.Errorf("api: spool directory: %w", err)
	}
	return nil
}

type handlers struct {
	opts Options
	Deps
}
