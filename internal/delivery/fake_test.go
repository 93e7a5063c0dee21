package delivery

// Test peers: a plain-data DNS fake behind the Resolver interface, and a real
// go-smtp server on 127.0.0.1:0 with error injection and a recording backend.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// fakeDNS answers from zone-file lines with absolute names. Answers for names
// under a signed zone are authentic; names under a servfail entry fail.
type fakeDNS struct {
	t testing.TB

	mu       sync.Mutex
	records  []dns.RR
	signed   []string
	servfail []string
	queries  int
}

func newFakeDNS(t testing.TB, signed []string, records ...string) *fakeDNS {
	f := &fakeDNS{t: t, signed: signed}
	f.set(records...)
	return f
}

// set replaces the records.
func (f *fakeDNS) set(records ...string) {
	f.t.Helper()
	rrs := make([]dns.RR, 0, len(records))
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil || rr == nil {
			f.t.Fatalf("fake DNS record %q: %v", r, err)
		}
		rrs = append(rrs, rr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = rrs
}

func (f *fakeDNS) failing(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servfail = append(f.servfail, names...)
}

func (f *fakeDNS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries
}

func under(name string, zones []string) bool {
	name = strings.ToLower(dns.Fqdn(name))
	for _, z := range zones {
		z = strings.ToLower(dns.Fqdn(z))
		if name == z || strings.HasSuffix(name, "."+z) {
			return true
		}
	}
	return false
}

func (f *fakeDNS) Query(_ context.Context, name string, qtype uint16) (*Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	name = strings.ToLower(dns.Fqdn(name))
	r := &Response{Rcode: dns.RcodeSuccess, Authentic: true, TTL: time.Minute}
	for range 12 {
		if under(name, f.servfail) {
			return &Response{Rcode: dns.RcodeServerFailure}, nil
		}
		r.Authentic = r.Authentic && under(name, f.signed)
		owned, cname := f.owned(name, qtype)
		r.Answer = append(r.Answer, owned...)
		if cname == "" {
			if len(r.Answer) == 0 && !f.exists(name) {
				r.Rcode = dns.RcodeNameError
			}
			if len(r.Answer) > 0 {
				r.TTL = minTTL(r.Answer)
			}
			return r, nil
		}
		name = cname
	}
	return nil, errors.New("fake DNS: CNAME loop")
}

// owned returns name's records of qtype, or its CNAME and the target.
func (f *fakeDNS) owned(name string, qtype uint16) ([]dns.RR, string) {
	var out []dns.RR
	for _, rr := range f.records {
		h := rr.Header()
		if !strings.EqualFold(h.Name, name) {
			continue
		}
		if h.Rrtype == qtype {
			out = append(out, rr)
		} else if c, ok := rr.(*dns.CNAME); ok && len(out) == 0 {
			return []dns.RR{rr}, strings.ToLower(c.Target)
		}
	}
	return out, ""
}

// exists reports whether name owns records or is an empty non-terminal.
func (f *fakeDNS) exists(name string) bool {
	for _, rr := range f.records {
		owner := strings.ToLower(rr.Header().Name)
		if owner == name || strings.HasSuffix(owner, "."+name) {
			return true
		}
	}
	return false
}

// peerOptions configure a fake MX.
type peerOptions struct {
	cert       *tls.Certificate           // nil: no STARTTLS
	maxVersion uint16                     // e.g. tls.VersionTLS11
	requireTLS bool                       // advertise REQUIRETLS
	users      map[string]string          // AUTH PLAIN accounts; empty: no AUTH
	rcpt       map[string]*smtp.SMTPError // RCPT replies by address
	data       *smtp.SMTPError            // reply to the final "."
	// mailOnReuse answers MAIL in every transaction after a connection's first.
	mailOnReuse *smtp.SMTPError
}

// received is a message the peer accepted.
type received struct {
	from       string
	to         []string
	data       string
	requireTLS bool
	user       string
	tls        bool
}

// peer is a go-smtp server on 127.0.0.1:0.
type peer struct {
	opts peerOptions
	addr string

	mu       sync.Mutex
	msgs     []received
	conns    int // sessions: one per EHLO before STARTTLS, one after
	tlsConns int // connections that reached TLS
	live     []*smtp.Conn
	logouts  int // TLS connections ended
}

func startPeer(t testing.TB, opts peerOptions) *peer {
	t.Helper()
	p := &peer{opts: opts}
	s := smtp.NewServer(smtp.BackendFunc(p.newSession))
	s.Domain = "peer.test"
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	s.EnableREQUIRETLS = opts.requireTLS
	s.ErrorLog = quietLog{}
	if opts.cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*opts.cert}, MaxVersion: opts.maxVersion,
			MinVersion: tls.VersionTLS10}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return p
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

func (p *peer) messages() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.msgs...)
}

func (p *peer) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// drop closes the peer's connections, as a server ending idle sessions would.
func (p *peer) drop() {
	p.mu.Lock()
	live := p.live
	p.live = nil
	p.mu.Unlock()
	for _, c := range live {
		_ = c.Conn().Close()
	}
}

// waitLogouts waits until n connections have ended.
func (p *peer) waitLogouts(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		got := p.logouts
		p.mu.Unlock()
		if got >= n {
			return
		}
	}
	t.Fatalf("%d connections ended, want %d", p.logouts, n)
}

// tlsConnections counts the connections that reached TLS.
func (p *peer) tlsConnections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tlsConns
}

func (p *peer) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	p.mu.Lock()
	p.conns++
	if isTLS {
		p.tlsConns++
		p.live = append(p.live, c)
	}
	p.mu.Unlock()
	return &peerSession{p: p, cur: received{tls: isTLS}}, nil
}

type peerSession struct {
	p     *peer
	cur   received
	mails int // MAIL commands on this connection
}

func (s *peerSession) AuthMechanisms() []string {
	if len(s.p.opts.users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *peerSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := s.p.opts.users[user]; !ok || want != pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Bad credentials"}
		}
		s.cur.user = user
		return nil
	}), nil
}

func (s *peerSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.mails++; s.mails > 1 && s.p.opts.mailOnReuse != nil {
		return s.p.opts.mailOnReuse
	}
	s.cur.from, s.cur.requireTLS = from, opts != nil && opts.RequireTLS
	return nil
}

func (s *peerSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := s.p.opts.rcpt[to]; e != nil {
		return e
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *peerSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.p.opts.data != nil {
		return s.p.opts.data
	}
	s.cur.data = string(b)
	s.p.mu.Lock()
	s.p.msgs = append(s.p.msgs, s.cur)
	s.p.mu.Unlock()
	return nil
}

func (s *peerSession) Reset() { s.cur = received{tls: s.cur.tls, user: s.cur.user} }
func (s *peerSession) Logout() error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.cur.tls {
		s.p.logouts++
	}
	return nil
}

// mapDialer sends connections for a host (an IP or a name) to a local address.
type mapDialer map[string]string

func (m mapDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	target, ok := m[host]
	if !ok {
		return nil, fmt.Errorf("test dialer: %s: connection refused", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, target)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// message is an Envelope for a fixed body.
func message(from string, body string, to ...string) Envelope {
	return Envelope{From: from, To: to, Size: int64(len(body)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
}
