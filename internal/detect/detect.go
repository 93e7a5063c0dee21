// Package detect finds sensitive data in message text: Dutch citizen service
// numbers (BSN, checked with the 11-test of the Wet algemene bepalingen
// burgerservicenummer), IBANs (ISO 13616, checked with ISO 7064 MOD 97-10) and
// extra named regular expressions an organisation configures.
//
// It implements the same rules as the add-ins' addin/core/detector.js; both are
// tested against addin/core/testdata/detector.json. Indexes here are byte
// offsets into the text (JavaScript reports UTF-16 offsets).
package detect

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMatches bounds the matches reported per call.
const MaxMatches = 100

// Built-in kinds.
const (
	KindBSN  = "bsn"
	KindIBAN = "iban"
)

// ErrPattern is returned for a pattern with a bad name or expression.
var ErrPattern = errors.New("detect: invalid pattern")

// Pattern is an extra expression to look for, reported under Name.
// Expr uses the syntax shared by RE2 and JavaScript (no inline flags).
type Pattern struct {
	Name string `json:"name"`
	Expr string `json:"pattern"`
}

// Match is one finding; Index is the byte offset of Match in the text.
type Match struct {
	Kind  string `json:"kind"`
	Match string `json:"match"`
	Index int    `json:"index"`
}

// Detector finds BSNs, IBANs and its extra patterns. It is safe for
// concurrent use.
type Detector struct {
	patterns []namedRegexp
	source   []Pattern
}

type namedRegexp struct {
	name string
	re   *regexp.Regexp
}

// found is a match with the key that makes duplicates equal (digits of a BSN,
// the compact upper-case IBAN).
type found struct {
	Match
	key string
}

// New compiles the extra patterns.
func New(patterns ...Pattern) (*Detector, error) {
	d := &Detector{}
	for _, p := range patterns {
		if p.Name == "" || p.Name == KindBSN || p.Name == KindIBAN {
			return nil, fmt.Errorf("%w: name %q is empty or reserved", ErrPattern, p.Name)
		}
		re, err := regexp.Compile(p.Expr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrPattern, p.Name, err)
		}
		d.patterns = append(d.patterns, namedRegexp{name: p.Name, re: re})
		d.source = append(d.source, p)
	}
	return d, nil
}

// Patterns returns the extra patterns, as given.
func (d *Detector) Patterns() []Pattern { return append([]Pattern(nil), d.source...) }

// Detect returns the unique matches in text order; of overlapping matches the
// first is kept.
func (d *Detector) Detect(text string) []Match {
	all := append(findBSNs(text), findIBANs(text)...)
	for _, p := range d.patterns {
		all = append(all, findPattern(text, p)...)
	}
	return uniqueInOrder(all)
}

func findPattern(text string, p namedRegexp) []found {
	var out []found
	for _, loc := range p.re.FindAllStringIndex(text, MaxMatches) {
		if loc[0] == loc[1] {
			continue
		}
		m := text[loc[0]:loc[1]]
		out = append(out, found{Match: Match{Kind: p.name, Match: m, Index: loc[0]}, key: m})
	}
	return out
}

func kindOrder(kind string) int {
	switch kind {
	case KindBSN:
		return 0
	case KindIBAN:
		return 1
	}
	return 2
}

func uniqueInOrder(all []found) []Match {
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Index != all[j].Index {
			return all[i].Index < all[j].Index
		}
		return kindOrder(all[i].Kind) < kindOrder(all[j].Kind)
	})
	seen := map[string]bool{}
	out := []Match{}
	end := 0
	for _, m := range all {
		key := m.Kind + "\x00" + m.key
		if m.Index < end || seen[key] {
			continue
		}
		seen[key] = true
		end = m.Index + len(m.Match.Match)
		out = append(out, m.Match)
		if len(out) >= MaxMatches {
			break
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isASCIIAlnum(c byte) bool {
	return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'z'
}

// wordBefore and wordAfter report whether a letter or digit touches [i, j).
func wordBefore(text string, i int) bool {
	r := lastRune(text[:i])
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

func wordAfter(text string, j int) bool {
	r := firstRune(text[j:])
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

func firstRune(s string) rune {
	if s == "" {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

func lastRune(s string) rune {
	if s == "" {
		return -1
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

// isSpace reports whether s starts with a space or a no-break space and how
// many bytes it takes.
func isSpace(s string) (bool, int) {
	switch {
	case strings.HasPrefix(s, " "):
		return true, 1
	case strings.HasPrefix(s, "\u00a0"):
		return true, 2
	}
	return false, 0
}
