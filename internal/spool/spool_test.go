package spool

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/seal"
)

const canary = "CANARY-7f3a9c-plaintext-must-not-reach-disk"

func newSpool(t *testing.T) (*Spool, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Remove() })
	return sp, dir
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func readAll(t *testing.T, f File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"one segment less one", seal.SegmentSize - 1},
		{"one segment", seal.SegmentSize},
		{"one segment plus one", seal.SegmentSize + 1},
		{"5 MB", 5_000_000},
	}
	sp, dir := newSpool(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := randomBytes(t, tt.size)
			f, err := sp.Write(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			if f.Size() != int64(tt.size) {
				t.Errorf("Size %d, want %d", f.Size(), tt.size)
			}
			for i := range 2 { // every Open reads from the start
				if got := readAll(t, f); !bytes.Equal(got, want) {
					t.Fatalf("read %d: %d bytes differ from the %d written", i, len(got), len(want))
				}
			}
		})
	}
	checkModes(t, dir)
}

func checkModes(t *testing.T, dir string) {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != dirPerm {
		t.Fatalf("directory: %v %v, want mode 0700", st, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.Mode().Perm() != filePerm {
			t.Errorf("%s: %v %v, want mode 0600", e.Name(), info, err)
		}
	}
}

func TestNoPlaintextOnDisk(t *testing.T) {
	sp, dir := newSpool(t)
	content := strings.Repeat("Beste meneer, "+canary+"\n", 20_000) // ~1.2 MB, many segments
	f, err := sp.Write(strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if string(readAll(t, f)) != content {
		t.Fatal("round trip differs")
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("spool directory: %v %v, want one file", entries, err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), canary) {
			t.Error("canary in a file name")
		}
		disk, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(disk, []byte(canary)) || bytes.Contains(disk, []byte("Beste meneer")) {
			t.Errorf("%s holds plaintext", e.Name())
		}
	}
}

func TestTamper(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, a, b string) // a is the file read, b another file of the spool
		wantErr error
	}{
		{"flipped byte", func(t *testing.T, a, _ string) { flip(t, a, 100) }, seal.ErrAuth},
		{"flipped last byte", func(t *testing.T, a, _ string) { flip(t, a, -1) }, seal.ErrAuth},
		{"truncated at a segment", func(t *testing.T, a, _ string) { truncate(t, a, 40+seal.SegmentSize+16) }, seal.ErrAuth},
		{"truncated header", func(t *testing.T, a, _ string) { truncate(t, a, 10) }, seal.ErrTruncated},
		{"swapped files", func(t *testing.T, a, b string) { copyFile(t, b, a) }, seal.ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, dir := newSpool(t)
			content := randomBytes(t, 2*seal.SegmentSize+10)
			fa, errA := sp.Write(bytes.NewReader(content))
			_, errB := sp.Write(bytes.NewReader(content))
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			a := filepath.Join(dir, fa.name)
			tt.tamper(t, a, other(t, dir, fa.name))
			rc, err := fa.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.ReadAll(rc); !errors.Is(err, tt.wantErr) {
				t.Errorf("read error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func other(t *testing.T, dir, not string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != not {
			return filepath.Join(dir, e.Name())
		}
	}
	t.Fatal("no other file")
	return ""
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, filePerm); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, filePerm); err != nil {
		t.Fatal(err)
	}
}

func TestRemove(t *testing.T) {
	sp, dir := newSpool(t)
	f, err := sp.Write(strings.NewReader(canary))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Remove(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("a reader still open at Remove kept reading")
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Close after Remove: %v", err)
	}
	if err := sp.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if _, err := f.Open(); !errors.Is(err, ErrRemoved) {
		t.Errorf("Open after Remove: %v, want ErrRemoved", err)
	}
	if _, err := sp.Write(strings.NewReader("x")); !errors.Is(err, ErrRemoved) {
		t.Errorf("Write after Remove: %v, want ErrRemoved", err)
	}
}

func TestOwnDirectory(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	sp, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Write(strings.NewReader(canary)); err != nil {
		t.Fatal(err)
	}
	checkModes(t, sp.dir)
	if filepath.Dir(sp.dir) != filepath.Clean(os.TempDir()) {
		t.Errorf("directory %s is not under %s", sp.dir, os.TempDir())
	}
	if err := sp.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sp.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("own directory left: %v", err)
	}
}

func TestExistingDirectoryMadePrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sp, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Remove()
	checkModes(t, dir)
}

var errSource = errors.New("source broke")

// failingReader yields n bytes and then errSource.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errSource
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		src     io.Reader
		wantErr error
		notErr  error
	}{
		{"source fails", nil, &failingReader{n: 3 * seal.SegmentSize}, errSource, ErrStorage},
		{"directory gone", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}, strings.NewReader("x"), ErrStorage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, dir := newSpool(t)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			_, err := sp.Write(tt.src)
			if !errors.Is(err, tt.wantErr) || (tt.notErr != nil && errors.Is(err, tt.notErr)) {
				t.Fatalf("error %v, want %v and not %v", err, tt.wantErr, tt.notErr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("failed write left files: %v", entries)
			}
		})
	}
}

// zeros yields n zero bytes without holding them.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), z.n))
	clear(p[:k])
	z.n -= int64(k)
	return k, nil
}

func TestMemoryBounded(t *testing.T) {
	const size = 20 << 20
	sp, _ := newSpool(t)
	before := totalAlloc()
	f, err := sp.Write(&zeros{n: size})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	_ = rc.Close()
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if grew := totalAlloc() - before; grew > 2<<20 {
		t.Errorf("spooling %d bytes allocated %d bytes; want a few segments", size, grew)
	}
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
