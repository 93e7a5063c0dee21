package mailcheck

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

func TestPublic(t *testing.T) {
	cases := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true},
		{"145.100.190.1", true},
		{"2001:4860:4860::8888", true},
		{"64:ff9b::808:808", true}, // NAT64 of a public address
		{"127.0.0.1", false},
		{"127.0.0.53", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"192.0.0.8", false},
		{"198.18.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::", false},
		{"::1", false},
		{"::127.0.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"64:ff9b::a00:1", false}, // NAT64 of 10.0.0.1
		{"64:ff9b:1::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"2002:7f00:1::1", false}, // 6to4 of 127.0.0.1
	}
	for _, tc := range cases {
		if got := Public(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Public(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// countingSMTP is a listener on 127.0.0.1 that counts the connections made
// to it and greets each like an SMTP server without STARTTLS.
func countingSMTP(t *testing.T) (int, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go smtpPeer{}.session(conn)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, &n
}

// An applicant's MX pointing at internal addresses is rated, never
// connected to, unless AllowPrivate (the lab's setting).
func TestProbeRefusesNonPublicAddresses(t *testing.T) {
	port, conns := countingSMTP(t)
	cases := []struct {
		name     string
		addrs    []net.IP
		allow    bool
		starttls Status
		conns    int64
	}{
		{name: "loopback refused", addrs: []net.IP{net.IPv4(127, 0, 0, 1)}, starttls: StatusFail},
		{name: "metadata and private refused", addrs: []net.IP{net.IPv4(169, 254, 169, 254), net.IPv4(10, 0, 0, 1),
			net.ParseIP("::ffff:127.0.0.1")}, starttls: StatusFail},
		{name: "loopback allowed", addrs: []net.IP{net.IPv4(127, 0, 0, 1)}, allow: true, starttls: StatusFail, conns: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := conns.Load()
			f := fakeDNS{mx: map[string][]MX{testDomain: {{Host: testMX, Pref: 10}}},
				addrs: map[string][]net.IP{testMX: tc.addrs}}
			c := NewWithOptions(f, testenv.Logger(t), Options{Port: port, Timeout: 5 * time.Second,
				HTTPClient: &http.Client{Transport: failTransport{}}, AllowPrivate: tc.allow})
			rep := c.Report(context.Background(), testDomain)
			if rep.Status == StatusError {
				t.Fatalf("report status error: %s", rep.Error)
			}
			got := resultOf(rep, TestSTARTTLS, testMX)
			if got.Status != tc.starttls {
				t.Errorf("starttls %s, want %s: %v", got.Status, tc.starttls, got.Summary)
			}
			wantPrivate := !tc.allow
			if isPrivate := got.Summary["en"] == notPublic().Summary["en"]; isPrivate != wantPrivate {
				t.Errorf("summary %q: non-public rating %v, want %v", got.Summary["en"], isPrivate, wantPrivate)
			}
			if n := conns.Load() - before; n != tc.conns {
				t.Errorf("%d connections to the SMTP server, want %d", n, tc.conns)
			}
		})
	}
}

// The dialer itself refuses, so a caller that slips past the address filter
// (the exported STARTTLS test) still cannot reach an internal address.
func TestSTARTTLSDialRefusesLoopback(t *testing.T) {
	port, conns := countingSMTP(t)
	c := NewWithOptions(fakeDNS{}, testenv.Logger(t), Options{Timeout: 5 * time.Second})
	_, err := c.STARTTLS(context.Background(), "127.0.0.1", port)
	if !errors.Is(err, ErrNotPublic) {
		t.Fatalf("err = %v, want ErrNotPublic", err)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections, want none", n)
	}
}

// The default MTA-STS client connects to public addresses only, unless
// AllowPrivate, whether the URL names an address or a host the resolver knows.
func TestPolicyFetchRefusesNonPublicAddresses(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"))
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// example.com (the name in httptest's certificate) is at 127.0.0.1 only in
	// the checker's resolver.
	f := fakeDNS{addrs: map[string][]net.IP{"example.com": {net.IPv4(127, 0, 0, 1)}}}
	for _, tc := range []struct {
		url   string
		allow bool
	}{
		{srv.URL, false}, {srv.URL, true},
		{"https://example.com:" + port, false}, {"https://example.com:" + port, true},
	} {
		t.Run(fmt.Sprintf("%s allow=%v", tc.url, tc.allow), func(t *testing.T) {
			before := hits.Load()
			c := NewWithOptions(f, testenv.Logger(t), Options{Roots: roots, Timeout: 5 * time.Second, AllowPrivate: tc.allow})
			resp, err := c.opts.HTTPClient.Get(tc.url + "/.well-known/mta-sts.txt")
			if err == nil {
				_ = resp.Body.Close()
			}
			if refused := errors.Is(err, ErrNotPublic); refused == tc.allow {
				t.Fatalf("allow %v: err = %v", tc.allow, err)
			}
			if got, want := hits.Load()-before, map[bool]int64{false: 0, true: 1}[tc.allow]; got != want {
				t.Errorf("%d requests reached the server, want %d (err %v)", got, want, err)
			}
		})
	}
}

// failTransport answers every request with an error (no MTA-STS in these tests).
type failTransport struct{}

func (failTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in this test")
}

func resultOf(r Report, test, host string) Result {
	for _, res := range r.Tests {
		if res.Test == test && res.Host == host {
			return res
		}
	}
	return Result{}
}
