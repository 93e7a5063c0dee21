package mailcheck

// The NTA 7516 declaration test, informational. NTA 7516 (NEN, "Veilig
// mailen in de zorg") lets a domain declare in DNS that it meets the
// standard. The NTA text itself is not public, so the record format here is
// a documented best guess, taken from public implementations (Smartlockr's
// NTA 7516 DNS querier and its tests, and Cryptshare's "NTA DNS setup"
// documentation, which that code follows): one TXT record at the domain
// itself,
//
//	v=NTA7516;version:2019-06;expire:2019-10;provider:smartlockr;ntamx:mx.example.nl
//
// with ";"-separated "key:value" fields (this parser also accepts
// "key=value" and spaces around separators): version and expire as
// YYYY-MM, the provider's name and any number of ntamx hosts. A declaration
// past the end of its expiry month, or without one, is a warning; no
// declaration is neutral (info).

import (
	"context"
	"errors"
	"strings"
	"time"
)

// ntaDeclaration is a parsed NTA 7516 TXT record.
type ntaDeclaration struct {
	version, provider string
	expire            time.Time // first instant after the expiry month
	mx                []string
}

// NTA7516 rates the domain's NTA 7516 declaration, if it has one.
func (c *Checker) NTA7516(ctx context.Context, domain string) (Result, error) {
	return c.run(ctx, TestNTA7516, domain, c.nta7516)
}

func (c *Checker) nta7516(ctx context.Context, d string) (Result, error) {
	txts, _, err := c.r.TXT(ctx, d)
	if err != nil && !errors.Is(err, ErrNXDomain) {
		return Result{}, lookupErr("TXT", d, err)
	}
	var recs []string
	for _, t := range txts {
		if isNTA(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return result(StatusInfo,
			text{"Het domein publiceert geen NTA 7516-verklaring.", "The domain publishes no NTA 7516 declaration."},
			text{"Geen actie nodig, tenzij het domein aan NTA 7516 voldoet en dat wil verklaren.",
				"No action needed, unless the domain complies with NTA 7516 and wants to declare it."}), nil
	case 1:
		return rateNTA(recs[0], c.now()), nil
	}
	return ntaWarn(text{"Het domein heeft meer dan één NTA 7516-verklaring.", "The domain has more than one NTA 7516 declaration."}), nil
}

// isNTA reports whether a TXT record is an NTA 7516 declaration.
func isNTA(s string) bool {
	first, _, _ := strings.Cut(s, ";")
	return strings.EqualFold(strings.ReplaceAll(first, " ", ""), "v=NTA7516")
}

// parseNTA reads the fields after "v=NTA7516".
func parseNTA(s string) (ntaDeclaration, bool) {
	var n ntaDeclaration
	fields := strings.Split(s, ";")
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(f), ":")
		if !ok {
			k, v, ok = strings.Cut(strings.TrimSpace(f), "=")
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch {
		case k == "" && !ok:
			continue // an empty field, e.g. a trailing ";"
		case k == "version":
			n.version = v
		case k == "provider":
			n.provider = v
		case k == "ntamx":
			n.mx = append(n.mx, strings.ToLower(strings.TrimSuffix(v, ".")))
		case k == "expire":
			t, err := time.Parse("2006-01", v)
			if err != nil {
				return n, false
			}
			n.expire = t.AddDate(0, 1, 0)
		}
	}
	return n, !n.expire.IsZero()
}

// rateNTA rates one declaration at time now.
func rateNTA(s string, now time.Time) Result {
	n, ok := parseNTA(s)
	switch {
	case !ok:
		return ntaWarn(text{"De NTA 7516-verklaring is ongeldig of heeft geen vervaldatum (expire:JJJJ-MM).",
			"The NTA 7516 declaration is malformed or has no expiry (expire:YYYY-MM)."})
	case !now.Before(n.expire):
		return ntaWarn(text{"De NTA 7516-verklaring is verlopen.", "The NTA 7516 declaration has expired."})
	}
	until := n.expire.AddDate(0, 0, -1).Format("2006-01")
	nl, en := "geldig tot en met "+until, "valid through "+until
	if n.provider != "" {
		nl, en = nl+", aanbieder "+n.provider, en+", provider "+n.provider
	}
	sum := text{"Het domein verklaart te voldoen aan NTA 7516 (" + nl + ").",
		"The domain declares compliance with NTA 7516 (" + en + ")."}
	return result(StatusPass, sum, noFix())
}

func ntaWarn(sum text) Result {
	return result(StatusWarning, sum,
		text{"Publiceer één geldige verklaring, bijvoorbeeld \"v=NTA7516;version:2019-06;expire:JJJJ-MM;provider:…;ntamx:…\", en vernieuw haar voor ze verloopt; of verwijder haar.",
			"Publish one valid declaration, e.g. \"v=NTA7516;version:2019-06;expire:YYYY-MM;provider:…;ntamx:…\", and renew it before it expires; or remove it."})
}
