package mimeread

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// transferDecoder undoes a Content-Transfer-Encoding (RFC 2045 §6); 7bit,
// 8bit, binary and unknown encodings pass through.
func transferDecoder(cte string, r io.Reader) io.Reader {
	switch cte {
	case "base64":
		return &base64Reader{src: r}
	case "quoted-printable":
		return &qpReader{src: bufio.NewReaderSize(r, 4096)}
	}
	return r
}

// base64Reader decodes base64 leniently: characters outside the alphabet
// (line breaks, spaces, garbage) are skipped, "=" ends a quantum wherever it
// is, and a final partial quantum yields what it holds.
type base64Reader struct {
	src io.Reader
	in  [3072]byte
	buf [2304 + 3]byte
	out []byte
	q   [4]byte
	nq  int
	err error
}

func (d *base64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		n, err := d.src.Read(d.in[:])
		d.out = d.decode(d.in[:n])
		if err != nil {
			d.out = d.flush(d.out)
			d.err = err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

func (d *base64Reader) decode(in []byte) []byte {
	out := d.buf[:0]
	for _, c := range in {
		if c == '=' {
			out = d.flush(out)
			continue
		}
		v, ok := base64Value(c)
		if !ok {
			continue
		}
		d.q[d.nq] = v
		d.nq++
		if d.nq == 4 {
			out = d.flush(out)
		}
	}
	return out
}

// flush emits the bytes of the current quantum: 4 characters give 3 bytes, 3
// give 2, 2 give 1, and a lone character gives nothing.
func (d *base64Reader) flush(out []byte) []byte {
	q := d.q
	switch d.nq {
	case 4:
		out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
	case 3:
		out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2)
	case 2:
		out = append(out, q[0]<<2|q[1]>>4)
	}
	d.nq = 0
	return out
}

// base64Value decodes a character of RFC 4648 §4, or of §5 (URL-safe).
func base64Value(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '+' || c == '-':
		return 62, true
	case c == '/' || c == '_':
		return 63, true
	}
	return 0, false
}

// qpReader decodes quoted-printable (RFC 2045 §6.7) leniently: lines of any
// length, "=" not followed by two hex digits (either case) kept literally,
// control characters kept, trailing white space dropped, a soft line break at
// the very end allowed. Line breaks are kept as they come (CRLF or LF).
type qpReader struct {
	src   *bufio.Reader
	out   []byte
	carry []byte // an "=" or "=X" cut off at the end of a partial line
	err   error
}

func (d *qpReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		line, err := d.src.ReadSlice('\n')
		partial := errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !partial {
			d.err = err
		}
		d.out = d.decodeLine(append(d.carry, line...), partial)
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

func (d *qpReader) decodeLine(line []byte, partial bool) []byte {
	d.carry = d.carry[:0:0]
	if partial {
		if i := bytes.LastIndexByte(line, '='); i >= 0 && i >= len(line)-2 {
			d.carry = append(d.carry, line[i:]...)
			line = line[:i]
		}
		return qpDecode(nil, line)
	}
	content, eol := splitEOL(line)
	content = bytes.TrimRight(content, " \t")
	if soft, ok := bytes.CutSuffix(content, []byte("=")); ok {
		return qpDecode(nil, soft)
	}
	return append(qpDecode(nil, content), eol...)
}

func qpDecode(out, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// lookupCharset finds a charset by its WHATWG label (which reads iso-8859-1
// and us-ascii as windows-1252, as browsers do) or its IANA name; nil when
// unknown.
func lookupCharset(label string) encoding.Encoding {
	label = strings.TrimSpace(label)
	if enc, err := htmlindex.Get(label); err == nil {
		return enc
	}
	if enc, err := ianaindex.MIME.Encoding(label); err == nil && enc != nil {
		return enc
	}
	return nil
}

// decodeCharset converts b to UTF-8. Without a charset, or with us-ascii, it
// keeps valid UTF-8 (RFC 6532 and common mislabelling) and reads anything else
// as windows-1252; an unknown charset keeps valid UTF-8 sequences only.
func decodeCharset(b []byte, charset string) string {
	charset = strings.ToLower(strings.TrimSpace(charset))
	if charset == "" || charset == "us-ascii" || charset == "ascii" {
		if utf8.Valid(b) {
			return string(b)
		}
		charset = "windows-1252"
	}
	enc := lookupCharset(charset)
	if enc == nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// unflow undoes format=flowed (RFC 3676 §4): a line ending in a space joins
// the next line of the same quote depth; space-stuffing is removed; with
// delsp=yes the joining space is dropped too. text has LF line endings.
func unflow(text string, delsp bool) string {
	var b strings.Builder
	joining, space, depth := false, false, 0
	for _, line := range strings.Split(text, "\n") {
		d, content := quoteDepth(line)
		if joining && d != depth {
			b.WriteByte('\n') // a quote depth change ends a paragraph (§4.5)
			joining = false
		}
		if joining && space {
			b.WriteByte(' ')
		}
		if !joining {
			b.WriteString(strings.Repeat(">", d))
			if d > 0 {
				b.WriteByte(' ')
			}
		}
		depth = d
		joining = strings.HasSuffix(content, " ") && content != "-- "
		if joining {
			content, space = content[:len(content)-1], !delsp
		}
		b.WriteString(content)
		if !joining {
			b.WriteByte('\n')
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// quoteDepth counts the leading ">" of a line and returns the rest without
// its stuffing space.
func quoteDepth(line string) (int, string) {
	d := len(line) - len(strings.TrimLeft(line, ">"))
	return d, strings.TrimPrefix(line[d:], " ")
}
