package ldif

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"unicode/utf8"
)

// parseLine splits an unfolded "name: value", "name:: base64" or "name:< url"
// line (RFC 2849 attrval-spec and dn-spec) and decodes the value.
func parseLine(text []byte) (name, value []byte, err error) {
	i := bytes.IndexByte(text, ':')
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: no ':' after the attribute name", ErrSyntax)
	}
	name, rest := text[:i], text[i+1:]
	if !validDescription(name) {
		return nil, nil, fmt.Errorf("%w: invalid attribute description %q", ErrSyntax, truncate(name))
	}
	switch {
	case len(rest) > 0 && rest[0] == ':':
		value, err = decodeBase64(trimFill(rest[1:]))
	case len(rest) > 0 && rest[0] == '<':
		err = fmt.Errorf("%w: %q", ErrURLValue, truncate(name))
	default:
		value, err = plainValue(trimFill(rest))
	}
	if err != nil {
		return nil, nil, err
	}
	return name, value, nil
}

// trimFill drops the FILL (spaces) between the separator and the value.
func trimFill(b []byte) []byte { return bytes.TrimLeft(b, " ") }

func decodeBase64(b []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid base64 value: %v", ErrSyntax, err)
	}
	return out[:n], nil
}

// plainValue checks a SAFE-STRING value, extended to UTF-8: no NUL, no CR,
// valid UTF-8. Binary data must be base64-encoded.
func plainValue(b []byte) ([]byte, error) {
	if i := bytes.IndexAny(b, "\x00\r"); i >= 0 {
		return nil, fmt.Errorf("%w: control character %q in a plain value (use base64)", ErrSyntax, b[i])
	}
	if !isUTF8(b) {
		return nil, fmt.Errorf("%w: plain value is not valid UTF-8 (use base64)", ErrSyntax)
	}
	return b, nil
}

func isUTF8(b []byte) bool { return utf8.Valid(b) }

// validDescription reports whether b is an RFC 4512 AttributeDescription as
// RFC 2849 allows it: a descriptor (ALPHA *(ALPHA / DIGIT / "-")) or a
// numeric OID, then any number of ";option" (1*(ALPHA / DIGIT / "-")).
func validDescription(b []byte) bool {
	typ, rest, more := bytes.Cut(b, []byte{';'})
	if !validDescriptor(typ) && !validOID(typ) {
		return false
	}
	for more {
		var opt []byte
		opt, rest, more = bytes.Cut(rest, []byte{';'})
		if len(opt) == 0 || !allKeyChars(opt) {
			return false
		}
	}
	return true
}

func validDescriptor(b []byte) bool {
	return len(b) > 0 && isAlpha(b[0]) && allKeyChars(b)
}

// validOID accepts numericoid: number 1*("." number).
func validOID(b []byte) bool {
	parts := bytes.Split(b, []byte{'.'})
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(bytes.TrimLeft(p, "0123456789")) != 0 {
			return false
		}
	}
	return true
}

func allKeyChars(b []byte) bool {
	for _, c := range b {
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// truncate keeps error messages short when the input is garbage.
func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
