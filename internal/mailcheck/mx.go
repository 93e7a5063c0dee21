package mailcheck

import (
	"context"
	"errors"
	"strings"
)

// maxMX is the number of MX hosts above which the test warns: senders try
// only a limited number of them (RFC 5321 §5.1 lets them cap the list).
const maxMX = 10

// MX checks the domain's MX records (RFC 5321 §5.1, RFC 7505).
func (c *Checker) MX(ctx context.Context, domain string) (Result, error) {
	return c.run(ctx, TestMX, domain, c.mx)
}

func (c *Checker) mx(ctx context.Context, domain string) (Result, error) {
	hosts, _, err := c.r.MX(ctx, domain)
	if err != nil && !errors.Is(err, ErrNXDomain) {
		return Result{}, lookupErr("MX", domain, err)
	}
	return rateMX(hosts), nil
}

// rateMX rates a set of MX records.
func rateMX(hosts []MX) Result {
	nulls := 0
	for _, h := range hosts {
		if strings.TrimSuffix(h.Host, ".") == "" {
			nulls++
		}
	}
	switch {
	case nulls == 1 && len(hosts) == 1:
		return result(StatusInfo,
			text{"Het domein heeft een null-MX-record (RFC 7505): het ontvangt geen e-mail.",
				"The domain publishes a null MX record (RFC 7505): it accepts no mail."},
			text{"Geen actie nodig als het domein geen e-mail hoeft te ontvangen; anders het null-MX-record vervangen door MX-records van de mailservers.",
				"No action needed if the domain must not receive mail; otherwise replace the null MX with MX records for your mail servers."})
	case nulls > 0:
		return result(StatusFail,
			text{"Het domein combineert een null-MX-record met andere MX-records.",
				"The domain mixes a null MX record with other MX records."},
			text{"Een null-MX-record moet het enige MX-record zijn (RFC 7505 §3): verwijder het, of verwijder de andere MX-records.",
				"A null MX must be the only MX record (RFC 7505 §3): remove it, or remove the other MX records."})
	case len(hosts) == 0:
		return result(StatusFail,
			text{"Het domein heeft geen MX-records.", "The domain has no MX records."},
			text{"Publiceer MX-records voor de mailservers van het domein, of een null-MX-record als het geen e-mail ontvangt.",
				"Publish MX records for the domain's mail servers, or a null MX record if it accepts no mail."})
	case len(hosts) > maxMX:
		return result(StatusWarning,
			text{"Het domein heeft meer dan 10 MX-records; verzenders proberen ze mogelijk niet allemaal.",
				"The domain has more than 10 MX records; senders may not try them all."},
			text{"Beperk het aantal MX-records tot 10 of minder.", "Reduce the number of MX records to 10 or fewer."})
	}
	return result(StatusPass,
		text{"Het domein heeft geldige MX-records.", "The domain has valid MX records."}, noFix())
}
