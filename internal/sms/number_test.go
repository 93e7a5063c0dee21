package sms

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name, raw, region string
		wantE164, wantRgn string
		wantErr           error
	}{
		{"dutch mobile national", "06 12345678", "NL", "+31612345678", "NL", nil},
		{"dutch mobile national lower-case region", "0612345678", "nl", "+31612345678", "NL", nil},
		{"dutch mobile international", "+31 6 1234 5678", "", "+31612345678", "NL", nil},
		{"dutch mobile 00 prefix", "0031612345678", "NL", "+31612345678", "NL", nil},
		{"belgian mobile", "+32 470 12 34 56", "NL", "+32470123456", "BE", nil},
		{"belgian mobile national", "0470 12 34 56", "BE", "+32470123456", "BE", nil},
		{"us number parses", "+1 201 555 0123", "NL", "+12015550123", "US", nil},
		{"dutch landline", "020 123 4567", "NL", "", "", ErrNotMobile},
		{"belgian landline", "+32 2 234 56 78", "", "", "", ErrNotMobile},
		{"too short", "06 1234", "NL", "", "", ErrInvalidNumber},
		{"garbage", "call me maybe", "NL", "", "", ErrInvalidNumber},
		{"empty", "", "NL", "", "", ErrInvalidNumber},
		{"national without region", "0612345678", "", "", "", ErrInvalidNumber},
		{"overlong input", strings.Repeat("6", 200), "NL", "", "", ErrInvalidNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Normalize(tc.raw, tc.region)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Normalize(%q, %q) error = %v, want %v", tc.raw, tc.region, err, tc.wantErr)
			}
			if n.E164() != tc.wantE164 || n.Region() != tc.wantRgn {
				t.Errorf("Normalize(%q, %q) = %s/%s, want %s/%s", tc.raw, tc.region, n.E164(), n.Region(), tc.wantE164, tc.wantRgn)
			}
			if err != nil && tc.raw != "" && strings.Contains(err.Error(), tc.raw) {
				t.Errorf("error %q reveals the input", err)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		allow   []string
		wantErr error
	}{
		{"+31612345678", nil, nil},
		{"+32470123456", nil, nil},
		{"+4791234567", nil, nil}, // Norway, EEA
		{"+12015550123", nil, ErrCountryNotAllowed},
		{"+447911123456", nil, ErrCountryNotAllowed}, // UK left the EU
		{"+12015550123", []string{"us"}, nil},
		{"+31612345678", []string{"BE"}, ErrCountryNotAllowed},
	} {
		n, err := Normalize(tc.raw, "")
		if err != nil {
			t.Fatalf("Normalize(%q): %v", tc.raw, err)
		}
		if err := Allowed(n, tc.allow); !errors.Is(err, tc.wantErr) {
			t.Errorf("Allowed(%s, %v) = %v, want %v", n.Region(), tc.allow, err, tc.wantErr)
		}
	}
	if err := Allowed(Number{}, nil); !errors.Is(err, ErrInvalidNumber) {
		t.Errorf("Allowed(zero) = %v, want ErrInvalidNumber", err)
	}
}

func TestDefaultAllowedRegionsIsACopy(t *testing.T) {
	a := DefaultAllowedRegions()
	a[0] = "US"
	if DefaultAllowedRegions()[0] != "NL" {
		t.Fatal("DefaultAllowedRegions shares its backing array")
	}
	if got := len(DefaultAllowedRegions()); got != 30 {
		t.Errorf("len = %d, want 30 (27 EU + 3 EEA)", got)
	}
}

func TestMasked(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"+31612345678", "+31 • ••••••78"},
		{"+32470123456", "+32 ••• •• •• 56"},
		{"+4915123456789", "+49 •••• •••••89"},
		{"+12015550123", "+1 •••-•••-••23"},
	} {
		n, err := Normalize(tc.raw, "")
		if err != nil {
			t.Fatalf("Normalize(%q): %v", tc.raw, err)
		}
		if n.Masked() != tc.want {
			t.Errorf("Masked(%s) = %q, want %q", tc.raw, n.Masked(), tc.want)
		}
		cc := strings.Fields(tc.want)[0]
		for _, s := range []string{n.Masked(), n.String(), fmt.Sprint(n), fmt.Sprintf("%+v", n), fmt.Sprintf("%#v", n), logged(n)} {
			if d := revealedDigits(s, cc); d != tc.raw[len(tc.raw)-2:] {
				t.Errorf("%q reveals digits %q beyond the country code, want only the last two", s, d)
			}
		}
	}
}

// revealedDigits returns every digit of s after the country-code prefix.
func revealedDigits(s, cc string) string {
	var b strings.Builder
	for _, r := range strings.Replace(s, cc, "", 1) {
		if unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func logged(n Number) string {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "to", n)
	_, after, _ := strings.Cut(b.String(), "to=")
	return after
}
