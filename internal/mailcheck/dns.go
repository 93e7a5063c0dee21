package mailcheck

// The production Resolver: one validating recursive resolver (RFC 4033–4035)
// asked with EDNS0 (RFC 6891) and the DO bit (RFC 3225). The AD bit it sets
// (RFC 4035 §3.2.3, RFC 6840 §5.7) is the only DNSSEC signal used, so the
// server must be the operator's own resolver (VEILIG_DNS_RESOLVER) on a
// trusted path (RFC 4035 §4.9.3); AD from anything else means nothing.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultDNSTimeout bounds one question (UDP and any TCP retry together)
// when NewDNS is given no timeout.
const DefaultDNSTimeout = 5 * time.Second

// ednsSize is the advertised UDP payload size (the DNS Flag Day 2020 value).
const ednsSize = 1232

// DNS asks one validating resolver over UDP, retrying over TCP when the
// answer is truncated (RFC 7766 §5). It is safe for concurrent use.
type DNS struct {
	server  string
	timeout time.Duration
}

var _ Resolver = (*DNS)(nil)

// NewDNS returns a Resolver asking server ("host:port"). timeout bounds each
// question; <= 0 selects DefaultDNSTimeout.
func NewDNS(server string, timeout time.Duration) *DNS {
	if timeout <= 0 {
		timeout = DefaultDNSTimeout
	}
	return &DNS{server: server, timeout: timeout}
}

// TXT returns the TXT records at name, each record's character-strings
// joined (RFC 7208 §3.3, RFC 7489 §6.6.3).
func (d *DNS) TXT(ctx context.Context, name string) ([]string, bool, error) {
	r, err := d.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, false, err
	}
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, r.AuthenticatedData, nil
}

// MX returns the MX records at name, hosts lower-cased without the trailing
// dot; the null MX (RFC 7505) keeps its host ".".
func (d *DNS) MX(ctx context.Context, name string) ([]MX, bool, error) {
	r, err := d.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	var out []MX
	for _, rr := range r.Answer {
		if m, ok := rr.(*dns.MX); ok {
			out = append(out, MX{Host: mxHost(m.Mx), Pref: m.Preference})
		}
	}
	return out, r.AuthenticatedData, nil
}

// Addrs returns host's IPv4 and IPv6 addresses (A and AAAA, following
// CNAMEs); secure only when both answers were authenticated. NXDOMAIN for A
// is ErrNXDomain.
func (d *DNS) Addrs(ctx context.Context, host string) ([]net.IP, bool, error) {
	var out []net.IP
	secure := true
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := d.query(ctx, host, qt)
		if err != nil {
			return nil, false, err
		}
		out = append(out, addresses(r.Answer)...)
		secure = secure && r.AuthenticatedData
	}
	return out, secure, nil
}

// addresses collects the A and AAAA records among rrs.
func addresses(rrs []dns.RR) []net.IP {
	var out []net.IP
	for _, rr := range rrs {
		switch a := rr.(type) {
		case *dns.A:
			out = append(out, a.A)
		case *dns.AAAA:
			out = append(out, a.AAAA)
		}
	}
	return out
}

// TLSA returns the TLSA records at name (following CNAMEs, RFC 7671 §7).
func (d *DNS) TLSA(ctx context.Context, name string) ([]TLSA, bool, error) {
	r, err := d.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, false, err
	}
	var out []TLSA
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType,
				Data: strings.ToLower(t.Certificate)})
		}
	}
	return out, r.AuthenticatedData, nil
}

// mxHost normalises an MX target, keeping the null MX's ".".
func mxHost(h string) string {
	if h == "." {
		return h
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// query asks name/qtype and maps the rcode: NOERROR returns the message
// (CNAMEs in the answer are left for the callers to skip), NXDOMAIN
// ErrNXDomain, a bogus answer ErrBogus, anything else ErrLookup.
func (d *DNS) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	what := name + " " + dns.TypeToString[qtype]
	r, err := d.ask(ctx, question(name, qtype))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %w", ErrLookup, what, err)
	case r.Rcode == dns.RcodeNameError:
		return nil, fmt.Errorf("%w: %s", ErrNXDomain, what)
	case r.Rcode == dns.RcodeServerFailure && d.bogus(ctx, name, qtype):
		return nil, fmt.Errorf("%w: %s", ErrBogus, what)
	case r.Rcode != dns.RcodeSuccess:
		return nil, fmt.Errorf("%w: %s: %s", ErrLookup, what, dns.RcodeToString[r.Rcode])
	}
	return r, nil
}

// bogus asks again with checking disabled (RFC 4035 §3.2.2): a SERVFAIL
// that then answers NOERROR or NXDOMAIN failed DNSSEC validation; one that
// still fails is a broken server or zone, not a validation failure.
func (d *DNS) bogus(ctx context.Context, name string, qtype uint16) bool {
	q := question(name, qtype)
	q.CheckingDisabled = true
	r, err := d.ask(ctx, q)
	return err == nil && (r.Rcode == dns.RcodeSuccess || r.Rcode == dns.RcodeNameError)
}

// question builds a recursive query asking for DNSSEC validation.
func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.SetEdns0(ednsSize, true)
	return m
}

// ask sends q over UDP and again over TCP when the answer is truncated.
func (d *DNS) ask(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	r, err := d.send(ctx, q, "udp")
	if err == nil && r.Truncated {
		r, err = d.send(ctx, q, "tcp")
	}
	return r, err
}

// errMismatch is returned for a response that does not answer the question.
var errMismatch = errors.New("mailcheck: DNS response does not match the question")

// send does one exchange over network and checks the response echoes q.
func (d *DNS) send(ctx context.Context, q *dns.Msg, network string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: d.timeout, UDPSize: ednsSize}
	r, _, err := c.ExchangeContext(ctx, q, d.server)
	if err != nil {
		return nil, err
	}
	want := q.Question[0]
	if !r.Response || len(r.Question) != 1 || r.Question[0].Qtype != want.Qtype ||
		!strings.EqualFold(r.Question[0].Name, want.Name) {
		return nil, errMismatch
	}
	return r, nil
}
