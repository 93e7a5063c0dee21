package delivery

// The transport policy of a domain, decided per MX host (RFC 7672 §2.2): DANE
// when the MX RRset, the host's addresses and its TLSA RRset are all
// DNSSEC-authentic and some TLSA record is usable; otherwise MTA-STS when the
// domain has an enforce policy (RFC 8461 §4: then only listed hosts); otherwise
// PKIX. Failures to learn the policy defer that host, they never weaken it.

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/mjl-/adns"
	moxdns "github.com/mjl-/mox/dns"
	"github.com/mjl-/mox/mtasts"
)

// hostPlan is how one mail host is to be reached.
type hostPlan struct {
	name   string   // the MX target (or the domain for an implicit MX, or the relay)
	addr   string   // relay only: "host:port" to dial
	ips    []net.IP // addresses to try in order
	policy Policy
	tlsa   []adns.TLSA // usable TLSA records; set means DANE
	sni    string      // the TLS server name: the TLSA base domain or the MX name
	names  []string    // further names a DANE-TA certificate may carry (RFC 7672 §3.2.3)
	err    error       // why the host cannot be used; nothing is dialed
}

func (h hostPlan) usable() bool { return h.err == nil }

// plan is the transport policy of a domain.
type plan struct {
	domain  string
	hosts   []hostPlan
	dane    bool           // some host has usable DANE records
	sts     *mtasts.Policy // the enforce policy in effect, if any
	stsNone bool           // a policy in mode "none" is in effect: MTA-STS was withdrawn (RFC 8461 §8.3)
}

func (p *plan) firstUsable() (hostPlan, bool) {
	for _, h := range p.hosts {
		if h.usable() {
			return h, true
		}
	}
	return hostPlan{}, false
}

// planDomain looks up domain's mail hosts and the policy for each.
func (d *Deliverer) planDomain(ctx context.Context, domain string) (*plan, error) {
	mx, err := d.lookupMX(ctx, domain)
	if err != nil {
		return nil, err
	}
	if len(mx.hosts) > d.cfg.MaxMX {
		mx.hosts = mx.hosts[:d.cfg.MaxMX]
	}
	p := &plan{domain: domain}
	for _, name := range mx.hosts {
		h := d.planHost(ctx, domain, mx, name)
		p.dane = p.dane || len(h.tlsa) > 0
		p.hosts = append(p.hosts, h)
	}
	if mx.implicit && errors.Is(p.hosts[0].err, ErrNoAddress) {
		return nil, fmt.Errorf("%w: %s", ErrNoMailHost, domain)
	}
	d.applySTS(ctx, p)
	return p, nil
}

// planHost finds host's addresses and, when the path is DNSSEC-secure, its
// DANE records.
func (d *Deliverer) planHost(ctx context.Context, domain string, mx mxAnswer, name string) hostPlan {
	h := hostPlan{name: name, sni: name, policy: PolicyPKIX}
	addrs, err := d.lookupAddrs(ctx, name)
	switch {
	case err != nil:
		h.err = err
		return h
	case len(addrs.ips) == 0:
		h.err = fmt.Errorf("%w: %s", ErrNoAddress, name)
		return h
	}
	h.ips = addrs.ips
	if !mx.authentic || !addrs.authentic {
		return h // insecure: DANE does not apply (RFC 7672 §2.2.1, §2.2.2)
	}
	records, base, err := d.gatherTLSA(ctx, name, addrs.expanded)
	if err != nil {
		h.err = err // a failed TLSA lookup defers the host (RFC 7672 §2.2.1)
		return h
	}
	if usable := usableTLSA(records); len(usable) > 0 {
		h.tlsa, h.sni, h.policy = usable, base, danePolicy(usable)
		h.names = daneNames(domain, mx, name, base)
	}
	return h
}

// gatherTLSA looks up TLSA records at the CNAME-expanded host first, then at the
// host as named in the MX record (RFC 7672 §2.2.3), and returns the authentic
// records and the TLSA base domain they were found at.
func (d *Deliverer) gatherTLSA(ctx context.Context, name, expanded string) ([]adns.TLSA, string, error) {
	candidates := []string{name}
	if expanded != name {
		candidates = []string{expanded, name}
	}
	for _, base := range candidates {
		a, err := d.lookupTLSA(ctx, base)
		if err != nil {
			return nil, base, err
		}
		if a.authentic && len(a.records) > 0 {
			return a.records, base, nil
		}
	}
	return nil, name, nil
}

// daneNames are the names besides the SNI name a DANE-TA certificate may match:
// the MX host, the next-hop domain and its CNAME expansion (RFC 7672 §3.2.3).
func daneNames(domain string, mx mxAnswer, name, sni string) []string {
	cands := []string{name}
	if !mx.implicit {
		cands = append(cands, domain, mx.nextHop)
	}
	var names []string
	for _, n := range cands {
		if n != sni && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// usableTLSA keeps the records usable for SMTP (RFC 7672 §3.1): DANE-TA or
// DANE-EE, a known selector and matching type, well-formed data.
func usableTLSA(records []adns.TLSA) []adns.TLSA {
	var out []adns.TLSA
	for _, r := range records {
		if (r.Usage == adns.TLSAUsageDANETA || r.Usage == adns.TLSAUsageDANEEE) && wellFormed(r) {
			out = append(out, r)
		}
	}
	return out
}

func wellFormed(r adns.TLSA) bool {
	switch r.MatchType {
	case adns.TLSAMatchTypeSHA256:
		return len(r.CertAssoc) == sha256.Size && r.Selector <= adns.TLSASelectorSPKI
	case adns.TLSAMatchTypeSHA512:
		return len(r.CertAssoc) == sha512.Size && r.Selector <= adns.TLSASelectorSPKI
	case adns.TLSAMatchTypeFull:
		switch r.Selector {
		case adns.TLSASelectorCert:
			_, err := x509.ParseCertificate(r.CertAssoc)
			return err == nil
		case adns.TLSASelectorSPKI:
			_, err := x509.ParsePKIXPublicKey(r.CertAssoc)
			return err == nil
		}
	}
	return false
}

// danePolicy is the policy announced before the handshake: dane-ta when every
// record is DANE-TA, else dane-ee. The matching record decides afterwards.
func danePolicy(records []adns.TLSA) Policy {
	for _, r := range records {
		if r.Usage != adns.TLSAUsageDANETA {
			return PolicyDANEEE
		}
	}
	return PolicyDANETA
}

func policyOfRecord(r adns.TLSA) Policy {
	if r.Usage == adns.TLSAUsageDANETA {
		return PolicyDANETA
	}
	return PolicyDANEEE
}

// applySTS applies the domain's MTA-STS policy to the hosts without DANE.
func (d *Deliverer) applySTS(ctx context.Context, p *plan) {
	if !slices.ContainsFunc(p.hosts, func(h hostPlan) bool { return h.usable() && len(h.tlsa) == 0 }) {
		return
	}
	pol, err := d.stsPolicy(ctx, p.domain)
	if err != nil {
		for i, h := range p.hosts {
			if h.usable() && len(h.tlsa) == 0 {
				p.hosts[i].err = err
			}
		}
		return
	}
	if pol == nil {
		return
	}
	p.stsNone = pol.Mode == mtasts.ModeNone
	if pol.Mode != mtasts.ModeEnforce {
		return
	}
	p.sts = pol
	for i, h := range p.hosts {
		if !h.usable() || len(h.tlsa) > 0 {
			continue
		}
		p.hosts[i].policy = PolicyMTASTS
		if !stsMatches(pol, h.name) {
			p.hosts[i].err = fmt.Errorf("%w: %s", ErrNotInPolicy, h.name)
		}
	}
}

func stsMatches(pol *mtasts.Policy, host string) bool {
	dom, err := moxdns.ParseDomainLax(host)
	if err != nil {
		return false
	}
	return pol.Matches(dom)
}

// planRelay is the one host of relay mode.
func (d *Deliverer) planRelay() *plan {
	host, _, _ := net.SplitHostPort(d.cfg.Relay)
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return &plan{hosts: []hostPlan{{name: host, addr: d.cfg.Relay, sni: host, policy: PolicyRelay}}}
}
