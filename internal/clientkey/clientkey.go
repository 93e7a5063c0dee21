// Package clientkey turns a client address into the key that rate limiters count
// by (OWASP ASVS 6.3.1): one IPv4 address, or one IPv6 /64 — the smallest prefix
// usually given to one subscriber — and anything else bounded in length.
package clientkey

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
)

// MaxBytes bounds a key; longer inputs are replaced by their SHA-256.
const MaxBytes = 128

// Of returns the limiter key of a client address ("192.0.2.1", "[2001:db8::1]:443", …).
func Of(client string) string {
	client = strings.TrimSpace(client)
	addr, err := netip.ParseAddr(client)
	if err != nil {
		ap, err := netip.ParseAddrPort(client)
		if err != nil {
			return Bound(client)
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// Bound returns s, or its SHA-256 when s is longer than MaxBytes.
func Bound(s string) string {
	if len(s) <= MaxBytes {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}
