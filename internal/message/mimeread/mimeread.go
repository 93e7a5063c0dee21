// Package mimeread reads a stored message for the external web viewer: the
// RFC 5322 header fields a reader sees (RFC 2047 encoded-words and RFC 6532
// UTF-8 decoded), the text and HTML bodies of a MIME message (RFC 2045–2049,
// RFC 3676 format=flowed, any charset x/text knows converted to UTF-8) and its
// attachments, whose names may use RFC 2231 parameter values.
//
// It streams: attachment bodies are decoded and counted, never kept, and the
// kept text is bounded by Limits. It is lenient where mail clients are sloppy
// (bare LF, long lines, padding-less base64, a missing closing boundary, a
// missing Content-Type) and reports input it cannot bound as ErrMalformed.
package mimeread

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors.
var (
	// ErrMalformed reports input that is not a message or breaks a limit.
	ErrMalformed = errors.New("mimeread: malformed message")
	// ErrLimit is wrapped, with ErrMalformed, by errors for a message over
	// MaxParts or MaxDepth, or a header block over MaxHeaderBytes.
	ErrLimit = errors.New("mimeread: limit exceeded")
	// ErrNotFound reports an attachment index the message does not have.
	ErrNotFound = errors.New("mimeread: no such attachment")
)

// MaxHeaderBytes bounds each header block: the message's and each part's.
const MaxHeaderBytes = 256 << 10

// Defaults of Limits.
const (
	DefaultMaxBody  = 10 << 20
	DefaultMaxParts = 1000
	DefaultMaxDepth = 20
)

// Limits bound the work and memory of one read; zero fields take the defaults.
type Limits struct {
	MaxBody  int64 // bytes of Text and HTML kept together; more is cut (Truncated)
	MaxParts int   // MIME entities, multiparts included
	MaxDepth int   // nesting of multiparts
}

func (l Limits) withDefaults() Limits {
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Attachment describes a leaf part that is not the text or HTML body.
type Attachment struct {
	Index       int    // position among the attachments, stable between Read and OpenAttachment
	Name        string // sanitised with compose.SanitizeFilename, never empty
	ContentType string // media type in lower case, without parameters
	Size        int64  // decoded bytes; -1 from OpenAttachment, which does not know yet
	Inline      bool   // Content-Disposition inline, or none inside multipart/related
	ContentID   string // without the angle brackets, for cid: URLs (RFC 2392)
}

// Content is what the viewer shows of a message. Header values are decoded to
// UTF-8; addresses are "Name <addr>" joined by ", ". Text and HTML are UTF-8
// with LF line endings.
type Content struct {
	Subject, From, To, Cc string
	Date                  time.Time // zero when missing or unparseable
	MessageID             string
	Text, HTML            string
	Truncated             bool // Text or HTML was cut at Limits.MaxBody
	Attachments           []Attachment
}

// Read reads a whole message from r.
func Read(r io.Reader, lim Limits) (Content, error) {
	lim = lim.withDefaults()
	c := &collector{lim: lim}
	w := newWalker(r, lim, c.visit)
	h, err := w.run()
	if err != nil {
		return Content{}, err
	}
	c.content.Subject = h.text("subject")
	c.content.From = h.addresses("from")
	c.content.To = h.addresses("to")
	c.content.Cc = h.addresses("cc")
	c.content.Date = h.date()
	c.content.MessageID = h.text("message-id")
	c.content.Truncated = c.truncText || c.truncHTML
	return c.content, nil
}

// OpenAttachment reads r up to attachment index and returns its description
// (Size -1) and its decoded body, which reads on from r: the caller reads it
// before using r otherwise.
func OpenAttachment(r io.Reader, index int, lim Limits) (Attachment, io.Reader, error) {
	lim = lim.withDefaults()
	var found Attachment
	var body io.Reader
	w := newWalker(r, lim, func(p *part) error {
		if p.role != roleAttachment || p.index != index {
			return nil
		}
		found, body = describe(p)
		found.Size = -1
		return errStop
	})
	if _, err := w.run(); !errors.Is(err, errStop) {
		if err == nil {
			err = fmt.Errorf("%w: %d", ErrNotFound, index)
		}
		return Attachment{}, nil, err
	}
	return found, body, nil
}

// errStop ends a walk early; it never leaves the package.
var errStop = errors.New("mimeread: stop")
