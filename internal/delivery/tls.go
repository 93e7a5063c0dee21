package delivery

// TLS client configurations: TLS 1.2 or later, for TLS 1.2 only ECDHE with
// AES-GCM or ChaCha20-Poly1305 (NCSC-NL TLS guidelines, "good" and
// "sufficient"; Go's TLS 1.3 suites all qualify). DANE verification is mox's
// dane.Verify inside VerifyConnection (RFC 7672 §3); PKIX is crypto/tls's.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mjl-/adns"
	"github.com/mjl-/mox/dane"
	moxdns "github.com/mjl-/mox/dns"
)

// cipherSuites are the TLS 1.2 suites offered.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
}

// daneResult receives the TLSA record that matched during the handshake.
type daneResult struct{ matched *adns.TLSA }

// tlsConfig returns the client configuration for host; for DANE hosts the
// matching record is stored in res.
func (d *Deliverer) tlsConfig(h hostPlan, res *daneResult) *tls.Config {
	c := &tls.Config{
		ServerName:   h.sni,
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		RootCAs:      d.roots,
	}
	if len(h.tlsa) == 0 {
		return c // PKIX for the MX (or relay) name
	}
	c.RootCAs = nil
	c.InsecureSkipVerify = true // verified by VerifyConnection below, never skipped
	c.VerifyConnection = func(cs tls.ConnectionState) error { return d.verifyDANE(h, cs, res) }
	return c
}

// verifyDANE checks the server's chain against host's TLSA records.
func (d *Deliverer) verifyDANE(h hostPlan, cs tls.ConnectionState, res *daneResult) error {
	more := make([]moxdns.Domain, 0, len(h.names))
	for _, n := range h.names {
		more = append(more, moxdns.Domain{ASCII: n})
	}
	ok, record, err := dane.Verify(d.log, h.tlsa, cs, moxdns.Domain{ASCII: h.sni}, more, nil)
	if !ok {
		if err == nil {
			err = dane.ErrNoMatch
		}
		return fmt.Errorf("%w: %s: %w", ErrDANE, h.name, err)
	}
	res.matched = &record
	return nil
}

// tlsaMatch renders a record's parameters for the evidence, e.g. "3 1 1".
func tlsaMatch(r *adns.TLSA) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%d %d %d", r.Usage, r.Selector, r.MatchType)
}

// LoadRoots reads PEM certificates from path (VEILIG_DELIVERY_CA_FILE); an
// empty path yields none.
func LoadRoots(path string) ([]*x509.Certificate, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %w", ErrConfig, err)
	}
	var certs []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file %s: %w", ErrConfig, path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: CA file %s holds no certificate", ErrConfig, path)
	}
	return certs, nil
}

// tlsFailure wraps a handshake error in ErrTLS; DANE failures stay ErrDANE.
func tlsFailure(host string, err error) error {
	if errors.Is(err, ErrDANE) {
		return err // our own VerifyConnection error, already explicit
	}
	return fmt.Errorf("%w: %s: %s", ErrTLS, host, strings.TrimPrefix(err.Error(), "tls: "))
}
