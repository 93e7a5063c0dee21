// Package dkim signs the mail Veilig sends with DKIM (RFC 6376, RFC 8301), one
// key pair per sending organisation, and tells the organisation which DNS
// records to publish: the key (RFC 6376 §3.6.2) and the SPF include (RFC 7208
// §5.2) that authorise Veilig to send for its domains.
//
// Keys are RSA-2048 with rsa-sha256. Ed25519 (RFC 8463) would be smaller and
// faster, but many receivers still do not verify it and treat such a signature
// as absent, so an Ed25519-only signature would fail DMARC there; RSA is the one
// algorithm every verifier supports. RFC 8301 §3.2 has signers use at least
// 2048 bits and verifiers accept 1024 to 4096; 2048 keeps the TXT record
// publishable in common DNS interfaces. The table keeps an algorithm
// column so an Ed25519 key can be added for dual signing later.
package dkim

import (
	"crypto"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-msgauth/dkim"
)

// Errors.
var (
	ErrInvalidDomain       = errors.New("dkim: invalid domain")
	ErrUnknownDomain       = errors.New("dkim: domain does not belong to the organisation")
	ErrUnknownOrganisation = errors.New("dkim: unknown organisation")
)

// signedFields are the header fields each signature covers (RFC 6376
// §5.4.1), in the order they are hashed. From, To, Cc, Subject and Reply-To are
// listed twice: a field listed once more than it occurs ("oversigning",
// §8.15) makes a field added in transit break the signature, so no one can
// prepend a second From or Subject that some readers would show instead.
// Fields absent from a message are hashed as empty, with the same effect.
func signedFields() []string {
	return []string{
		"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
		"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
		"From", "To", "Cc", "Subject", "Reply-To",
	}
}

// Signer signs messages for one domain with one organisation's key. It is safe
// for concurrent use.
type Signer struct {
	domain, selector string
	key              crypto.Signer
}

// Domain returns the signing domain (d=), an A-label.
func (s *Signer) Domain() string { return s.domain }

// Selector returns the key's selector (s=).
func (s *Signer) Selector() string { return s.selector }

// Sign reads the whole message once, streaming (relaxed/relaxed
// canonicalisation, RFC 6376 §3.4.2, §3.4.4), and returns the DKIM-Signature
// header field, ending in CRLF, to prepend to the message unchanged.
func (s *Signer) Sign(r io.Reader) (string, error) {
	ds, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 s.domain,
		Selector:               s.selector,
		Signer:                 s.key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             signedFields(),
	})
	if err != nil {
		return "", fmt.Errorf("dkim: signer: %w", err)
	}
	if _, err := io.Copy(ds, r); err != nil {
		_ = ds.Close()
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	if err := ds.Close(); err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	return ds.Signature(), nil
}
