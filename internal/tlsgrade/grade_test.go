package tlsgrade

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"testing"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		v    uint16
		want Grade
	}{
		{tls.VersionTLS13, Good},
		{tls.VersionTLS12, Sufficient},
		{tls.VersionTLS11, PhaseOut},
		{tls.VersionTLS10, PhaseOut},
		{versionSSL30, Insufficient},
		{0x0200, Insufficient},
		{0, Insufficient},
		{0x0305, Insufficient},
	}
	for _, tt := range tests {
		if got := Version(tt.v); got != tt.want {
			t.Errorf("Version(%#04x) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestCipher(t *testing.T) {
	tests := []struct {
		id   uint16
		want Grade
	}{
		{tls.TLS_AES_128_GCM_SHA256, Good},
		{tls.TLS_AES_256_GCM_SHA384, Good},
		{tls.TLS_CHACHA20_POLY1305_SHA256, Good},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, Good},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, Good},
		{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, Good},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, Good},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, Sufficient},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, Sufficient},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, Sufficient},
		{suiteDHERSAAES256GCM, Sufficient},
		{suiteDHERSAChaCha20, Sufficient},
		{suiteDHERSAAES128CBC, Sufficient},
		{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, PhaseOut},
		{suiteDHERSA3DESEDECBC, PhaseOut},
		{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, PhaseOut},
		{tls.TLS_RSA_WITH_AES_256_CBC_SHA, PhaseOut},
		{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, PhaseOut},
		{tls.TLS_RSA_WITH_RC4_128_SHA, Insufficient},
		{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, Insufficient},
		{tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, Insufficient},
		{tls.TLS_FALLBACK_SCSV, Insufficient},
		{0x0000, Insufficient}, // TLS_NULL_WITH_NULL_NULL
		{0xffff, Insufficient},
	}
	for _, tt := range tests {
		if got := Cipher(tt.id); got != tt.want {
			t.Errorf("Cipher(%s) = %v, want %v", tls.CipherSuiteName(tt.id), got, tt.want)
		}
	}
}

// TestCipherCoversGo makes sure every suite crypto/tls implements is
// classified explicitly rather than falling through to "unknown".
func TestCipherCoversGo(t *testing.T) {
	suites := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, s := range suites {
		if cipherKeyExchange(s.ID) == Insufficient {
			t.Errorf("%s: key exchange not classified", s.Name)
		}
	}
}

func TestKeyExchange(t *testing.T) {
	tests := []struct {
		id   tls.CurveID
		want Grade
	}{
		{tls.X25519, Good},
		{groupX448, Good},
		{tls.CurveP256, Good},
		{tls.CurveP384, Good},
		{tls.X25519MLKEM768, Good},
		{tls.SecP256r1MLKEM768, Good},
		{tls.SecP384r1MLKEM1024, Good},
		{groupFFDHE4096, Sufficient},
		{groupFFDHE3072, Sufficient},
		{groupFFDHE8192, Sufficient},
		{groupFFDHE2048, PhaseOut},
		{tls.CurveP521, Insufficient},
		{21, Insufficient}, // secp224r1
		{0, Insufficient},
	}
	for _, tt := range tests {
		if got := KeyExchange(tt.id); got != tt.want {
			t.Errorf("KeyExchange(%v) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestDHGroup(t *testing.T) {
	tests := []struct {
		bits int
		want Grade
	}{
		{8192, Sufficient}, {4096, Sufficient}, {3072, Sufficient},
		{3071, PhaseOut}, {2048, PhaseOut},
		{2047, Insufficient}, {1024, Insufficient}, {0, Insufficient}, {-1, Insufficient},
	}
	for _, tt := range tests {
		if got := DHGroup(tt.bits); got != tt.want {
			t.Errorf("DHGroup(%d) = %v, want %v", tt.bits, got, tt.want)
		}
	}
}

// rsaOfSize returns an RSA public key whose modulus has exactly bits bits;
// only the size matters for grading, so no key is generated.
func rsaOfSize(bits int) *rsa.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), E: 65537}
}

func ecdsaOn(t *testing.T, c elliptic.Curve) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey(%s): %v", c.Params().Name, err)
	}
	return &k.PublicKey
}

func TestCertificateKey(t *testing.T) {
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want Grade
	}{
		{"RSA-4096", rsaOfSize(4096), Good},
		{"RSA-3072", rsaOfSize(3072), Good},
		{"RSA-3071", rsaOfSize(3071), Sufficient},
		{"RSA-2048", rsaOfSize(2048), Sufficient},
		{"RSA-2047", rsaOfSize(2047), Insufficient},
		{"RSA-1024", rsaOfSize(1024), Insufficient},
		{"RSA nil modulus", &rsa.PublicKey{}, Insufficient},
		{"RSA nil", (*rsa.PublicKey)(nil), Insufficient},
		{"ECDSA P-256", ecdsaOn(t, elliptic.P256()), Good},
		{"ECDSA P-384", ecdsaOn(t, elliptic.P384()), Good},
		{"ECDSA P-521", ecdsaOn(t, elliptic.P521()), Insufficient},
		{"ECDSA P-224", ecdsaOn(t, elliptic.P224()), Insufficient},
		{"ECDSA nil", (*ecdsa.PublicKey)(nil), Insufficient},
		{"Ed25519", edPub, Good},
		{"nil", nil, Insufficient},
		{"unknown type", "not a key", Insufficient},
	}
	for _, tt := range tests {
		if got := CertificateKey(tt.pub); got != tt.want {
			t.Errorf("CertificateKey(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSignature(t *testing.T) {
	tests := []struct {
		alg  x509.SignatureAlgorithm
		want Grade
	}{
		{x509.SHA256WithRSA, Good},
		{x509.SHA384WithRSA, Good},
		{x509.SHA512WithRSA, Good},
		{x509.SHA256WithRSAPSS, Good},
		{x509.SHA512WithRSAPSS, Good},
		{x509.ECDSAWithSHA256, Good},
		{x509.ECDSAWithSHA384, Good},
		{x509.PureEd25519, Good},
		{x509.SHA1WithRSA, Insufficient},
		{x509.ECDSAWithSHA1, Insufficient},
		{x509.DSAWithSHA256, Insufficient},
		{x509.MD5WithRSA, Insufficient},
		{x509.MD2WithRSA, Insufficient},
		{x509.UnknownSignatureAlgorithm, Insufficient},
	}
	for _, tt := range tests {
		if got := Signature(tt.alg); got != tt.want {
			t.Errorf("Signature(%v) = %v, want %v", tt.alg, got, tt.want)
		}
	}
}

func TestOverall(t *testing.T) {
	tests := []struct {
		name   string
		grades []Grade
		want   Grade
	}{
		{"none", nil, Insufficient},
		{"all good", []Grade{Good, Good}, Good},
		{"one sufficient", []Grade{Good, Sufficient, Good}, Sufficient},
		{"phase out wins", []Grade{Sufficient, PhaseOut, Good}, PhaseOut},
		{"insufficient wins", []Grade{Insufficient, Good}, Insufficient},
		{"zero value", []Grade{Good, 0}, Insufficient},
		{"out of range", []Grade{Good, 9}, Insufficient},
	}
	for _, tt := range tests {
		if got := Overall(tt.grades...); got != tt.want {
			t.Errorf("%s: Overall(%v) = %v, want %v", tt.name, tt.grades, got, tt.want)
		}
	}
}

func TestGradeText(t *testing.T) {
	tests := []struct {
		g          Grade
		nl, en     string
		acceptable bool
	}{
		{Good, "goed", "good", true},
		{Sufficient, "voldoende", "sufficient", true},
		{PhaseOut, "uit te faseren", "phase out", false},
		{Insufficient, "onvoldoende", "insufficient", false},
		{0, "onvoldoende", "insufficient", false},
	}
	for _, tt := range tests {
		if got := tt.g.Text(); got.NL != tt.nl || got.EN != tt.en || tt.g.String() != tt.en {
			t.Errorf("Grade(%d).Text() = %+v, want %q/%q", tt.g, got, tt.nl, tt.en)
		}
		if got := tt.g.Acceptable(); got != tt.acceptable {
			t.Errorf("Grade(%d).Acceptable() = %v, want %v", tt.g, got, tt.acceptable)
		}
	}
}
