package tlsgrade

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testHost = "mx.example"

// selfSigned returns a TLS certificate for testHost with the given key,
// signed with SHA-256.
func selfSigned(t *testing.T, key crypto.Signer) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testHost},
		DNSNames:     []string{testHost},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake runs a real TLS handshake between a Go server presenting cert
// and a Go client limited to version, suites and curve, over net.Pipe, and
// returns the client's view of the connection.
func handshake(t *testing.T, cert tls.Certificate, version uint16, suites []uint16, curve tls.CurveID) tls.ConnectionState {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sc, cc := net.Pipe()
	t.Cleanup(func() { _ = sc.Close(); _ = cc.Close() })
	srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}})
	errc := make(chan error, 1)
	go func() { errc <- srv.HandshakeContext(ctx) }()
	// The client does not verify: grading must work for any certificate.
	cli := tls.Client(cc, &tls.Config{
		ServerName: testHost, InsecureSkipVerify: true, //nolint:gosec // grading only
		MinVersion: version, MaxVersion: version, CipherSuites: suites,
		CurvePreferences: []tls.CurveID{curve},
	})
	if err := cli.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return cli.ConnectionState()
}

// keys returns freshly generated test keys.
func keys(t *testing.T) (rsa1024, rsa2048 *rsa.PrivateKey, p256 *ecdsa.PrivateKey) {
	t.Helper()
	var err error
	if rsa1024, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		t.Fatal(err)
	}
	if rsa2048, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	return rsa1024, rsa2048, p256
}

// graded is the comparable part of a Finding.
type graded struct {
	Aspect Aspect
	Value  string
	Grade  Grade
}

func TestFromStateHandshake(t *testing.T) {
	rsa1024, rsa2048, p256 := keys(t)
	tests := []struct {
		name    string
		key     crypto.Signer
		version uint16
		suites  []uint16
		curve   tls.CurveID
		want    []graded
		overall Grade
	}{
		{
			name: "TLS 1.3 ECDSA P-256", key: p256, version: tls.VersionTLS13, curve: tls.X25519,
			want: []graded{
				{AspectVersion, "TLS 1.3", Good},
				{AspectCipher, "TLS_AES_128_GCM_SHA256", Good},
				{AspectKeyExchange, "X25519", Good},
				{AspectCertificateKey, "ECDSA-P-256", Good},
				{AspectSignature, "ECDSA-SHA256", Good},
			},
			overall: Good,
		},
		{
			name: "TLS 1.2 RSA-2048 GCM", key: rsa2048, version: tls.VersionTLS12, curve: tls.CurveP256,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
			want: []graded{
				{AspectVersion, "TLS 1.2", Sufficient},
				{AspectCipher, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Good},
				{AspectKeyExchange, "CurveP256", Good},
				{AspectCertificateKey, "RSA-2048", Sufficient},
				{AspectSignature, "SHA256-RSA", Good},
			},
			overall: Sufficient,
		},
		{
			name: "TLS 1.2 ECDSA P-256 CBC", key: p256, version: tls.VersionTLS12, curve: tls.X25519,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
			want: []graded{
				{AspectVersion, "TLS 1.2", Sufficient},
				{AspectCipher, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Sufficient},
				{AspectKeyExchange, "X25519", Good},
				{AspectCertificateKey, "ECDSA-P-256", Good},
				{AspectSignature, "ECDSA-SHA256", Good},
			},
			overall: Sufficient,
		},
		{
			name: "TLS 1.3 RSA-1024", key: rsa1024, version: tls.VersionTLS13, curve: tls.CurveP384,
			want: []graded{
				{AspectVersion, "TLS 1.3", Good},
				{AspectCipher, "TLS_AES_128_GCM_SHA256", Good},
				{AspectKeyExchange, "CurveP384", Good},
				{AspectCertificateKey, "RSA-1024", Insufficient},
				{AspectSignature, "SHA256-RSA", Good},
			},
			overall: Insufficient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := handshake(t, selfSigned(t, tt.key), tt.version, tt.suites, tt.curve)
			findings := FromState(cs)
			got := make([]graded, len(findings))
			for i, f := range findings {
				got[i] = graded{f.Aspect, f.Value, f.Grade}
				checkText(t, f)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FromState (-want +got):\n%s", diff)
			}
			if r := Summarise(findings); r.Overall != tt.overall {
				t.Errorf("Summarise().Overall = %v, want %v", r.Overall, tt.overall)
			}
		})
	}
}

// checkText asserts that a finding explains itself in both languages.
func checkText(t *testing.T, f Finding) {
	t.Helper()
	gt := f.Grade.Text()
	if !strings.Contains(f.Text.NL, f.Value) || !strings.Contains(f.Text.NL, gt.NL) {
		t.Errorf("Dutch text %q lacks %q or %q", f.Text.NL, f.Value, gt.NL)
	}
	if !strings.Contains(f.Text.EN, f.Value) || !strings.Contains(f.Text.EN, gt.EN) {
		t.Errorf("English text %q lacks %q or %q", f.Text.EN, f.Value, gt.EN)
	}
}

func TestFromStateEmpty(t *testing.T) {
	got := FromState(tls.ConnectionState{})
	if len(got) != 2 {
		t.Fatalf("FromState(empty) = %d findings, want 2 (version, cipher)", len(got))
	}
	if r := Summarise(got); r.Overall != Insufficient {
		t.Errorf("Overall = %v, want insufficient", r.Overall)
	}
}
