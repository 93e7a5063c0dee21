package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/testenv"
)

// runWith runs one veilig command with the given environment.
func runWith(ctx context.Context, vars map[string]string, stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	err := Run(ctx, args, Env{Getenv: func(k string) string { return vars[k] }, Stdin: strings.NewReader(stdin),
		Stdout: &out, Stderr: &out})
	return out.String(), err
}

// TestServeSealsContentIntoS3: with BLOB_STORE=s3 an accepted message lands in
// the bucket sealed (its text is not in the object), and `keys rotate` then
// re-wraps its data key.
func TestServeSealsContentIntoS3(t *testing.T) {
	s3 := testenv.StartS3(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	vars := map[string]string{"VEILIG_DATABASE_URL": filepath.Join(dir, "veilig.db"), "VEILIG_LOG_LEVEL": "warn",
		"VEILIG_DATA_DIR": filepath.Join(dir, "data"), "VEILIG_BLOB_STORE": "s3", "VEILIG_S3_ENDPOINT": s3.Endpoint,
		"VEILIG_S3_BUCKET": s3.Bucket, "VEILIG_S3_REGION": s3.Region, "VEILIG_S3_ACCESS_KEY": s3.AccessKey,
		"VEILIG_S3_SECRET_KEY": s3.SecretKey, "VEILIG_S3_TLS": "false", "VEILIG_DEV_MAILBOX": "1",
		"VEILIG_HTTP_ADDR": addr, "VEILIG_PUBLIC_URL": "http://" + addr, "VEILIG_SMTP_HOSTNAME": "veilig.test"}
	ctx := context.Background()
	for _, args := range [][]string{{"directory", "import", "--ldif", "../../scripts/demo-community.ldif"},
		{"user", "add", "--email", "demo@oldambt.nl", "--password-stdin"}} {
		if out, err := runWith(ctx, vars, "a long enough password\n", args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := runWith(sctx, vars, "", "serve"); done <- err }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	defer stop()
	if err := waitReady(sctx, "http://"+addr+"/readyz", done); err != nil {
		t.Fatal(err)
	}
	id := submit(t, "http://"+addr, "CANARY-S3-7f3a")
	raw := bucketObject(t, s3, "messages/"+id)
	if len(raw) == 0 || bytes.Contains(raw, []byte("CANARY-S3-7f3a")) || bytes.Contains(raw, []byte("Subject:")) {
		t.Fatalf("object messages/%s is empty or not sealed (%d bytes)", id, len(raw))
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	out, err := runWith(ctx, vars, "", "keys", "rotate")
	if err != nil || !strings.Contains(out, "re-wrapped 1 data keys under k2 v2") {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// submit logs the demo sender in and sends one message to an external
// recipient, whose content is kept until expiry.
func submit(t *testing.T, base, canary string) string {
	t.Helper()
	body := `{"grant_type":"password","username":"demo@oldambt.nl","password":"a long enough password"}`
	resp, err := http.Post(base+"/api/v1/auth/token", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("message", `{"to":["iemand@example.org"],"subject":"`+canary+`","text":"`+canary+
		`","phones":{"iemand@example.org":"+31612345678"}}`)
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/api/v1/messages", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var acc struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&acc)
	if resp.StatusCode != http.StatusAccepted || acc.ID == "" {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	return acc.ID
}

// bucketObject reads one object as stored (ciphertext).
func bucketObject(t *testing.T, s3 testenv.S3Server, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := blob.NewS3(ctx, blob.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Region: s3.Region,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}, testenv.Discard())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := store.Open(ctx, key)
	if err != nil {
		t.Fatalf("object %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
