// Package spool keeps the uploads of one request (API attachments, an SMTP
// DATA stream, the files of a viewer reply) in private files that never hold
// plaintext: every file is sealed with internal/seal's segmented AES-256-GCM
// stream (NIST SP 800-38D, STREAM construction) under an ephemeral data key that
// exists only in the memory of the Spool. Each file is bound to its own random
// name, so files cannot be swapped or truncated without Open failing.
//
// A Spool belongs to one request: Write files while the request streams in,
// Open them as often as needed, and Remove everything when the request ends.
// Memory is bounded by one seal segment (64 KiB) per open reader or writer.
package spool

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/veilig/veilig/internal/seal"
)

// Errors returned by this package. Errors of the reader given to Write are
// wrapped unchanged, so callers can still match e.g. *http.MaxBytesError.
var (
	// ErrStorage means the spool directory or a spool file could not be used.
	ErrStorage = errors.New("spool: storage failed")
	// ErrRemoved means the Spool was used after Remove.
	ErrRemoved = errors.New("spool: removed")
)

const (
	nameBytes = 16 // 128 random bits per file name
	filePerm  = 0o600
	dirPerm   = 0o700
	tempDirs  = "veilig-spool-*"
)

// Spool is a set of sealed files of one request. It is safe for concurrent use.
type Spool struct {
	mu      sync.Mutex
	dir     string
	ownDir  bool // dir was made by New and is removed with the files
	dk      seal.DataKey
	paths   []string
	open    map[*reader]struct{}
	removed bool
}

// File is one sealed spool file.
type File struct {
	sp   *Spool
	name string // random; also the seal object id
	size int64
}

// New returns an empty Spool writing into dir, which is created with mode
// 0700 (and set to 0700 when it exists). With dir "" the Spool makes its own
// private directory under os.TempDir and removes it in Remove.
func New(dir string) (*Spool, error) {
	dk, err := seal.NewDataKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	sp := &Spool{dir: dir, dk: dk, open: map[*reader]struct{}{}}
	if dir == "" {
		sp.ownDir = true
		sp.dir, err = os.MkdirTemp("", tempDirs) // mode 0700, random name
	} else {
		err = privateDir(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: directory: %w", ErrStorage, err)
	}
	return sp, nil
}

// privateDir creates dir with mode 0700 or restricts an existing one.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	return os.Chmod(dir, dirPerm)
}

// Write streams r into a new sealed file and returns its handle. On error the
// file is already deleted; an error of r is wrapped as it is, a failure of the
// disk wraps ErrStorage.
func (s *Spool) Write(r io.Reader) (File, error) {
	f, path, name, err := s.create()
	if err != nil {
		return File{}, err
	}
	size, err := sealCopy(f, s.key(), name, r)
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("%w: %w", ErrStorage, cerr)
	}
	if err != nil {
		_ = os.Remove(path)
		return File{}, err
	}
	return File{sp: s, name: name, size: size}, nil
}

// create makes a new file with a random name and remembers its path for Remove.
func (s *Spool) create() (*os.File, string, string, error) {
	var b [nameBytes]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	name := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return nil, "", "", ErrRemoved
	}
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %w", ErrStorage, err)
	}
	s.paths = append(s.paths, path)
	return f, path, name, nil
}

// sealCopy copies r through a seal writer into f and returns the plaintext size.
func sealCopy(f io.Writer, dk seal.DataKey, name string, r io.Reader) (int64, error) {
	dst := &diskWriter{w: f}
	sw := seal.NewWriter(dst, dk, []byte(name))
	n, err := io.Copy(sw, r)
	if err == nil {
		err = sw.Close()
	}
	switch {
	case err == nil:
		return n, nil
	case dst.err != nil || errors.Is(err, seal.ErrTooLarge):
		return n, fmt.Errorf("%w: %w", ErrStorage, err)
	default:
		return n, fmt.Errorf("spool: read: %w", err)
	}
}

// diskWriter remembers a failure of the file, so that Write can tell it from a
// failure of the reader.
type diskWriter struct {
	w   io.Writer
	err error
}

func (d *diskWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil && d.err == nil {
		d.err = err
	}
	return n, err
}

func (s *Spool) key() seal.DataKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dk
}

// Size is the plaintext size of the file in bytes.
func (f File) Size() int64 { return f.size }

// Open returns a new reader of the file's plaintext. A file can be opened any
// number of times; Read fails with seal.ErrAuth (or ErrTruncated, ErrFormat)
// if the file was changed on disk. Remove closes readers still open.
func (f File) Open() (io.ReadCloser, error) {
	if f.sp == nil {
		return nil, fmt.Errorf("%w: zero File", ErrStorage)
	}
	return f.sp.openFile(f.name)
}

func (s *Spool) openFile(name string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return nil, ErrRemoved
	}
	fh, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	r := &reader{sp: s, f: fh, r: seal.NewReader(fh, s.dk, []byte(name))}
	s.open[r] = struct{}{}
	return r, nil
}

// reader is an open spool file; Close is idempotent.
type reader struct {
	sp   *Spool
	f    *os.File
	r    io.Reader
	once sync.Once
	err  error
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("spool: %w", err)
	}
	return n, err
}

func (r *reader) Close() error {
	r.sp.forget(r)
	return r.close()
}

func (r *reader) close() error {
	r.once.Do(func() {
		if err := r.f.Close(); err != nil {
			r.err = fmt.Errorf("%w: %w", ErrStorage, err)
		}
	})
	return r.err
}

func (s *Spool) forget(r *reader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, r)
}

// Remove closes every open reader and deletes every file (and the directory
// New made for dir ""). It is idempotent; the Spool cannot be used afterwards.
func (s *Spool) Remove() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return nil
	}
	s.removed, s.dk = true, seal.DataKey{}
	for r := range s.open {
		_ = r.close()
	}
	s.open = nil
	var errs []error
	for _, p := range s.paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if s.ownDir {
		if err := os.Remove(s.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: remove: %w", ErrStorage, err)
	}
	return nil
}
