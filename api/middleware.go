package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	headerRequestID = "X-Request-ID"
	ctxRequestID    = "veilig.request_id"
	ctxPrincipal    = "veilig.principal"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID keeps a sane incoming X-Request-ID or makes one, for logs and replies.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(headerRequestID)
		if !validRequestID.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(ctxRequestID, id)
		c.Header(headerRequestID, id)
		c.Next()
	}
}

// observe logs each request once and records its latency by route template.
func (h *handlers) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		elapsed := time.Since(start)
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		h.Metrics.HTTPDuration.WithLabelValues(route, c.Request.Method, strconv.Itoa(status)).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status < 400 && (c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead):
			// Successful reads (autocomplete at keystroke rate) are debug: logging
			// each costs a write per request; failures and changes stay at info.
			level = slog.LevelDebug
		}
		if !h.Log.Enabled(c.Request.Context(), level) {
			return
		}
		h.Log.LogAttrs(c.Request.Context(), level, "http request",
			slog.String("request_id", c.GetString(ctxRequestID)), slog.String("method", c.Request.Method),
			slog.String("route", route), slog.Int("status", status), slog.Duration("duration", elapsed),
			slog.String("client_ip", c.ClientIP()), slog.String("user", principalID(c)))
	}
}

// recovery turns a panic into a 500 problem and logs it; the client sees nothing
// of it.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, err any) {
		log.Error("panic serving request", "request_id", c.GetString(ctxRequestID), "panic", err)
		writeProblem(c, problemFor(errors.New("panic")))
		c.Abort()
	})
}

// securityHeaders are sent on every reply (OWASP ASVS 3.4).
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		hd := c.Writer.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("Cache-Control", "no-store")
		c.Next()
	}
}

// statusClientClosed is nginx's code for a request the client abandoned.
const statusClientClosed = 499

// renderErrors writes the last error a handler recorded as problem+json; 5xx
// causes are logged with detail, never sent.
func renderErrors(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 || c.Writer.Written() {
			return
		}
		err := c.Errors.Last().Err
		if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
			// The client went away (or the server is stopping): nobody reads an
			// answer, and it is no server fault.
			log.Info("request cancelled", "request_id", c.GetString(ctxRequestID))
			c.Status(statusClientClosed)
			return
		}
		p := problemFor(err)
		if p.Status >= 500 {
			log.Error("request failed", "request_id", c.GetString(ctxRequestID), "err", err)
		}
		writeProblem(c, p)
	}
}

func writeProblem(c *gin.Context, p Problem) {
	p.Instance = "urn:veilig:request:" + c.GetString(ctxRequestID)
	if ra := p.retryAfterHeader(); ra != "" {
		c.Header("Retry-After", ra)
	}
	c.Header("Content-Type", "application/problem+json")
	c.JSON(p.Status, p)
}

// limitBody caps the request body; reading past the cap fails with 413.
func (h *handlers) limitBody() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > h.opts.MaxBodyBytes {
			_ = c.Error(newError(kindTooLarge, "the request body exceeds "+strconv.FormatInt(h.opts.MaxBodyBytes, 10)+" bytes"))
			c.Abort()
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, h.opts.MaxBodyBytes)
		c.Next()
	}
}
