package search

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestFold(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"folded already", "jan de vries", "jan de vries"},
		{"case", "Jan DE Vries", "jan de vries"},
		{"diaeresis and ligature", "Zoë Ĳsselstein", "zoe ijsselstein"},
		{"two-letter ij", "IJsselstein", "ijsselstein"},
		{"typographic apostrophe", "’s-Hertogenbosch", "'s-hertogenbosch"},
		{"ascii apostrophe", "'s-Hertogenbosch", "'s-hertogenbosch"},
		{"backtick and acute accent as apostrophes", "`t Hooft ´s", "'t hooft 's"},
		{"dashes", "Súdwest–Fryslân — Noord‐Oost", "sudwest-fryslan - noord-oost"},
		{"white space collapsed and trimmed", " \t Jan \n\r  de\u00a0Vries\u3000 ", "jan de vries"},
		{"control characters are space", "jan\x00de\x1fvries\x7f", "jan de vries"},
		{"invalid utf-8 is space", "jan\xffvries\xc3", "jan vries"},
		{"soft hyphen and zero-width space dropped", "Jan\u00adWillem\u200b", "janwillem"},
		{"sharp s", "Straße ẞ", "strasse ss"},
		{"ae oe o", "Æsir Œuvre Øresund ø", "aesir oeuvre oresund o"},
		{"stroke letters", "Łódź Đakovo Ħal Þór", "lodz dakovo hal thor"},
		{"dotless and dotted i", "ı İstanbul", "i istanbul"},
		{"compatibility ligatures", "ﬁets Ǆ", "fiets dz"},
		{"double diacritics", "ǖ ẫ", "u a"},
		{"fullwidth", "ＡＢＣ１", "abc1"},
		{"greek keeps letters", "Άλφα", "αλφα"},
		{"turkish", "Yılmaz Şahin Çelik Öztürk", "yilmaz sahin celik ozturk"},
		{"other punctuation kept", "Jansen, Jan (Gemeente)", "jansen, jan (gemeente)"},
		{"e-mail", "J.de.Vries+Post@Gemeente.NL", "j.de.vries+post@gemeente.nl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Fold(tt.in)
			if got != tt.want {
				t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := Fold(got); again != got {
				t.Errorf("Fold is not idempotent: Fold(%q) = %q", got, again)
			}
		})
	}
}

func TestFoldFoldedDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { Fold("jan.de.vries@gemeente-utrecht.nl") })
	if allocs != 0 {
		t.Errorf("Fold of folded text allocates %v times", allocs)
	}
}

// FuzzFold checks Fold's invariants; the seed corpus runs as a unit test.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"Zoë Ĳsselstein", "’s-Hertogenbosch", " a  b ", "\xff\xfe", "ǅ\u0301\u0308", "ﷺ", "ß\u00ad"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Fold(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Fold(%q) = %q is not valid UTF-8", s, got)
		}
		if strings.Contains(got, "  ") || strings.HasPrefix(got, " ") || strings.HasSuffix(got, " ") {
			t.Fatalf("Fold(%q) = %q has stray spaces", s, got)
		}
		if strings.ContainsAny(got, "\x00\t\n") {
			t.Fatalf("Fold(%q) = %q has control characters", s, got)
		}
		if again := Fold(got); again != got {
			t.Fatalf("Fold not idempotent: %q -> %q -> %q", s, got, again)
		}
	})
}

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"jan de vries", []string{"jan", "de", "vries"}},
		{"jansen, jan (gemeente)", []string{"jansen", "jan", "gemeente"}},
		{"'s-hertogenbosch", []string{"s-hertogenbosch"}},
		{"jan-willem van 't hof", []string{"jan-willem", "van", "t", "hof"}},
		{"bouw & infra / regio", []string{"bouw", "infra", "regio"}},
		{"-- ' . @", nil},
		{"j.de.vries@utrecht.nl.", []string{"j.de.vries@utrecht.nl"}},
		{"a--b", []string{"a--b"}},
		{"αλφα βήτα", []string{"αλφα", "βήτα"}},
		{strings.Repeat("x", 100), []string{strings.Repeat("x", maxTokenBytes)}},
		{strings.Repeat("x", 79) + "ë", []string{strings.Repeat("x", 79)}},
		{strings.Repeat("x", 79) + "-y", []string{strings.Repeat("x", 79)}},
	}
	for _, tt := range tests {
		got := words(nil, tt.in, 10)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("words(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	if got := words(nil, "a b c d", 2); len(got) != 2 {
		t.Errorf("words with max 2 returned %q", got)
	}
}
