package ldapsync

import (
	"fmt"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// matcher evaluates an LDAP filter (RFC 4515) on an entry read from LDIF, where
// no server does it. Values compare case-insensitively with surrounding spaces
// ignored, which is how the naming and mail attributes match (caseIgnoreMatch,
// caseIgnoreIA5Match); ordering, approximate and extensible matches are not
// supported.
type matcher func(attrs map[string][]string) bool

func compileMatcher(filter string) (matcher, error) {
	pkt, err := ldap.CompileFilter(filter)
	if err != nil {
		return nil, fmt.Errorf("%w: filter %q: %v", ErrConfig, filter, err)
	}
	m, err := matcherOf(pkt)
	if err != nil {
		return nil, fmt.Errorf("%w: filter %q for LDIF import: %v", ErrUnsupported, filter, err)
	}
	return m, nil
}

func matcherOf(p *ber.Packet) (matcher, error) {
	switch p.Tag {
	case ldap.FilterAnd, ldap.FilterOr:
		return setMatcher(p)
	case ldap.FilterNot:
		if len(p.Children) != 1 {
			return nil, fmt.Errorf("malformed NOT")
		}
		inner, err := matcherOf(p.Children[0])
		if err != nil {
			return nil, err
		}
		return func(a map[string][]string) bool { return !inner(a) }, nil
	case ldap.FilterPresent:
		attr := strings.ToLower(ber.DecodeString(p.Data.Bytes()))
		return func(a map[string][]string) bool { return len(a[attr]) > 0 }, nil
	case ldap.FilterEqualityMatch:
		return equalityMatcher(p)
	case ldap.FilterSubstrings:
		return substringMatcher(p)
	}
	return nil, fmt.Errorf("filter type %s is not supported", ldap.FilterMap[uint64(p.Tag)])
}

func setMatcher(p *ber.Packet) (matcher, error) {
	subs := make([]matcher, len(p.Children))
	for i, c := range p.Children {
		var err error
		if subs[i], err = matcherOf(c); err != nil {
			return nil, err
		}
	}
	and := p.Tag == ldap.FilterAnd
	return func(a map[string][]string) bool {
		for _, m := range subs {
			if m(a) != and {
				return !and
			}
		}
		return and
	}, nil
}

func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func equalityMatcher(p *ber.Packet) (matcher, error) {
	if len(p.Children) != 2 {
		return nil, fmt.Errorf("malformed equality match")
	}
	attr := strings.ToLower(ber.DecodeString(p.Children[0].Data.Bytes()))
	want := fold(ber.DecodeString(p.Children[1].Data.Bytes()))
	return func(a map[string][]string) bool {
		for _, v := range a[attr] {
			if fold(v) == want {
				return true
			}
		}
		return false
	}, nil
}

func substringMatcher(p *ber.Packet) (matcher, error) {
	if len(p.Children) != 2 {
		return nil, fmt.Errorf("malformed substring match")
	}
	attr := strings.ToLower(ber.DecodeString(p.Children[0].Data.Bytes()))
	type part struct {
		tag uint64
		s   string
	}
	var parts []part
	for _, c := range p.Children[1].Children {
		parts = append(parts, part{uint64(c.Tag), fold(ber.DecodeString(c.Data.Bytes()))})
	}
	match := func(v string) bool {
		v = fold(v)
		for _, pt := range parts {
			switch pt.tag {
			case ldap.FilterSubstringsInitial:
				if !strings.HasPrefix(v, pt.s) {
					return false
				}
				v = v[len(pt.s):]
			case ldap.FilterSubstringsFinal:
				return strings.HasSuffix(v, pt.s)
			default:
				i := strings.Index(v, pt.s)
				if i < 0 {
					return false
				}
				v = v[i+len(pt.s):]
			}
		}
		return true
	}
	return func(a map[string][]string) bool {
		for _, v := range a[attr] {
			if match(v) {
				return true
			}
		}
		return false
	}, nil
}
