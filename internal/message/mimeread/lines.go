package mimeread

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// lineBufferSize bounds a chunk: a longer line arrives in several chunks, and
// only a chunk that starts a line can be a boundary line.
const lineBufferSize = 64 << 10

// chunk is a line, or part of a line longer than the buffer. Its bytes stay
// valid until the next call of next.
type chunk struct {
	b     []byte
	start bool // begins a line
	eol   bool // ends with LF
}

// lineReader reads chunks and can give back the last one.
type lineReader struct {
	br      *bufio.Reader
	last    chunk
	unread  bool
	midLine bool  // the last chunk did not end its line
	err     error // a read error held back while its data is returned
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, lineBufferSize)}
}

// next returns the next chunk, io.EOF at the end, or a wrapped read error.
func (l *lineReader) next() (chunk, error) {
	if l.unread {
		l.unread = false
		return l.last, nil
	}
	if l.err != nil {
		return chunk{}, l.err
	}
	b, err := l.br.ReadSlice('\n')
	switch {
	case err == nil, errors.Is(err, bufio.ErrBufferFull):
	case errors.Is(err, io.EOF):
		l.err = io.EOF
	default:
		l.err = fmt.Errorf("mimeread: read: %w", err)
	}
	if len(b) == 0 {
		return chunk{}, l.err
	}
	c := chunk{b: b, start: !l.midLine, eol: b[len(b)-1] == '\n'}
	l.midLine = !c.eol
	l.last = c
	return c, nil
}

// back makes next return the last chunk again.
func (l *lineReader) back() { l.unread = true }

// splitEOL returns the line without its CRLF or LF, and that ending.
func splitEOL(b []byte) ([]byte, []byte) {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		return b[:len(b)-2], b[len(b)-2:]
	case bytes.HasSuffix(b, []byte("\n")):
		return b[:len(b)-1], b[len(b)-1:]
	}
	return b, nil
}

// matchBoundary reports which of bounds (innermost last) the chunk is a
// delimiter line of (RFC 2046 §5.1.1), and whether it is the close delimiter.
// Trailing white space is allowed; other trailing text is not, so that an
// outer boundary that prefixes an inner one does not match the inner's lines.
func matchBoundary(c chunk, bounds []string) (int, bool, bool) {
	if !c.start || len(bounds) == 0 {
		return 0, false, false
	}
	line, _ := splitEOL(c.b)
	rest, ok := bytes.CutPrefix(line, []byte("--"))
	if !ok {
		return 0, false, false
	}
	for i := len(bounds) - 1; i >= 0; i-- {
		after, ok := bytes.CutPrefix(rest, []byte(bounds[i]))
		if !ok {
			continue
		}
		after, closing := bytes.CutPrefix(after, []byte("--"))
		if len(bytes.TrimRight(after, " \t\r")) == 0 {
			return i, closing, true
		}
	}
	return 0, false, false
}

// bodyReader reads the raw body of a leaf part: up to the next delimiter line
// of any enclosing multipart, without the line break before it, which belongs
// to the delimiter (RFC 2046 §5.1.1).
type bodyReader struct {
	lr     *lineReader
	bounds []string
	eol    string  // the held-back line break of the previous line
	preBuf [2]byte // backs pre
	pre    []byte  // a line break to return before cur
	cur    []byte  // bytes of the current chunk, valid until the next fill
	err    error   // set at the end of the body
}

func (b *bodyReader) Read(p []byte) (int, error) {
	for len(b.pre) == 0 && len(b.cur) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		b.fill()
	}
	if len(b.pre) > 0 {
		n := copy(p, b.pre)
		b.pre = b.pre[n:]
		return n, nil
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

func (b *bodyReader) fill() {
	c, err := b.lr.next()
	if err != nil {
		b.release()
		b.err = err
		return
	}
	if _, _, ok := matchBoundary(c, b.bounds); ok {
		b.lr.back()
		b.eol, b.err = "", io.EOF
		return
	}
	b.release()
	b.cur = c.b
	if c.eol {
		var eol []byte
		b.cur, eol = splitEOL(c.b)
		b.eol = "\n"
		if len(eol) == 2 {
			b.eol = "\r\n"
		}
	}
}

// release moves the held-back line break to pre.
func (b *bodyReader) release() {
	n := copy(b.preBuf[:], b.eol)
	b.pre, b.eol = b.preBuf[:n], ""
}
