package testenv

// A throwaway S3-compatible server for blob store tests, speaking the Amazon S3
// REST API (including the multipart upload calls) over plain HTTP on loopback.
//
// By default it is gofakes3 (github.com/johannesboyne/gofakes3), built from the
// Go module proxy once per machine into the user cache directory (about 10 s,
// serialised between test processes by a lock file, never entering go.mod) and
// run as its own process, so the tests' heap measurements see only the client.
// gofakes3 checks no credentials, so a proxy in the test process checks each
// request's AWS Signature Version 4 (AWS docs "Authenticating Requests (AWS
// Signature Version 4)") before passing it on; a wrong key gets S3's 403.
//
// With VEILIG_TEST_WEED naming a SeaweedFS weed binary, the tests run against
// SeaweedFS ("weed server -s3") instead. It is not built here: its build takes
// over 15 CPU-minutes (see docs/decisions.md). Build it once with
//
//	cd "$(go mod download -json github.com/seaweedfs/seaweedfs@VERSION | jq -r .Dir)" &&
//	  go build -o ~/.cache/veilig-tools/weed ./weed

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Versions of the S3 servers the tests run against.
const (
	FakeS3Package  = "github.com/johannesboyne/gofakes3/cmd/gofakes3"
	FakeS3Version  = "v1.2.0"
	SeaweedVersion = "v0.0.0-20261109003541-7506e5f91cd6" // for VEILIG_TEST_WEED
)

// WeedEnv names a variable that may point at a SeaweedFS weed binary.
const WeedEnv = "VEILIG_TEST_WEED"

// S3Server is a running S3 endpoint with one empty bucket.
type S3Server struct {
	Kind      string // "gofakes3" or "seaweedfs"
	Endpoint  string // host:port, plain HTTP on loopback
	AccessKey string
	SecretKey string
	Bucket    string
	Region    string
	PID       int // the server process
}

// String describes the server, without credentials.
func (s S3Server) String() string {
	return fmt.Sprintf("%s at http://%s, bucket %s (pid %d)", s.Kind, s.Endpoint, s.Bucket, s.PID)
}

// StartS3 starts an S3 server with one identity and an empty bucket, and stops
// it (by PID) when the test ends. A server that cannot be had skips the test
// outside CI and fails it in CI.
func StartS3(t testing.TB) S3Server {
	t.Helper()
	srv := S3Server{
		AccessKey: "veilig" + randomHex(6), SecretKey: randomHex(20),
		Bucket: "veilig-test", Region: "us-east-1",
	}
	if bin := os.Getenv(WeedEnv); bin != "" {
		return startWeed(t, bin, srv)
	}
	return startFakeS3(t, srv)
}

// s3Process is one server process with its log in dir.
type s3Process struct {
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func newS3Process(t testing.TB) *s3Process {
	return &s3Process{t: t, dir: t.TempDir()}
}

func (p *s3Process) path(name string) string { return filepath.Join(p.dir, name) }

// start runs bin and calls ready until it returns nil, the process exits or
// the deadline passes.
func (p *s3Process) start(bin string, args []string, ready func() error, wait time.Duration) error {
	logFile, err := os.OpenFile(p.path("server.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.done)
	p.t.Cleanup(p.stop)
	if err := p.waitReady(ready, wait); err != nil {
		p.stop()
		return err
	}
	return nil
}

func (p *s3Process) waitReady(ready func() error, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("server exited at start:\n%s", p.logTail())
		default:
		}
		if lastErr = ready(); lastErr == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("server not ready within %v: %v\n%s", wait, lastErr, p.logTail())
}

func (p *s3Process) logTail() string {
	log, _ := os.ReadFile(p.path("server.log"))
	return tail(string(log), 3000)
}

// stop ends the process with SIGTERM, then SIGKILL if it lingers, and waits.
func (p *s3Process) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// startFakeS3 runs gofakes3 behind a signature-checking proxy.
func startFakeS3(t testing.TB, srv S3Server) S3Server {
	t.Helper()
	bin, err := FakeS3Binary()
	if err != nil {
		t.Logf("gofakes3: %v", err)
		Missing(t, "gofakes3 (built from the Go module proxy)")
	}
	var lastErr error
	for range 3 { // another process may take the free port in between
		p := newS3Process(t)
		port, err := freePort()
		if err != nil {
			t.Fatalf("gofakes3: %v", err)
		}
		upstream := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args := []string{"-backend", "memory", "-host", upstream, "-initialbucket", srv.Bucket, "-quiet"}
		if lastErr = p.start(bin, args, func() error { return httpAnswers(upstream) }, 30*time.Second); lastErr == nil {
			srv.Kind, srv.PID = "gofakes3", p.cmd.Process.Pid
			srv.Endpoint = startSigV4Proxy(t, upstream, srv)
			return srv
		}
	}
	t.Fatalf("gofakes3: %v", lastErr)
	return S3Server{}
}

// httpAnswers reports whether an HTTP server answers at addr.
func httpAnswers(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// FakeS3Binary returns gofakes3's path in the user cache directory, building it
// first if needed. Concurrent test processes serialise the build on a lock file.
func FakeS3Binary() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "veilig-tools")
	bin := filepath.Join(dir, "gofakes3-"+FakeS3Version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(dir, "gofakes3.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process built it while we waited
	}
	return bin, goInstall(FakeS3Package+"@"+FakeS3Version, bin)
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}

// goInstall builds pkg@version outside any module (so go.mod is untouched)
// into a temporary GOBIN and moves the binary to bin.
func goInstall(pkgVersion, bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	gobin, err := os.MkdirTemp(filepath.Dir(bin), "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(gobin)
	cmd := exec.CommandContext(ctx, "go", "install", pkgVersion)
	cmd.Dir = gobin
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off", "GOFLAGS=-mod=mod", "GO111MODULE=on")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go install %s: %w\n%s", pkgVersion, err, tail(string(out), 2000))
	}
	name := path.Base(strings.SplitN(pkgVersion, "@", 2)[0])
	return os.Rename(filepath.Join(gobin, name), bin)
}

// startSigV4Proxy serves, on a free loopback port until the test ends, a
// reverse proxy to upstream that passes only requests signed with srv's keys.
func startSigV4Proxy(t testing.TB, upstream string, srv S3Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3 proxy: %v", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	hs := &http.Server{Handler: sigV4Checker{srv: srv, next: proxy}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	return l.Addr().String()
}

// sigV4Checker rejects requests without a valid AWS Signature Version 4 by
// srv's credentials, as S3 does: 403 with an S3 error code.
type sigV4Checker struct {
	srv  S3Server
	next http.Handler
}

func (c sigV4Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if code := c.check(r); code != "" {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>", code, code)
		return
	}
	if strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		unchunk(r)
	}
	c.next.ServeHTTP(w, r)
}

// unchunk decodes an aws-chunked body (AWS docs "Signature Calculations for
// the Authorization Header: Transferring Payload in Multiple Chunks"), which
// gofakes3 stores verbatim in multipart parts. Chunk signatures are not checked.
func unchunk(r *http.Request) {
	n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil {
		return
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{&chunkReader{r: bufio.NewReader(r.Body)}, r.Body}
	r.ContentLength = n
	r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	r.Header.Del("Content-Encoding")
}

// chunkReader reads the data of "size;chunk-signature=...\r\n data \r\n" chunks
// up to the final empty one.
type chunkReader struct {
	r       *bufio.Reader
	left    int64 // of the current chunk
	started bool
	done    bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	return n, err
}

func (c *chunkReader) next() error {
	if c.started {
		if _, err := c.r.Discard(2); err != nil { // the CRLF after a chunk's data
			return err
		}
	}
	c.started = true
	line, err := c.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("aws-chunked header: %w", err)
	}
	size, _, _ := strings.Cut(strings.TrimSpace(line), ";")
	c.left, err = strconv.ParseInt(size, 16, 64)
	if err != nil || c.left < 0 {
		return fmt.Errorf("aws-chunked size %q", size)
	}
	c.done = c.left == 0
	return nil
}

// check returns "" for a correctly signed request, else the S3 error code.
func (c sigV4Checker) check(r *http.Request) string {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ")
	if !ok {
		return "AccessDenied"
	}
	fields := map[string]string{}
	for _, f := range strings.Split(auth, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.SplitN(fields["Credential"], "/", 2)
	if len(scope) != 2 || scope[0] != c.srv.AccessKey {
		return "InvalidAccessKeyId"
	}
	want := sigV4Signature(r, c.srv.SecretKey, scope[1], fields["SignedHeaders"])
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return "SignatureDoesNotMatch"
	}
	return ""
}

// sigV4Signature computes a request's signature for scope
// (date/region/service/aws4_request) and the signed header names.
func sigV4Signature(r *http.Request, secret, scope, signedHeaders string) string {
	names := strings.Split(signedHeaders, ";")
	sort.Strings(names)
	var headers strings.Builder
	for _, name := range names {
		value := r.Host
		if name != "host" {
			vals := r.Header.Values(name)
			for i, v := range vals {
				vals[i] = strings.Join(strings.Fields(v), " ")
			}
			value = strings.Join(vals, ",")
		}
		fmt.Fprintf(&headers, "%s:%s\n", name, value)
	}
	canonical := strings.Join([]string{r.Method, s3utils.EncodePath(r.URL.Path),
		strings.ReplaceAll(r.URL.Query().Encode(), "+", "%20"),
		headers.String(), strings.Join(names, ";"), r.Header.Get("X-Amz-Content-Sha256")}, "\n")
	hashed := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + r.Header.Get("X-Amz-Date") + "\n" + scope + "\n" + hex.EncodeToString(hashed[:])
	key := []byte("AWS4" + secret)
	for _, part := range strings.Split(scope, "/") {
		key = hmacSHA256(key, part)
	}
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// startWeed runs SeaweedFS's master, volume server, filer and S3 gateway in one
// process on free loopback ports.
func startWeed(t testing.TB, bin string, srv S3Server) S3Server {
	t.Helper()
	var lastErr error
	for range 3 { // another process may take a free port in between
		p := newS3Process(t)
		args, endpoint, err := weedArgs(t, p, srv)
		if err != nil {
			t.Fatalf("seaweedfs: %v", err)
		}
		srv.Endpoint = endpoint
		ready := func() error { return createBucket(srv) }
		if lastErr = p.start(bin, args, ready, 90*time.Second); lastErr == nil {
			srv.Kind, srv.PID = "seaweedfs", p.cmd.Process.Pid
			return srv
		}
	}
	t.Fatalf("seaweedfs: %v", lastErr)
	return S3Server{}
}

// weedPorts names the flags that take a port.
var weedPorts = []string{"master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
	"filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc"}

// weedArgs writes the S3 identity file and returns weed's command line, with a
// free port for each listener, and the S3 endpoint.
func weedArgs(t testing.TB, p *s3Process, srv S3Server) ([]string, string, error) {
	sock, err := os.MkdirTemp("", "weed") // unix socket paths are short
	if err != nil {
		return nil, "", err
	}
	t.Cleanup(func() { _ = os.RemoveAll(sock) })
	for _, d := range []string{"data", "master"} {
		if err := os.Mkdir(p.path(d), 0o700); err != nil {
			return nil, "", err
		}
	}
	if err := os.WriteFile(p.path("s3.json"), weedIdentities(srv), 0o600); err != nil {
		return nil, "", err
	}
	args := []string{"server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-dir=" + p.path("data"), "-master.dir=" + p.path("master"),
		"-filer", "-s3", "-s3.config=" + p.path("s3.json"),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
		"-master.volumeSizeLimitMB=64", "-volume.max=16",
		"-filer.localSocket=" + filepath.Join(sock, "f.sock"), "-s3.localSocket=" + filepath.Join(sock, "s.sock")}
	endpoint := ""
	for _, flag := range weedPorts {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		args = append(args, "-"+flag+"="+strconv.Itoa(port))
		if flag == "s3.port" {
			endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
	}
	return args, endpoint, nil
}

// weedIdentities is SeaweedFS's S3 config with one admin identity.
func weedIdentities(srv S3Server) []byte {
	type cred struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string   `json:"name"`
		Credentials []cred   `json:"credentials"`
		Actions     []string `json:"actions"`
	}
	b, _ := json.Marshal(map[string][]identity{"identities": {{
		Name:        "veilig",
		Credentials: []cred{{srv.AccessKey, srv.SecretKey}},
		Actions:     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}})
	return b
}

// createBucket creates the test bucket; SeaweedFS's S3 gateway answers before
// its filer and volume server can store anything, so this is the readiness probe.
func createBucket(srv S3Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := minio.New(srv.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: srv.Region,
	})
	if err != nil {
		return err
	}
	err = client.MakeBucket(ctx, srv.Bucket, minio.MakeBucketOptions{Region: srv.Region})
	if minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return err
}
