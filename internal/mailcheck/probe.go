package mailcheck

// The per-MX tests: DNSSEC of the MX host's name, STARTTLS (RFC 3207) graded
// by tlsgrade with the certificate's PKIX validity, and DANE (RFC 7672)
// against the certificate chain the server presented in the same session.
//
// The hosts probed are the applicant's choice (an enrolment's MX records), so
// unless Options.AllowPrivate only public addresses are connected to: not
// loopback, private (RFC 1918, RFC 4193), link-local (RFC 3927, RFC 4291,
// e.g. a cloud metadata service at 169.254.169.254), shared (RFC 6598) or any
// other special-purpose block of the IANA registries (RFC 6890) that is not
// globally reachable.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// ErrNotPublic refuses a connection to an address that is not public.
var ErrNotPublic = errors.New("mailcheck: address is not public")

// nonPublic are the special-purpose blocks never connected to (RFC 6890 and
// the IANA IPv4/IPv6 special-purpose registries), besides what netip's
// predicates catch (loopback, RFC 1918/4193, link-local, multicast,
// unspecified). IPv4-mapped addresses are unmapped first; the NAT64 prefix
// is judged by the IPv4 address it embeds.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated), ::, ::1
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID…)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
}

// nat64 is the well-known NAT64 prefix (RFC 6052 §2.1).
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Public reports whether a is a globally reachable unicast address.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		return Public(netip.AddrFrom4([4]byte(b[12:])))
	}
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// newDialer returns a dialer that, unless allowPrivate, refuses every
// address that is not Public at connect time: after name resolution, so a
// name re-pointed between lookup and connect (DNS rebinding) is caught too.
func newDialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !Public(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrNotPublic, address)
			}
			return nil
		}
	}
	return d
}

// policyAddrs resolves the MTA-STS policy host through the checker's
// resolver; only addresses the probe may connect to are returned, and a host
// with none of those is refused as not public.
func (c *Checker) policyAddrs(ctx context.Context, host string) ([]net.IP, error) {
	addrs, _, err := c.addrs(ctx, host)
	if err != nil {
		return nil, err
	}
	ips := c.dialable(addrs)
	if len(ips) == 0 && len(addrs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotPublic, host)
	}
	return ips, nil
}

// dialable returns the addresses the probe may connect to.
func (c *Checker) dialable(addrs []net.IP) []net.IP {
	if c.opts.AllowPrivate {
		return addrs
	}
	var out []net.IP
	for _, ip := range addrs {
		if a, ok := netip.AddrFromSlice(ip); ok && Public(a) {
			out = append(out, ip)
		}
	}
	return out
}

// mxOutcome is what the per-MX tests found for one host.
type mxOutcome struct {
	secure bool // the host's address records are DNSSEC-secure
	dane   bool // DNSSEC-secure TLSA records matched the presented certificate
}

// probeMX runs the DNSSEC, STARTTLS and DANE tests for host, adding their
// results to k.
func (c *Checker) probeMX(ctx context.Context, host string, k *collector) mxOutcome {
	ctx, cancel := context.WithTimeout(ctx, 3*c.timeout)
	defer cancel()
	addrs, secure, err := c.addrs(ctx, host)
	k.add(TestDNSSEC, host, rateDNSSEC(secure, host, true), dnssecErr(err))
	tlsa, tlsaSecure, tlsaErr := c.tlsa(ctx, host)
	if err != nil && !errors.Is(err, ErrNXDomain) {
		k.add(TestSTARTTLS, host, Result{}, err)
		k.add(TestDANE, host, Result{}, err)
		return mxOutcome{}
	}
	p, perr := c.probe(ctx, host, addrs)
	if perr != nil && tlsaErr == nil {
		tlsaErr = perr
	}
	dane := rateDANE(tlsa, tlsaSecure, p, host)
	k.add(TestDANE, host, dane.Result, tlsaErr)
	k.add(TestSTARTTLS, host, p.starttls(dane.matched), perr)
	return mxOutcome{secure: secure && err == nil, dane: tlsaErr == nil && dane.matched}
}

// dnssecErr keeps the errors that leave the host's DNSSEC unrated: a name
// that does not exist is rated by its (in)secure denial.
func dnssecErr(err error) error {
	if errors.Is(err, ErrNXDomain) {
		return nil
	}
	return err
}

// addrs looks up host's addresses under the test timeout; an IP literal is
// its own address.
func (c *Checker) addrs(ctx context.Context, host string) ([]net.IP, bool, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	addrs, secure, err := c.r.Addrs(ctx, host)
	if err != nil && !errors.Is(err, ErrBogus) && !errors.Is(err, ErrNXDomain) {
		err = lookupErr("A/AAAA", host, err)
	}
	return addrs, secure, err
}

// tlsaName is the TLSA owner name of host on the probed port (RFC 6698 §3,
// RFC 7672 §2.2.3), the same name the delivery route asks for.
func (c *Checker) tlsaName(host string) string {
	return "_" + strconv.Itoa(c.opts.Port) + "._tcp." + host
}

// tlsa looks up host's TLSA records; a name that does not exist has none.
func (c *Checker) tlsa(ctx context.Context, host string) ([]TLSA, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	name := c.tlsaName(host)
	recs, secure, err := c.r.TLSA(ctx, name)
	switch {
	case errors.Is(err, ErrNXDomain):
		return nil, secure, nil
	case err != nil && !errors.Is(err, ErrBogus):
		return nil, false, lookupErr("TLSA", name, err)
	}
	return recs, secure, err
}

// probed is the outcome of one SMTP session.
type probed struct {
	noAddr  bool                // the host has no addresses
	private bool                // the host has addresses, none of them public
	offered bool                // STARTTLS was offered and the handshake done
	state   tls.ConnectionState // the negotiated session, when offered
	pkixErr error               // PKIX validation of the presented chain, when offered
}

// starttls rates the session (STARTTLS test); a chain that is not
// PKIX-valid is a warning unless DANE matched it (as Internet.nl rates it).
func (p probed) starttls(daneMatched bool) Result {
	switch {
	case p.noAddr:
		return noAddress()
	case p.private:
		return notPublic()
	case !p.offered:
		return noSTARTTLS()
	}
	return withPKIX(gradeState(p.state), p.pkixErr, daneMatched)
}

// probe talks SMTP to the first of addrs that accepts a connection; addresses
// that are not public are skipped unless Options.AllowPrivate.
func (c *Checker) probe(ctx context.Context, host string, addrs []net.IP) (probed, error) {
	if len(addrs) == 0 {
		return probed{noAddr: true}, nil
	}
	if addrs = c.dialable(addrs); len(addrs) == 0 {
		return probed{private: true}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var errs []error
	for _, ip := range addrs {
		addr := net.JoinHostPort(ip.String(), strconv.Itoa(c.opts.Port))
		p, err := c.session(ctx, host, addr)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return probed{}, fmt.Errorf("%s: %w", host, errors.Join(errs...))
}

// noAddress is the STARTTLS Result for an MX host without addresses.
func noAddress() Result {
	return result(StatusFail,
		text{"De mailserver heeft geen IP-adres (geen A- of AAAA-record).",
			"The mail server has no IP address (no A or AAAA record)."},
		text{"Publiceer A- en/of AAAA-records voor de naam in het MX-record.",
			"Publish A and/or AAAA records for the name in the MX record."})
}

// notPublic is the STARTTLS Result for an MX host whose addresses are all
// loopback, private, link-local or otherwise not reachable from the Internet.
func notPublic() Result {
	return result(StatusFail,
		text{"De mailserver heeft alleen niet-publieke IP-adressen (zoals 127.0.0.1, 10.0.0.0/8 of 169.254.0.0/16); Veilig maakt daar geen verbinding mee.",
			"The mail server has only non-public IP addresses (such as 127.0.0.1, 10.0.0.0/8 or 169.254.0.0/16); Veilig does not connect to them."},
		text{"Laat het MX-record wijzen naar een naam met publieke A- en/of AAAA-records.",
			"Point the MX record at a name with public A and/or AAAA records."})
}
