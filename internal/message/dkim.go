package message

import (
	"context"
	"io"

	"github.com/veilig/veilig/internal/dkim"
)

// DKIM adapts the organisations' DKIM keys to Signer: the key of the sender's
// organisation, for the From domain (DMARC alignment, RFC 7489 §3.1.1).
func DKIM(keys *dkim.Keys) Signer { return dkimSigner{keys} }

type dkimSigner struct{ keys *dkim.Keys }

func (d dkimSigner) Sign(ctx context.Context, orgID, domain string, r io.Reader) (string, error) {
	s, err := d.keys.Signer(ctx, orgID, domain)
	if err != nil {
		return "", err
	}
	return s.Sign(r)
}
