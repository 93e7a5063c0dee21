package mailcheck

import (
	"context"
	"errors"
)

// DKIM checks that _domainkey.<domain> exists (RFC 6376 §3.6.2.1). Selectors
// cannot be enumerated, so, like Internet.nl, the test relies on the empty
// non-terminal answering NOERROR/NODATA (RFC 8020) when keys exist below it.
func (c *Checker) DKIM(ctx context.Context, domain string) (Result, error) {
	return c.run(ctx, TestDKIM, domain, c.dkim)
}

func (c *Checker) dkim(ctx context.Context, domain string) (Result, error) {
	name := "_domainkey." + domain
	_, _, err := c.r.TXT(ctx, name)
	switch {
	case errors.Is(err, ErrNXDomain):
		return result(StatusFail,
			text{"Er zijn geen DKIM-sleutels gevonden (_domainkey bestaat niet).",
				"No DKIM keys were found (_domainkey does not exist)."},
			text{"Onderteken uitgaande mail met DKIM en publiceer de publieke sleutel op <selector>._domainkey.<domein>.",
				"Sign outgoing mail with DKIM and publish the public key at <selector>._domainkey.<domain>."}), nil
	case err != nil:
		return Result{}, lookupErr("TXT", name, err)
	}
	return result(StatusPass,
		text{"Het domein publiceert DKIM-sleutels.", "The domain publishes DKIM keys."}, noFix()), nil
}
