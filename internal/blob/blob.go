// Package blob stores immutable message bodies (the composed, signed RFC 5322
// messages that delivery attempts reopen) under short opaque keys.
//
// The contract every backend keeps: a blob becomes visible under its key only
// when Writer.Commit returns nil, and a committed blob survives a crash. The
// filesystem backend (FS) gets this the POSIX way: the data goes to a temporary
// file in the destination directory, which is fsync'ed, renamed over the key
// and followed by an fsync of the directory (rename(2) is atomic within one file
// system; see also the "Durability" notes of the Linux fsync(2) man page).
// Issue 4 adds encryption at rest and an S3 backend behind the same interface.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
)

// Errors.
var (
	ErrNotFound   = errors.New("blob: not found")
	ErrInvalidKey = errors.New("blob: invalid key")
	ErrClosed     = errors.New("blob: writer already committed or aborted")
)

// MaxKeyLength bounds a key, so every backend can hold it.
const MaxKeyLength = 200

// Store holds blobs.
type Store interface {
	// Create returns a writer for a new blob; nothing is visible under key until
	// Commit returns nil. Committing over an existing key replaces it atomically.
	Create(ctx context.Context, key string) (Writer, error)
	// Open returns the committed blob, or ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}

// Writer receives a blob's bytes. Exactly one of Commit or Abort takes effect;
// Abort after a successful Commit is a no-op, so callers may defer Abort.
type Writer interface {
	io.Writer
	// Commit makes the blob durable and visible under its key.
	Commit() error
	// Abort discards the blob.
	Abort() error
}

// ValidKey reports whether key may name a blob: 1 to MaxKeyLength characters
// from [a-z0-9/-], "/" separating non-empty segments (so no absolute paths,
// no "..", no hidden names).
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLength {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" {
			return false
		}
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '/') {
			return false
		}
	}
	return true
}
