package delivery

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/veilig/veilig/internal/testenv"
)

// dnsServer is a miekg/dns server on 127.0.0.1 (UDP and TCP on one port) that
// records how it was asked.
type dnsServer struct {
	addr string

	mu   sync.Mutex
	seen []string // "net name DO AD" per query
}

func startDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	s := &dnsServer{}
	s.addr = testenv.ServeDNS(t, s)
	return s
}

func (s *dnsServer) queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func (s *dnsServer) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	network := w.RemoteAddr().Network()
	name := q.Question[0].Name
	opt := q.IsEdns0()
	s.mu.Lock()
	s.seen = append(s.seen, strings.Join([]string{network, name, flag(opt != nil && opt.Do(), "DO"), flag(q.AuthenticatedData, "AD")}, " "))
	s.mu.Unlock()
	r := new(dns.Msg)
	r.SetReply(q)
	switch name {
	case "signed.test.":
		r.AuthenticatedData = true
		r.Answer = []dns.RR{mustRR("signed.test. 300 IN A 192.0.2.1"), mustRR("signed.test. 100 IN A 192.0.2.2")}
	case "plain.test.":
		r.Answer = []dns.RR{mustRR("plain.test. 300 IN A 192.0.2.1")}
	case "big.test.":
		if network == "udp" {
			r.Truncated = true
		} else {
			r.AuthenticatedData = true
			r.Answer = []dns.RR{mustRR(`big.test. 300 IN TXT "` + strings.Repeat("x", 200) + `"`)}
		}
	case "nx.test.":
		r.Rcode = dns.RcodeNameError
		r.Ns = []dns.RR{mustRR("test. 3600 IN SOA ns.test. host.test. 1 3600 600 86400 30")}
	case "wrong.test.":
		r.Question[0].Name = "other.test."
	default:
		r.Rcode = dns.RcodeServerFailure
	}
	_ = w.WriteMsg(r)
}

func flag(on bool, name string) string {
	if on {
		return name
	}
	return "-"
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

func TestDNSClient(t *testing.T) {
	t.Parallel()
	srv := startDNSServer(t)
	tests := []struct {
		name      string
		qtype     uint16
		tcpOnly   bool
		rcode     int
		authentic bool
		answers   int
		ttl       time.Duration
		seen      []string
		wantErr   bool
	}{
		{name: "signed.test", qtype: dns.TypeA, authentic: true, answers: 2, ttl: 100 * time.Second,
			seen: []string{"udp signed.test. DO AD"}},
		{name: "plain.test", qtype: dns.TypeA, answers: 1, ttl: 300 * time.Second, seen: []string{"udp plain.test. DO AD"}},
		{name: "big.test", qtype: dns.TypeTXT, authentic: true, answers: 1, ttl: 300 * time.Second,
			seen: []string{"udp big.test. DO AD", "tcp big.test. DO AD"}},
		{name: "plain.test", qtype: dns.TypeA, tcpOnly: true, answers: 1, ttl: 300 * time.Second,
			seen: []string{"tcp plain.test. DO AD"}},
		{name: "nx.test", qtype: dns.TypeA, rcode: dns.RcodeNameError, ttl: 30 * time.Second, seen: []string{"udp nx.test. DO AD"}},
		{name: "fail.test", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, seen: []string{"udp fail.test. DO AD"}},
		{name: "wrong.test", qtype: dns.TypeA, wantErr: true, seen: []string{"udp wrong.test. DO AD"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := srv
			if tc.seen != nil {
				srv = startDNSServer(t) // a fresh log per case
			}
			c := &dnsClient{addr: srv.addr, tcpOnly: tc.tcpOnly, timeout: 5 * time.Second}
			r, err := c.Query(context.Background(), tc.name, tc.qtype)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error for %s: %+v", tc.name, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode || r.Authentic != tc.authentic || len(r.Answer) != tc.answers || r.TTL != tc.ttl {
				t.Fatalf("response %+v", r)
			}
			if got := srv.queries(); strings.Join(got, "|") != strings.Join(tc.seen, "|") {
				t.Fatalf("queries %q, want %q", got, tc.seen)
			}
		})
	}
}

func TestDNSClientUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // answers nothing
	c := &dnsClient{addr: l.LocalAddr().String(), timeout: 200 * time.Millisecond}
	if _, err := c.Query(context.Background(), "example.test", dns.TypeMX); err == nil {
		t.Fatal("no error from a silent resolver")
	}
}

func TestCachingResolver(t *testing.T) {
	t.Parallel()
	fake := newFakeDNS(t, nil, "a.test. 60 IN A 192.0.2.1", "long.test. 86400 IN A 192.0.2.2",
		"b.test. 60 IN A 192.0.2.3", "c.test. 60 IN A 192.0.2.4")
	fake.failing("fail.test")
	clk := newClock()
	c := newCachingResolver(fake, 3, time.Hour, clk.Now)
	ctx := context.Background()
	steps := []struct {
		name    string
		advance time.Duration
		queries int // fake queries so far
	}{
		{"a.test", 0, 1},
		{"A.TEST.", 0, 1}, // same key
		{"a.test", 59 * time.Second, 1},
		{"a.test", time.Second, 2}, // TTL over
		{"long.test", 0, 3},
		{"long.test", 59 * time.Minute, 3},
		{"long.test", time.Minute, 4}, // capped at CacheMaxTTL
		{"nx.test", 0, 5},
		{"nx.test", 0, 5}, // negative answers are cached
		{"fail.test", 0, 6},
		{"fail.test", 0, 7}, // failures are not
	}
	for i, s := range steps {
		clk.advance(s.advance)
		if _, err := c.Query(ctx, s.name, dns.TypeA); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := fake.count(); got != s.queries {
			t.Fatalf("step %d (%s): %d queries, want %d", i, s.name, got, s.queries)
		}
	}
	for _, n := range []string{"a.test", "b.test", "c.test", "long.test"} {
		if _, err := c.Query(ctx, n, dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	if n > 3 {
		t.Fatalf("%d cache entries, bound 3", n)
	}
}

func TestRRSet(t *testing.T) {
	r := &Response{Answer: []dns.RR{
		mustRR("mx.example.test. 60 IN CNAME host.example.net."),
		mustRR("host.example.net. 60 IN CNAME final.example.org."),
		mustRR("final.example.org. 60 IN A 192.0.2.7"),
		mustRR("unrelated.example.org. 60 IN A 192.0.2.8"),
	}}
	final, rrs, err := rrset(r, "MX.example.test", dns.TypeA)
	if err != nil || final != "final.example.org" || len(rrs) != 1 || rrs[0].(*dns.A).A.String() != "192.0.2.7" {
		t.Fatalf("rrset = %q, %v, %v", final, rrs, err)
	}
	loop := &Response{Answer: []dns.RR{mustRR("a.test. 60 IN CNAME b.test."), mustRR("b.test. 60 IN CNAME a.test.")}}
	if _, _, err := rrset(loop, "a.test", dns.TypeA); err == nil {
		t.Fatal("no error for a CNAME loop")
	}
}
