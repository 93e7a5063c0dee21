package ldapsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// dialer opens LDAP connections for one configuration.
type dialer struct {
	s   *settings
	tls *tls.Config
}

// newDialer prepares connections for s, warning once when they will not be
// encrypted.
func newDialer(s *settings, log *slog.Logger) (*dialer, error) {
	if s.plaintext && log != nil {
		log.Warn("LDAP connection is not encrypted (ldap:// without StartTLS); allowed only because the server is on a loopback address",
			"server", s.url.Host)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.url.Hostname()}
	if s.CAFile != "" {
		pemData, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: read CA file: %v", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrConfig, s.CAFile)
		}
		tc.RootCAs = pool
	}
	return &dialer{s: s, tls: tc}, nil
}

func (d *dialer) address() string {
	host, port := d.s.url.Hostname(), d.s.url.Port()
	if port == "" {
		port = "389"
		if d.s.url.Scheme == "ldaps" {
			port = "636"
		}
	}
	return net.JoinHostPort(host, port)
}

// open connects (TLS as configured) without binding. The connection is closed
// when ctx ends before open returns.
func (d *dialer) open(ctx context.Context) (*ldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.s.Timeout)
	defer cancel()
	nd := &net.Dialer{Timeout: d.s.Timeout}
	var (
		raw net.Conn
		err error
	)
	if d.s.url.Scheme == "ldaps" {
		raw, err = (&tls.Dialer{NetDialer: nd, Config: d.tls}).DialContext(ctx, "tcp", d.address())
	} else {
		raw, err = nd.DialContext(ctx, "tcp", d.address())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %v", ErrUnavailable, d.address(), err)
	}
	c := ldap.NewConn(raw, d.s.url.Scheme == "ldaps")
	c.Start()
	c.SetTimeout(d.s.Timeout)
	if d.s.StartTLS {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err := c.StartTLS(d.tls)
		stop()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: StartTLS with %s: %v", ErrUnavailable, d.address(), err)
		}
	}
	return c, nil
}

// service connects and binds as the service account.
func (d *dialer) service(ctx context.Context) (*client, error) {
	c, err := d.open(ctx)
	if err != nil {
		return nil, err
	}
	if d.s.BindDN == "" {
		return &client{conn: c, s: d.s}, nil
	}
	if err := bindCtx(ctx, c, d.s.Timeout, d.s.BindDN, d.s.BindPassword); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: bind as %s: %v", ErrUnavailable, d.s.BindDN, err)
	}
	return &client{conn: c, s: d.s}, nil
}

// bindCtx is a simple bind (RFC 4513 §5.1.3) that gives up when ctx ends.
func bindCtx(ctx context.Context, c *ldap.Conn, timeout time.Duration, dn, password string) error {
	if password == "" {
		return errors.New("empty password")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	return c.Bind(dn, password)
}

// client is a bound connection and the settings it was made with.
type client struct {
	conn *ldap.Conn
	s    *settings
}

func (c *client) Close() { c.conn.Close() }

// search streams the entries of a paged search (RFC 2696) to fn, one page at a
// time, so memory holds one page however large the result. SearchWithPaging
// would collect every page first.
func (c *client) search(ctx context.Context, req *ldap.SearchRequest, fn func(*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(c.s.PageSize))
	req.Controls = append(req.Controls, paging)
	for {
		cookie, err := c.searchPage(ctx, req, fn)
		if err != nil {
			return err
		}
		if len(cookie) == 0 {
			return nil
		}
		paging.SetCookie(cookie)
	}
}

func (c *client) searchPage(ctx context.Context, req *ldap.SearchRequest, fn func(*ldap.Entry) error) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops go-ldap's goroutine if fn fails
	r := c.conn.SearchAsync(ctx, req, 64)
	var cookie []byte
	for r.Next() {
		if e := r.Entry(); e != nil {
			if err := fn(e); err != nil {
				return nil, err
			}
			continue
		}
		// The SearchResultDone carries the paging control with the next cookie.
		if p, ok := ldap.FindControl(r.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
			cookie = p.Cookie
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: search %s: %w", ErrUnavailable, req.BaseDN, err)
	}
	if err := ctx.Err(); err != nil { // SearchAsync reports cancellation as success
		return nil, err
	}
	return cookie, c.closedErr(req)
}

// searchSmall is an unpaged search for small results, bounded by the timeout.
func (c *client) searchSmall(ctx context.Context, req *ldap.SearchRequest, fn func(*ldap.Entry) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.s.Timeout)
	defer cancel()
	r := c.conn.SearchAsync(ctx, req, 16)
	for r.Next() {
		if e := r.Entry(); e != nil {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("%w: search %s: %w", ErrUnavailable, req.BaseDN, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.closedErr(req)
}

// closedErr reports a connection that closed under a search: go-ldap then ends
// the result stream without an error.
func (c *client) closedErr(req *ldap.SearchRequest) error {
	if c.conn.IsClosing() {
		return fmt.Errorf("%w: search %s: connection lost", ErrUnavailable, req.BaseDN)
	}
	return nil
}

// lookup reads the entry dn if it matches filter; found is false when it does not
// exist or does not match.
func (c *client) lookup(ctx context.Context, dn, filter string, attrs []string) (*ldap.Entry, bool, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, filter, attrs, nil)
	var found *ldap.Entry
	err := c.searchSmall(ctx, req, func(e *ldap.Entry) error { found = e; return nil })
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return found, found != nil, nil
}
