package testenv

// An MTA-STS policy server for the lab (RFC 8461 §3.3): HTTPS on 127.0.0.1
// answering https://mta-sts.<domain>/.well-known/mta-sts.txt for every domain
// it holds a policy for, with certificates for mta-sts.<domain> issued on demand
// by the test CA. Clients reach it through DialContext, which sends every
// mta-sts.*:443 connection to it.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// MTASTSPolicyPath is the well-known policy path (RFC 8461 §3.3).
const MTASTSPolicyPath = "/.well-known/mta-sts.txt"

// MTASTS is a running policy server.
type MTASTS struct {
	srv *httptest.Server
	ca  *CA

	mu       sync.Mutex
	policies map[string]string // domain → policy text
	fetches  map[string]int    // domain → successful fetches
	certs    map[string]*tls.Certificate
}

// StartMTASTS serves policies (domain → policy text, see MTASTSPolicy) over
// HTTPS with certificates from ca, until the test ends.
func StartMTASTS(t testing.TB, ca *CA, policies map[string]string) *MTASTS {
	t.Helper()
	m := &MTASTS{ca: ca, policies: map[string]string{}, fetches: map[string]int{},
		certs: map[string]*tls.Certificate{}}
	for d, p := range policies {
		m.SetPolicy(d, p)
	}
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(m.serveHTTP))
	m.srv.TLS = &tls.Config{GetCertificate: m.getCertificate, MinVersion: tls.VersionTLS12}
	m.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected in tests
	m.srv.StartTLS()
	t.Cleanup(m.srv.Close)
	return m
}

// MTASTSPolicy renders a policy file (RFC 8461 §3.2) with CRLF line endings.
func MTASTSPolicy(mode string, maxAge time.Duration, mx ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: %s\r\n", mode)
	for _, h := range mx {
		fmt.Fprintf(&b, "mx: %s\r\n", h)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(maxAge/time.Second))
	return b.String()
}

// SetPolicy sets the policy served for domain; an empty policy makes the
// server answer 404 for it.
func (m *MTASTS) SetPolicy(domain, policy string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	domain = normalizeHost(domain)
	if policy == "" {
		delete(m.policies, domain)
		return
	}
	m.policies[domain] = policy
}

// Fetches is how many times domain's policy was served.
func (m *MTASTS) Fetches(domain string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fetches[normalizeHost(domain)]
}

// Addr is the server's address, "127.0.0.1:PORT".
func (m *MTASTS) Addr() string { return m.srv.Listener.Addr().String() }

// RootCAs trusts the CA that signs the server's certificates.
func (m *MTASTS) RootCAs() *x509.CertPool { return m.ca.Pool() }

// DialContext dials the policy server for any mta-sts.<domain>:443 and
// passes every other address to a plain dialer. It fits
// http.Transport.DialContext.
func (m *MTASTS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	host, port, err := net.SplitHostPort(addr)
	if err == nil && port == "443" && strings.HasPrefix(normalizeHost(host), "mta-sts.") {
		return d.DialContext(ctx, network, m.Addr())
	}
	return d.DialContext(ctx, network, addr)
}

// Client is an HTTP client that reaches the policy server as
// https://mta-sts.<domain>/ and trusts the test CA; like RFC 8461 §3.3 demands,
// it follows no redirects.
func (m *MTASTS) Client() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:     m.DialContext,
			TLSClientConfig: &tls.Config{RootCAs: m.RootCAs(), MinVersion: tls.VersionTLS12},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("testenv: mta-sts: redirects are not allowed")
		},
	}
}

func (m *MTASTS) serveHTTP(w http.ResponseWriter, r *http.Request) {
	domain, ok := strings.CutPrefix(normalizeHost(hostOnly(r.Host)), "mta-sts.")
	if r.URL.Path != MTASTSPolicyPath || !ok {
		http.NotFound(w, r)
		return
	}
	m.mu.Lock()
	policy, found := m.policies[domain]
	if found {
		m.fetches[domain]++
	}
	m.mu.Unlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(policy))
}

// getCertificate issues (once) a certificate for the SNI name mta-sts.*.
func (m *MTASTS) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalizeHost(hello.ServerName)
	if !strings.HasPrefix(name, "mta-sts.") {
		return nil, fmt.Errorf("testenv: mta-sts: no certificate for %q", hello.ServerName)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.certs[name]; ok {
		return c, nil
	}
	now := time.Now()
	c, err := m.ca.issue(now.Add(-time.Hour), now.Add(24*time.Hour), []string{name})
	if err != nil {
		return nil, err
	}
	m.certs[name] = &c
	return &c, nil
}

func normalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
