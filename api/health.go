package api

import (
	"context"
	"database/sql/driver"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OpenAPI is the API contract, served as is.
//
//go:embed openapi.yaml
var OpenAPI []byte

func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 only while the database answers and its schema is current.
func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if err := h.Ready(ctx); err != nil {
		h.Log.Warn("not ready", "err", err)
		_ = c.Error(newError(kindUnavailable, "the service is not ready").withCause(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// unavailable reports whether err says a backing service (the database above
// all) cannot be reached right now: a refused or cut connection, or PostgreSQL
// shutting down or refusing connections (SQLSTATE class 08, 57P01–57P03).
// Such a failure is a 503 the client may retry, not a 500.
func unavailable(err error) bool {
	var (
		op    *net.OpError
		state interface{ SQLState() string }
		retry interface{ SafeToRetry() bool }
	)
	switch {
	case errors.As(err, &op), errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &state):
		return strings.HasPrefix(state.SQLState(), "08") || strings.HasPrefix(state.SQLState(), "57P0")
	default:
		return errors.As(err, &retry) && retry.SafeToRetry()
	}
}

// metrics serves Prometheus metrics to the allowed networks only; anyone else
// gets the same 404 as for a route that does not exist.
func (h *handlers) metrics(allow []string) (gin.HandlerFunc, error) {
	if len(allow) == 0 {
		allow = []string{"127.0.0.0/8", "::1/128"}
	}
	nets := make([]netip.Prefix, len(allow))
	for i, a := range allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return nil, fmt.Errorf("api: metrics allow-list %q: %w", a, err)
		}
		nets[i] = p
	}
	serve := gin.WrapH(promhttp.HandlerFor(h.Metrics.Registry, promhttp.HandlerOpts{}))
	return func(c *gin.Context) {
		ip, err := netip.ParseAddr(c.ClientIP())
		if err != nil || !slices.ContainsFunc(nets, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) }) {
			_ = c.Error(newError(kindNotFound, "no such route"))
			return
		}
		serve(c)
	}, nil
}

func (h *handlers) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", OpenAPI)
}
