package detect

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

// vectorsPath holds the vectors shared with addin/core/detector.test.js.
const vectorsPath = "../../addin/core/testdata/detector.json"

type vectors struct {
	BSN    []validity `json:"bsn"`
	IBAN   []validity `json:"iban"`
	Detect []struct {
		Name     string    `json:"name"`
		Text     string    `json:"text"`
		Patterns []Pattern `json:"patterns"`
		Want     []Match   `json:"want"`
	} `json:"detect"`
}

type validity struct {
	Input string `json:"input"`
	Valid bool   `json:"valid"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	if len(v.BSN) == 0 || len(v.IBAN) == 0 || len(v.Detect) == 0 {
		t.Fatal("vectors are empty")
	}
	return v
}

func TestIsValidBSN(t *testing.T) {
	for _, tc := range loadVectors(t).BSN {
		if got := IsValidBSN(tc.Input); got != tc.Valid {
			t.Errorf("IsValidBSN(%q) = %v, want %v", tc.Input, got, tc.Valid)
		}
	}
}

func TestIsValidIBAN(t *testing.T) {
	for _, tc := range loadVectors(t).IBAN {
		if got := IsValidIBAN(tc.Input); got != tc.Valid {
			t.Errorf("IsValidIBAN(%q) = %v, want %v", tc.Input, got, tc.Valid)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range loadVectors(t).Detect {
		t.Run(tc.Name, func(t *testing.T) {
			d, err := New(tc.Patterns...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			want := make([]Match, 0, len(tc.Want))
			for _, m := range tc.Want {
				m.Index = byteOffset(t, tc.Text, m.Index)
				want = append(want, m)
			}
			got := d.Detect(tc.Text)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Detect(%q) (-want +got):\n%s", tc.Text, diff)
			}
			for _, m := range got {
				if tc.Text[m.Index:m.Index+len(m.Match)] != m.Match {
					t.Errorf("match %q is not at byte %d", m.Match, m.Index)
				}
			}
		})
	}
}

// byteOffset turns a UTF-16 offset (as JavaScript reports it) into a byte offset.
func byteOffset(t *testing.T, s string, u16 int) int {
	t.Helper()
	units := 0
	for i, r := range s {
		if units == u16 {
			return i
		}
		units += len(utf16.Encode([]rune{r}))
	}
	if units == u16 {
		return len(s)
	}
	t.Fatalf("UTF-16 offset %d is beyond %q", u16, s)
	return 0
}

func TestNewRefusesBadPatterns(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Pattern
	}{
		{"empty name", Pattern{Name: "", Expr: "x"}},
		{"reserved bsn", Pattern{Name: KindBSN, Expr: "x"}},
		{"reserved iban", Pattern{Name: KindIBAN, Expr: "x"}},
		{"bad expression", Pattern{Name: "dossier", Expr: "DOS-("}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.p); !errors.Is(err, ErrPattern) {
				t.Errorf("New(%+v) error = %v, want ErrPattern", tc.p, err)
			}
		})
	}
}

func TestDetectBoundsMatches(t *testing.T) {
	var b strings.Builder
	for i := range MaxMatches + 20 {
		b.WriteString(validBSN(t, 100000000+i*100) + ", ")
	}
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(d.Detect(b.String())); got != MaxMatches {
		t.Errorf("Detect found %d matches, want the bound %d", got, MaxMatches)
	}
}

// validBSN returns the first valid BSN at or after n.
func validBSN(t *testing.T, n int) string {
	t.Helper()
	for i := n; i < n+100; i++ {
		if s := itoa9(i); IsValidBSN(s) {
			return s
		}
	}
	t.Fatalf("no valid BSN near %d", n)
	return ""
}

func itoa9(n int) string {
	b := []byte("000000000")
	for i := 8; i >= 0 && n > 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b)
}

func FuzzDetect(f *testing.F) {
	for _, s := range []string{"BSN 123456782", "NL91 ABNA 0417 1643 00", "+31 612 345 678", "\u00a0123\u00a0456\u00a0782"} {
		f.Add(s)
	}
	d, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range d.Detect(s) {
			if m.Index < 0 || m.Index+len(m.Match) > len(s) || s[m.Index:m.Index+len(m.Match)] != m.Match {
				t.Fatalf("match %+v is not in the text", m)
			}
		}
	})
}
