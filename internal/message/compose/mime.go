package compose

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// base64LineLength is the line length of RFC 2045 §6.8.
const base64LineLength = 76

// part is a MIME entity (RFC 2045 §2.4): header fields, then either content or,
// for a multipart, child parts between boundary lines (RFC 2046 §5.1.1).
type part struct {
	fields   string // folded MIME header fields, each ending in CRLF
	content  func(w io.Writer) error
	boundary string
	parts    []part
}

func (p part) write(o *output) error {
	o.str(p.fields)
	o.str("\r\n")
	if p.content != nil {
		return p.content(o)
	}
	for i, c := range p.parts {
		if i > 0 {
			o.str("\r\n")
		}
		o.str("--" + p.boundary + "\r\n")
		if err := c.write(o); err != nil {
			return err
		}
	}
	o.str("\r\n--" + p.boundary + "--\r\n")
	return o.err
}

// body returns the message's MIME structure: the text, HTML or both
// (multipart/alternative), followed by the attachments in a multipart/mixed.
func (m Message) body() (part, error) {
	content, ok := m.content()
	if len(m.Attachments) == 0 {
		if !ok {
			return textPart("plain", ""), nil
		}
		return content, nil
	}
	var parts []part
	if ok {
		parts = append(parts, content)
	}
	for i, a := range m.Attachments {
		p, err := attachmentPart(i, a)
		if err != nil {
			return part{}, err
		}
		parts = append(parts, p)
	}
	return multipartPart("mixed", boundary(m.MessageID, "mixed"), parts), nil
}

func (m Message) content() (part, bool) {
	switch {
	case m.Text != "" && m.HTML != "":
		return multipartPart("alternative", boundary(m.MessageID, "alt"),
			[]part{textPart("plain", m.Text), textPart("html", m.HTML)}), true
	case m.HTML != "":
		return textPart("html", m.HTML), true
	case m.Text != "":
		return textPart("plain", m.Text), true
	}
	return part{}, false
}

// boundary derives a boundary from the Message-ID. It starts with "=_", which
// neither quoted-printable nor base64 output can contain (RFC 2045 §6.7, §6.8),
// so no body can ever contain a boundary line.
func boundary(messageID, kind string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + messageID))
	return "=_" + kind + "_" + hex.EncodeToString(sum[:16])
}

func multipartPart(subtype, boundary string, parts []part) part {
	fields := fold("Content-Type", withParams("multipart/"+subtype, []string{`boundary="` + boundary + `"`}))
	return part{fields: fields, boundary: boundary, parts: parts}
}

// textPart is a UTF-8 text part in quoted-printable (RFC 2045 §6.7), whose line
// breaks become CRLF.
func textPart(subtype, text string) part {
	fields := fold("Content-Type", withParams("text/"+subtype, []string{"charset=utf-8"})) +
		fold("Content-Transfer-Encoding", []string{"quoted-printable"})
	return part{fields: fields, content: func(w io.Writer) error {
		qp := quotedprintable.NewWriter(w)
		if _, err := io.WriteString(qp, strings.ToValidUTF8(text, "\uFFFD")); err != nil {
			return err
		}
		return qp.Close()
	}}
}

// attachmentPart is a base64 part with the sanitised name in Content-Type name
// and Content-Disposition filename: an ASCII fallback, plus the RFC 2231 form
// when the name is not plain ASCII.
func attachmentPart(i int, a Attachment) (part, error) {
	field := fmt.Sprintf("Attachments[%d]", i)
	if err := CheckHeaderValue(field+".Name", a.Name); err != nil {
		return part{}, err
	}
	if err := CheckHeaderValue(field+".ContentType", a.ContentType); err != nil {
		return part{}, err
	}
	if a.Open == nil {
		return part{}, fmt.Errorf("%w: %s has no content", ErrInvalid, field)
	}
	name := SanitizeFilename(a.Name)
	mediaType, typeParams := attachmentType(a.ContentType)
	fields := fold("Content-Type", withParams(mediaType, append(typeParams, nameParams("name", name)...))) +
		fold("Content-Disposition", withParams("attachment", nameParams("filename", name))) +
		fold("Content-Transfer-Encoding", []string{"base64"})
	return part{fields: fields, content: func(w io.Writer) error {
		if err := writeBase64(w, a.Open); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		return nil
	}}, nil
}

// attachmentType keeps a valid media type and its charset. multipart/* and
// message/* become application/octet-stream: their bodies may not be base64
// encoded (RFC 2046 §5.1.1, §5.2.1) and we do not trust them to be 7bit.
func attachmentType(contentType string) (string, []string) {
	const fallback = "application/octet-stream"
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.Contains(mediaType, "/") ||
		strings.HasPrefix(mediaType, "multipart/") || strings.HasPrefix(mediaType, "message/") {
		return fallback, nil
	}
	if cs := params["charset"]; cs != "" && isToken(cs) {
		return mediaType, []string{"charset=" + strings.ToLower(cs)}
	}
	return mediaType, nil
}

// withParams returns the tokens of "value; p1; p2" for fold.
func withParams(value string, params []string) []string {
	tokens := []string{value}
	for _, p := range params {
		tokens[len(tokens)-1] += ";"
		tokens = append(tokens, p)
	}
	return tokens
}

// nameParams returns attr="ascii fallback" and, for other names, the RFC 2231
// extended value attr* in UTF-8 (in continuations when long).
func nameParams(attr, name string) []string {
	fallback := asciiFallback(name)
	params := []string{attr + "=" + quoteString(fallback)}
	if fallback != name {
		params = append(params, extendedParam(attr, name)...)
	}
	return params
}

// extendedParam encodes value per RFC 2231 §4, split into numbered
// continuations (§3, §4.1) at character boundaries to keep lines short.
func extendedParam(attr, value string) []string {
	const prefix, chunk = "utf-8''", 60
	encoded := percentEncode(value)
	if len(prefix)+len(encoded) <= chunk {
		return []string{attr + "*=" + prefix + encoded}
	}
	var out []string
	var cur strings.Builder
	cur.WriteString(prefix)
	for _, r := range value {
		enc := percentEncode(string(r))
		if cur.Len()+len(enc) > chunk {
			out = append(out, fmt.Sprintf("%s*%d*=%s", attr, len(out), cur.String()))
			cur.Reset()
		}
		cur.WriteString(enc)
	}
	return append(out, fmt.Sprintf("%s*%d*=%s", attr, len(out), cur.String()))
}

// percentEncode escapes every byte that is not an RFC 2231 attribute-char.
func percentEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c > ' ' && c < 0x7f && strings.IndexByte(`*'%()<>@,;:\"/[]?=`, c) < 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
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

// writeBase64 streams an attachment as base64 in 76-character lines.
func writeBase64(w io.Writer, open func() (io.ReadCloser, error)) error {
	r, err := open()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer r.Close()
	enc := base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: w})
	if _, err := io.Copy(enc, r); err != nil {
		return err
	}
	return enc.Close()
}

// lineWrapper inserts CRLF after every base64LineLength bytes.
type lineWrapper struct {
	w io.Writer
	n int // bytes on the current line
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if l.n == base64LineLength {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return written, err
			}
			l.n = 0
		}
		k := min(base64LineLength-l.n, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return written, err
		}
		l.n += k
		written += k
		p = p[k:]
	}
	return written, nil
}
