package mailcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// DMARC checks the domain's DMARC record (RFC 7489): exactly one record at
// _dmarc.<domain> or, failing that, at the organisational domain (§6.6.3);
// an enforcing policy (Internet.nl fails p=none for government domains);
// sp= for subdomains; and authorisation of external report destinations
// (§7.1).
func (c *Checker) DMARC(ctx context.Context, domain string) (Result, error) {
	return c.run(ctx, TestDMARC, domain, c.dmarc)
}

// dmarcRecord is a DMARC record and where it was found.
type dmarcRecord struct {
	at   string            // the domain whose _dmarc node holds it
	org  bool              // found by organisational-domain fallback
	tags map[string]string // tag names lower-cased
}

func (c *Checker) dmarc(ctx context.Context, domain string) (Result, error) {
	rec, res, err := c.findDMARC(ctx, domain)
	if err != nil || rec == nil {
		return res, err
	}
	results := []Result{ratePolicy(rec)}
	if !rec.org {
		results = append(results, rateSubdomainPolicy(rec))
	}
	ext, err := c.checkReportDests(ctx, rec)
	if err != nil {
		return Result{}, err
	}
	return worst(append(results, ext...)), nil
}

// findDMARC looks for the record at domain, then at its organisational
// domain. When there is no usable record it returns nil and the Result.
func (c *Checker) findDMARC(ctx context.Context, domain string) (*dmarcRecord, Result, error) {
	names := []string{domain}
	if org, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil && org != domain {
		names = append(names, org)
	}
	for i, name := range names {
		recs, err := c.dmarcRecords(ctx, "_dmarc."+name)
		if err != nil {
			return nil, Result{}, err
		}
		switch {
		case len(recs) == 1:
			return &dmarcRecord{at: name, org: i > 0, tags: recs[0]}, Result{}, nil
		case len(recs) > 1:
			return nil, result(StatusFail, text{
				fmt.Sprintf("_dmarc.%s heeft meer dan één DMARC-record; ontvangers negeren ze dan allemaal.", name),
				fmt.Sprintf("_dmarc.%s has more than one DMARC record, so receivers ignore them all.", name)},
				text{"Verwijder de extra DMARC-records.", "Remove the extra DMARC records."}), nil
		}
	}
	return nil, result(StatusFail,
		text{"Het domein heeft geen DMARC-record.", "The domain has no DMARC record."},
		text{`Publiceer een TXT-record op _dmarc.<domein>, bijvoorbeeld "v=DMARC1; p=reject; rua=mailto:dmarc@<domein>".`,
			`Publish a TXT record at _dmarc.<domain>, for example "v=DMARC1; p=reject; rua=mailto:dmarc@<domain>".`}), nil
}

// dmarcRecords returns the parsed DMARC records at name; NXDOMAIN counts as none.
func (c *Checker) dmarcRecords(ctx context.Context, name string) ([]map[string]string, error) {
	txts, _, err := c.r.TXT(ctx, name)
	if err != nil && !errors.Is(err, ErrNXDomain) {
		return nil, lookupErr("TXT", name, err)
	}
	var recs []map[string]string
	for _, t := range txts {
		if tags, ok := parseDMARC(t); ok {
			recs = append(recs, tags)
		}
	}
	return recs, nil
}

// parseDMARC parses tag=value pairs; ok is false unless the first tag is
// v=DMARC1 (RFC 7489 §6.4).
func parseDMARC(s string) (map[string]string, bool) {
	tags := map[string]string{}
	for i, part := range strings.Split(s, ";") {
		k, v, found := strings.Cut(part, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if i == 0 && (k != "v" || v != "DMARC1") {
			return nil, false
		}
		if found && k != "" {
			tags[k] = v
		}
	}
	return tags, true
}

// ratePolicy rates the policy that applies to the checked domain: p=, or
// sp= (falling back to p=) when the record came from the organisational domain.
func ratePolicy(rec *dmarcRecord) Result {
	tag := "p"
	if _, ok := rec.tags["sp"]; ok && rec.org {
		tag = "sp"
	}
	switch p := strings.ToLower(rec.tags[tag]); p {
	case "quarantine", "reject":
		return result(StatusPass, text{
			fmt.Sprintf("Het DMARC-beleid (%s=%s, op %s) wordt afgedwongen.", tag, p, rec.at),
			fmt.Sprintf("The DMARC policy (%s=%s, at %s) is enforced.", tag, p, rec.at)}, noFix())
	case "none":
		return result(StatusFail, text{
			fmt.Sprintf("Het DMARC-beleid is %s=none (op %s): vervalste mail wordt niet tegengehouden.", tag, rec.at),
			fmt.Sprintf("The DMARC policy is %s=none (at %s): forged mail is not stopped.", tag, rec.at)},
			text{fmt.Sprintf("Zet %s=quarantine of %s=reject.", tag, tag),
				fmt.Sprintf("Set %s=quarantine or %s=reject.", tag, tag)})
	}
	return result(StatusFail, text{
		fmt.Sprintf("Het DMARC-record op %s heeft geen geldige %s=-tag.", rec.at, tag),
		fmt.Sprintf("The DMARC record at %s has no valid %s= tag.", rec.at, tag)},
		text{"Voeg p=quarantine of p=reject toe.", "Add p=quarantine or p=reject."})
}

// rateSubdomainPolicy warns when sp= weakens an enforcing p= for subdomains.
func rateSubdomainPolicy(rec *dmarcRecord) Result {
	sp, ok := rec.tags["sp"]
	if !ok || strings.ToLower(sp) != "none" || strings.ToLower(rec.tags["p"]) == "none" {
		return Result{Status: StatusPass}
	}
	return result(StatusWarning,
		text{"Het DMARC-record zet sp=none: subdomeinen zijn niet beschermd.",
			"The DMARC record sets sp=none: subdomains are not protected."},
		text{"Verwijder sp=none of zet sp=quarantine of sp=reject.", "Remove sp=none or set sp=quarantine or sp=reject."})
}

// checkReportDests returns a warning for each rua= destination in another
// organisational domain that has not authorised the reports (RFC 7489 §7.1).
func (c *Checker) checkReportDests(ctx context.Context, rec *dmarcRecord) ([]Result, error) {
	var out []Result
	for _, host := range externalDests(rec.at, rec.tags["rua"]) {
		name := rec.at + "._report._dmarc." + host
		recs, err := c.dmarcRecords(ctx, name)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			out = append(out, missingAuthorisation(name, host))
		}
	}
	return out, nil
}

// externalDests returns the distinct mailto: hosts in rua outside the
// organisational domain of policyDomain.
func externalDests(policyDomain, rua string) []string {
	own := orgDomain(policyDomain)
	seen := map[string]bool{}
	var hosts []string
	for _, uri := range strings.Split(rua, ",") {
		uri = strings.TrimSpace(uri)
		if len(uri) < 7 || !strings.EqualFold(uri[:7], "mailto:") {
			continue
		}
		addr, _, _ := strings.Cut(uri[7:], "!")
		host := strings.ToLower(strings.TrimSuffix(addr[strings.LastIndex(addr, "@")+1:], "."))
		if host == "" || seen[host] || orgDomain(host) == own {
			continue
		}
		seen[host] = true
		hosts = append(hosts, host)
	}
	return hosts
}

// orgDomain returns the organisational domain (RFC 7489 §3.2) of name.
func orgDomain(name string) string {
	if org, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return org
	}
	return name
}

func missingAuthorisation(name, host string) Result {
	return result(StatusWarning, text{
		fmt.Sprintf("De externe rapportbestemming %s heeft de DMARC-rapporten niet geautoriseerd.", host),
		fmt.Sprintf("The external report destination %s has not authorised the DMARC reports.", host)},
		text{fmt.Sprintf(`Laat de beheerder van %s een TXT-record "v=DMARC1" publiceren op %s.`, host, name),
			fmt.Sprintf(`Ask the operator of %s to publish a TXT record "v=DMARC1" at %s.`, host, name)})
}

// worst returns the first Result with the highest severity.
func worst(results []Result) Result {
	w := results[0]
	for _, r := range results[1:] {
		if severity(r.Status) > severity(w.Status) {
			w = r
		}
	}
	return w
}
