package mimeread

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// role is what a leaf part is to the viewer.
type role int

const (
	roleAttachment role = iota
	roleText
	roleHTML
)

// part is a leaf part as the walker hands it to a visitor. body is the raw
// (still transfer-encoded) body; the walker drains what the visitor leaves.
type part struct {
	header    header
	mediaType string
	params    map[string]string
	inRelated bool
	role      role
	index     int // among attachments, when role is roleAttachment
	body      io.Reader
}

// scope is what a part inherits from its enclosing multiparts.
type scope struct {
	depth       int
	alts        []int // ids of the enclosing multipart/alternative parts
	related     bool  // inside multipart/related
	defaultType string
}

func (s scope) child(subtype string, id int) scope {
	c := scope{depth: s.depth + 1, alts: s.alts, related: s.related || subtype == "related",
		defaultType: "text/plain"}
	if subtype == "alternative" {
		c.alts = append(slices.Clip(s.alts), id)
	}
	if subtype == "digest" {
		c.defaultType = "message/rfc822" // RFC 2046 §5.1.5
	}
	return c
}

// walker visits the leaf parts of a message in order, depth first, without
// descending into message/rfc822 parts (each is one attachment).
type walker struct {
	lr     *lineReader
	lim    Limits
	bounds []string // delimiters of the open multiparts, innermost last
	parts  int
	next   int // index of the next attachment
	sel    selector
	visit  func(*part) error
}

func newWalker(r io.Reader, lim Limits, visit func(*part) error) *walker {
	return &walker{lr: newLineReader(r), lim: lim, visit: visit}
}

// run reads the message header and walks the body.
func (w *walker) run() (header, error) {
	h, err := w.readHeader()
	if err != nil {
		return header{}, err
	}
	if len(h.fields) == 0 {
		return header{}, fmt.Errorf("%w: no header fields", ErrMalformed)
	}
	return h, w.entity(h, scope{defaultType: "text/plain"})
}

func (w *walker) entity(h header, s scope) error {
	w.parts++
	if w.parts > w.lim.MaxParts {
		return fmt.Errorf("%w: %w: more than %d parts", ErrMalformed, ErrLimit, w.lim.MaxParts)
	}
	mediaType, params := h.contentType(s.defaultType)
	if subtype, ok := strings.CutPrefix(mediaType, "multipart/"); ok {
		if b := params["boundary"]; validBoundary(b) {
			return w.multipart(subtype, b, s)
		}
		mediaType, params = "text/plain", nil // unusable: show it as text
	}
	return w.leaf(&part{header: h, mediaType: mediaType, params: params, inRelated: s.related}, s)
}

// validBoundary accepts the boundaries of RFC 2046 §5.1.1 and, leniently, any
// other non-empty printable ASCII of at most 200 bytes.
func validBoundary(b string) bool {
	if b == "" || len(b) > 200 {
		return false
	}
	for _, c := range []byte(b) {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

func (w *walker) multipart(subtype, boundary string, s scope) error {
	if s.depth+1 > w.lim.MaxDepth {
		return fmt.Errorf("%w: %w: multiparts nested deeper than %d", ErrMalformed, ErrLimit, w.lim.MaxDepth)
	}
	id := w.parts
	if subtype == "alternative" {
		w.sel.openAlternative(id)
	}
	child := s.child(subtype, id)
	w.bounds = append(w.bounds, boundary)
	defer func() { w.bounds = w.bounds[:len(w.bounds)-1] }()
	own := len(w.bounds) - 1
	for {
		i, closing, err := w.skipToBoundary()
		switch {
		case errors.Is(err, io.EOF):
			return nil // no close delimiter: tolerated
		case err != nil:
			return err
		case i != own:
			w.lr.back() // an enclosing multipart's delimiter ends this one too
			return nil
		case closing:
			return nil
		}
		h, err := w.readHeader()
		if err != nil {
			return err
		}
		if err := w.entity(h, child); err != nil {
			return err
		}
	}
}

// skipToBoundary skips a preamble or epilogue up to the next delimiter line.
func (w *walker) skipToBoundary() (int, bool, error) {
	for {
		c, err := w.lr.next()
		if err != nil {
			return 0, false, err
		}
		if i, closing, ok := matchBoundary(c, w.bounds); ok {
			return i, closing, nil
		}
	}
}

func (w *walker) leaf(p *part, s scope) error {
	p.body = &bodyReader{lr: w.lr, bounds: slices.Clone(w.bounds)}
	p.role = w.sel.role(p, s)
	if p.role == roleAttachment {
		p.index = w.next
		w.next++
	}
	if err := w.visit(p); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, p.body); err != nil {
		return err
	}
	return nil
}

// selector chooses the text and HTML bodies as the parts arrive, from their
// headers and places only, so that Read and OpenAttachment agree on which
// parts are attachments. The first multipart/alternative met before any body
// is the body's: of its alternatives a later one replaces an earlier one of
// the same kind (RFC 2046 §5.1.4: the last is the best), however deep it is
// (inside multipart/related, say). Elsewhere the first text/plain and the
// first text/html are the bodies.
type selector struct {
	bodyAlt    int // id of the body's multipart/alternative, 0 if none yet
	text, html bool
}

func (s *selector) openAlternative(id int) {
	if s.bodyAlt == 0 && !s.text && !s.html {
		s.bodyAlt = id
	}
}

func (s *selector) role(p *part, sc scope) role {
	r := bodyRole(p)
	if r == roleAttachment {
		return r
	}
	chosen := &s.text
	if r == roleHTML {
		chosen = &s.html
	}
	inBodyAlt := s.bodyAlt != 0 && slices.Contains(sc.alts, s.bodyAlt)
	if inBodyAlt || !*chosen {
		*chosen = true
		return r
	}
	return roleAttachment
}

// bodyRole says whether a part could be a body: text/plain or text/html, not
// marked as an attachment and without a file name.
func bodyRole(p *part) role {
	disposition, dparams := p.header.disposition()
	if disposition == "attachment" || dparams["filename"] != "" || p.params["name"] != "" {
		return roleAttachment
	}
	switch p.mediaType {
	case "text/plain":
		return roleText
	case "text/html":
		return roleHTML
	}
	return roleAttachment
}
