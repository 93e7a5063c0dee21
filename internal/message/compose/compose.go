// Package compose writes the messages Veilig sends: RFC 5322 header fields with
// MIME bodies (RFC 2045, RFC 2046), RFC 2047 encoded-words for non-ASCII display
// names and subjects, RFC 2231 parameter values for non-ASCII attachment names and
// RFC 6532 UTF-8 only in addresses that need it. Text parts are quoted-printable
// and attachments base64, streamed from their source so memory does not grow with
// message size.
//
// It also guards header-bound input against injection (CR, LF or NUL in a value,
// OWASP ASVS 1.3.11), sanitises attachment file names, and rewrites whole
// messages submitted as message/rfc822 (Rewrite).
package compose

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Errors.
var (
	// ErrHeaderInjection reports CR, LF or NUL in a value bound for a header field.
	ErrHeaderInjection = errors.New("compose: line break or NUL in a header value")
	// ErrMalformed reports a submitted message (Rewrite) that cannot be parsed.
	ErrMalformed = errors.New("compose: malformed message")
	// ErrInvalid reports a Message that cannot be written as given: a bad
	// address or Message-ID, a missing Date, a reserved extra header field.
	ErrInvalid = errors.New("compose: invalid message")
)

// Address is a mailbox: Addr is an addr-spec (local@domain), Name an optional
// display name that may be non-ASCII.
type Address struct{ Name, Addr string }

// Attachment is a file attached to a message. Open is called once, while the
// message is written, and its reader closed afterwards. Name is sanitised with
// SanitizeFilename; ContentType falls back to application/octet-stream.
type Attachment struct {
	Name, ContentType string
	Open              func() (io.ReadCloser, error)
}

// Message is an outgoing message. There is deliberately no Bcc field: blind
// recipients exist only in the envelope.
type Message struct {
	From         Address
	To, Cc       []Address
	Subject      string
	Text, HTML   string // either, both (multipart/alternative) or neither
	MessageID    string // "<id@host>"
	Date         time.Time
	Attachments  []Attachment
	ExtraHeaders [][2]string // e.g. {"Auto-Submitted", "auto-replied"}; ASCII only
}

// CheckHeaderValue returns ErrHeaderInjection, naming field, when v contains a
// CR, LF or NUL.
func CheckHeaderValue(field, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("%w: %s", ErrHeaderInjection, field)
	}
	return nil
}

// Write writes m as an RFC 5322 message with CRLF line endings. Identical input
// gives identical output (the MIME boundaries derive from the Message-ID).
func Write(w io.Writer, m Message) error {
	head, err := m.header()
	if err != nil {
		return err
	}
	body, err := m.body()
	if err != nil {
		return err
	}
	out := &output{bw: bufio.NewWriterSize(w, 32<<10)}
	out.str(head)
	if err := body.write(out); err != nil {
		return fmt.Errorf("compose: write: %w", err)
	}
	if out.err == nil {
		out.err = out.bw.Flush()
	}
	if out.err != nil {
		return fmt.Errorf("compose: write: %w", out.err)
	}
	return nil
}

// output is a buffered writer that remembers its first error.
type output struct {
	bw  *bufio.Writer
	err error
}

func (o *output) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.bw.Write(p)
	o.err = err
	return n, err
}

func (o *output) WriteString(s string) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.bw.WriteString(s)
	o.err = err
	return n, err
}

func (o *output) str(s string) { _, _ = o.WriteString(s) }
