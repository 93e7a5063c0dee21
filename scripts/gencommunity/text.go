package main

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// nameKey is how LDAP compares names (caseIgnoreMatch, RFC 4517 §4.2.11, with
// the compatibility mapping OpenLDAP applies): two names with one key would
// collide as RDN values.
func nameKey(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(s)), " "))
}

// fold lower-cases s and strips diacritics: "Súdwest-Fryslân" → "sudwest-fryslan",
// "Ĳsbrand" → "ijsbrand".
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		r = unicode.ToLower(r)
		if rep, ok := foldSpecial(r); ok {
			b.WriteString(rep)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// foldSpecial handles letters that do not decompose into ASCII.
func foldSpecial(r rune) (string, bool) {
	switch r {
	case 'ß':
		return "ss", true
	case 'æ':
		return "ae", true
	case 'ø':
		return "o", true
	case 'ı':
		return "i", true
	case 'ł':
		return "l", true
	}
	return "", false
}

// asciiWords splits folded s into runs of [a-z0-9]; apostrophes join ("Aa's" →
// "aas"), '&' and '+' read as "en".
func asciiWords(s string) []string {
	return splitWords(fold(s), func(r rune) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' })
}

// unicodeWords is asciiWords without folding: the words of an IDN label.
func unicodeWords(s string) []string {
	return splitWords(strings.ToLower(norm.NFC.String(s)), func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
}

// splitWords splits s into runs of runes for which inWord holds, dropping
// apostrophes and reading '&' and '+' as the word "en".
func splitWords(s string, inWord func(rune) bool) []string {
	var words []string
	start := -1
	var cur []byte
	flush := func() {
		if start >= 0 {
			words = append(words, string(cur))
			cur, start = cur[:0], -1
		}
	}
	for i, r := range s {
		switch {
		case r == '\'' || r == '’':
			continue
		case r == '&' || r == '+':
			flush()
			words = append(words, "en")
		case inWord(r):
			if start < 0 {
				start = i
			}
			cur = utf8.AppendRune(cur, r)
		default:
			flush()
		}
	}
	flush()
	return words
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// capitalise upper-cases the first letter: a surname that opens an
// organisation name is written "Van der Berg B.V.".
func capitalise(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// escapeRDNValue escapes an attribute value for a DN string (RFC 4514 §2.4).
// Non-ASCII characters stay UTF-8.
func escapeRDNValue(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 4)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case strings.IndexByte(`"+,;<>\`, c) >= 0,
			i == 0 && (c == ' ' || c == '#'),
			i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == 0:
			b.WriteString(`\00`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
