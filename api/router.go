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
	r.Use(requestID(), h.observe(), recovery(d.Log), securityHeaders(), corsHandler, renderErrors(d.Log))
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
	authed.GET("/directory/search", h.search)
	authed.GET("/directory/status", h.status)
	authed.POST("/recipients/resolve", h.limitBody(), h.resolve)
	if d.Messages != nil {
		if err := prepareSpool(opts); err != nil {
			return nil, err
		}
		authed.POST("/messages", h.submit)
		authed.GET("/messages", h.listMessages)
		authed.GET("/messages/:id", h.getMessage)
		if d.Revoker != nil {
			authed.POST("/messages/:id/revoke", h.revokeMessage)
		}
		if d.Unlocker != nil {
			authed.POST("/messages/:id/recipients/:address/unlock", h.unlockRecipient)
		}
	}
	for _, p := range d.Pages {
		p.Register(r)
	}
	if d.Organisations != nil && d.DKIM != nil {
		authed.GET("/organisations/:id/dns", h.organisationDNS)
	}
	if d.Detector != nil {
		authed.POST("/detect", h.limitBody(), h.detectText)
		authed.GET("/detect/patterns", h.detectPatterns)
	}
	if d.Organisations != nil && d.Settings != nil {
		authed.GET("/organisations/:id/settings", h.getSettings)
		authed.PUT("/organisations/:id/settings", h.limitBody(), h.putSettings)
	}
	return r, nil
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
