package testenv

// A throwaway X.509 CA for the mail-transport lab (RFC 5280 certificates, ECDSA
// P-256), and TLSA record data for DANE (RFC 6698, RFC 7671).

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// CA is a test certificate authority that lives for one test.
type CA struct {
	// Cert is the self-signed CA certificate.
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA valid from an hour ago for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("test CA: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: "Veilig lab CA " + randomHex(4)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("test CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("test CA: %v", err)
	}
	return &CA{Cert: cert, key: key}
}

// Pool is a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM is the CA certificate in PEM form.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// WriteFile writes the CA certificate as PEM to a temporary file (for settings
// such as VEILIG_DELIVERY_CA_FILE) and returns its path.
func (ca *CA) WriteFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, ca.PEM(), 0o644); err != nil {
		t.Fatalf("test CA: %v", err)
	}
	return path
}

// Issue returns a server certificate for names (DNS names or IP addresses),
// valid from an hour ago for a day. Its chain holds only the leaf.
func (ca *CA) Issue(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	now := time.Now()
	c, err := ca.issue(now.Add(-time.Hour), now.Add(24*time.Hour), names)
	if err != nil {
		t.Fatalf("test CA: issue %v: %v", names, err)
	}
	return c
}

// IssueExpired returns a certificate for names that expired an hour ago.
func (ca *CA) IssueExpired(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	now := time.Now()
	c, err := ca.issue(now.Add(-48*time.Hour), now.Add(-time.Hour), names)
	if err != nil {
		t.Fatalf("test CA: issue %v: %v", names, err)
	}
	return c
}

func (ca *CA) issue(notBefore, notAfter time.Time, names []string) (tls.Certificate, error) {
	return newLeaf(notBefore, notAfter, names, ca.Cert, ca.key)
}

// SelfSigned returns a self-signed server certificate for names (as DANE-EE
// servers often have); PKIX validation of it fails.
func SelfSigned(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	now := time.Now()
	c, err := newLeaf(now.Add(-time.Hour), now.Add(24*time.Hour), names, nil, nil)
	if err != nil {
		t.Fatalf("self-signed certificate %v: %v", names, err)
	}
	return c
}

// newLeaf makes a P-256 server certificate signed by parent, or self-signed
// when parent is nil.
func newLeaf(notBefore, notAfter time.Time, names []string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (tls.Certificate, error) {
	if len(names) == 0 {
		return tls.Certificate{}, fmt.Errorf("no names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := leafTemplate(notBefore, notAfter, names)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func leafTemplate(notBefore, notAfter time.Time, names []string) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, strings.TrimSuffix(n, "."))
		}
	}
	return tmpl
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// TLSA returns the RDATA of a TLSA record (RFC 6698 §2) for cert in zone-file
// form, e.g. "3 1 1 <hex>" for DANE-EE SPKI SHA2-256. usage is 2 (DANE-TA) or 3
// (DANE-EE); selector 0 (whole certificate) or 1 (SubjectPublicKeyInfo);
// matching 0 (exact), 1 (SHA2-256) or 2 (SHA2-512).
func TLSA(usage, selector, matching uint8, cert *x509.Certificate) (string, error) {
	rr := new(dns.TLSA)
	if err := rr.Sign(int(usage), int(selector), int(matching), cert); err != nil {
		return "", fmt.Errorf("testenv: tlsa %d %d %d: %w", usage, selector, matching, err)
	}
	return fmt.Sprintf("%d %d %d %s", rr.Usage, rr.Selector, rr.MatchingType, rr.Certificate), nil
}

// writeKeyAndChain writes cert's private key followed by its chain (leaf first)
// as PEM to path, the form Postfix's smtpd_tls_chain_files reads.
func writeKeyAndChain(path string, cert tls.Certificate, extra ...*x509.Certificate) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	blocks := []*pem.Block{{Type: "PRIVATE KEY", Bytes: keyDER}}
	for _, der := range cert.Certificate {
		blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	for _, c := range extra {
		blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	var b bytes.Buffer
	for _, blk := range blocks {
		if err := pem.Encode(&b, blk); err != nil {
			return err
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}
