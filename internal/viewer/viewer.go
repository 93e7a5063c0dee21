// Package viewer is the server-rendered web viewer that recipients outside the
// community use to read a Veilig message: open link, request a code (by SMS,
// or by e-mail where the sender's organisation allows it),
// enter it, read the message, download attachments and reply.
//
// It uses no JavaScript. Pages are Go html/template files with embedded CSS
// and are sent with a strict Content Security Policy (CSP Level 3,
// W3C), Referrer-Policy no-referrer (W3C Referrer Policy), HSTS (RFC 6797)
// and Cache-Control no-store (RFC 9111 §5.2.2.5). The link token is exchanged
// for a session cookie (RFC 6265bis: HttpOnly, Secure, SameSite=Strict,
// __Host- prefix) and leaves the address bar at once. State-changing forms
// carry a synchroniser token (OWASP CSRF cheat sheet) and are checked against
// Origin (RFC 6454) and Sec-Fetch-Site (W3C Fetch Metadata). Attachment
// downloads use Content-Disposition: attachment with RFC 6266 / RFC 8187
// file names.
package viewer

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Config holds the viewer's settings; zero values get defaults in New.
type Config struct {
	// PublicURL is the base URL recipients see (scheme and host are used for
	// the Origin check and HSTS). Required.
	PublicURL *url.URL
	// SecureCookies marks the session cookie Secure with the __Host- prefix;
	// false only for http://localhost development.
	SecureCookies bool
	// MaxReplyBytes caps the whole multipart body of a reply; default 25 MiB.
	MaxReplyBytes int64
	// Log receives one line per failure; never tokens, codes or content.
	Log *slog.Logger

	// CSRFKey keys the HMAC of the per-session form token (≥32 bytes). When
	// empty a random key is made, which only works with a single instance.
	CSRFKey []byte
	// SessionMaxAge is the cookie's Max-Age: the backend's absolute session
	// timeout; default 1 hour.
	SessionMaxAge time.Duration
	// Timeout bounds each backend call; default 15 s. Replies and attachment
	// downloads get TransferTimeout (default 10 min).
	Timeout         time.Duration
	TransferTimeout time.Duration
	// Location is the time zone dates are shown in; default Europe/Amsterdam
	// (UTC when the zone database is missing).
	Location *time.Location
}

// Viewer serves the /v routes.
type Viewer struct {
	cfg     Config
	backend Backend
	origin  string // scheme://host of PublicURL
	hsts    bool
	pages   pages
	css     staticFile
	policy  sanitizer
}

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("viewer: invalid config")

// New checks cfg, fills defaults and prepares templates and assets.
func New(cfg Config, backend Backend) (*Viewer, error) {
	if backend == nil {
		return nil, fmt.Errorf("%w: no backend", ErrConfig)
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	css, err := loadCSS()
	if err != nil {
		return nil, err
	}
	return &Viewer{
		cfg: cfg, backend: backend, pages: pg, css: css, policy: newSanitizer(),
		origin: cfg.PublicURL.Scheme + "://" + cfg.PublicURL.Host,
		hsts:   cfg.PublicURL.Scheme == "https",
	}, nil
}

func (c *Config) defaults() error {
	if c.PublicURL == nil || c.PublicURL.Host == "" ||
		(c.PublicURL.Scheme != "https" && c.PublicURL.Scheme != "http") {
		return fmt.Errorf("%w: PublicURL must be an absolute http(s) URL", ErrConfig)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.MaxReplyBytes <= 0 {
		c.MaxReplyBytes = 25 << 20
	}
	if c.SessionMaxAge <= 0 {
		c.SessionMaxAge = time.Hour
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.TransferTimeout <= 0 {
		c.TransferTimeout = 10 * time.Minute
	}
	if c.Location == nil {
		c.Location = amsterdam()
	}
	return c.csrfKey()
}

func (c *Config) csrfKey() error {
	if len(c.CSRFKey) == 0 {
		c.CSRFKey = make([]byte, 32)
		_, err := rand.Read(c.CSRFKey)
		return err
	}
	if len(c.CSRFKey) < 32 {
		return fmt.Errorf("%w: CSRFKey shorter than 32 bytes", ErrConfig)
	}
	return nil
}

func amsterdam() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		return time.UTC
	}
	return loc
}

// Register mounts the viewer under /v.
func (v *Viewer) Register(r gin.IRouter) {
	g := r.Group("/v", v.headers(), v.language())
	g.GET("/static/:name", v.static)
	g.GET("/", v.state)
	g.GET("/:token", v.open)
	g.GET("/attachments/:index", v.attachment)
	post := g.Group("", v.checkOrigin())
	post.POST("/code", v.sendCode)
	post.POST("/verify", v.verify)
	post.POST("/reply", v.reply)
	post.POST("/new-link", v.newLink)
	post.POST("/logout", v.logout)
}

// csp is the page policy: no script at all, our own CSS, data: images only.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers on every viewer response.
func (v *Viewer) headers() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if v.hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		c.Next()
	}
}

// validToken accepts only plausible opaque tokens: base64url or hex, bounded.
func validToken(s string) bool {
	if len(s) < 16 || len(s) > 256 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0
}
