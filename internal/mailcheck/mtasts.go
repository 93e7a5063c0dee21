package mailcheck

// The MTA-STS test (RFC 8461), informational: the "_mta-sts" TXT record
// (§3.1) and the policy it announces, fetched over HTTPS from
// https://mta-sts.<domain>/.well-known/mta-sts.txt (§3.3) without
// redirects, trusting Options.Roots. A policy in mode "enforce" whose mx
// patterns cover every MX host lets senders without DNSSEC insist on
// authenticated TLS.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	moxdns "github.com/mjl-/mox/dns"
	"github.com/mjl-/mox/mtasts"
)

// maxPolicyBytes bounds the policy body read (RFC 8461 §3.2 suggests
// policies stay far below 64 KiB).
const maxPolicyBytes = 64 << 10

// MTASTS rates domain's MTA-STS record and policy against hosts (the MX
// hosts) and reports whether the policy is in enforce mode and covers all
// of them. A TXT lookup failure is an error; a policy that cannot be fetched
// is a warning (it is the domain's fault).
func (c *Checker) MTASTS(ctx context.Context, domain string, hosts []string) (Result, bool, error) {
	var enforce bool
	res, err := c.run(ctx, TestMTASTS, domain, func(ctx context.Context, d string) (Result, error) {
		var (
			res Result
			err error
		)
		res, enforce, err = c.mtaSTS(ctx, d, hosts)
		return res, err
	})
	return res, enforce && err == nil, err
}

func (c *Checker) mtaSTS(ctx context.Context, d string, hosts []string) (Result, bool, error) {
	name := "_mta-sts." + d
	txts, _, err := c.r.TXT(ctx, name)
	if err != nil && !errors.Is(err, ErrNXDomain) {
		return Result{}, false, lookupErr("TXT", name, err)
	}
	var recs []string
	for _, t := range txts {
		if _, is, _ := mtasts.ParseRecord(t); is {
			recs = append(recs, t)
		}
	}
	switch {
	case len(recs) == 0:
		return stsInfo(text{"Het domein publiceert geen MTA-STS-beleid.", "The domain publishes no MTA-STS policy."}), false, nil
	case len(recs) > 1:
		return stsWarn(text{"Het domein heeft meer dan één MTA-STS-record.", "The domain has more than one MTA-STS record."}), false, nil
	}
	if _, _, err := mtasts.ParseRecord(recs[0]); err != nil {
		return stsWarn(text{"Het MTA-STS-record is ongeldig.", "The MTA-STS record is invalid."}), false, nil
	}
	body, err := c.fetchPolicy(ctx, d)
	if err != nil {
		c.log.DebugContext(ctx, "mta-sts policy fetch failed", "domain", d, "err", err)
		return stsWarn(text{"Het MTA-STS-beleid kon niet over HTTPS worden opgehaald.",
			"The MTA-STS policy could not be fetched over HTTPS."}), false, nil
	}
	return rateSTSPolicy(body, hosts)
}

// fetchPolicy fetches the policy text (RFC 8461 §3.3): status 200 only.
func (c *Checker) fetchPolicy(ctx context.Context, d string) (string, error) {
	url := "https://mta-sts." + d + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("mailcheck: MTA-STS policy: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicyBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxPolicyBytes {
		return "", errors.New("mailcheck: MTA-STS policy too large")
	}
	return string(b), nil
}

// rateSTSPolicy rates a fetched policy against the MX hosts.
func rateSTSPolicy(body string, hosts []string) (Result, bool, error) {
	p, err := mtasts.ParsePolicy(body)
	if err != nil {
		return stsWarn(text{"Het MTA-STS-beleid is ongeldig.", "The MTA-STS policy is invalid."}), false, nil
	}
	if p.Mode == mtasts.ModeNone {
		return stsInfo(text{`Het MTA-STS-beleid staat op "none" (uitgeschakeld).`, `The MTA-STS policy is in mode "none" (switched off).`}), false, nil
	}
	if missing := uncovered(p, hosts); len(missing) > 0 {
		list := strings.Join(missing, ", ")
		return stsWarn(text{"Het MTA-STS-beleid dekt deze MX-hosts niet: " + list + ".",
			"The MTA-STS policy does not cover these MX hosts: " + list + "."}), false, nil
	}
	if p.Mode == mtasts.ModeTesting {
		return stsInfo(text{`Het MTA-STS-beleid staat op "testing": verzenders rapporteren fouten maar leveren toch af.`,
			`The MTA-STS policy is in mode "testing": senders report failures but deliver anyway.`}), false, nil
	}
	return result(StatusPass, text{`Het MTA-STS-beleid staat op "enforce" en dekt alle MX-hosts.`,
		`The MTA-STS policy is in mode "enforce" and covers every MX host.`}, noFix()), len(hosts) > 0, nil
}

// uncovered returns the hosts the policy's mx patterns do not match.
func uncovered(p *mtasts.Policy, hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if !p.Matches(moxdns.Domain{ASCII: h}) {
			out = append(out, h)
		}
	}
	return out
}

func stsInfo(sum text) Result {
	return result(StatusInfo, sum, text{
		`Optioneel: publiceer een MTA-STS-beleid in modus "enforce" (RFC 8461), zodat ook verzenders zonder DANE een versleutelde verbinding eisen.`,
		`Optional: publish an MTA-STS policy in mode "enforce" (RFC 8461), so that senders without DANE also insist on encryption.`})
}

func stsWarn(sum text) Result {
	return result(StatusWarning, sum, text{
		`Publiceer één TXT-record "v=STSv1; id=…" op _mta-sts.<domein> en een geldig beleid op https://mta-sts.<domein>/.well-known/mta-sts.txt dat alle MX-hosts noemt, of verwijder het MTA-STS-record.`,
		`Publish one "v=STSv1; id=…" TXT record at _mta-sts.<domain> and a valid policy at https://mta-sts.<domain>/.well-known/mta-sts.txt naming every MX host, or remove the MTA-STS record.`})
}
