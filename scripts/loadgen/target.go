package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

var errNotLoopback = errors.New("loadgen: target is not a loopback address")

// schemes lists the URL schemes each mode accepts.
var schemes = map[string][]string{
	"http": {"http", "https"},
	"ldap": {"ldap"},
}

// loopbackURL parses raw and refuses any host other than a literal loopback
// address or "localhost". Host names are never resolved here; the dialer
// checks the resolved address again (see loopbackDialer).
func loopbackURL(raw, mode string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if !contains(schemes[mode], u.Scheme) {
		return nil, fmt.Errorf("%w: -mode %s does not accept scheme %q", errUsage, mode, u.Scheme)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%w: %q", errNotLoopback, u.Host)
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackDialer returns a dialer whose Control hook runs before connect(2)
// and aborts any socket whose peer is not a loopback address, so neither a
// redirect nor an odd /etc/hosts entry can send load elsewhere.
func loopbackDialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: loopbackOnly}
}

func loopbackOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", errNotLoopback, address, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("%w: %s", errNotLoopback, address)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
