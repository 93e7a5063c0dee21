package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// TestServeHTTPS: with HTTP_TLS_CERT/KEY serve speaks TLS ≥ 1.2 only (what
// sideloading the Outlook add-in from a developer machine needs).
func TestServeHTTPS(t *testing.T) {
	ca := testenv.NewCA(t)
	certFile, keyFile := writeKeyPair(t, ca.Issue(t, "localhost", "127.0.0.1"))
	dir := t.TempDir()
	addr := freeAddr(t)
	vars := map[string]string{"VEILIG_DATABASE_URL": filepath.Join(dir, "veilig.db"), "VEILIG_LOG_LEVEL": "warn",
		"VEILIG_DATA_DIR": filepath.Join(dir, "data"), "VEILIG_HTTP_ADDR": addr,
		"VEILIG_PUBLIC_URL": "https://" + addr, "VEILIG_HTTP_TLS_CERT": certFile, "VEILIG_HTTP_TLS_KEY": keyFile}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := runWith(ctx, vars, "", "serve"); done <- err }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if resp, err = client.Get("https://" + addr + "/readyz"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("HTTPS /readyz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("HTTPS /readyz: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}}} // TLS 1.1 client: must be refused
	if resp, err := old.Get("https://" + addr + "/readyz"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func writeKeyPair(t *testing.T, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
