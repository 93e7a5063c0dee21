package blob

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// tempPrefix starts every in-progress file's name. Keys cannot contain a dot,
// so a temporary file can never be mistaken for a blob.
const tempPrefix = ".tmp-"

// writeBuffer batches the many small writes of a MIME writer into few syscalls.
const writeBuffer = 64 << 10

// FS is a Store in a local directory (mode 0700, files 0600). A key's "/"
// separated segments become subdirectories.
type FS struct {
	root string
	now  func() time.Time
}

var _ Store = (*FS)(nil)

// NewFS returns a store rooted at dir, creating it with mode 0700 and taking
// group and other permissions away from an existing one.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("blob: empty directory")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("blob: create %s: %w", root, err)
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("blob: %s is not a directory", root)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(root, 0o700); err != nil {
			return nil, fmt.Errorf("blob: restrict %s: %w", root, err)
		}
	}
	return &FS{root: root, now: time.Now}, nil
}

// Dir returns the store's root directory.
func (f *FS) Dir() string { return f.root }

func (f *FS) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// Create starts a blob: a temporary file next to its final name.
func (f *FS) Create(ctx context.Context, key string) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: create: %w", err)
	}
	path, err := f.path(key)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := f.mkdirs(dir); err != nil {
		return nil, err
	}
	file, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("blob: create: %w", err)
	}
	return &fsWriter{file: file, buf: bufio.NewWriterSize(file, writeBuffer), path: path, dir: dir}, nil
}

// mkdirs creates dir and its missing parents below the root, fsync'ing each
// parent that gained an entry so the new directories survive a crash.
func (f *FS) mkdirs(dir string) error {
	rel, err := filepath.Rel(f.root, dir)
	if err != nil || rel == "." {
		return err
	}
	parent := f.root
	for _, seg := range strings.Split(rel, string(filepath.Separator)) {
		next := filepath.Join(parent, seg)
		err := os.Mkdir(next, 0o700)
		switch {
		case err == nil:
			if err := syncDir(parent); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrExist):
			return fmt.Errorf("blob: create directory: %w", err)
		}
		parent = next
	}
	return nil
}

// Open returns the committed blob, ErrNotFound when there is none.
func (f *FS) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	path, err := f.path(key)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if isMissing(err) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	if st, err := file.Stat(); err != nil || st.IsDir() {
		_ = file.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return file, nil
}

// Delete removes a blob; a missing one is not an error.
func (f *FS) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	path, err := f.path(key)
	if err != nil {
		return err
	}
	st, err := os.Lstat(path)
	if isMissing(err) || err == nil && st.IsDir() {
		return nil
	}
	if err == nil {
		err = os.Remove(path)
	}
	if err != nil && !isMissing(err) {
		return fmt.Errorf("blob: delete: %w", err)
	}
	return nil
}

// Sweep removes temporary files last written more than olderThan ago: what
// writers left behind when their process died between Create and Commit or
// Abort. It returns how many it removed.
func (f *FS) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := f.now().Add(-olderThan)
	removed := 0
	err := f.walk(ctx, func(path string, d fs.DirEntry) error {
		if !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		old, err := modifiedBefore(d, cutoff)
		if err != nil || !old {
			return err
		}
		if err := os.Remove(path); err != nil && !isMissing(err) {
			return fmt.Errorf("blob: sweep: %w", err)
		}
		removed++
		return nil
	})
	return removed, err
}

// Walk calls fn with the key and modification time of every committed blob,
// for callers that remove blobs no record references any more.
func (f *FS) Walk(ctx context.Context, fn func(key string, modified time.Time) error) error {
	return f.walk(ctx, func(path string, d fs.DirEntry) error {
		if strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		info, err := d.Info()
		if isMissing(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("blob: walk: %w", err)
		}
		rel, err := filepath.Rel(f.root, path)
		if err != nil || !ValidKey(filepath.ToSlash(rel)) {
			return err // not a blob: some other file in the directory
		}
		return fn(filepath.ToSlash(rel), info.ModTime())
	})
}

// walk calls fn for every regular file below the root, stopping when ctx ends.
func (f *FS) walk(ctx context.Context, fn func(path string, d fs.DirEntry) error) error {
	return filepath.WalkDir(f.root, func(path string, d fs.DirEntry, err error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case isMissing(err):
			return nil
		case err != nil:
			return fmt.Errorf("blob: walk: %w", err)
		case !d.Type().IsRegular():
			return nil
		}
		return fn(path, d)
	})
}

func modifiedBefore(d fs.DirEntry, cutoff time.Time) (bool, error) {
	info, err := d.Info()
	if isMissing(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob: sweep: %w", err)
	}
	return info.ModTime().Before(cutoff), nil
}

func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// syncDir makes a directory's entries (a rename, a new file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blob: sync directory: %w", err)
	}
	return nil
}

// fsWriter writes one blob. It is not safe for concurrent use.
type fsWriter struct {
	file      *os.File
	buf       *bufio.Writer
	path, dir string
	done      bool // Commit or Abort was called
	committed bool
}

func (w *fsWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, ErrClosed
	}
	return w.buf.Write(p)
}

// Commit flushes and fsyncs the file, renames it over the key and fsyncs the
// directory. On failure nothing is left under the key or in the temporary file.
func (w *fsWriter) Commit() error {
	if w.done {
		return ErrClosed
	}
	w.done = true
	if err := w.persist(); err != nil {
		_ = w.file.Close()
		_ = os.Remove(w.file.Name())
		return fmt.Errorf("blob: commit: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		_ = os.Remove(w.path)
		return fmt.Errorf("blob: commit: %w", err)
	}
	w.committed = true
	return nil
}

func (w *fsWriter) persist() error {
	if err := w.buf.Flush(); err != nil {
		return err
	}
	if err := w.file.Sync(); err != nil {
		return err
	}
	if err := w.file.Close(); err != nil {
		return err
	}
	return os.Rename(w.file.Name(), w.path)
}

// Abort removes the temporary file. It is a no-op after Commit or Abort.
func (w *fsWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	_ = w.file.Close()
	if err := os.Remove(w.file.Name()); err != nil && !isMissing(err) {
		return fmt.Errorf("blob: abort: %w", err)
	}
	return nil
}
