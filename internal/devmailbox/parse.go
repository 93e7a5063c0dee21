package devmailbox

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// Parsing limits: nesting of multipart bodies and parts looked at.
const (
	maxDepth = 8
	maxParts = 100
)

var errNoText = errors.New("devmailbox: no text/plain part")

// parseEmail decodes what the mailbox shows of a raw message. It never fails:
// what cannot be decoded is reported in Problem.
func parseEmail(raw []byte) Item {
	it := Item{Raw: string(raw), Headers: headerFields(raw)}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		it.Problem = err.Error()
		return it
	}
	it.Subject = decodeHeader(msg.Header.Get("Subject"))
	parts := 0
	text, err := textPart(textproto.MIMEHeader(msg.Header), msg.Body, 0, &parts)
	if err != nil {
		it.Problem = err.Error()
	}
	it.Text = text
	it.Links = findLinks(text)
	return it
}

// decoder decodes RFC 2047 encoded-words in any charset x/text knows.
var decoder = &mime.WordDecoder{CharsetReader: charsetReader}

func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, fmt.Errorf("devmailbox: charset %q: %w", charset, err)
	}
	return enc.NewDecoder().Reader(r), nil
}

// decodeHeader decodes encoded-words (RFC 2047 §6); a value that does not
// decode is shown as it is.
func decodeHeader(v string) string {
	d, err := decoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// headerFields returns the header fields in message order, unfolded (RFC 5322
// §2.2.3) and decoded.
func headerFields(raw []byte) []Header {
	var out []Header
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 4096), MaxMessageBytes)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].Value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out = append(out, Header{Name: name, Value: strings.TrimSpace(value)})
	}
	for i := range out {
		out[i].Value = decodeHeader(out[i].Value)
	}
	return out
}

// textPart returns the first text/plain part that is not an attachment,
// searching multipart bodies depth first (RFC 2046 §5.1).
func textPart(h textproto.MIMEHeader, body io.Reader, depth int, parts *int) (string, error) {
	*parts++
	if depth > maxDepth || *parts > maxParts {
		return "", fmt.Errorf("%w: message nested too deeply", errNoText)
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii" // RFC 2045 §5.2
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoText, err)
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		return multipartText(body, params["boundary"], depth, parts)
	case mt == "text/plain" && !isAttachment(h):
		return decodeText(h, params["charset"], body)
	}
	return "", errNoText
}

func multipartText(body io.Reader, boundary string, depth int, parts *int) (string, error) {
	if boundary == "" {
		return "", fmt.Errorf("%w: multipart without boundary", errNoText)
	}
	mr := multipart.NewReader(body, boundary)
	for {
		p, err := mr.NextRawPart() // NextPart would undo quoted-printable only
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", errNoText
			}
			return "", fmt.Errorf("%w: %w", errNoText, err)
		}
		text, err := textPart(p.Header, p, depth+1, parts)
		if err == nil || !errors.Is(err, errNoText) {
			return text, err
		}
	}
}

func isAttachment(h textproto.MIMEHeader) bool {
	d, _, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	return err == nil && d == "attachment"
}

// decodeText undoes the transfer encoding (RFC 2045 §6) and the charset.
func decodeText(h textproto.MIMEHeader, charset string, body io.Reader) (string, error) {
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, newlineSkipper{body})
	}
	if cs := strings.ToLower(charset); cs != "" && cs != "utf-8" && cs != "us-ascii" {
		if r, err := charsetReader(cs, body); err == nil {
			body = r // an unknown charset is shown as it is
		}
	}
	b, err := io.ReadAll(io.LimitReader(body, MaxMessageBytes))
	if err != nil {
		return string(b), fmt.Errorf("devmailbox: decode text: %w", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}

// newlineSkipper drops CR and LF, which base64 bodies have every 76 characters.
type newlineSkipper struct{ r io.Reader }

func (s newlineSkipper) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	w := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[w] = c
			w++
		}
	}
	return w, err
}

// linkPattern finds http(s) URLs in text; trailing punctuation is trimmed by findLinks.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

const trailingPunct = ".,;:!?)]}"

// findLinks returns every http(s) URL in text, in order.
func findLinks(text string) []string {
	links := []string{}
	for _, l := range linkPattern.FindAllString(text, -1) {
		if l = strings.TrimRight(l, trailingPunct); len(l) > len("https://") {
			links = append(links, l)
		}
	}
	return links
}

// segment is a run of text or a link, for rendering.
type segment struct{ Text, URL string }

// segments splits text into plain runs and links.
func segments(text string) []segment {
	var out []segment
	for len(text) > 0 {
		loc := linkPattern.FindStringIndex(text)
		if loc == nil {
			return append(out, segment{Text: text})
		}
		url := strings.TrimRight(text[loc[0]:loc[1]], trailingPunct)
		end := loc[0] + len(url)
		if loc[0] > 0 {
			out = append(out, segment{Text: text[:loc[0]]})
		}
		out = append(out, segment{URL: url})
		text = text[end:]
	}
	return out
}
