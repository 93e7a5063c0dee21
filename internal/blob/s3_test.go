package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"

	"github.com/veilig/veilig/internal/testenv"
)

// sweepable is the shape the orphan sweepers (message.SweepBlobs and the
// temporary-file sweep in the send command) need; FS and S3 both have it.
type sweepable interface {
	Store
	Walk(ctx context.Context, fn func(key string, modified time.Time) error) error
	Sweep(ctx context.Context, olderThan time.Duration) (int, error)
}

var (
	_ sweepable = (*FS)(nil)
	_ sweepable = (*S3)(nil)
)

// testPartSize is S3's minimum, so a 6 MiB blob already takes the multipart path.
const testPartSize = MinS3PartSize

// TestS3 runs every S3 test against one SeaweedFS server; each subtest has its
// own key prefix.
func TestS3(t *testing.T) {
	srv := testenv.StartS3(t)
	t.Logf("started %s", srv)
	tests := []struct {
		name string
		fn   func(t *testing.T, srv testenv.S3Server)
	}{
		{"lifecycle", testS3Lifecycle},
		{"large round trip with bounded memory", testS3BoundedMemory},
		{"failed uploads leave nothing", testS3FailedUpload},
		{"writer after finish", testS3WriterAfterFinish},
		{"commit replaces", testS3CommitReplaces},
		{"missing and invalid keys", testS3Keys},
		{"delete is idempotent", testS3DeleteIdempotent},
		{"canceled context", testS3CanceledContext},
		{"walk", testS3Walk},
		{"sweep aborts abandoned uploads", testS3Sweep},
		{"connect", testS3Connect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, srv) })
	}
}

func s3Config(srv testenv.S3Server) S3Config {
	return S3Config{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket, Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Prefix: "t-" + randomName(), PartSize: testPartSize,
	}
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newS3(t *testing.T, srv testenv.S3Server) *S3 {
	t.Helper()
	s, err := NewS3(context.Background(), s3Config(srv), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// objects lists every object name under the store's prefix, whatever its name.
func objects(t *testing.T, s *S3) []string {
	t.Helper()
	var names []string
	for obj := range s.client.ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list objects: %v", obj.Err)
		}
		names = append(names, strings.TrimPrefix(obj.Key, s.prefix))
	}
	return names
}

// uploads lists the incomplete multipart uploads under prefix.
func uploads(t *testing.T, s *S3, prefix string) []string {
	t.Helper()
	var keys []string
	for up := range s.client.ListIncompleteUploads(context.Background(), s.bucket, prefix, true) {
		if up.Err != nil {
			t.Fatalf("list uploads: %v", up.Err)
		}
		keys = append(keys, up.Key)
	}
	return keys
}

// assertEmpty fails unless nothing, neither object nor upload, is under the prefix.
func assertEmpty(t *testing.T, s *S3) {
	t.Helper()
	if got := objects(t, s); len(got) != 0 {
		t.Errorf("objects left: %v", got)
	}
	if got := uploads(t, s, s.prefix); len(got) != 0 {
		t.Errorf("incomplete uploads left: %v", got)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	_, _ = mrand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

// writeSmall writes data in 1000-byte pieces, as a MIME writer would.
func writeSmall(w io.Writer, data []byte) error {
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1000)
		if _, err := w.Write(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

func readS3(s *S3, key string) ([]byte, error) {
	r, err := s.Open(context.Background(), key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func commitS3(t *testing.T, s *S3, key string, data []byte) {
	t.Helper()
	w, err := s.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSmall(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func testS3Lifecycle(t *testing.T, srv testenv.S3Server) {
	ctx := context.Background()
	small, large := []byte("hello"), pattern(testPartSize+1<<20) // one PUT; multipart
	tests := []struct {
		name    string
		key     string
		data    []byte
		finish  func(w Writer) error // Commit, Abort or nothing (a crash)
		visible bool
	}{
		{"commit", "msg-1", small, Writer.Commit, true},
		{"commit nested key", "orgs/utrecht/msg-2", small, Writer.Commit, true},
		{"commit empty blob", "empty", nil, Writer.Commit, true},
		{"commit exactly one part", "part", pattern(testPartSize), Writer.Commit, true},
		{"commit multipart", "large", large, Writer.Commit, true},
		{"abort", "msg-3", small, Writer.Abort, false},
		{"abort multipart", "large-aborted", large, Writer.Abort, false},
		{"never finished", "msg-4", small, func(Writer) error { return nil }, false},
		{"abort after commit keeps the blob", "msg-5", large, func(w Writer) error {
			if err := w.Commit(); err != nil {
				return err
			}
			return w.Abort()
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newS3(t, srv)
			w, err := s.Create(ctx, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeSmall(w, tt.data); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(ctx, tt.key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("before finishing: Open err = %v, want ErrNotFound", err)
			}
			if got := objects(t, s); len(got) != 0 {
				t.Fatalf("before finishing: listed %v", got)
			}
			if err := tt.finish(w); err != nil {
				t.Fatal(err)
			}
			got, err := readS3(s, tt.key)
			if !tt.visible {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Open err = %v, want ErrNotFound", err)
				}
				assertEmpty(t, s)
				return
			}
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("Open = %d bytes, %v; want %d bytes", len(got), err, len(tt.data))
			}
			if diff := cmp.Diff([]string{tt.key}, objects(t, s)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

// testS3BoundedMemory streams a 20 MiB blob in small writes and checks, after a
// garbage collection every 2 MiB, that the live heap never grew by more than
// two parts: the writer's part buffer and slack for the HTTP client.
func testS3BoundedMemory(t *testing.T, srv testenv.S3Server) {
	const size = 20 << 20
	s := newS3(t, srv)
	base := liveHeap()
	w, err := s.Create(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	src, sum := mrand.NewChaCha8([32]byte{1}), sha256.New()
	chunk, peak := make([]byte, 4096), base
	for written := 0; written < size; written += len(chunk) {
		_, _ = src.Read(chunk)
		sum.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if written%(2<<20) == 0 {
			peak = max(peak, liveHeap())
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	grew := int64(peak) - int64(base)
	t.Logf("live heap grew by %.1f MiB", float64(grew)/(1<<20))
	if grew > 2*testPartSize {
		t.Errorf("live heap grew by %d MiB writing a %d MiB blob, want at most %d MiB",
			grew>>20, size>>20, 2*testPartSize>>20)
	}
	assertDigest(t, s, "big", sum.Sum(nil))
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func assertDigest(t *testing.T, s *S3, key string, want []byte) {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		t.Errorf("read back sha256 %x, want %x", got, want)
	}
}

// failingReader yields n bytes of data, then an error, like a broken source.
type failingReader struct{ n int }

var errSource = errors.New("source broke")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errSource
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

func testS3FailedUpload(t *testing.T, srv testenv.S3Server) {
	tests := []struct {
		name    string
		size    int
		fail    func(cancel context.CancelFunc, w Writer) error
		wantErr error
	}{
		{"source error mid-stream, then Abort", 2*testPartSize + 1000, func(_ context.CancelFunc, w Writer) error {
			if _, err := io.Copy(w, &failingReader{n: 2*testPartSize + 1000}); !errors.Is(err, errSource) {
				return fmt.Errorf("copy err = %v, want the source's", err)
			}
			return w.Abort()
		}, nil},
		{"context canceled mid-stream", testPartSize + 1000, func(cancel context.CancelFunc, w Writer) error {
			cancel()
			return w.Commit()
		}, context.Canceled},
		{"context canceled before a small commit", 1000, func(cancel context.CancelFunc, w Writer) error {
			cancel()
			return w.Commit()
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newS3(t, srv)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := s.Create(ctx, "doomed")
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != nil {
				if err := writeSmall(w, pattern(tt.size)); err != nil {
					t.Fatal(err)
				}
			}
			err = tt.fail(cancel, w)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if _, err := s.Open(context.Background(), "doomed"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Open err = %v, want ErrNotFound", err)
			}
			assertEmpty(t, s)
		})
	}
}

func testS3WriterAfterFinish(t *testing.T, srv testenv.S3Server) {
	ctx := context.Background()
	s := newS3(t, srv)
	for _, data := range [][]byte{[]byte("x"), pattern(testPartSize + 1)} {
		w, err := s.Create(ctx, "once")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(data)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Commit: err = %v, want ErrClosed", err)
		}
		if err := w.Commit(); !errors.Is(err, ErrClosed) {
			t.Errorf("second Commit: err = %v, want ErrClosed", err)
		}
	}
	w, err := s.Create(ctx, "aborted")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Abort: err = %v, want ErrClosed", err)
	}
}

func testS3CommitReplaces(t *testing.T, srv testenv.S3Server) {
	s := newS3(t, srv)
	second := pattern(testPartSize + 10)
	commitS3(t, s, "same", []byte("first"))
	commitS3(t, s, "same", second)
	if got, err := readS3(s, "same"); err != nil || !bytes.Equal(got, second) {
		t.Errorf("Open = %d bytes, %v; want the second blob", len(got), err)
	}
}

func testS3Keys(t *testing.T, srv testenv.S3Server) {
	ctx := context.Background()
	s := newS3(t, srv)
	commitS3(t, s, "dir/child", []byte("x"))
	for _, key := range []string{"never-was", "dir", "dir/child/deeper"} {
		if _, err := s.Open(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) err = %v, want ErrNotFound", key, err)
		}
	}
	for _, key := range []string{"../x", "/etc/passwd", "a/./b", "", "UPPER", "a//b"} {
		if _, err := s.Create(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Create(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Open(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Open(%q) err = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) err = %v, want ErrInvalidKey", key, err)
		}
	}
}

func testS3DeleteIdempotent(t *testing.T, srv testenv.S3Server) {
	ctx := context.Background()
	s := newS3(t, srv)
	commitS3(t, s, "gone", []byte("x"))
	for i := range 2 {
		if err := s.Delete(ctx, "gone"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := s.Open(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete: err = %v", err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete of a missing nested key: %v", err)
	}
	assertEmpty(t, s)
}

func testS3CanceledContext(t *testing.T, srv testenv.S3Server) {
	s := newS3(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Create(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Create err = %v", err)
	}
	if _, err := s.Open(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open err = %v", err)
	}
	if err := s.Delete(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete err = %v", err)
	}
	if err := s.Walk(ctx, func(string, time.Time) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Walk err = %v", err)
	}
}

func testS3Walk(t *testing.T, srv testenv.S3Server) {
	ctx := context.Background()
	s := newS3(t, srv)
	for _, k := range []string{"b", "a/one", "a/two"} {
		commitS3(t, s, k, []byte(k))
	}
	pending, err := s.Create(ctx, "a/pending") // streaming, not committed
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Abort()
	if err := writeSmall(pending, pattern(testPartSize+1)); err != nil {
		t.Fatal(err)
	}
	putRaw(t, s, s.prefix+"Stray.txt")    // not a valid key
	putRaw(t, s, "outside-"+randomName()) // not under the prefix
	var keys []string
	err = s.Walk(ctx, func(key string, modified time.Time) error {
		if time.Since(modified) > time.Hour {
			t.Errorf("%s modified %v", key, modified)
		}
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
	stop := errors.New("stop")
	if err := s.Walk(ctx, func(string, time.Time) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Walk did not return fn's error: %v", err)
	}
}

func putRaw(t *testing.T, s *S3, name string) {
	t.Helper()
	_, err := s.client.PutObject(context.Background(), s.bucket, name, strings.NewReader("x"), 1, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// testS3Sweep leaves an upload as a crashed writer would and sweeps it.
func testS3Sweep(t *testing.T, srv testenv.S3Server) {
	ctx := context.Background()
	s := newS3(t, srv)
	commitS3(t, s, "kept", []byte("keep me"))
	core := minio.Core{Client: s.client}
	abandoned := s.prefix + "abandoned"
	id, err := core.NewMultipartUpload(ctx, s.bucket, abandoned, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := pattern(testPartSize)
	if _, err := core.PutObjectPart(ctx, s.bucket, abandoned, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	other := "other-" + randomName() + "/x" // another store's upload
	otherID, err := core.NewMultipartUpload(ctx, s.bucket, other, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer core.AbortMultipartUpload(ctx, s.bucket, other, otherID)

	if n, err := s.Sweep(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("Sweep of a young upload = %d, %v; want 0", n, err)
	}
	s.now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	if n, err := s.Sweep(ctx, 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if got := uploads(t, s, s.prefix); len(got) != 0 {
		t.Errorf("uploads left after Sweep: %v", got)
	}
	if got := uploads(t, s, other); len(got) != 1 {
		t.Errorf("Sweep touched an upload outside its prefix: %v", got)
	}
	if got, err := readS3(s, "kept"); err != nil || string(got) != "keep me" {
		t.Errorf("committed blob after Sweep = %q, %v", got, err)
	}
}

func testS3Connect(t *testing.T, srv testenv.S3Server) {
	ctx := context.Background()
	tests := []struct {
		name    string
		edit    func(c *S3Config)
		wantErr error
	}{
		{"ok", func(*S3Config) {}, nil},
		{"wrong secret key", func(c *S3Config) { c.SecretKey = "wrong" + c.SecretKey }, ErrS3Access},
		{"unknown access key", func(c *S3Config) { c.AccessKey = "nobody" }, ErrS3Access},
		{"missing bucket", func(c *S3Config) { c.Bucket = "missing-" + randomName() }, ErrS3NoBucket},
		{"missing bucket created", func(c *S3Config) {
			c.Bucket, c.CreateBucket = "created-"+randomName(), true
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s3Config(srv)
			tt.edit(&cfg)
			s, err := NewS3(ctx, cfg, testenv.Logger(t))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewS3 err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				t.Logf("NewS3: %v", err)
				if strings.Contains(err.Error(), cfg.SecretKey) {
					t.Errorf("error shows the secret key: %v", err)
				}
				return
			}
			commitS3(t, s, "probe", []byte("x"))
		})
	}
}

func TestS3ConfigNormalized(t *testing.T) {
	ok := S3Config{Endpoint: "s3.example:9000", Bucket: "veilig", AccessKey: "a", SecretKey: "s"}
	tests := []struct {
		name    string
		edit    func(c *S3Config)
		wantErr bool
		check   func(c S3Config) bool
	}{
		{"defaults", func(*S3Config) {}, false, func(c S3Config) bool {
			return c.Region == "us-east-1" && c.PartSize == DefaultS3PartSize && c.Prefix == ""
		}},
		{"prefix trimmed", func(c *S3Config) { c.Prefix = "/veilig/blobs/" }, false,
			func(c S3Config) bool { return c.Prefix == "veilig/blobs" }},
		{"scheme in endpoint", func(c *S3Config) { c.Endpoint = "https://s3.example" }, true, nil},
		{"empty endpoint", func(c *S3Config) { c.Endpoint = "" }, true, nil},
		{"bad bucket", func(c *S3Config) { c.Bucket = "Bad_Bucket" }, true, nil},
		{"no secret", func(c *S3Config) { c.SecretKey = "" }, true, nil},
		{"CA without TLS", func(c *S3Config) { c.CAFile = "/ca.pem" }, true, nil},
		{"part too small", func(c *S3Config) { c.PartSize = 1 << 20 }, true, nil},
		{"part too large", func(c *S3Config) { c.PartSize = 1 << 30 }, true, nil},
		{"bad prefix", func(c *S3Config) { c.Prefix = "a/../b" }, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			got, err := cfg.normalized()
			if tt.wantErr {
				if !errors.Is(err, ErrS3Config) {
					t.Errorf("err = %v, want ErrS3Config", err)
				}
				return
			}
			if err != nil || !tt.check(got) {
				t.Errorf("normalized = %+v, %v", got, err)
			}
		})
	}
}

func TestS3ConfigLogHidesSecret(t *testing.T) {
	cfg := S3Config{Endpoint: "s3.example", Bucket: "b", AccessKey: "AKIDEXAMPLE", SecretKey: "sekrit-value"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "s3", cfg)
	if !strings.Contains(buf.String(), "s3.endpoint=s3.example") {
		t.Fatalf("config not logged: %s", buf.String())
	}
	if strings.Contains(buf.String(), "sekrit") {
		t.Errorf("log shows the secret key: %s", buf.String())
	}
}
