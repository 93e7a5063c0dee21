// Package netdial connects to a host name through the caller's resolver
// rather than the system's: the MTA-STS policy fetch (RFC 8461 §3.3) must ask
// the same validating resolver (VEILIG_DNS_RESOLVER) as the rest of the
// delivery and the mail check. Addresses are tried one after another, as the
// sequential fallback of RFC 8305 §5 without the racing.
package netdial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Lookup returns the addresses of host, in the order to try them.
type Lookup func(ctx context.Context, host string) ([]net.IP, error)

// Dialer opens a connection to an address; *net.Dialer implements it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// ErrNoAddress reports a host name with no address to connect to.
var ErrNoAddress = errors.New("netdial: no address")

// Via returns a DialContext for http.Transport that resolves a host name with
// lookup and connects with d; an address literal is dialled as it is.
func Via(lookup Lookup, d Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("netdial: %w", err)
		}
		if net.ParseIP(host) != nil {
			return d.DialContext(ctx, network, address)
		}
		ips, err := lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("netdial: %s: %w", host, err)
		}
		return first(ctx, d, network, ips, port, host)
	}
}

// first connects to the first of ips that answers. With a deadline on ctx,
// each address gets an equal share of the time left (as net.Dialer does), so
// one silent address does not use up the time of the next.
func first(ctx context.Context, d Dialer, network string, ips []net.IP, port, host string) (net.Conn, error) {
	if len(ips) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoAddress, host)
	}
	var errs []error
	for i, ip := range ips {
		conn, err := dialShare(ctx, d, network, net.JoinHostPort(ip.String(), port), len(ips)-i)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// dialShare dials address within 1/left of the time ctx has left.
func dialShare(ctx context.Context, d Dialer, network, address string, left int) (net.Conn, error) {
	deadline, ok := ctx.Deadline()
	if !ok || left <= 1 {
		return d.DialContext(ctx, network, address)
	}
	share := time.Until(deadline) / time.Duration(left)
	actx, cancel := context.WithTimeout(ctx, share)
	defer cancel()
	return d.DialContext(actx, network, address)
}
