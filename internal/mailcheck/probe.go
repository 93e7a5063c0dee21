package mailcheck

// The per-MX tests: DNSSEC of the MX host's name, STARTTLS (RFC 3207) graded
// by tlsgrade with the certificate's PKIX validity, and DANE (RFC 7672)
// against the certificate chain the server presented in the same session.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
)

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
	case !p.offered:
		return noSTARTTLS()
	}
	return withPKIX(gradeState(p.state), p.pkixErr, daneMatched)
}

// probe talks SMTP to the first of addrs that accepts a connection.
func (c *Checker) probe(ctx context.Context, host string, addrs []net.IP) (probed, error) {
	if len(addrs) == 0 {
		return probed{noAddr: true}, nil
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
