package mailcheck

// The TLS-RPT test (RFC 8460 §3), informational: one "v=TLSRPTv1" TXT
// record at _smtp._tls.<domain> with at least one "rua" destination
// (mailto: or https:), where senders report TLS failures.

import (
	"context"
	"errors"
	"strings"

	"github.com/mjl-/mox/tlsrpt"
)

// TLSRPT rates the domain's SMTP TLS reporting record.
func (c *Checker) TLSRPT(ctx context.Context, domain string) (Result, error) {
	return c.run(ctx, TestTLSRPT, domain, c.tlsRPT)
}

func (c *Checker) tlsRPT(ctx context.Context, d string) (Result, error) {
	name := "_smtp._tls." + d
	txts, _, err := c.r.TXT(ctx, name)
	if err != nil && !errors.Is(err, ErrNXDomain) {
		return Result{}, lookupErr("TXT", name, err)
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=TLSRPTv1") {
			recs = append(recs, t)
		}
	}
	switch {
	case len(recs) == 0:
		return result(StatusInfo, text{"Het domein publiceert geen TLS-RPT-record.", "The domain publishes no TLS-RPT record."},
			text{`Optioneel: publiceer "v=TLSRPTv1; rua=mailto:…" op _smtp._tls.<domein> om rapporten over TLS-fouten te ontvangen (RFC 8460).`,
				`Optional: publish "v=TLSRPTv1; rua=mailto:…" at _smtp._tls.<domain> to receive reports of TLS failures (RFC 8460).`}), nil
	case len(recs) > 1:
		return tlsrptInvalid(text{"Het domein heeft meer dan één TLS-RPT-record.", "The domain has more than one TLS-RPT record."}), nil
	}
	rec, _, err := tlsrpt.ParseRecord(recs[0])
	if err != nil || !validRUAs(rec) {
		return tlsrptInvalid(text{"Het TLS-RPT-record is ongeldig.", "The TLS-RPT record is invalid."}), nil
	}
	return result(StatusPass, text{"Het domein publiceert een geldig TLS-RPT-record.", "The domain publishes a valid TLS-RPT record."}, noFix()), nil
}

// validRUAs reports whether rec has a destination, every one mailto: or
// https: (RFC 8460 §3).
func validRUAs(rec *tlsrpt.Record) bool {
	n := 0
	for _, list := range rec.RUAs {
		for _, u := range list {
			s := strings.ToLower(string(u))
			if !strings.HasPrefix(s, "mailto:") && !strings.HasPrefix(s, "https:") {
				return false
			}
			n++
		}
	}
	return n > 0
}

func tlsrptInvalid(sum text) Result {
	return result(StatusWarning, sum,
		text{`Publiceer precies één record "v=TLSRPTv1; rua=mailto:…" (of https:) op _smtp._tls.<domein>.`,
			`Publish exactly one "v=TLSRPTv1; rua=mailto:…" (or https:) record at _smtp._tls.<domain>.`})
}
