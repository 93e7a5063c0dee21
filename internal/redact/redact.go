// Package redact hides secrets in values that are logged or shown to operators
// (OWASP ASVS 16.2.5: no credentials in logs).
package redact

import (
	"net/url"
	"strings"
)

// secretParams are query parameters that carry credentials in database and
// service URLs (libpq's password and sslpassword among them).
var secretParams = []string{"password", "sslpassword", "pass", "pwd", "secret", "token"}

const hidden = "<unparseable URL hidden>"

// URL hides the password of a URL and credential query parameters. A string that
// looks like a URL but does not parse is hidden whole: it may hold a password.
func URL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil && (strings.Contains(s, "://") || strings.ContainsAny(s, "@=")):
		return hidden
	case err != nil:
		return s
	case u.Scheme == "" && strings.Contains(s, "="): // a key=value connection string
		return hidden
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	masked := false
	for _, k := range secretParams {
		if q.Has(k) {
			q.Set(k, "xxxxx")
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
	}
	return u.String()
}
