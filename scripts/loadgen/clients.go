package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

const maxBody = 1 << 20

var errStatus = errors.New("loadgen: unexpected HTTP status")

// searcher runs one autocomplete query and returns the number of hits.
type searcher interface {
	search(ctx context.Context, prefix string) (int, error)
	close()
}

var (
	_ searcher = (*httpSearcher)(nil)
	_ searcher = (*ldapSearcher)(nil)
)

// httpSearcher queries GET /api/v1/directory/search over keep-alive
// connections shared by all workers.
type httpSearcher struct {
	client   *http.Client
	endpoint string
	auth     string
	limit    string
}

func newHTTPSearcher(cfg config) *httpSearcher {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         loopbackDialer(cfg.timeout).DialContext,
		MaxIdleConns:        cfg.concurrency,
		MaxIdleConnsPerHost: cfg.concurrency,
		MaxConnsPerHost:     cfg.concurrency,
		TLSHandshakeTimeout: cfg.timeout,
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &httpSearcher{
		client:   &http.Client{Transport: tr, CheckRedirect: noRedirect},
		endpoint: strings.TrimSuffix(cfg.url, "/") + "/api/v1/directory/search?q=",
		auth:     "Bearer " + cfg.token,
		limit:    "&limit=" + strconv.Itoa(cfg.limit),
	}
}

func (s *httpSearcher) search(ctx context.Context, prefix string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+url.QueryEscape(prefix)+s.limit, nil)
	if err != nil {
		return 0, fmt.Errorf("loadgen: build request: %w", err)
	}
	req.Header.Set("Authorization", s.auth)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("loadgen: http: %w", err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxBody)
	// Drain so the connection goes back to the keep-alive pool.
	defer io.Copy(io.Discard, body) //nolint:errcheck // best effort
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: %d", errStatus, resp.StatusCode)
	}
	var page struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.NewDecoder(body).Decode(&page); err != nil {
		return 0, fmt.Errorf("loadgen: decode response: %w", err)
	}
	return len(page.Results), nil
}

func (s *httpSearcher) close() { s.client.CloseIdleConnections() }

// ldapSearcher owns one LDAP connection and issues the substring search a
// mail client's address book sends (RFC 4511 §4.5, RFC 4515 filter).
type ldapSearcher struct {
	conn  *ldap.Conn
	base  string
	limit int
	stop  func() bool
}

var ldapAttrs = []string{"o", "cn", "mail", "associatedDomain"}

func dialLDAP(ctx context.Context, cfg config) (*ldapSearcher, error) {
	u, err := loopbackURL(cfg.url, "ldap")
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host += ":389"
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	nc, err := loopbackDialer(cfg.timeout).DialContext(dctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("loadgen: ldap dial: %w", err)
	}
	conn := ldap.NewConn(nc, false)
	conn.Start()
	conn.SetTimeout(cfg.timeout)
	s := &ldapSearcher{conn: conn, base: cfg.base, limit: cfg.limit}
	// go-ldap has no per-request context: closing aborts a run cut short.
	s.stop = context.AfterFunc(ctx, func() { conn.Close() })
	if cfg.bindDN != "" {
		if err := conn.Bind(cfg.bindDN, cfg.bindPW); err != nil {
			s.close()
			return nil, fmt.Errorf("loadgen: ldap bind: %w", err)
		}
	}
	return s, nil
}

func ldapFilter(prefix string) string {
	p := ldap.EscapeFilter(prefix)
	return "(|(o=" + p + "*)(cn=" + p + "*)(mail=" + p + "*)(associatedDomain=" + p + "*))"
}

func (s *ldapSearcher) search(_ context.Context, prefix string) (int, error) {
	req := ldap.NewSearchRequest(s.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		s.limit, 0, false, ldapFilter(prefix), ldapAttrs, nil)
	res, err := s.conn.Search(req)
	// sizeLimitExceeded (RFC 4511 §4.5.2) is the normal outcome of a short
	// autocomplete page: the entries up to the limit were returned.
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return 0, fmt.Errorf("loadgen: ldap search: %w", err)
	}
	if res == nil {
		return 0, nil
	}
	return len(res.Entries), nil
}

func (s *ldapSearcher) close() {
	s.stop()
	s.conn.Close()
}
