package compose

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxHeaderBytes bounds the header block of a message given to Rewrite.
const MaxHeaderBytes = 256 << 10

// Recipients is what Rewrite found in a submitted message's header.
type Recipients struct {
	To, Cc, Bcc []string // addr-specs, in header order
	MessageID   string   // the Message-ID the rewritten message carries
	Subject     string   // decoded (RFC 2047), for listings
}

// Rewrite turns a message submitted as message/rfc822 (RFC 5322, with RFC 6532
// UTF-8 header fields allowed) into the message Veilig sends:
//
//   - From becomes from, the authenticated sender (RFC 6409 §8.1 lets a
//     submission server enforce the originator);
//   - dropped: Bcc and Resent-Bcc (blind recipients stay in the envelope),
//     Sender and Return-Path (set by Veilig and the final MTA), DKIM-Signature
//     (Veilig signs; foreign signatures would break or mislead),
//     Authentication-Results and ARC-* (claims only a receiver may make,
//     RFC 8601 §5), Delivered-To (a copied one makes receivers see a loop);
//   - kept unchanged: every other field, including Received — trace fields
//     are never removed (RFC 5321 §4.4) and help loop detection;
//   - Message-ID and Date are added when missing or unparseable, messageID and
//     the current time;
//   - a field that may occur once (RFC 5322 §3.6) occurring twice is
//     ErrMalformed: receivers and DKIM would disagree about which one counts;
//   - bare CR or NUL in the header block is ErrHeaderInjection; a header block
//     over MaxHeaderBytes, a line that is not a field, or invalid UTF-8 is
//     ErrMalformed.
//
// The body is streamed unchanged except that bare LF and bare CR become CRLF,
// as SMTP requires (RFC 5321 §2.3.8).
func Rewrite(w io.Writer, raw io.Reader, from Address, messageID string) (Recipients, error) {
	return RewriteAt(w, raw, from, messageID, time.Now())
}

// RewriteAt is Rewrite with the time for an added Date given.
func RewriteAt(w io.Writer, raw io.Reader, from Address, messageID string, now time.Time) (Recipients, error) {
	fromTokens, err := addressTokens("From", from)
	if err != nil {
		return Recipients{}, err
	}
	if err := checkMessageID(messageID); err != nil {
		return Recipients{}, err
	}
	br := bufio.NewReaderSize(raw, 32<<10)
	fields, err := readHeader(br)
	if err != nil {
		return Recipients{}, err
	}
	h, err := inspect(fields)
	if err != nil {
		return Recipients{}, err
	}
	out := &output{bw: bufio.NewWriterSize(w, 32<<10)}
	h.writeHeader(out, fold("From", fromTokens), messageID, now)
	if err := copyBody(out, br); err != nil {
		return Recipients{}, err
	}
	return h.rec, nil
}

// field is one header field as submitted.
type field struct {
	lower string // the name in lower case
	raw   string // its lines, each ending in CRLF
	value string // unfolded, after the colon
}

// readHeader reads the header block up to the empty line (or the end of the
// input), leaving br at the start of the body.
func readHeader(br *bufio.Reader) ([]field, error) {
	budget := MaxHeaderBytes
	var fields []field
	for {
		line, eof, err := readLine(br, &budget)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			return fields, nil
		}
		if fields, err = addLine(fields, line); err != nil {
			return nil, err
		}
		if eof {
			return fields, nil
		}
	}
}

// addLine adds a field line or a continuation line.
func addLine(fields []field, line []byte) ([]field, error) {
	if err := checkHeaderLine(line); err != nil {
		return nil, err
	}
	if line[0] == ' ' || line[0] == '\t' {
		if len(fields) == 0 {
			return nil, fmt.Errorf("%w: header starts with a continuation line", ErrMalformed)
		}
		last := &fields[len(fields)-1]
		last.raw += string(line) + "\r\n"
		last.value += string(line)
		return fields, nil
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || !validFieldName(string(name)) {
		return nil, fmt.Errorf("%w: header line is not a field", ErrMalformed)
	}
	return append(fields, field{lower: strings.ToLower(string(name)), raw: string(line) + "\r\n",
		value: string(value)}), nil
}

func checkHeaderLine(line []byte) error {
	if bytes.ContainsAny(line, "\r\x00") {
		return fmt.Errorf("%w: bare CR or NUL in the header", ErrHeaderInjection)
	}
	if !utf8.Valid(line) {
		return fmt.Errorf("%w: header is not UTF-8", ErrMalformed)
	}
	return nil
}

// readLine returns the next line without its LF or CRLF, and whether the input
// ended. It charges the bytes read to budget.
func readLine(br *bufio.Reader, budget *int) ([]byte, bool, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		*budget -= len(chunk)
		if *budget < 0 {
			return nil, false, fmt.Errorf("%w: header block over %d bytes", ErrMalformed, MaxHeaderBytes)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return trimEOL(line), false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return trimEOL(line), true, nil
		default:
			return nil, false, fmt.Errorf("compose: read message: %w", err)
		}
	}
}

func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// inspected is the outcome of checking a submitted header.
type inspected struct {
	kept    []field
	rec     Recipients
	hasDate bool
}

func inspect(fields []field) (inspected, error) {
	var h inspected
	seen := map[string]bool{}
	for _, f := range fields {
		if onceOnly(f.lower) && seen[f.lower] {
			return inspected{}, fmt.Errorf("%w: more than one %s field", ErrMalformed, f.lower)
		}
		seen[f.lower] = true
		keep, err := h.take(f)
		if err != nil {
			return inspected{}, err
		}
		if keep && !dropped(f.lower) {
			h.kept = append(h.kept, f)
		}
	}
	return h, nil
}

// take records what Veilig needs from f and says whether f is usable.
func (h *inspected) take(f field) (bool, error) {
	var err error
	switch f.lower {
	case "to":
		h.rec.To, err = appendAddresses(h.rec.To, f)
	case "cc":
		h.rec.Cc, err = appendAddresses(h.rec.Cc, f)
	case "bcc":
		h.rec.Bcc, err = appendAddresses(h.rec.Bcc, f)
	case "subject":
		h.rec.Subject = decodeText(f.value)
	case "message-id":
		id := strings.TrimSpace(f.value)
		if !validMessageID(id) {
			return false, nil
		}
		h.rec.MessageID = id
	case "date":
		if _, err := mail.ParseDate(strings.TrimSpace(f.value)); err != nil {
			return false, nil
		}
		h.hasDate = true
	}
	return true, err
}

// onceOnly names the fields RFC 5322 §3.6 and RFC 2045 allow at most once,
// apart from those Rewrite drops anyway.
func onceOnly(lower string) bool {
	switch lower {
	case "date", "reply-to", "to", "cc", "message-id", "in-reply-to", "references", "subject",
		"mime-version", "content-type", "content-transfer-encoding":
		return true
	}
	return false
}

func dropped(lower string) bool {
	switch lower {
	case "from", "sender", "bcc", "resent-bcc", "return-path", "dkim-signature",
		"authentication-results", "delivered-to":
		return true
	}
	return strings.HasPrefix(lower, "arc-")
}

func appendAddresses(list []string, f field) ([]string, error) {
	if strings.TrimSpace(f.value) == "" {
		return list, nil
	}
	parser := mail.AddressParser{WordDecoder: lenientDecoder()}
	addrs, err := parser.ParseList(f.value)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, f.lower, err)
	}
	for _, a := range addrs {
		list = append(list, a.Address)
	}
	return list, nil
}

// lenientDecoder decodes RFC 2047 words in any charset it knows and passes
// other charsets through: only addresses and a listing subject depend on it.
func lenientDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}
}

func decodeText(v string) string {
	v = strings.TrimSpace(v)
	if s, err := lenientDecoder().DecodeHeader(v); err == nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return v
}

// writeHeader writes From, the missing Message-ID and Date, the kept fields and
// the empty line.
func (h *inspected) writeHeader(out *output, from, messageID string, now time.Time) {
	out.str(from)
	if h.rec.MessageID == "" {
		h.rec.MessageID = messageID
		out.str(fold("Message-ID", []string{messageID}))
	}
	if !h.hasDate {
		out.str(fold("Date", []string{now.Format(time.RFC1123Z)}))
	}
	for _, f := range h.kept {
		out.str(f.raw)
	}
	out.str("\r\n")
}

func copyBody(out *output, br *bufio.Reader) error {
	cw := &crlfWriter{w: out}
	if _, err := io.Copy(cw, br); err != nil && out.err == nil {
		return fmt.Errorf("compose: read message: %w", err)
	}
	cw.Close()
	if out.err == nil {
		out.err = out.bw.Flush()
	}
	if out.err != nil {
		return fmt.Errorf("compose: write: %w", out.err)
	}
	return nil
}

// crlfWriter turns bare LF and bare CR into CRLF.
type crlfWriter struct {
	w  *output
	cr bool // the previous byte was a CR, not yet written
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	start := 0
	for i, b := range p {
		if c.cr {
			c.cr = false
			c.w.str("\r\n")
			if b == '\n' {
				start = i + 1
				continue
			}
		}
		switch b {
		case '\r':
			_, _ = c.w.Write(p[start:i])
			c.cr, start = true, i+1
		case '\n':
			_, _ = c.w.Write(p[start:i])
			c.w.str("\r\n")
			start = i + 1
		}
	}
	_, err := c.w.Write(p[start:])
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes a CR left pending at the end of the input.
func (c *crlfWriter) Close() {
	if c.cr {
		c.cr = false
		c.w.str("\r\n")
	}
}
