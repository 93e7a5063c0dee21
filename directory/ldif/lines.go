package ldif

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// physLine is one line of the input without its line ending.
type physLine struct {
	text    []byte // at most max+2 bytes; longer lines are cut and marked tooLong
	num     int    // 1-based line number
	tooLong bool
}

// logical is a line after unfolding (RFC 2849 note 2).
type logical struct {
	text    []byte // valid until the next read
	num     int    // number of its first physical line
	tooLong bool
}

func (p physLine) blank() bool { return len(p.text) == 0 && !p.tooLong }

var bom = []byte{0xEF, 0xBB, 0xBF}

// fill reads the next physical line into r.peek unless one is waiting.
func (r *Reader) fill() error {
	if r.hasPeek || r.eof {
		return nil
	}
	text, tooLong, err := r.readPhys(r.peek.text[:0])
	if errors.Is(err, io.EOF) {
		r.eof = true
		return nil
	}
	if err != nil {
		return err
	}
	r.lines++
	if r.lines == 1 {
		text = bytes.TrimPrefix(text, bom)
	}
	r.peek = physLine{text: text, num: r.lines, tooLong: tooLong}
	r.hasPeek = true
	return nil
}

// readPhys reads one physical line into dst, keeping at most r.max+2 bytes of
// it (room for a CRLF). It returns io.EOF only when no byte is left.
func (r *Reader) readPhys(dst []byte) ([]byte, bool, error) {
	tooLong, got := false, false
	for {
		chunk, err := r.br.ReadSlice('\n')
		got = got || len(chunk) > 0
		if room := r.max + 2 - len(dst); len(chunk) > room {
			chunk, tooLong = chunk[:room], true
		}
		dst = append(dst, chunk...)
		switch {
		case err == nil:
			return trimEOL(dst), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && got:
			return trimEOL(dst), tooLong, nil
		case errors.Is(err, io.EOF):
			return nil, false, io.EOF
		default:
			return nil, false, fmt.Errorf("%w: %w", ErrRead, err)
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// nextLogical consumes the next physical line and its continuation lines; ok
// is false at the end of the input.
func (r *Reader) nextLogical() (ll logical, ok bool, err error) {
	if err := r.fill(); err != nil || !r.hasPeek {
		return ll, false, err
	}
	ll = logical{num: r.peek.num, tooLong: r.peek.tooLong}
	r.logical = append(r.logical[:0], r.peek.text...)
	r.hasPeek = false
	for {
		if err := r.fill(); err != nil {
			return ll, false, err
		}
		if !r.hasPeek || len(r.peek.text) == 0 || r.peek.text[0] != ' ' {
			break
		}
		r.appendContinuation(&ll)
	}
	ll.text = r.logical
	return ll, true, nil
}

// appendContinuation adds the waiting continuation line to ll.
func (r *Reader) appendContinuation(ll *logical) {
	cont := r.peek.text[1:]
	r.hasPeek = false
	if ll.tooLong || r.peek.tooLong || len(r.logical)+len(cont) > r.max {
		ll.tooLong = true
		return
	}
	r.logical = append(r.logical, cont...)
}

// recordLine returns the next non-comment line of the current record; ok is
// false at the blank line or end of input that ends the record.
func (r *Reader) recordLine() (logical, bool, error) {
	for {
		if err := r.fill(); err != nil || !r.hasPeek || r.peek.blank() {
			return logical{}, false, err
		}
		ll, ok, err := r.nextLogical()
		if err != nil || !ok {
			return ll, false, err
		}
		if !isComment(ll.text) {
			return ll, true, nil
		}
	}
}

// skipRecord discards lines up to the blank line or end of input that ends the
// current record, in bounded memory.
func (r *Reader) skipRecord() error {
	for {
		if err := r.fill(); err != nil || !r.hasPeek || r.peek.blank() {
			return err
		}
		r.hasPeek = false
	}
}
