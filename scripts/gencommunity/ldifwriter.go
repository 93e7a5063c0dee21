package main

import (
	"bufio"
	"encoding/base64"
)

// foldWidth is the width at which lines are folded (RFC 2849 note 2 allows any
// width; 76 keeps the file readable).
const foldWidth = 76

// ldifWriter writes LDIF content records (RFC 2849). Write errors are sticky in
// the bufio.Writer and surface at Flush.
type ldifWriter struct {
	w   *bufio.Writer
	buf []byte
}

func newLDIFWriter(w *bufio.Writer) *ldifWriter { return &ldifWriter{w: w} }

// attr writes "name: value", or "name:: base64" where the value is not a
// SAFE-STRING (RFC 2849 §2: non-ASCII, control characters, a leading space,
// colon or '<', or a trailing space).
func (lw *ldifWriter) attr(name, value string) {
	lw.buf = append(lw.buf[:0], name...)
	if safeString(value) {
		lw.buf = append(lw.buf, ": "...)
		lw.buf = append(lw.buf, value...)
	} else {
		lw.buf = append(lw.buf, ":: "...)
		lw.buf = base64.StdEncoding.AppendEncode(lw.buf, []byte(value))
	}
	lw.writeFolded(lw.buf)
}

// comment writes a comment line; text must be ASCII without newlines.
func (lw *ldifWriter) comment(text string) {
	lw.w.WriteString("# " + text + "\n")
}

// end closes a record with the blank separator line.
func (lw *ldifWriter) end() { lw.w.WriteByte('\n') }

// writeFolded writes one logical line, folded: continuation lines start with a
// space. Folding splits bytes, which is safe here: a folded line is ASCII.
func (lw *ldifWriter) writeFolded(line []byte) {
	width := foldWidth
	for len(line) > width {
		lw.w.Write(line[:width])
		lw.w.WriteString("\n ")
		line = line[width:]
		width = foldWidth - 1
	}
	lw.w.Write(line)
	lw.w.WriteByte('\n')
}

func safeString(v string) bool {
	if v == "" {
		return true
	}
	if c := v[0]; c == ' ' || c == ':' || c == '<' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == 0 || c == '\n' || c == '\r' || c >= 0x80 {
			return false
		}
	}
	return true
}
