package compose

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits and defaults of attachment names.
const (
	maxFilenameBytes  = 255 // the common file-system limit (ext4, NTFS in UTF-16 units)
	maxExtensionBytes = 16  // a longer "extension" is part of the name
	defaultFilename   = "attachment"
)

// SanitizeFilename returns a file name that is safe to offer a recipient: only
// the part after the last "/" or "\", in Unicode NFC, without control
// characters or the invisible bidirectional controls that disguise an extension
// ("invoice\u202Efdp.exe" looks like "invoiceexe.pdf"), with Windows-reserved
// characters (<>:"|?*) replaced by "_", without leading dots or spaces (no
// hidden files, no "..") or trailing ones (which Windows drops), at most 255
// bytes with the extension kept, and never empty.
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = norm.NFC.String(strings.Map(cleanRune, name))
	name = strings.Trim(name, ". ")
	name = strings.TrimRight(truncateName(name, maxFilenameBytes), ". ")
	if name == "" {
		return defaultFilename
	}
	return name
}

// cleanRune drops control and bidi formatting characters and replaces the
// characters Windows forbids in file names.
func cleanRune(r rune) rune {
	switch {
	case unicode.IsControl(r), isBidiControl(r), r == '\uFEFF':
		return -1
	case strings.ContainsRune(`<>:"|?*`, r):
		return '_'
	}
	return r
}

// isBidiControl reports the explicit directional formatting characters of
// Unicode UAX #9 §2: embeddings and overrides (U+202A–U+202E), isolates
// (U+2066–U+2069) and the marks LRM, RLM and ALM.
func isBidiControl(r rune) bool {
	return r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069' ||
		r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// truncateName shortens name to max bytes on a rune boundary, keeping a short
// extension.
func truncateName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > maxExtensionBytes {
		ext = ""
	}
	stem := name[:len(name)-len(ext)]
	return cutAtRune(stem, max-len(ext)) + ext
}

// cutAtRune returns the longest prefix of s of at most n bytes that ends on a
// rune boundary.
func cutAtRune(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// asciiFallback spells a sanitised name in printable ASCII for mail readers that
// ignore RFC 2231: accents dropped ("Één.pdf" → "Een.pdf"), anything else "_".
func asciiFallback(name string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r >= ' ' && r < utf8.RuneSelf && r != 0x7f:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if ext := path.Ext(s); strings.Trim(strings.TrimSuffix(s, ext), "_. ") == "" {
		return defaultFilename + ext
	}
	return s
}
