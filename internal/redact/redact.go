// Package redact hides secrets in values that are logged or shown to operators
// (OWASP ASVS 16.2.5: no credentials in logs).
package redact

import "net/url"

// URL hides the password of a URL; strings that are not URLs pass unchanged.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
