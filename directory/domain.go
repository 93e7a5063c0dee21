package directory

import (
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// idnaProfile is the IDNA2008 lookup profile (RFC 5891 §5) with the strict
// hostname rules of RFC 1123: what a mail domain may be.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
)

// NormalizeDomain returns the lower-case IDNA A-label form of a domain name, without
// a trailing dot. Names that cannot be mail domains (one label, bad characters,
// over-long labels) are ErrInvalidDomain.
func NormalizeDomain(name string) (string, error) {
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	ascii, err := idnaProfile.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidDomain, name, err)
	}
	ascii = strings.ToLower(ascii)
	if !strings.Contains(ascii, ".") || len(ascii) > 253 {
		return "", fmt.Errorf("%w: %q", ErrInvalidDomain, name)
	}
	return ascii, nil
}

// DomainMatch tells how an address's domain relates to a community domain.
type DomainMatch int

// Match kinds, best first.
const (
	NoMatch        DomainMatch = iota
	ExactMatch                 // the address's domain is the community domain
	SubdomainMatch             // the address's domain lies below the community domain
)

// Candidates returns the name itself and each parent domain that could be a
// registered community domain, nearest first: "a.b.gemeente.nl" gives
// "a.b.gemeente.nl", "b.gemeente.nl", "gemeente.nl". A bare top-level domain is
// never a candidate, so "nl" can never claim every Dutch address.
func Candidates(domain string) []string {
	var out []string
	for d := domain; strings.Contains(d, "."); {
		out = append(out, d)
		_, d, _ = strings.Cut(d, ".")
	}
	return out
}
