package mimeread

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/veilig/veilig/internal/message/compose"
)

// Bounds of the strings an attachment description keeps.
const (
	maxTypeBytes      = 255
	maxContentIDBytes = 998 // RFC 5322 §2.1.1 line limit
	rfc822PeekBytes   = 64 << 10
	defaultEMLName    = "message.eml"
)

// collector is Read's visitor.
type collector struct {
	lim                  Limits
	content              Content
	truncText, truncHTML bool
}

func (c *collector) visit(p *part) error {
	switch p.role {
	case roleText:
		budget := c.lim.MaxBody - int64(len(c.content.HTML))
		text, cut, err := readBody(p, budget)
		c.content.Text, c.truncText = text, cut
		return err
	case roleHTML:
		budget := c.lim.MaxBody - int64(len(c.content.Text))
		html, cut, err := readBody(p, budget)
		c.content.HTML, c.truncHTML = html, cut
		return err
	}
	a, r := describe(p)
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	a.Size = n
	c.content.Attachments = append(c.content.Attachments, a)
	return nil
}

// readBody reads a text body decoded to UTF-8, LF line endings, at most
// budget bytes, and reports whether it was cut.
func readBody(p *part, budget int64) (string, bool, error) {
	budget = max(budget, 0)
	raw, err := io.ReadAll(io.LimitReader(transferDecoder(p.header.transferEncoding(), p.body), budget+1))
	if err != nil {
		return "", false, err
	}
	cut := int64(len(raw)) > budget
	if cut {
		raw = raw[:budget]
	}
	text := decodeCharset(raw, p.params["charset"])
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if p.mediaType == "text/plain" && strings.EqualFold(p.params["format"], "flowed") {
		text = unflow(text, strings.EqualFold(p.params["delsp"], "yes"))
	}
	if int64(len(text)) > budget { // a charset can take more bytes in UTF-8
		text, cut = cutAtRune(text, int(budget)), true
	}
	return text, cut, nil
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

// describe returns an attachment's description (Size not yet known) and its
// decoded body.
func describe(p *part) (Attachment, io.Reader) {
	disposition, dparams := p.header.disposition()
	a := Attachment{
		Index:       p.index,
		ContentType: p.mediaType,
		Inline:      disposition == "inline" || disposition == "" && p.inRelated,
		ContentID:   contentID(p.header.get("content-id")),
	}
	if len(a.ContentType) > maxTypeBytes || !strings.Contains(a.ContentType, "/") {
		a.ContentType = "application/octet-stream"
	}
	body := transferDecoder(p.header.transferEncoding(), p.body)
	name := firstNonEmpty(dparams["filename"], p.params["name"])
	if name == "" && isMessage(p.mediaType) {
		name, body = messageName(body)
	}
	if name == "" {
		name = "attachment" + extension(p.mediaType)
	}
	a.Name = compose.SanitizeFilename(name)
	return a, body
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func isMessage(mediaType string) bool {
	return mediaType == "message/rfc822" || mediaType == "message/global" // RFC 6532 §3.7
}

// contentID returns a Content-ID without white space and angle brackets.
func contentID(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	v = cleanText(v)
	if len(v) > maxContentIDBytes {
		return ""
	}
	return v
}

// messageName names an attached message after its subject, read from the
// first rfc822PeekBytes of body, or "message.eml". The returned reader
// still yields the whole body.
func messageName(body io.Reader) (string, io.Reader) {
	peek := make([]byte, rfc822PeekBytes)
	n, err := io.ReadFull(body, peek)
	peek = peek[:n]
	rest := io.MultiReader(bytes.NewReader(peek), body)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return defaultEMLName, io.MultiReader(bytes.NewReader(peek), errReader{err})
	}
	if subject := peekSubject(peek); subject != "" {
		return subject + ".eml", rest
	}
	return defaultEMLName, rest
}

// peekSubject returns the decoded Subject of a header at the start of b.
func peekSubject(b []byte) string {
	w := &walker{lr: newLineReader(bufio.NewReader(bytes.NewReader(b)))}
	h, err := w.readHeader()
	if err != nil {
		return ""
	}
	return h.text("subject")
}

// errReader returns err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// extension returns a file extension for a media type without a file name;
// a fixed table, so that names do not depend on the host's mime.types.
func extension(mediaType string) string {
	switch mediaType {
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	case "text/calendar":
		return ".ics"
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "application/pdf":
		return ".pdf"
	case "message/rfc822", "message/global":
		return ".eml"
	}
	return ""
}
