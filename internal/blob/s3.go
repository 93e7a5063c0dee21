package blob

// The S3 backend speaks the Amazon S3 REST API (PutObject, the multipart upload
// calls CreateMultipartUpload/UploadPart/CompleteMultipartUpload/
// AbortMultipartUpload, ListObjectsV2, ListMultipartUploads, GetObject,
// DeleteObject, HeadBucket) through minio-go, so it works against AWS S3, MinIO,
// Ceph RGW and SeaweedFS.
//
// Visibility: S3 makes an object visible only when its PUT or its
// CompleteMultipartUpload succeeds, and replaces an existing key atomically.
// A writer fills one part buffer of PartSize bytes; a blob that fits is sent
// with one PUT at Commit. For a larger one the writer starts a multipart
// upload and sends each full buffer as a part while the caller writes; the
// upload is completed only at Commit. Abort, a failed part or a failed
// completion aborts the upload (under a context the caller's cancellation does
// not end), so its parts are deleted and nothing ever appears under the key.
// What a crashed process leaves, an incomplete multipart upload, is invisible
// to readers and listings; Sweep aborts those older than a cutoff (a bucket
// lifecycle rule AbortIncompleteMultipartUpload does the same server-side).
//
// Memory per writer is bounded by one part buffer (DefaultS3PartSize, 8 MiB).

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3 part sizes. S3 requires every part but the last to be at least 5 MiB.
const (
	DefaultS3PartSize = 8 << 20
	MinS3PartSize     = 5 << 20
	MaxS3PartSize     = 64 << 20 // a bound on a writer's memory, not an S3 limit
)

// Local deadlines of S3 calls, inside the caller's context.
const (
	s3OpTimeout       = 30 * time.Second // bucket checks, deletes, aborts
	s3TransferTimeout = 30 * time.Minute // one blob's upload or download
	s3ListTimeout     = time.Hour        // a whole Walk or Sweep
)

// S3 errors.
var (
	ErrS3Access   = errors.New("blob: s3 access denied")
	ErrS3NoBucket = errors.New("blob: s3 bucket does not exist")
	ErrS3Config   = errors.New("blob: invalid s3 configuration")
)

// S3Config configures an S3-compatible store.
type S3Config struct {
	Endpoint  string // host[:port], without scheme
	Bucket    string
	Region    string // empty means us-east-1
	AccessKey string
	SecretKey string // never logged
	UseTLS    bool
	CAFile    string // PEM bundle trusted in addition to the system roots
	Prefix    string // key prefix inside the bucket, e.g. "veilig"
	// CreateBucket creates a missing bucket instead of failing.
	CreateBucket bool
	// PartSize is the multipart part size; 0 means DefaultS3PartSize.
	PartSize int64
}

// LogValue shows the configuration without credentials.
func (c S3Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint), slog.String("bucket", c.Bucket),
		slog.String("region", c.Region), slog.String("prefix", c.Prefix),
		slog.Bool("tls", c.UseTLS), slog.String("ca_file", c.CAFile),
		slog.Bool("credentials", c.AccessKey != "" && c.SecretKey != ""),
		slog.Int64("part_size", c.PartSize))
}

// normalized checks c and fills in defaults.
func (c S3Config) normalized() (S3Config, error) {
	bad := func(format string, a ...any) (S3Config, error) {
		return S3Config{}, fmt.Errorf("%w: "+format, append([]any{ErrS3Config}, a...)...)
	}
	switch {
	case c.Endpoint == "" || strings.ContainsAny(c.Endpoint, "/ "):
		return bad("endpoint %q must be host[:port] without scheme or path", c.Endpoint)
	case s3utils.CheckValidBucketNameStrict(c.Bucket) != nil:
		return bad("bucket name %q", c.Bucket)
	case c.AccessKey == "" || c.SecretKey == "":
		return bad("access key and secret key are required")
	case c.CAFile != "" && !c.UseTLS:
		return bad("a CA file needs TLS")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultS3PartSize
	}
	if c.PartSize < MinS3PartSize || c.PartSize > MaxS3PartSize {
		return bad("part size %d outside %d..%d", c.PartSize, MinS3PartSize, MaxS3PartSize)
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Prefix != "" && !ValidKey(c.Prefix) {
		return bad("prefix %q", c.Prefix)
	}
	return c, nil
}

// S3 is a Store in an S3-compatible bucket. A key is stored as the object
// Prefix + "/" + key.
type S3 struct {
	client   *minio.Client
	bucket   string
	prefix   string // "" or ending in "/"
	partSize int64
	log      *slog.Logger
	now      func() time.Time
}

var _ Store = (*S3)(nil)

// NewS3 connects to the bucket of cfg and checks that it exists, creating it
// when cfg.CreateBucket is set. Wrong credentials yield ErrS3Access.
func NewS3(ctx context.Context, cfg S3Config, log *slog.Logger) (*S3, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	client, err := newS3Client(cfg)
	if err != nil {
		return nil, err
	}
	s := &S3{client: client, bucket: cfg.Bucket, partSize: cfg.PartSize, log: log, now: time.Now}
	if cfg.Prefix != "" {
		s.prefix = cfg.Prefix + "/"
	}
	created, err := s.ensureBucket(ctx, cfg)
	if err != nil {
		return nil, err
	}
	log.Info("blob: s3 store ready", "s3", cfg, "bucket_created", created)
	return s, nil
}

func newS3Client(cfg S3Config) (*minio.Client, error) {
	transport, err := s3Transport(cfg)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseTLS,
		Transport: transport,
		Region:    cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrS3Config, err)
	}
	return client, nil
}

// s3Transport is minio-go's default transport, trusting cfg.CAFile if set.
func s3Transport(cfg S3Config) (http.RoundTripper, error) {
	tr, err := minio.DefaultTransport(cfg.UseTLS)
	if err != nil || cfg.CAFile == "" {
		return tr, err
	}
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %w", ErrS3Config, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: no certificate in CA file %s", ErrS3Config, cfg.CAFile)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.RootCAs = pool
	return tr, nil
}

// ensureBucket reports whether it had to create the bucket.
func (s *S3) ensureBucket(ctx context.Context, cfg S3Config) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	exists, err := s.client.BucketExists(ctx, s.bucket)
	switch {
	case err != nil:
		return false, s3Error("check bucket "+s.bucket, err)
	case exists:
		return false, nil
	case !cfg.CreateBucket:
		return false, fmt.Errorf("%w: %s at %s", ErrS3NoBucket, s.bucket, cfg.Endpoint)
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: cfg.Region})
	if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
		return false, s3Error("create bucket "+s.bucket, err)
	}
	return true, nil
}

// s3Error wraps an S3 failure, turning the credential errors into ErrS3Access.
func s3Error(op string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%w: %s: %s (check the access key and secret key): %w", ErrS3Access, op, resp.Code, err)
	}
	if resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%w: %s (check the access key and secret key): %w", ErrS3Access, op, err)
	}
	return fmt.Errorf("blob: s3 %s: %w", op, err)
}

func isNoSuchKey(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound"
}

// object returns key's object name, or ErrInvalidKey.
func (s *S3) object(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return s.prefix + key, nil
}

// Create starts a blob; nothing is sent before the first PartSize bytes are
// written or Commit is called.
func (s *S3) Create(ctx context.Context, key string) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: create: %w", err)
	}
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s3TransferTimeout)
	return &s3Writer{s: s, ctx: ctx, cancel: cancel, name: name}, nil
}

// Open returns the committed blob, ErrNotFound when there is none. The
// download runs under ctx until the reader is closed.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s3TransferTimeout)
	obj, err := s.client.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err == nil {
		_, err = obj.Stat() // sends the GET, so a missing key shows here
	}
	if err != nil {
		if obj != nil {
			_ = obj.Close()
		}
		cancel()
		if isNoSuchKey(err) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, s3Error("open", err)
	}
	return &s3Reader{Object: obj, cancel: cancel}, nil
}

// s3Reader ends the download's context when closed.
type s3Reader struct {
	*minio.Object
	cancel context.CancelFunc
}

func (r *s3Reader) Close() error {
	err := r.Object.Close()
	r.cancel()
	return err
}

// Delete removes a blob; a missing one is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	name, err := s.object(key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	err = s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{})
	if err != nil && !isNoSuchKey(err) {
		return s3Error("delete", err)
	}
	return nil
}

// Walk calls fn with the key and modification time of every committed blob
// under the prefix, like FS.Walk. Objects whose names are not valid keys are
// skipped.
func (s *S3) Walk(ctx context.Context, fn func(key string, modified time.Time) error) error {
	ctx, cancel := context.WithTimeout(ctx, s3ListTimeout)
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}
	for obj := range s.client.ListObjects(ctx, s.bucket, opts) {
		if obj.Err != nil {
			return s3Error("walk", obj.Err)
		}
		key, ok := strings.CutPrefix(obj.Key, s.prefix)
		if !ok || !ValidKey(key) {
			continue
		}
		if err := fn(key, obj.LastModified); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: walk: %w", err)
	}
	return nil
}

// Sweep aborts the multipart uploads under the prefix that were started more
// than olderThan ago: what writers left behind when their process died between
// Create and Commit or Abort. It returns how many it aborted. Like FS.Sweep it
// must be given a cutoff longer than any upload may take.
func (s *S3) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s3ListTimeout)
	defer cancel()
	cutoff := s.now().Add(-olderThan)
	removed := 0
	for up := range s.client.ListIncompleteUploads(ctx, s.bucket, s.prefix, true) {
		if up.Err != nil {
			return removed, s3Error("sweep", up.Err)
		}
		if !up.Initiated.Before(cutoff) {
			continue
		}
		if err := s.abortUpload(ctx, up.Key, up.UploadID); err != nil {
			return removed, err
		}
		removed++
	}
	if err := ctx.Err(); err != nil {
		return removed, fmt.Errorf("blob: sweep: %w", err)
	}
	return removed, nil
}

func (s *S3) abortUpload(ctx context.Context, name, uploadID string) error {
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	err := minio.Core{Client: s.client}.AbortMultipartUpload(ctx, s.bucket, name, uploadID)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return s3Error("sweep", err)
	}
	return nil
}

func (s *S3) putOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{PartSize: uint64(s.partSize), ContentType: "application/octet-stream"}
}

// s3Writer writes one blob. It is not safe for concurrent use.
type s3Writer struct {
	s      *S3
	ctx    context.Context // the upload's, ended by Commit or Abort
	cancel context.CancelFunc
	name   string
	buf    []byte // the part being filled, at most partSize
	upload string // the multipart upload's ID, once buf overflowed
	parts  []minio.CompletePart
	err    error // a failed part; the upload is already aborted
	done   bool  // Commit or Abort was called
}

// Write fills the part buffer; when it is full and more follows, the buffer is
// sent as the next part (starting the multipart upload first) and reused.
func (w *s3Writer) Write(p []byte) (int, error) {
	switch {
	case w.done:
		return 0, ErrClosed
	case w.err != nil:
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == int(w.s.partSize) {
			if err := w.flushPart(); err != nil {
				return written, err
			}
		}
		n := min(len(p), int(w.s.partSize)-len(w.buf))
		w.buf = appendBounded(w.buf, p[:n], int(w.s.partSize))
		written += n
		p = p[n:]
	}
	return written, nil
}

// appendBounded appends p to buf, growing it by doubling but never past limit,
// which len(buf)+len(p) must not exceed.
func appendBounded(buf, p []byte, limit int) []byte {
	if need := len(buf) + len(p); need > cap(buf) {
		grown := make([]byte, len(buf), min(max(2*cap(buf), need, writeBuffer), limit))
		copy(grown, buf)
		buf = grown
	}
	return append(buf, p...)
}

// flushPart sends buf as the next part. On failure the upload is aborted and
// the writer keeps the error.
func (w *s3Writer) flushPart() error {
	err := w.putPart()
	if err != nil {
		w.err = s3Error("write", err)
		w.abort()
		return w.err
	}
	w.buf = w.buf[:0]
	return nil
}

func (w *s3Writer) putPart() error {
	core := minio.Core{Client: w.s.client}
	if w.upload == "" {
		// Not under the caller's cancellation, so the ID is always learnt
		// and the upload can be aborted.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), s3OpTimeout)
		defer cancel()
		id, err := core.NewMultipartUpload(ctx, w.s.bucket, w.name, w.s.putOptions())
		if err != nil {
			return err
		}
		w.upload = id
	}
	n := len(w.parts) + 1
	part, err := core.PutObjectPart(w.ctx, w.s.bucket, w.name, w.upload, n,
		bytes.NewReader(w.buf), int64(len(w.buf)), minio.PutObjectPartOptions{})
	if err != nil {
		return err
	}
	w.parts = append(w.parts, minio.CompletePart{PartNumber: n, ETag: part.ETag})
	return nil
}

// Commit sends a small blob with one PUT, or the last part and completes the
// multipart upload. On failure nothing is visible under the key and the
// upload is aborted.
func (w *s3Writer) Commit() error {
	if w.done {
		return ErrClosed
	}
	w.done = true
	defer w.cancel()
	if w.err != nil {
		return w.err
	}
	var err error
	if w.upload == "" {
		err = w.putSmall()
	} else {
		err = w.complete()
	}
	if err != nil {
		return s3Error("commit", err)
	}
	return nil
}

func (w *s3Writer) putSmall() error {
	body := bytes.NewReader(w.buf)
	w.buf = nil
	_, err := w.s.client.PutObject(w.ctx, w.s.bucket, w.name, body, body.Size(), w.s.putOptions())
	return err
}

func (w *s3Writer) complete() error {
	err := w.putPart() // buf holds 1..partSize bytes: a full part is sent only when more follows
	if err == nil {
		_, err = minio.Core{Client: w.s.client}.CompleteMultipartUpload(w.ctx, w.s.bucket, w.name, w.upload, w.parts, w.s.putOptions())
	}
	w.buf = nil
	if err != nil {
		w.abort()
	}
	return err
}

// Abort discards the blob, aborting its multipart upload if one was started.
// It is a no-op after Commit or Abort. An upload it fails to abort is invisible
// and left for Sweep.
func (w *s3Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.cancel()
	w.buf = nil
	if err := w.abort(); err != nil {
		return s3Error("abort", err)
	}
	return nil
}

// abort aborts the multipart upload, if any, even when the writer's context
// has ended.
func (w *s3Writer) abort() error {
	if w.upload == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), s3OpTimeout)
	defer cancel()
	err := minio.Core{Client: w.s.client}.AbortMultipartUpload(ctx, w.s.bucket, w.name, w.upload)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		w.s.log.Warn("blob: s3 abort failed; Sweep will remove the upload", "err", err)
		return err
	}
	w.upload = ""
	return nil
}
