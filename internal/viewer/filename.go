package viewer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameBytes bounds a file name (most file systems allow 255 bytes).
const maxNameBytes = 200

// displayName makes a file name safe to show and save: no directories, no
// control or format characters (CR, LF, bidi overrides), no leading dots,
// bounded length; "attachment" when nothing is left.
func displayName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	name = truncateUTF8(strings.TrimSpace(name), maxNameBytes)
	if name == "" {
		return "attachment"
	}
	return name
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// contentDisposition is "attachment" with an ASCII filename= fallback and an
// RFC 8187 filename*= in UTF-8 (RFC 6266 §4.3).
func contentDisposition(name string) string {
	name = displayName(name)
	return `attachment; filename="` + asciiFallback(name) + `"; filename*=UTF-8''` + encodeRFC8187(name)
}

// asciiFallback keeps printable ASCII except quote, backslash and percent
// (which some agents decode); everything else becomes "_".
func asciiFallback(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			b.WriteByte('_')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// encodeRFC8187 percent-encodes every byte that is not an attr-char
// (RFC 8187 §3.2.1).
func encodeRFC8187(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isAttrChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
