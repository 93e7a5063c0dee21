package directory

import (
	"errors"
	"slices"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "Gemeente-Utrecht.NL", want: "gemeente-utrecht.nl"},
		{in: "gemeente.nl.", want: "gemeente.nl"},
		{in: "  example.nl ", want: "example.nl"},
		{in: "gemeente-ĳsselstein.nl", want: "gemeente-ijsselstein.nl"}, // UTS #46 maps the ĳ ligature
		{in: "CAFÉ.nl", want: "xn--caf-dma.nl"},
		{in: "xn--caf-dma.nl", want: "xn--caf-dma.nl"},
		{in: "nl", bad: true},
		{in: "", bad: true},
		{in: "exa mple.nl", bad: true},
		{in: "under_score.nl", bad: true},
		{in: "-leading.nl", bad: true},
		{in: "a..b.nl", bad: true},
	}
	for _, tc := range tests {
		got, err := NormalizeDomain(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrInvalidDomain) {
				t.Errorf("NormalizeDomain(%q) = %q, %v; want ErrInvalidDomain", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a.b.gemeente.nl", []string{"a.b.gemeente.nl", "b.gemeente.nl", "gemeente.nl"}},
		{"gemeente.nl", []string{"gemeente.nl"}},
		{"nl", nil},
	}
	for _, tc := range tests {
		if got := Candidates(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Candidates(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
