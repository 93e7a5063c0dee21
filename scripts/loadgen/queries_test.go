package main

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

const testLDIF = `version: 1
# comment: o: ignored

dn: o=Gemeente Utrecht,dc=veilig,dc=example
objectClass: organization
o: Gemeente Utrecht
associatedDomain: utrecht.example

dn: cn=Jan de Vries,o=Gemeente Utrecht,dc=veilig,dc=example
cn: Jan de Vries
givenName: Jan
sn: de Vr
 ies
mail: J.deVries@utrecht.example
description: not used
sn;lang-nl:: w4lsw6lu
mail: x@utrecht.example
o:< file:///etc/passwd
`

func TestEachLDIFValue(t *testing.T) {
	var got []string
	if err := eachLDIFValue(strings.NewReader(testLDIF), func(v string) { got = append(got, v) }); err != nil {
		t.Fatal(err)
	}
	// "x" (one-rune local part) and the URL reference are skipped.
	want := []string{"Gemeente Utrecht", "Jan de Vries", "Jan", "de Vries", "J.deVries", "Élén"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

func TestCutPrefix(t *testing.T) {
	tests := []struct {
		v    string
		n    int
		want string
	}{
		{"Gemeente Utrecht", 5, "gemee"},
		{"Jan de Vries", 4, "jan"},
		{"Élén", 3, "élé"},
		{"Ab", 5, "ab"},
		{"A b", 2, ""},
		{"  Xy  ", 2, "xy"},
	}
	for _, tc := range tests {
		if got := cutPrefix(tc.v, tc.n); got != tc.want {
			t.Errorf("cutPrefix(%q, %d) = %q, want %q", tc.v, tc.n, got, tc.want)
		}
	}
}

func TestDerivePrefixes(t *testing.T) {
	var b strings.Builder
	for i := range 500 {
		b.WriteString("dn: cn=x\ncn: Person" + strings.Repeat("q", i%7) + "\nmail: user@example.test\n\n")
	}
	ldif := b.String()
	tests := []struct {
		name  string
		count int
		seed  uint64
	}{
		{"sample smaller than input", 100, 1},
		{"sample larger than input", 5000, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := derivePrefixes(strings.NewReader(ldif), tc.count, tc.seed)
			if err != nil {
				t.Fatal(err)
			}
			if want := min(tc.count, 1000); len(got) != want {
				t.Fatalf("got %d prefixes, want %d", len(got), want)
			}
			lengths := map[int]bool{}
			for _, p := range got {
				n := utf8.RuneCountInString(p)
				lengths[n] = true
				if n < 2 || n > 5 || p != strings.ToLower(p) ||
					!(strings.HasPrefix("person", p) || strings.HasPrefix("user", p)) {
					t.Fatalf("bad prefix %q", p)
				}
			}
			if len(lengths) != 4 {
				t.Errorf("prefix lengths %v, want all of 2..5", lengths)
			}
			again, _ := derivePrefixes(strings.NewReader(ldif), tc.count, tc.seed)
			if !slices.Equal(got, again) {
				t.Error("same seed gave different prefixes")
			}
		})
	}
}

func TestReadQueries(t *testing.T) {
	got, err := readQueries(strings.NewReader("ams\n\n  gem  \r\nd'\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ams", "gem", "d'"}, got); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}
