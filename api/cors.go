package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// CORS (WHATWG Fetch §3.2): browsers on exactly the configured origins may call
// /api/v1; the origin is echoed, never "*", and other origins get no CORS
// headers at all. Tokens travel in the Authorization header, not in cookies,
// so credentials mode is not needed.
const (
	corsMethods = "GET, POST, PUT, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key"
	corsExpose  = "Location, Retry-After, " + headerRequestID
	corsMaxAge  = 2 * time.Hour // Chromium's upper bound
)

// cors answers preflight requests for /api/v1 and marks the responses to the
// allowed origins.
func cors(origins []string) (gin.HandlerFunc, error) {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		norm, err := exactOrigin(o)
		if err != nil {
			return nil, err
		}
		allowed[norm] = true
	}
	return func(c *gin.Context) {
		if !strings.HasPrefix(c.Request.URL.Path, "/api/v1/") {
			return
		}
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		if !allowed[origin] {
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge/time.Second)))
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExpose)
	}, nil
}

// exactOrigin checks that s is a serialised origin: http(s)://host[:port],
// nothing more; it returns it in lower case as browsers send it.
func exactOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("api: CORS origin %q is not scheme://host[:port]", s)
	}
	return strings.ToLower(s), nil
}
