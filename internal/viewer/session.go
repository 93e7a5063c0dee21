package viewer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Cookie names: __Host- (RFC 6265bis §4.1.3.2) needs Secure, no Domain and
// Path=/, so the secure cookie is scoped to the host rather than to /v.
const (
	cookieSecure   = "__Host-veilig_viewer"
	cookieInsecure = "veilig_viewer"
	csrfField      = "csrf"
)

func (v *Viewer) cookieName() string {
	if v.cfg.SecureCookies {
		return cookieSecure
	}
	return cookieInsecure
}

func (v *Viewer) cookiePath() string {
	if v.cfg.SecureCookies {
		return "/"
	}
	return "/v"
}

// setSession stores the session token in the cookie.
func (v *Viewer) setSession(c *gin.Context, token string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: v.cookieName(), Value: token, Path: v.cookiePath(),
		MaxAge: int(v.cfg.SessionMaxAge.Seconds()), Secure: v.cfg.SecureCookies,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// clearSession removes the cookie.
func (v *Viewer) clearSession(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: v.cookieName(), Value: "", Path: v.cookiePath(), MaxAge: -1,
		Secure: v.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// sessionToken is the cookie's token, or "" when absent or malformed.
func (v *Viewer) sessionToken(c *gin.Context) string {
	ck, err := c.Request.Cookie(v.cookieName())
	if err != nil || !validToken(ck.Value) {
		return ""
	}
	return ck.Value
}

// csrfToken is HMAC-SHA-256(key, session token): bound to the session and
// useless without the cookie.
func (v *Viewer) csrfToken(session string) string {
	m := hmac.New(sha256.New, v.cfg.CSRFKey)
	m.Write([]byte("veilig-viewer-csrf-v1\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid compares the form's token with the expected one in constant time.
func (v *Viewer) csrfValid(c *gin.Context, session string) bool {
	got := c.Request.PostFormValue(csrfField)
	return hmac.Equal([]byte(got), []byte(v.csrfToken(session)))
}

// checkOrigin rejects cross-site POSTs before their body is read. Origin
// "null" is what browsers send under Referrer-Policy no-referrer (Fetch
// §3.1), so it and a missing Origin fall back to SameSite and the token.
func (v *Viewer) checkOrigin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !v.sameOrigin(c.Request) {
			v.render(c, http.StatusForbidden, "notice", v.notice(c, "forbidden"))
			c.Abort()
			return
		}
		c.Next()
	}
}

func (v *Viewer) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	return o == "" || o == "null" || o == v.origin
}
