package main

import (
	"errors"
	"strings"

	"golang.org/x/net/idna"
)

var errBadDomain = errors.New("gencommunity: not a mail domain")

// newIDNAProfile is the IDNA2008 lookup profile of directory.NormalizeDomain
// (RFC 5891 §5, with the strict host name rules of RFC 1123).
func newIDNAProfile() *idna.Profile {
	return idna.New(
		idna.MapForLookup(),
		idna.BidiRule(),
		idna.Transitional(false),
		idna.StrictDomainName(true),
		idna.VerifyDNSLength(true),
	)
}

// normalizeDomain returns the lower-case IDNA A-label form of a domain name
// (RFC 5890/5891), as directory.NormalizeDomain does: associatedDomain and mail are IA5String, so an
// IDN such as "súdwest-fryslân.nl" must be written as "xn--sdwest-frysln-….nl".
// It is repeated here so the generator does not build the directory package.
func normalizeDomain(profile *idna.Profile, name string) (string, error) {
	ascii, err := profile.ToASCII(name)
	if err != nil {
		return "", errors.Join(errBadDomain, err)
	}
	ascii = strings.ToLower(ascii)
	if !strings.Contains(ascii, ".") {
		return "", errBadDomain
	}
	return ascii, nil
}
