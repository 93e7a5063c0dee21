package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mjl-/adns"

	"github.com/veilig/veilig/internal/testenv"
)

// reuseStep is one delivery of a reuse scenario.
type reuseStep struct {
	domain  string
	records []string      // replace the DNS records first, if set
	advance time.Duration // move the clock first
	policy  Policy
	reused  bool
}

func TestSessionReuse(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test", "mx2.example.test", "mx.dane.test", "relay.test")
	ee := tlsa(t, "mx.dane.test", 3, 1, 1, cert.Leaf)
	records := []string{
		"example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1",
		"other.test. 60 IN MX 10 mx.example.test.",
		"second.test. 60 IN MX 10 mx2.example.test.", "mx2.example.test. 60 IN A 192.0.2.2",
		"pkix.test. 60 IN MX 10 mx.dane.test.", // unsigned: PKIX for a host that has DANE
		"dane.test. 60 IN MX 10 mx.dane.test.", "mx.dane.test. 60 IN A 192.0.2.1", ee,
	}
	// Two TLSA records, the old one still matching: a new RRset all the same.
	rollover := append(append([]string(nil), records...), tlsa(t, "mx.dane.test", 3, 1, 1, ca.Cert))
	signed := []string{"dane.test"}
	step := func(domain string, p Policy, reused bool) reuseStep {
		return reuseStep{domain: domain, policy: p, reused: reused}
	}
	tests := []struct {
		name   string
		cfg    func(*Config)
		tune   func(*Deliverer)
		steps  []reuseStep
		conns  [2]int // connections to 192.0.2.1 and 192.0.2.2
		sender string // AUTH identity the relay saw, "" when not relayed
	}{
		{name: "one domain: one connection", steps: []reuseStep{step("example.test", PolicyPKIX, false),
			step("example.test", PolicyPKIX, true), step("example.test", PolicyPKIX, true)}, conns: [2]int{1, 0}},
		{name: "another domain, same host and policy", steps: []reuseStep{step("example.test", PolicyPKIX, false),
			step("other.test", PolicyPKIX, true)}, conns: [2]int{1, 0}},
		{name: "same host and address, PKIX then DANE: never shared", steps: []reuseStep{
			step("pkix.test", PolicyPKIX, false), step("dane.test", PolicyDANEEE, false),
			step("pkix.test", PolicyPKIX, true), step("dane.test", PolicyDANEEE, true)}, conns: [2]int{2, 0}},
		{name: "different host", steps: []reuseStep{step("example.test", PolicyPKIX, false),
			step("second.test", PolicyPKIX, false)}, conns: [2]int{1, 1}},
		{name: "idle time over", steps: []reuseStep{step("example.test", PolicyPKIX, false),
			{domain: "example.test", advance: 6 * time.Second, policy: PolicyPKIX}}, conns: [2]int{2, 0}},
		{name: "TLSA RRset changed", cfg: func(c *Config) { c.ConnCacheIdle = time.Hour }, steps: []reuseStep{
			step("dane.test", PolicyDANEEE, false), step("dane.test", PolicyDANEEE, true),
			{domain: "dane.test", records: rollover, advance: 2 * time.Minute, policy: PolicyDANEEE}},
			conns: [2]int{2, 0}},
		{name: "reuse limit", tune: func(d *Deliverer) { d.conns.maxUses = 2 }, steps: []reuseStep{
			step("example.test", PolicyPKIX, false), step("example.test", PolicyPKIX, true),
			step("example.test", PolicyPKIX, false)}, conns: [2]int{2, 0}},
		{name: "cache off", cfg: func(c *Config) { c.ConnCacheIdle = -1 }, steps: []reuseStep{
			step("example.test", PolicyPKIX, false), step("example.test", PolicyPKIX, false)}, conns: [2]int{2, 0}},
		{name: "relay keeps its authenticated session", cfg: func(c *Config) {
			c.Relay, c.RelayUsername, c.RelayPassword = "relay.test:587", "veilig", "s3cret"
		}, steps: []reuseStep{step("example.test", PolicyRelay, false), step("second.test", PolicyRelay, true)},
			conns: [2]int{1, 0}, sender: "veilig"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, signed, records...)
			opts := peerOptions{cert: &cert, users: map[string]string{"veilig": "s3cret"}}
			peers := [2]*peer{w.mx("192.0.2.1", opts), w.mx("192.0.2.2", opts)}
			w.dial["relay.test"] = peers[0].addr
			if tc.cfg != nil {
				tc.cfg(&w.cfg)
			}
			d := w.deliverer(nil)
			if tc.tune != nil {
				tc.tune(d)
			}
			for i, s := range tc.steps {
				if s.records != nil {
					w.dns.set(s.records...)
				}
				w.clock.advance(s.advance)
				res := deliverTo(t, d, s.domain)
				checkReuse(t, i, res, s)
			}
			for i, p := range peers {
				if got := p.tlsConnections(); got != tc.conns[i] {
					t.Errorf("peer %d: %d connections, want %d", i+1, got, tc.conns[i])
				}
			}
			if n := len(peers[0].messages()) + len(peers[1].messages()); n != len(tc.steps) {
				t.Errorf("%d messages received, want %d", n, len(tc.steps))
			}
			for _, m := range peers[0].messages() {
				if m.user != tc.sender || !m.tls {
					t.Errorf("received %+v, want AUTH %q over TLS", m, tc.sender)
				}
			}
		})
	}
}

// deliverTo delivers the test message to bob at domain.
func deliverTo(t *testing.T, d *Deliverer, domain string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return d.Deliver(ctx, domain, message(sender, body, "bob@"+domain))
}

func checkReuse(t *testing.T, i int, res Result, s reuseStep) {
	t.Helper()
	if res.Outcome != Delivered || len(res.Attempts) != 1 {
		t.Fatalf("step %d (%s): %+v", i, s.domain, res)
	}
	a := res.Attempts[0]
	if a.Reused != s.reused || a.Policy != s.policy || a.TLSVersion == "" || a.Cipher == "" || a.IP == "" ||
		(s.policy == PolicyDANEEE) != (a.TLSAMatch == "3 1 1") {
		t.Errorf("step %d (%s): attempt %+v, want policy %s, reused %v", i, s.domain, a, s.policy, s.reused)
	}
}

func TestSessionReconnect(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	records := []string{"example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1"}
	tests := []struct {
		name  string
		opts  peerOptions
		spoil func(*peer) // after the first delivery
	}{
		{name: "server closed the idle session: RSET fails", spoil: (*peer).drop},
		{name: "MAIL refused on the reused session", opts: peerOptions{mailOnReuse: &smtp.SMTPError{Code: 451,
			EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Stale session"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, nil, records...)
			tc.opts.cert = &cert
			p := w.mx("192.0.2.1", tc.opts)
			d := w.deliverer(nil)
			checkReuse(t, 0, deliver(t, d), reuseStep{domain: "example.test", policy: PolicyPKIX})
			if tc.spoil != nil {
				tc.spoil(p)
				p.waitLogouts(t, 1)
			}
			// One attempt, on a new connection: the stale session does not count.
			checkReuse(t, 1, deliver(t, d), reuseStep{domain: "example.test", policy: PolicyPKIX})
			if got := p.tlsConnections(); got != 2 || len(p.messages()) != 2 {
				t.Fatalf("%d connections, %d messages; want 2 and 2", got, len(p.messages()))
			}
		})
	}
}

func TestSessionCacheEnds(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	records := []string{"example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1"}
	tests := []struct {
		name string
		end  func(*world, *Deliverer)
	}{
		{"idle reaper", func(w *world, d *Deliverer) { w.clock.advance(6 * time.Second); d.conns.reap() }},
		{"Close", func(_ *world, d *Deliverer) { d.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, nil, records...)
			p := w.mx("192.0.2.1", peerOptions{cert: &cert})
			d := w.deliverer(nil)
			checkReuse(t, 0, deliver(t, d), reuseStep{domain: "example.test", policy: PolicyPKIX})
			tc.end(w, d)
			p.waitLogouts(t, 1) // the cached session was ended
			checkReuse(t, 1, deliver(t, d), reuseStep{domain: "example.test", policy: PolicyPKIX})
			if got := p.tlsConnections(); got != 2 {
				t.Fatalf("%d connections, want 2", got)
			}
		})
	}
}

func TestSessionReuseConcurrent(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	w := newWorld(t, ca, nil, "example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1")
	p := w.mx("192.0.2.1", peerOptions{cert: &cert})
	d := w.deliverer(nil)
	const workers, each = 8, 5
	var wg sync.WaitGroup
	results := make(chan Result, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				results <- deliver(t, d)
			}
		})
	}
	wg.Wait()
	close(results)
	reused := 0
	for res := range results {
		if res.Outcome != Delivered || len(res.Attempts) != 1 {
			t.Fatalf("result %+v", res)
		}
		if res.Attempts[0].Reused {
			reused++
		}
	}
	conns := p.tlsConnections()
	if len(p.messages()) != workers*each || conns >= workers*each || conns+reused != workers*each {
		t.Fatalf("%d messages over %d connections, %d deliveries on reused sessions", len(p.messages()), conns, reused)
	}
	d.Close()
	p.waitLogouts(t, conns) // every connection ended: none leaks
}

func TestSessionCacheBounds(t *testing.T) {
	t.Parallel()
	key := func(target string) sessionKey { return sessionKey{target: target, host: "mx.test", policy: PolicyPKIX} }
	tests := []struct {
		name  string
		tune  func(*sessionCache)
		puts  []sessionKey
		uses  int
		close bool
		want  []bool
	}{
		{name: "per address", tune: func(c *sessionCache) { c.perHost = 2 },
			puts: []sessionKey{key("a"), key("a"), key("a"), key("b")}, want: []bool{true, true, false, true}},
		{name: "per address across keys", tune: func(c *sessionCache) { c.perHost = 2 }, puts: []sessionKey{key("a"),
			{target: "a", host: "mx.test", policy: PolicyDANEEE}, key("a")}, want: []bool{true, true, false}},
		{name: "in all", tune: func(c *sessionCache) { c.total = 2 }, puts: []sessionKey{key("a"), key("b"), key("c")},
			want: []bool{true, true, false}},
		{name: "used up", uses: connCacheMaxUses, puts: []sessionKey{key("a")}, want: []bool{false}},
		{name: "closed", close: true, puts: []sessionKey{key("a")}, want: []bool{false}},
		{name: "off", tune: func(c *sessionCache) { c.idle = 0 }, puts: []sessionKey{key("a")}, want: []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newSessionCache(Config{ConnCacheIdle: time.Second, SessionTimeout: time.Minute,
				CommandTimeout: time.Second}, newClock().Now)
			if tc.tune != nil {
				tc.tune(c)
			}
			if tc.close {
				c.close()
			}
			t.Cleanup(c.close)
			for i, k := range tc.puts {
				if got := c.put(pipeSession(t, k, tc.uses, c.now())); got != tc.want[i] {
					t.Errorf("put %d (%+v) = %v, want %v", i, k, got, tc.want[i])
				}
			}
		})
	}
}

func TestSessionCacheTake(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newSessionCache(Config{ConnCacheIdle: time.Second, SessionTimeout: time.Minute, CommandTimeout: time.Second},
		clk.Now)
	t.Cleanup(c.close)
	a := sessionKey{target: "192.0.2.1:25", host: "mx.test", policy: PolicyPKIX}
	b := sessionKey{target: "192.0.2.2:25", host: "mx.test", policy: PolicyPKIX}
	old, recent, other := pipeSession(t, a, 0, clk.Now()), pipeSession(t, a, 0, clk.Now()), pipeSession(t, b, 0, clk.Now())
	for _, s := range []*smtpSession{old, other} {
		c.put(s)
	}
	clk.advance(600 * time.Millisecond)
	c.put(recent)
	if got := c.take([]sessionKey{{target: "192.0.2.3:25"}, a, b}); got != recent {
		t.Fatalf("take = %p, want the most recently used %p", got, recent)
	}
	clk.advance(600 * time.Millisecond) // old and other have been idle too long
	if got := c.take([]sessionKey{a, b}); got != nil {
		t.Fatalf("take = %+v, want none", got)
	}
	if c.count != 0 || len(c.byKey) != 0 || len(c.perAddr) != 0 {
		t.Fatalf("cache not empty: %d, %v, %v", c.count, c.byKey, c.perAddr)
	}
}

// pipeSession is a session on one end of a pipe, without an SMTP client.
func pipeSession(t *testing.T, k sessionKey, uses int, opened time.Time) *smtpSession {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { _ = server.Close() })
	return &smtpSession{key: k, raw: client, opened: opened, uses: uses}
}

func TestVerifyIdentity(t *testing.T) {
	ee := adns.TLSA{Usage: adns.TLSAUsageDANEEE, Selector: 1, MatchType: 1, CertAssoc: []byte{1, 2}}
	ee2 := adns.TLSA{Usage: adns.TLSAUsageDANEEE, Selector: 1, MatchType: 1, CertAssoc: []byte{3, 4}}
	ta := adns.TLSA{Usage: adns.TLSAUsageDANETA, Selector: 1, MatchType: 1, CertAssoc: []byte{5, 6}}
	plan := func(sni string, names []string, records ...adns.TLSA) hostPlan {
		return hostPlan{name: "mx.test", sni: sni, tlsa: records, names: names}
	}
	a, b := []string{"a.test"}, []string{"b.test"}
	tests := []struct {
		name string
		x, y hostPlan
		same bool
	}{
		{"records in another order", plan("mx.test", a, ee, ee2), plan("mx.test", a, ee2, ee), true},
		{"DANE-EE ignores names", plan("mx.test", a, ee), plan("mx.test", b, ee), true},
		{"a record less", plan("mx.test", a, ee, ee2), plan("mx.test", a, ee), false},
		{"no records (PKIX)", plan("mx.test", a, ee), plan("mx.test", a), false},
		{"another server name", plan("mx.test", a, ee), plan("other.test", a, ee), false},
		{"DANE-TA checks names", plan("mx.test", a, ta), plan("mx.test", b, ta), false},
		{"DANE-TA names in another order", plan("mx.test", []string{"a.test", "b.test"}, ta),
			plan("mx.test", []string{"b.test", "a.test"}, ta), true},
	}
	for _, tc := range tests {
		x, y := verifyIdentity(tc.x), verifyIdentity(tc.y)
		if (x == y) != tc.same {
			t.Errorf("%s: %q vs %q, want same = %v", tc.name, x, y, tc.same)
		}
	}
}

func TestReconnectable(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"connection closed", context.Background(), fmt.Errorf("%w: rset: %w", ErrProtocol, io.EOF), true},
		{"reply to MAIL", context.Background(), &SMTPError{Stage: stageMail, Code: 451}, true},
		{"reply to the final dot", context.Background(), &SMTPError{Stage: stageData, Code: 554}, true},
		{"delivery canceled", canceled, io.EOF, false},
		{"message cannot be opened", context.Background(), fmt.Errorf("%w: gone", ErrMessage), false},
		{"message unreadable", context.Background(), fmt.Errorf("streaming: %w", finalError{errors.New("disk")}), false},
		{"broken after the final dot", context.Background(), finalError{io.ErrUnexpectedEOF}, false},
	}
	for _, tc := range tests {
		if got := reconnectable(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: reconnectable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
