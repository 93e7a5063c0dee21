package mimeread

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// field is a header field with its value unfolded (RFC 5322 §2.2.3); the
// value is a byte slice so that many continuation lines append in linear time.
type field struct {
	name  string // in lower case
	value []byte
}

// header is a header block in order. Lookups take the first field of a name.
type header struct{ fields []field }

func (h header) get(name string) string {
	for _, f := range h.fields {
		if f.name == name {
			return string(f.value)
		}
	}
	return ""
}

// readHeader reads a header block up to the empty line, a delimiter line (left
// for the body reader: the part is empty) or the end of the input. Lines that
// are neither fields nor continuations are skipped, as mail readers do.
func (w *walker) readHeader() (header, error) {
	var h header
	budget := MaxHeaderBytes
	var line []byte
	for {
		c, err := w.lr.next()
		if err != nil {
			h.add(line)
			return h, ignoreEOF(err)
		}
		if _, _, ok := matchBoundary(c, w.bounds); ok {
			w.lr.back()
			h.add(line)
			return h, nil
		}
		if budget -= len(c.b); budget < 0 {
			return header{}, fmt.Errorf("%w: %w: header block over %d bytes", ErrMalformed, ErrLimit, MaxHeaderBytes)
		}
		line = append(line, c.b...)
		if !c.eol {
			continue
		}
		content, _ := splitEOL(line)
		if len(content) == 0 {
			return h, nil
		}
		h.add(content)
		line = line[:0]
	}
}

func ignoreEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// add adds a field line or a continuation line.
func (h *header) add(line []byte) {
	line, _ = splitEOL(line)
	if len(line) == 0 {
		return
	}
	if line[0] == ' ' || line[0] == '\t' {
		if n := len(h.fields); n > 0 {
			h.fields[n-1].value = append(h.fields[n-1].value, line...)
		}
		return
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	name = bytes.TrimRight(name, " \t") // "Subject :" (RFC 5322 §4.5.3, obsolete)
	if !ok || !validFieldName(name) {
		return
	}
	h.fields = append(h.fields, field{name: strings.ToLower(string(name)), value: bytes.Clone(value)})
}

// validFieldName reports an RFC 5322 §3.6.8 field-name.
func validFieldName(name []byte) bool {
	for _, c := range name {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return len(name) > 0
}

// contentType returns the media type in lower case and its parameters, or
// def when the field is missing or unusable (RFC 2045 §5.2).
func (h header) contentType(def string) (string, map[string]string) {
	raw := h.get("content-type")
	mediaType, params := parseParams(raw)
	typ, sub, ok := strings.Cut(mediaType, "/")
	if !ok || !isToken(typ) || !isToken(sub) {
		return def, map[string]string{}
	}
	return mediaType, params
}

// disposition returns the Content-Disposition type (RFC 2183) in lower case
// and its parameters.
func (h header) disposition() (string, map[string]string) {
	return parseParams(h.get("content-disposition"))
}

// transferEncoding returns the Content-Transfer-Encoding in lower case.
func (h header) transferEncoding() string {
	return strings.ToLower(strings.TrimSpace(h.get("content-transfer-encoding")))
}

// text returns an unstructured field decoded for display: encoded-words
// (RFC 2047) and raw 8-bit (RFC 6532, or windows-1252 when not UTF-8)
// decoded, control characters dropped, white space trimmed.
func (h header) text(name string) string {
	return decodeText(h.get(name))
}

func decodeText(v string) string {
	v = rawToUTF8(v)
	if d, err := wordDecoder().DecodeHeader(padEncodedWords(v)); err == nil {
		v = d
	}
	return cleanText(v)
}

// rawToUTF8 keeps UTF-8 and reads anything else as windows-1252, the most
// common charset of unlabelled 8-bit header fields.
func rawToUTF8(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	return decodeCharset([]byte(v), "windows-1252")
}

func cleanText(v string) string {
	v = strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
	return strings.TrimSpace(v)
}

// wordDecoder decodes encoded-words in every charset x/text knows; others
// pass through and are cleaned as UTF-8 afterwards.
func wordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
		if enc := lookupCharset(charset); enc != nil {
			return enc.NewDecoder().Reader(r), nil
		}
		return r, nil
	}}
}

// addresses returns an address list for display: "Name <addr>, addr". When
// it does not parse, the decoded text of the field.
func (h header) addresses(name string) string {
	raw := padEncodedWords(rawToUTF8(h.get(name)))
	parser := mail.AddressParser{WordDecoder: wordDecoder()}
	list, err := parser.ParseList(raw)
	if err != nil || len(list) == 0 {
		return decodeText(raw)
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		s := cleanText(a.Address)
		if n := cleanText(a.Name); n != "" {
			s = n + " <" + s + ">"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// date returns the Date field, or the zero time.
func (h header) date() time.Time {
	t, err := mail.ParseDate(strings.TrimSpace(h.get("date")))
	if err != nil {
		return time.Time{}
	}
	return t
}

// isToken reports an RFC 2045 §5.1 token.
func isToken(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// padEncodedWords adds the "=" padding that some encoders leave off B
// encoded-words (RFC 2047 §4.1), which mime.WordDecoder would otherwise
// show undecoded.
func padEncodedWords(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	var b strings.Builder
	for {
		start := strings.Index(v, "=?")
		if start < 0 {
			break
		}
		word, n := padWord(v[start:])
		b.WriteString(v[:start])
		b.WriteString(word)
		v = v[start+n:]
	}
	b.WriteString(v)
	return b.String()
}

// padWord returns the encoded-word at the start of v, padded, and its length
// in v; or "=?" when v does not start with a B encoded-word.
func padWord(v string) (string, int) {
	parts := strings.SplitN(v[2:], "?", 4) // charset, encoding, text, "=…"
	if len(parts) < 4 || !strings.HasPrefix(parts[3], "=") || !strings.EqualFold(parts[1], "b") ||
		strings.ContainsAny(parts[0]+parts[2], " \t") {
		return "=?", 2
	}
	n := 2 + len(parts[0]) + 1 + len(parts[1]) + 1 + len(parts[2]) + 2
	text := strings.TrimRight(parts[2], "=")
	if r := len(text) % 4; r != 0 {
		text += strings.Repeat("=", 4-r)
	}
	return "=?" + parts[0] + "?" + parts[1] + "?" + text + "?=", n
}
