package search

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fold returns s folded for matching: lower case (Unicode simple case mapping),
// compatibility-decomposed (UAX #15 NFKD, so the ligature "Ĳ" becomes "ij") with
// combining marks removed ("ë" becomes "e"), a few letters that have no
// decomposition spelled out in ASCII ("ß" "ss", "æ" "ae", "ø" "o", "ł" "l", ...),
// typographic apostrophes and dashes mapped to ASCII "'" and "-", invisible format
// characters dropped, and every run of white space, control characters and invalid
// UTF-8 collapsed to one ASCII space, trimmed at both ends.
//
//	Fold("Zoë Ĳsselstein") == "zoe ijsselstein"
//	Fold("’s-Hertogenbosch") == "'s-hertogenbosch"
//
// Other punctuation is kept; splitting into words is a separate step. Fold is
// idempotent and allocates nothing when s is already folded.
func Fold(s string) string {
	if isFolded(s) {
		return s
	}
	return string(appendFold(make([]byte, 0, len(s)), s))
}

// isFolded reports whether s is printable lower-case ASCII with single inner
// spaces, the common case that Fold returns unchanged.
func isFolded(s string) bool {
	prevSpace := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || c < ' ' || c == 0x7f || c == '`' || ('A' <= c && c <= 'Z') {
			return false
		}
		if c == ' ' && prevSpace {
			return false
		}
		prevSpace = c == ' '
	}
	return !prevSpace || s == ""
}

// folder accumulates folded output and collapses white space.
type folder struct {
	buf     []byte
	start   int  // len(buf) before folding began
	pending bool // a space is owed before the next visible character
}

// space owes a space, unless nothing has been written yet.
func (f *folder) space() { f.pending = len(f.buf) > f.start }

// appendFold appends the folding of s to dst.
func appendFold(dst []byte, s string) []byte {
	f := folder{buf: dst, start: len(dst)}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			f.ascii(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		f.rune(r, n, s[i:i+n])
		i += n
	}
	return f.buf
}

// ascii folds one ASCII byte.
func (f *folder) ascii(c byte) {
	switch {
	case c <= ' ' || c == 0x7f:
		f.space()
	case c == '`':
		f.put('\'')
	case 'A' <= c && c <= 'Z':
		f.put(c + 'a' - 'A')
	default:
		f.put(c)
	}
}

// put appends a visible byte, preceded by an owed space.
func (f *folder) put(c byte) {
	if f.pending {
		f.buf = append(f.buf, ' ')
		f.pending = false
	}
	f.buf = append(f.buf, c)
}

// putString appends visible ASCII bytes.
func (f *folder) putString(s string) {
	for i := 0; i < len(s); i++ {
		f.put(s[i])
	}
}

// rune folds one non-ASCII rune whose UTF-8 encoding is enc.
func (f *folder) rune(r rune, size int, enc string) {
	if r == utf8.RuneError && size == 1 || unicode.IsSpace(r) || unicode.IsControl(r) {
		f.space()
		return
	}
	if s, ok := foldSpecial(r); ok {
		f.putString(s)
		return
	}
	d := norm.NFKD.PropertiesString(enc).Decomposition()
	if d == nil {
		f.decomposed(r)
		return
	}
	for len(d) > 0 {
		dr, n := utf8.DecodeRune(d)
		f.decomposed(dr)
		d = d[n:]
	}
}

// decomposed folds one rune of a compatibility decomposition.
func (f *folder) decomposed(r rune) {
	switch {
	case r < utf8.RuneSelf:
		f.ascii(byte(r))
		return
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return // combining mark or invisible format character
	case unicode.IsSpace(r):
		f.space()
		return
	}
	r = unicode.ToLower(r)
	if s, ok := foldSpecial(r); ok {
		f.putString(s)
		return
	}
	if f.pending {
		f.buf = append(f.buf, ' ')
		f.pending = false
	}
	f.buf = utf8.AppendRune(f.buf, r)
}

// foldSpecial maps letters without a Unicode decomposition, and typographic
// apostrophes and dashes, to ASCII.
func foldSpecial(r rune) (string, bool) {
	switch r {
	case 'ß', 'ẞ':
		return "ss", true
	case 'æ', 'Æ':
		return "ae", true
	case 'œ', 'Œ':
		return "oe", true
	case 'ø', 'Ø':
		return "o", true
	case 'ł', 'Ł':
		return "l", true
	case 'đ', 'Đ', 'ð', 'Ð':
		return "d", true
	case 'þ', 'Þ':
		return "th", true
	case 'ı':
		return "i", true
	case 'ħ', 'Ħ':
		return "h", true
	case 'ŧ', 'Ŧ':
		return "t", true
	case 'ŋ', 'Ŋ':
		return "n", true
	case '\u2018', '\u2019', '\u201b', '\u02bc', '\u02b9', '\u00b4', '\u2032':
		return "'", true
	case '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\ufe58', '\ufe63':
		return "-", true
	}
	return "", false
}
