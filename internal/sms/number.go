package sms

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// maxRawNumber bounds the input handed to the parser.
const maxRawNumber = 64

// maskRune replaces hidden digits in Masked.
const maskRune = '•'

// Number is a valid mobile phone number in E.164 form. The zero value is no
// number. Its String, GoString and LogValue are masked so that it cannot be
// logged in full by accident.
type Number struct {
	e164   string
	region string
	masked string
}

// Normalize parses raw (national or international notation) with defaultRegion
// (ISO 3166-1 alpha-2, e.g. "NL") used for numbers without a country code. It
// accepts valid numbers of type mobile or fixed-line-or-mobile only. Errors
// never contain the number.
func Normalize(raw, defaultRegion string) (Number, error) {
	if len(raw) > maxRawNumber {
		return Number{}, fmt.Errorf("%w: too long", ErrInvalidNumber)
	}
	pn, err := phonenumbers.Parse(raw, strings.ToUpper(defaultRegion))
	if err != nil || !phonenumbers.IsValidNumber(pn) {
		return Number{}, ErrInvalidNumber
	}
	switch phonenumbers.GetNumberType(pn) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return Number{}, ErrNotMobile
	}
	return Number{
		e164:   phonenumbers.Format(pn, phonenumbers.E164),
		region: phonenumbers.GetRegionCodeForNumber(pn),
		masked: mask(phonenumbers.Format(pn, phonenumbers.INTERNATIONAL)),
	}, nil
}

// mask keeps the "+CC" prefix and the last two digits of an international
// notation and replaces every other digit.
func mask(intl string) string {
	prefix, rest, ok := strings.Cut(intl, " ")
	if !ok {
		return ""
	}
	digits := countDigits(rest)
	var b strings.Builder
	b.WriteString(prefix + " ")
	seen := 0
	for _, r := range rest {
		if r >= '0' && r <= '9' {
			seen++
			if seen <= digits-2 {
				r = maskRune
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// E164 returns the number as "+<country code><national number>".
func (n Number) E164() string { return n.e164 }

// Region returns the ISO 3166-1 alpha-2 region of the number, e.g. "NL".
func (n Number) Region() string { return n.region }

// Masked returns the number with all but the country code and the last two
// digits hidden, e.g. "+31 • ••••••78". It is safe to show and to log.
func (n Number) Masked() string { return n.masked }

// IsZero reports whether n is the zero Number.
func (n Number) IsZero() bool { return n.e164 == "" }

// String returns the masked number.
func (n Number) String() string { return n.masked }

// GoString returns the masked number, so %#v does not reveal it either.
func (n Number) GoString() string { return "sms.Number(" + n.masked + ")" }

// LogValue implements slog.LogValuer with the masked number.
func (n Number) LogValue() slog.Value { return slog.StringValue(n.masked) }

// DefaultAllowedRegions returns the default allow-list: the Netherlands and the
// other EU and EEA member states (ISO 3166-1 alpha-2). It returns a new slice on
// every call.
func DefaultAllowedRegions() []string {
	return []string{
		"NL",
		"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR",
		"HU", "IE", "IT", "LT", "LU", "LV", "MT", "PL", "PT", "RO", "SE", "SI", "SK",
		"IS", "LI", "NO",
	}
}

// Allowed returns nil if n's region is in allow (ISO 3166-1 alpha-2 codes,
// case-insensitive), or ErrCountryNotAllowed. A nil or empty allow means
// DefaultAllowedRegions.
func Allowed(n Number, allow []string) error {
	if n.IsZero() {
		return ErrInvalidNumber
	}
	if len(allow) == 0 {
		allow = DefaultAllowedRegions()
	}
	if slices.ContainsFunc(allow, func(r string) bool { return strings.EqualFold(r, n.region) }) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrCountryNotAllowed, n.region)
}
