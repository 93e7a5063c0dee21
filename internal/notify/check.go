package notify

import (
	"fmt"
	"net/mail"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/veilig/veilig/internal/message/compose"
)

// minTokenLength is the shortest link token accepted: 22 base64url characters
// carry 132 bits, the least that can hold 128.
const minTokenLength = 22

// field is a named input value, checked before anything is rendered.
type field struct{ name, value string }

// checkFields rejects a line break or NUL in any value: every value may end
// up in a header field.
func checkFields(fields []field) error {
	for _, f := range fields {
		if err := compose.CheckHeaderValue(f.name, f.value); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	return nil
}

// when is a named input time.
type when struct {
	name string
	t    time.Time
}

// required rejects an empty value or a zero time.
func required(fields []field, times []when) error {
	for _, f := range fields {
		if strings.TrimSpace(f.value) == "" {
			return fmt.Errorf("%w: %s is empty", ErrInvalid, f.name)
		}
	}
	for _, w := range times {
		if w.t.IsZero() {
			return fmt.Errorf("%w: %s is not set", ErrInvalid, w.name)
		}
	}
	return nil
}

// checkAddress accepts an addr-spec in the form net/mail and compose use:
// the local part unquoted, so "<x>@host.example" stands for "\"<x>\"@host.example".
func checkAddress(name, addr string) error {
	a, err := mail.ParseAddress((&mail.Address{Address: addr}).String())
	if err != nil || a.Address != addr || !strings.Contains(addr, "@") {
		return fmt.Errorf("%w: %s is not an e-mail address", ErrInvalid, name)
	}
	return nil
}

// checkMessageID accepts an empty value or "<left@right>" in printable ASCII
// without spaces (RFC 5322 §3.6.4).
func checkMessageID(name, id string) error {
	if id == "" {
		return nil
	}
	inner, ok := strings.CutPrefix(id, "<")
	inner, ok2 := strings.CutSuffix(inner, ">")
	left, right, ok3 := strings.Cut(inner, "@")
	if !ok || !ok2 || !ok3 || left == "" || right == "" || !printable(inner) ||
		strings.ContainsAny(inner, `<>"\ `) || strings.Contains(right, "@") {
		return fmt.Errorf("%w: %s is not a Message-ID", ErrInvalid, name)
	}
	return nil
}

// printable reports printable ASCII without space.
func printable(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// parseLink accepts an absolute https URL, or http on a loopback host for
// development, without user information (which disguises the host,
// "https://gemeente.example@evil.example/") and in printable ASCII. It returns
// the prefix recipients can check ("https://veilig.example/").
func parseLink(name, raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil || !printable(raw) || u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, "", fmt.Errorf("%w: %s must be an absolute URL", ErrLink, name)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback(u.Hostname()):
	default:
		return nil, "", fmt.Errorf("%w: %s must use https", ErrLink, name)
	}
	return u, u.Scheme + "://" + u.Host + "/", nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// linkToken returns the token of a link PUBLIC_URL/v/<token>: the last path
// segment, which must be long enough to carry 128 bits.
func linkToken(u *url.URL) (string, error) {
	dir, token := path.Split(u.Path)
	if !strings.HasSuffix(dir, "/v/") || len(token) < minTokenLength || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: Link must be PUBLIC_URL/v/<token> with a token of at least 128 bits", ErrLink)
	}
	return token, nil
}

// tokenFree rejects a token that appears in any other value: the token may
// appear in the link and nowhere else, certainly not in a header field.
func tokenFree(token string, fields []field) error {
	for _, f := range fields {
		if strings.Contains(f.value, token) {
			return fmt.Errorf("%w: %s contains the link token", ErrInvalid, f.name)
		}
	}
	return nil
}
