package delivery

// Interpreting answers: MX with the null MX (RFC 7505) and the implicit MX
// (RFC 5321 §5.1), host addresses, TLSA (RFC 6698) and TXT, each following
// CNAMEs within the resolver's answer (RFC 1034 §3.6.2).

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/mjl-/adns"
)

const (
	maxCNAMEs     = 10 // CNAME links followed within one answer
	maxIPsPerHost = 8
	maxTXTRecords = 32
)

// query asks the (caching) resolver and turns failures into ErrDNS.
func (d *Deliverer) query(ctx context.Context, name string, qtype uint16) (*Response, error) {
	r, err := d.dns.Query(ctx, name, qtype)
	if err != nil {
		return nil, err
	}
	switch r.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return r, nil
	case dns.RcodeServerFailure:
		return nil, fmt.Errorf("%w: %s %s: SERVFAIL (DNSSEC validation failed or the resolver failed)",
			ErrDNS, name, dns.TypeToString[qtype])
	}
	return nil, fmt.Errorf("%w: %s %s: %s", ErrDNS, name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode])
}

// rrset follows the CNAME chain from name through the answer and returns the
// final owner name (lower case, no final dot) and its records of qtype.
func rrset(r *Response, name string, qtype uint16) (string, []dns.RR, error) {
	owner := strings.ToLower(dns.Fqdn(name))
	for range maxCNAMEs + 1 {
		var rrs []dns.RR
		next := ""
		for _, rr := range r.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, owner) {
				continue
			}
			if h.Rrtype == qtype {
				rrs = append(rrs, rr)
			} else if c, ok := rr.(*dns.CNAME); ok {
				next = strings.ToLower(c.Target)
			}
		}
		if len(rrs) > 0 || next == "" {
			return strings.TrimSuffix(owner, "."), rrs, nil
		}
		owner = next
	}
	return "", nil, fmt.Errorf("%w: %s: more than %d CNAMEs", ErrDNS, name, maxCNAMEs)
}

// mxAnswer is the outcome of the MX lookup of a domain.
type mxAnswer struct {
	hosts     []string // in order of preference; the domain itself when implicit
	implicit  bool     // no MX records: the domain is its own mail host
	authentic bool
	nextHop   string // the domain after CNAMEs
}

// lookupMX returns the mail hosts of domain. It returns ErrNoDomain, ErrNullMX
// or ErrDNS.
func (d *Deliverer) lookupMX(ctx context.Context, domain string) (mxAnswer, error) {
	r, err := d.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return mxAnswer{}, err
	}
	if r.Rcode == dns.RcodeNameError {
		return mxAnswer{authentic: r.Authentic}, fmt.Errorf("%w: %s (NXDOMAIN)", ErrNoDomain, domain)
	}
	final, rrs, err := rrset(r, domain, dns.TypeMX)
	if err != nil {
		return mxAnswer{}, err
	}
	a := mxAnswer{authentic: r.Authentic, nextHop: final}
	if len(rrs) == 0 {
		a.implicit, a.hosts = true, []string{final}
		return a, nil
	}
	a.hosts = orderMX(rrs)
	if len(a.hosts) == 0 {
		return a, fmt.Errorf("%w: %s", ErrNullMX, domain)
	}
	return a, nil
}

// orderMX sorts MX targets by preference, shuffling equal preferences (RFC
// 5321 §5.1), and drops null MX targets and duplicates.
func orderMX(rrs []dns.RR) []string {
	mxs := make([]*dns.MX, 0, len(rrs))
	for _, rr := range rrs {
		if mx, ok := rr.(*dns.MX); ok && mx.Mx != "." {
			mxs = append(mxs, mx)
		}
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *dns.MX) int { return int(a.Preference) - int(b.Preference) })
	hosts := make([]string, 0, len(mxs))
	for _, mx := range mxs {
		h := strings.TrimSuffix(strings.ToLower(mx.Mx), ".")
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// addrAnswer is the outcome of the address lookup of a mail host.
type addrAnswer struct {
	ips       []net.IP // IPv4 first
	authentic bool     // both lookups validated
	expanded  string   // the host after CNAMEs
}

// lookupAddrs returns the IPv4 and IPv6 addresses of host.
func (d *Deliverer) lookupAddrs(ctx context.Context, host string) (addrAnswer, error) {
	a := addrAnswer{authentic: true, expanded: host}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := d.query(ctx, host, qtype)
		if err != nil {
			return addrAnswer{}, err
		}
		a.authentic = a.authentic && r.Authentic
		if r.Rcode == dns.RcodeNameError {
			continue
		}
		final, rrs, err := rrset(r, host, qtype)
		if err != nil {
			return addrAnswer{}, err
		}
		a.expanded = final
		a.ips = append(a.ips, addresses(rrs)...)
	}
	if len(a.ips) > maxIPsPerHost {
		a.ips = a.ips[:maxIPsPerHost]
	}
	return a, nil
}

func addresses(rrs []dns.RR) []net.IP {
	var ips []net.IP
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			ips = append(ips, v.A)
		case *dns.AAAA:
			ips = append(ips, v.AAAA)
		}
	}
	return ips
}

// tlsaAnswer is the outcome of a TLSA lookup.
type tlsaAnswer struct {
	records   []adns.TLSA // every record found, usable or not
	authentic bool
}

// tlsaName is the TLSA owner name for host on the delivery port (RFC 6698 §3).
func (d *Deliverer) tlsaName(host string) string {
	return "_" + strconv.Itoa(d.cfg.Port) + "._tcp." + host
}

// lookupTLSA returns the TLSA records of host (following CNAMEs, RFC 7671 §7).
func (d *Deliverer) lookupTLSA(ctx context.Context, host string) (tlsaAnswer, error) {
	name := d.tlsaName(host)
	r, err := d.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return tlsaAnswer{}, err
	}
	a := tlsaAnswer{authentic: r.Authentic}
	if r.Rcode == dns.RcodeNameError {
		return a, nil
	}
	_, rrs, err := rrset(r, name, dns.TypeTLSA)
	if err != nil {
		return tlsaAnswer{}, err
	}
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TLSA); ok {
			a.records = append(a.records, toADNS(t))
		}
	}
	return a, nil
}

func toADNS(t *dns.TLSA) adns.TLSA {
	assoc, err := hex.DecodeString(t.Certificate)
	if err != nil {
		assoc = nil // an unparsable record is unusable
	}
	return adns.TLSA{Usage: adns.TLSAUsage(t.Usage), Selector: adns.TLSASelector(t.Selector),
		MatchType: adns.TLSAMatchType(t.MatchingType), CertAssoc: assoc}
}

// lookupTXT returns the TXT strings at name (each record's strings joined),
// nil when there are none.
func (d *Deliverer) lookupTXT(ctx context.Context, name string) ([]string, error) {
	r, err := d.query(ctx, name, dns.TypeTXT)
	if err != nil || r.Rcode == dns.RcodeNameError {
		return nil, err
	}
	_, rrs, err := rrset(r, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok && len(out) < maxTXTRecords {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}
