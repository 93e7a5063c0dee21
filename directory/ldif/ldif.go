// Package ldif reads the content records of the LDAP Data Interchange Format
// (RFC 2849): the entries of a directory export as written by slapcat,
// ldapsearch -L or a generator, one entry at a time.
//
// The Reader streams and bounds memory: it holds one record at a time and
// rejects a record larger than its limit (DefaultMaxRecordSize unless changed
// with SetMaxRecordSize), so an export of any length is read in constant space.
//
// Supported (RFC 2849 §2–§4): an optional leading "version: 1" line, comment
// lines (also folded ones), line folding (a continuation line begins with one
// space), base64 values ("::"), also for the DN, attribute descriptions with
// options ("cn;lang-nl"), blank-line record separators, LF and CRLF line
// endings and a leading UTF-8 byte-order mark. Plain values may hold UTF-8, a
// common extension of the ASCII-only SAFE-STRING. Not supported, and reported
// as errors: change records ("changetype:", "control:") and URL values (":<").
//
// # Errors
//
// Next returns a *RecordError for one malformed record: its line, its DN when
// known, and the cause, which wraps one of the Err* sentinels. The Reader has
// already skipped the rest of that record, so a caller may report the error and
// call Next again to go on with the next record. Any other error, an I/O error
// or an unsupported version, is fatal: Next returns it again on every later
// call. At the end of the input Next returns io.EOF.
package ldif

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DefaultMaxRecordSize bounds one record (the sum of its unfolded lines) and so
// also one line. slapcat writes records far below it; a larger record is an
// ErrTooLarge RecordError.
const DefaultMaxRecordSize = 1 << 20

// Errors returned by this package, alone or inside a *RecordError; test them
// with errors.Is.
var (
	ErrSyntax       = errors.New("ldif: syntax error")
	ErrVersion      = errors.New("ldif: unsupported LDIF version")
	ErrChangeRecord = errors.New("ldif: change records are not supported")
	ErrURLValue     = errors.New("ldif: URL values are not supported")
	ErrTooLarge     = errors.New("ldif: record too large")
	ErrRead         = errors.New("ldif: read error")
)

// Entry is one content record.
type Entry struct {
	DN         string              // as written, not normalised; parse it with an RFC 4514 parser
	Line       int                 // 1-based line number of the "dn:" line
	Attributes map[string][]string // lower-cased attribute description (with options) → values in file order
}

// RecordError reports one malformed record. The Reader has skipped the rest of
// the record; Next may be called again.
type RecordError struct {
	Line int    // 1-based line where the problem was found
	DN   string // the record's DN, if it was read before the problem
	Err  error  // the cause, wrapping an Err* sentinel
}

func (e *RecordError) Error() string {
	cause := strings.TrimPrefix(e.Err.Error(), "ldif: ")
	if e.DN == "" {
		return fmt.Sprintf("ldif: line %d: %s", e.Line, cause)
	}
	return fmt.Sprintf("ldif: line %d (dn %q): %s", e.Line, e.DN, cause)
}

func (e *RecordError) Unwrap() error { return e.Err }

// maxNameCache bounds the cache of lower-cased attribute names.
const maxNameCache = 256

// Reader reads content records from an LDIF stream. It is not safe for
// concurrent use.
type Reader struct {
	br      *bufio.Reader
	max     int
	lines   int      // physical lines read so far
	peek    physLine // the next physical line, valid if havePeek
	hasPeek bool
	eof     bool
	started bool   // the position of the version line has passed
	err     error  // sticky fatal error or io.EOF
	logical []byte // buffer for the logical line being assembled
	names   map[string]string
}

// NewReader returns a Reader for r with DefaultMaxRecordSize.
func NewReader(r io.Reader) *Reader {
	return &Reader{
		br:    bufio.NewReaderSize(r, 64<<10),
		max:   DefaultMaxRecordSize,
		names: make(map[string]string),
	}
}

// SetMaxRecordSize changes the bound on one record, in bytes of unfolded lines.
// Values below 1 KiB are raised to 1 KiB. Call it before the first Next.
func (r *Reader) SetMaxRecordSize(n int) {
	r.max = max(n, 1<<10)
}

// Next returns the next entry, a *RecordError for a malformed record (after
// which Next may be called again), io.EOF at the end, or a fatal error.
func (r *Reader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	e, err := r.next()
	var recErr *RecordError
	if err != nil && !errors.As(err, &recErr) {
		r.err = err
	}
	return e, err
}

func (r *Reader) next() (*Entry, error) {
	ll, ok, err := r.firstLine()
	if err != nil || !ok {
		return nil, errOr(err, io.EOF)
	}
	if !r.started {
		r.started = true
		if isVersion(ll.text) {
			if err := checkVersion(ll); err != nil {
				return nil, err
			}
			return r.next()
		}
	}
	return r.record(ll)
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// firstLine skips blank lines and comments and returns the first line of the
// next record; ok is false at the end of the input.
func (r *Reader) firstLine() (logical, bool, error) {
	for {
		ll, ok, err := r.nextLogical()
		if err != nil || !ok {
			return ll, false, err
		}
		switch {
		case isComment(ll.text) || len(bytes.TrimLeft(ll.text, " ")) == 0:
			continue
		case ll.text[0] == ' ':
			return ll, false, r.recordError(ll.num, "", fmt.Errorf("%w: continuation line with no line to continue", ErrSyntax))
		}
		return ll, true, nil
	}
}

// record reads the rest of the record whose first line is first.
func (r *Reader) record(first logical) (*Entry, error) {
	if first.tooLong {
		return nil, r.recordError(first.num, "", fmt.Errorf("%w: over %d bytes", ErrTooLarge, r.max))
	}
	dn, err := parseDN(first.text)
	if err != nil {
		return nil, r.recordError(first.num, "", err)
	}
	e := &Entry{DN: dn, Line: first.num, Attributes: make(map[string][]string)}
	size := len(first.text)
	for {
		ll, ok, err := r.recordLine()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		size += len(ll.text)
		if err := r.addAttribute(e, ll, size); err != nil {
			return nil, r.recordError(ll.num, dn, err)
		}
	}
	if len(e.Attributes) == 0 {
		return nil, &RecordError{Line: first.num, DN: dn, Err: fmt.Errorf("%w: record has no attributes", ErrSyntax)}
	}
	return e, nil
}

// parseDN parses the "dn:" line that opens a record.
func parseDN(line []byte) (string, error) {
	name, value, err := parseLine(line)
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(string(name), "dn") {
		return "", fmt.Errorf("%w: record begins with %q, not \"dn:\"", ErrSyntax, name)
	}
	if !isUTF8(value) {
		return "", fmt.Errorf("%w: DN is not valid UTF-8", ErrSyntax)
	}
	return string(value), nil
}

// addAttribute adds one attribute line to e; size is the record size so far.
func (r *Reader) addAttribute(e *Entry, ll logical, size int) error {
	if ll.tooLong || size > r.max {
		return fmt.Errorf("%w: over %d bytes", ErrTooLarge, r.max)
	}
	rawName, value, err := parseLine(ll.text)
	if err != nil {
		return err
	}
	name := r.attrName(rawName)
	switch {
	case name == "changetype" || (name == "control" && len(e.Attributes) == 0):
		return fmt.Errorf("%w: %q line", ErrChangeRecord, name)
	case name == "dn":
		return fmt.Errorf("%w: second \"dn:\" line in one record (missing blank line?)", ErrSyntax)
	}
	e.Attributes[name] = append(e.Attributes[name], string(value))
	return nil
}

// attrName lower-cases an attribute description, caching common names.
func (r *Reader) attrName(b []byte) string {
	if s, ok := r.names[string(b)]; ok {
		return s
	}
	s := strings.ToLower(string(b))
	if len(r.names) < maxNameCache {
		r.names[string(b)] = s
	}
	return s
}

// recordError skips the rest of the current record and returns a *RecordError,
// or the fatal error met while skipping.
func (r *Reader) recordError(line int, dn string, err error) error {
	if skipErr := r.skipRecord(); skipErr != nil {
		return skipErr
	}
	return &RecordError{Line: line, DN: dn, Err: err}
}

func isComment(b []byte) bool { return len(b) > 0 && b[0] == '#' }

func isVersion(b []byte) bool {
	return len(b) >= 8 && strings.EqualFold(string(b[:8]), "version:")
}

// checkVersion accepts "version: 1" (RFC 2849 version-spec).
func checkVersion(ll logical) error {
	v := bytes.TrimRight(bytes.TrimLeft(ll.text[8:], " "), " ")
	if string(v) != "1" {
		return fmt.Errorf("%w: line %d: version %q, want 1", ErrVersion, ll.num, v)
	}
	return nil
}
