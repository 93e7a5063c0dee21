package api

import (
	"context"
	_ "embed"
	"net/http"
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

func (h *handlers) metrics() gin.HandlerFunc {
	return gin.WrapH(promhttp.HandlerFor(h.Metrics.Registry, promhttp.HandlerOpts{}))
}

func (h *handlers) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", OpenAPI)
}
