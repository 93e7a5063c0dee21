package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newStore(t *testing.T) *FS {
	t.Helper()
	f, err := NewFS(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"msg-0123", true},
		{"messages/2026/abc-def", true},
		{"", false},
		{"/abs", false},
		{"trailing/", false},
		{"a//b", false},
		{"../escape", false},
		{"a/../b", false},
		{".tmp-123", false},
		{"UPPER", false},
		{"sp ace", false},
		{"back\\slash", false},
		{"nul\x00", false},
		{"ünïcode", false},
		{strings.Repeat("a", MaxKeyLength), true},
		{strings.Repeat("a", MaxKeyLength+1), false},
	}
	for _, tt := range tests {
		if got := ValidKey(tt.key); got != tt.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestNewFSPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFS(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o700 {
		t.Errorf("mode = %o, want 700", got)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFS(file); err == nil {
		t.Error("NewFS on a regular file succeeded")
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		key     string
		write   string
		finish  func(w Writer) error // Commit, Abort or nothing (a crash)
		visible bool
	}{
		{"commit", "msg-1", "hello", Writer.Commit, true},
		{"commit nested key", "orgs/utrecht/msg-2", "nested", Writer.Commit, true},
		{"commit empty blob", "empty", "", Writer.Commit, true},
		{"abort", "msg-3", "discarded", Writer.Abort, false},
		{"never finished", "msg-4", "crash", func(Writer) error { return nil }, false},
		{"abort after commit keeps the blob", "msg-5", "kept", func(w Writer) error {
			if err := w.Commit(); err != nil {
				return err
			}
			return w.Abort()
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newStore(t)
			w, err := f.Create(ctx, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w, tt.write); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Open(ctx, tt.key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("before finishing: Open err = %v, want ErrNotFound", err)
			}
			if err := tt.finish(w); err != nil {
				t.Fatal(err)
			}
			got, err := readBlob(f, tt.key)
			if !tt.visible {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Open err = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil || got != tt.write {
				t.Fatalf("Open = %q, %v; want %q", got, err, tt.write)
			}
			assertMode(t, filepath.Join(f.Dir(), tt.key), 0o600)
		})
	}
}

func readBlob(f *FS, key string) (string, error) {
	r, err := f.Open(context.Background(), key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s mode = %o, want %o", path, got, want)
	}
}

func TestWriterAfterFinish(t *testing.T) {
	ctx := context.Background()
	f := newStore(t)
	w, err := f.Create(ctx, "once")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Commit: err = %v, want ErrClosed", err)
	}
	if err := w.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Commit: err = %v, want ErrClosed", err)
	}
	w, err = f.Create(ctx, "aborted")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Abort: err = %v, want ErrClosed", err)
	}
	if n := countTemps(t, f); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

func TestCommitReplaces(t *testing.T) {
	ctx := context.Background()
	f := newStore(t)
	for _, content := range []string{"first", "second"} {
		w, err := f.Create(ctx, "same")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, content)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := readBlob(f, "same"); err != nil || got != "second" {
		t.Errorf("Open = %q, %v; want second", got, err)
	}
}

func TestInvalidKeys(t *testing.T) {
	ctx := context.Background()
	f := newStore(t)
	for _, key := range []string{"../x", "/etc/passwd", "a/./b", ""} {
		if _, err := f.Create(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Create(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := f.Open(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Open(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if err := f.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) err = %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestOpenDirectoryIsNotFound(t *testing.T) {
	ctx := context.Background()
	f := newStore(t)
	commit(t, f, "dir/child", "x")
	if _, err := f.Open(ctx, "dir"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(dir) err = %v, want ErrNotFound", err)
	}
	if _, err := f.Open(ctx, "dir/child/deeper"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open below a blob: err = %v, want ErrNotFound", err)
	}
	if err := f.Delete(ctx, "dir"); err != nil {
		t.Errorf("Delete(dir) = %v", err)
	}
	if got, err := readBlob(f, "dir/child"); err != nil || got != "x" {
		t.Errorf("child after Delete(dir) = %q, %v", got, err)
	}
}

func commit(t *testing.T, f *FS, key, content string) {
	t.Helper()
	w, err := f.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteIdempotent(t *testing.T) {
	ctx := context.Background()
	f := newStore(t)
	commit(t, f, "gone", "x")
	for i := range 2 {
		if err := f.Delete(ctx, "gone"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := f.Open(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete: err = %v", err)
	}
	if err := f.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete of a missing nested key: %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	f := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Create(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Create err = %v", err)
	}
	if _, err := f.Open(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open err = %v", err)
	}
	if err := f.Delete(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete err = %v", err)
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	f := newStore(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return now }
	commit(t, f, "old-committed", "keep me")
	old, err := f.Create(ctx, "nested/abandoned") // a writer whose process died
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(old, "lost")
	fresh, err := f.Create(ctx, "in-progress")
	if err != nil {
		t.Fatal(err)
	}
	setMtime(t, filepath.Join(f.Dir(), "old-committed"), now.Add(-48*time.Hour))
	setMtime(t, old.(*fsWriter).file.Name(), now.Add(-25*time.Hour))
	setMtime(t, fresh.(*fsWriter).file.Name(), now.Add(-time.Hour))

	n, err := f.Sweep(ctx, 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if got, err := readBlob(f, "old-committed"); err != nil || got != "keep me" {
		t.Errorf("committed blob after Sweep = %q, %v", got, err)
	}
	if err := fresh.Commit(); err != nil {
		t.Errorf("the fresh writer can still commit: %v", err)
	}
	if err := old.Commit(); err == nil {
		t.Error("the swept writer committed")
	}
	if c := countTemps(t, f); c != 0 {
		t.Errorf("%d temporary files left", c)
	}
}

func setMtime(t *testing.T, path string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func countTemps(t *testing.T, f *FS) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(f.Dir(), func(_ string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWalk(t *testing.T) {
	ctx := context.Background()
	f := newStore(t)
	for _, k := range []string{"b", "a/one", "a/two"} {
		commit(t, f, k, k)
	}
	pending, err := f.Create(ctx, "a/pending")
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Abort()
	if err := os.WriteFile(filepath.Join(f.Dir(), "Stray.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []string
	err = f.Walk(ctx, func(key string, _ time.Time) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	if diff := cmp.Diff([]string{"a/one", "a/two", "b"}, keys); diff != "" {
		t.Errorf("Walk keys (-want +got):\n%s", diff)
	}
}

func TestLargeBlob(t *testing.T) {
	f := newStore(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, several buffer flushes
	w, err := f.Create(context.Background(), "large")
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1000) // small writes, like a MIME writer's
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := readBlob(f, "large")
	if err != nil || got != string(data) {
		t.Errorf("large blob differs (len %d, err %v)", len(got), err)
	}
}
