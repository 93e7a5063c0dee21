package ldapsync

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Authenticator checks a person's LDAP password (RFC 4513 §5.1.3 simple bind):
// it finds the person by mail with the service account, then binds as that
// entry on a fresh connection.
type Authenticator struct {
	s    *settings
	dial *dialer
	log  *slog.Logger
}

// NewAuthenticator checks cfg; it needs an LDAP URL.
func NewAuthenticator(cfg Config, log *slog.Logger) (*Authenticator, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if s.url == nil {
		return nil, ErrNotConfigured
	}
	d, err := newDialer(s, log)
	if err != nil {
		return nil, err
	}
	return &Authenticator{s: s, dial: d, log: log}, nil
}

// VerifyPassword returns the DN of the person with this mail address if password
// is theirs. It returns ErrUnknownUser when no person has the address (the
// caller may try local users), ErrAmbiguousUser when several do,
// ErrBadCredentials for a wrong or empty password, and an ErrUnavailable error
// when LDAP cannot be asked.
func (a *Authenticator) VerifyPassword(ctx context.Context, mailAddr, password string) (string, error) {
	mailAddr = strings.TrimSpace(mailAddr)
	if mailAddr == "" {
		return "", ErrUnknownUser
	}
	if password == "" { // an empty password would be an unauthenticated bind (RFC 4513 §5.1.2)
		return "", ErrBadCredentials
	}
	ctx, cancel := context.WithTimeout(ctx, 2*a.s.Timeout)
	defer cancel()
	dn, err := a.findPerson(ctx, mailAddr)
	if err != nil {
		return "", err
	}
	if err := a.bindAs(ctx, dn, password); err != nil {
		return "", err
	}
	return dn, nil
}

// findPerson looks the address up with the service account; the address is
// escaped (RFC 4515 §3), so "*)(uid=*" is a literal value, not a filter.
func (a *Authenticator) findPerson(ctx context.Context, mailAddr string) (string, error) {
	c, err := a.dial.service(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	var alts []string
	for _, attr := range a.s.personAttrs[fMail] {
		alts = append(alts, "("+ldap.EscapeFilter(attr)+"="+ldap.EscapeFilter(mailAddr)+")")
	}
	filter := "(&" + a.s.PersonFilter + "(|" + strings.Join(alts, "") + "))"
	req := ldap.NewSearchRequest(a.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
		filter, []string{"1.1"}, nil)
	var dns []string
	err = c.searchSmall(ctx, req, func(e *ldap.Entry) error { dns = append(dns, e.DN); return nil })
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return "", err
	}
	switch len(dns) {
	case 0:
		return "", ErrUnknownUser
	case 1:
		return dns[0], nil
	}
	return "", ErrAmbiguousUser
}

func (a *Authenticator) bindAs(ctx context.Context, dn, password string) error {
	c, err := a.dial.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	err = bindCtx(ctx, c, a.s.Timeout, dn, password)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return ErrBadCredentials
	}
	if err != nil {
		return fmt.Errorf("%w: bind: %v", ErrUnavailable, err)
	}
	return nil
}
