// Package api is Veilig's HTTP API (gin): routing, authentication, request limits
// and the one place where errors become RFC 9457 problem details. The contract is
// api/openapi.yaml (OpenAPI 3.1), served at /api/v1/openapi.yaml and checked
// against every request and response in the API tests.
package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/metrics"
)

// Options are the HTTP-level settings.
type Options struct {
	MaxBodyBytes   int64    // largest JSON body accepted
	TrustedProxies []string // CIDRs whose X-Forwarded-For is believed; none by default
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
	r.Use(requestID(), h.observe(), recovery(d.Log), securityHeaders(), renderErrors(d.Log))
	r.NoRoute(func(c *gin.Context) { _ = c.Error(newError(kindNotFound, "no such route")) })
	r.NoMethod(func(c *gin.Context) { _ = c.Error(newError(kindMethodNotAllowed, "method not allowed")) })

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/metrics", h.metrics())
	r.GET("/.well-known/jwks.json", h.jwks)
	r.GET("/api/v1/openapi.yaml", h.openapi)

	v1 := r.Group("/api/v1")
	v1.POST("/auth/token", h.limitBody(), h.token)
	authed := v1.Group("", h.authenticate())
	authed.GET("/directory/search", h.search)
	authed.GET("/directory/status", h.status)
	authed.POST("/recipients/resolve", h.limitBody(), h.resolve)
	return r, nil
}

type handlers struct {
	opts Options
	Deps
}
