package mailcheck

// The whole check of one domain: the domain-wide tests, then the per-MX
// tests (DNSSEC of the MX zone, STARTTLS, DANE) for at most maxMX hosts, a
// few at a time, and the transport security a sender can rely on.

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// mxConcurrency bounds the MX hosts probed at once.
const mxConcurrency = 3

// testOrder is the order of tests in a Report.
var testOrder = []string{TestMX, TestDNSSEC, TestSPF, TestDMARC, TestDKIM, TestSTARTTLS, TestDANE,
	TestMTASTS, TestTLSRPT, TestNTA7516}

// collector gathers results and the errors of tests that could not run.
type collector struct {
	mu    sync.Mutex
	tests []Result
	errs  []error
}

// add records res for test (and host), or err: a bogus answer becomes a
// fail of the test, any other error leaves the test unrated.
func (k *collector) add(test, host string, res Result, err error) {
	switch {
	case errors.Is(err, ErrBogus):
		res = bogusResult()
	case err != nil:
		k.mu.Lock()
		k.errs = append(k.errs, err)
		k.mu.Unlock()
		return
	}
	res.Test, res.Host = test, host
	k.mu.Lock()
	k.tests = append(k.tests, res)
	k.mu.Unlock()
}

// Report runs every test for domain and never fails: a lookup or probe that
// could not run makes the report's Status StatusError with Error set, while
// the tests that did run are still reported.
func (c *Checker) Report(ctx context.Context, domain string) Report {
	start := time.Now()
	rep := Report{Domain: domain, CheckedAt: start.UTC(), Tests: []Result{}, MXHosts: []string{}}
	d, err := normalise(domain)
	if err != nil {
		rep.Status, rep.Error = StatusError, err.Error()
		return rep
	}
	rep.Domain = d
	k := &collector{}
	hosts, domainSecure := c.mxAndDNSSEC(ctx, d, k)
	c.domainTests(ctx, d, k)
	outcomes := c.probeAll(ctx, hosts, k)
	sts := c.mtasts(ctx, d, hosts, k)
	rep.MXHosts = hosts
	rep.Transport = transport(domainSecure, outcomes, sts && len(hosts) > 0)
	rep.Tests = sortResults(k.tests, hosts)
	rep.Status, rep.Error = overall(rep.Tests, k.errs)
	c.log.InfoContext(ctx, "mail check report", "domain", d, "status", rep.Status,
		"policy", rep.Transport.Policy, "mx", len(hosts), "took", time.Since(start))
	return rep
}

// mxAndDNSSEC rates the MX records and the domain's DNSSEC; it returns the
// MX hosts to probe (none for a null MX) and whether the domain is secure.
func (c *Checker) mxAndDNSSEC(ctx context.Context, d string, k *collector) ([]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	mxs, secure, err := c.r.MX(ctx, d)
	if errors.Is(err, ErrNXDomain) {
		err = nil
	}
	if err != nil && !errors.Is(err, ErrBogus) {
		err = lookupErr("MX", d, err)
	}
	k.add(TestMX, "", rateMX(mxs), err)
	if err == nil || errors.Is(err, ErrBogus) {
		k.add(TestDNSSEC, "", rateDNSSEC(secure, d, false), err)
	}
	if err != nil {
		return []string{}, false
	}
	return probeHosts(mxs), secure
}

// probeHosts returns the distinct MX hosts by preference, at most maxMX,
// none for a null MX.
func probeHosts(mxs []MX) []string {
	sorted := slices.Clone(mxs)
	slices.SortStableFunc(sorted, func(a, b MX) int {
		return cmp.Or(cmp.Compare(a.Pref, b.Pref), strings.Compare(a.Host, b.Host))
	})
	hosts := []string{}
	for _, m := range sorted {
		h := strings.ToLower(strings.TrimSuffix(m.Host, "."))
		if h != "" && !slices.Contains(hosts, h) && len(hosts) < maxMX {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// domainTests runs the domain-wide record tests.
func (c *Checker) domainTests(ctx context.Context, d string, k *collector) {
	for _, t := range []struct {
		name string
		fn   func(context.Context, string) (Result, error)
	}{{TestSPF, c.SPF}, {TestDMARC, c.DMARC}, {TestDKIM, c.DKIM}, {TestTLSRPT, c.TLSRPT}, {TestNTA7516, c.NTA7516}} {
		res, err := t.fn(ctx, d)
		k.add(t.name, "", res, err)
	}
}

// mtasts runs the MTA-STS test and reports whether an enforce policy covers
// every host.
func (c *Checker) mtasts(ctx context.Context, d string, hosts []string, k *collector) bool {
	res, enforce, err := c.MTASTS(ctx, d, hosts)
	k.add(TestMTASTS, "", res, err)
	return err == nil && enforce
}

// probeAll runs the per-MX tests for hosts, mxConcurrency at a time.
func (c *Checker) probeAll(ctx context.Context, hosts []string, k *collector) []mxOutcome {
	out := make([]mxOutcome, len(hosts))
	sem := make(chan struct{}, mxConcurrency)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = c.probeMX(ctx, h, k)
		})
	}
	wg.Wait()
	return out
}

// transport derives what a sender can rely on.
func transport(domainSecure bool, mx []mxOutcome, stsEnforce bool) Transport {
	t := Transport{DNSSEC: domainSecure, DANE: len(mx) > 0, MTASTSEnforce: stsEnforce}
	for _, o := range mx {
		t.DNSSEC = t.DNSSEC && o.secure
		t.DANE = t.DANE && o.dane
	}
	switch {
	case t.DANE && t.DNSSEC:
		t.Policy = PolicyDANE
	case t.MTASTSEnforce:
		t.Policy = PolicyMTASTS
	default:
		t.Policy = PolicyPKIX
	}
	return t
}

// sortResults orders results by test, then by MX preference (domain-wide
// results first).
func sortResults(rs []Result, hosts []string) []Result {
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b Result) int {
		return cmp.Or(cmp.Compare(slices.Index(testOrder, a.Test), slices.Index(testOrder, b.Test)),
			cmp.Compare(hostRank(a.Host, hosts), hostRank(b.Host, hosts)))
	})
	return out
}

func hostRank(h string, hosts []string) int {
	if h == "" {
		return -1
	}
	return slices.Index(hosts, h)
}

// overall is the worst status of rs (info counts as pass), or StatusError
// with the joined errors when a test could not run.
func overall(rs []Result, errs []error) (Status, string) {
	if len(errs) > 0 {
		return StatusError, errors.Join(errs...).Error()
	}
	s := StatusPass
	for _, r := range rs {
		if r.Status != StatusInfo && severity(r.Status) > severity(s) {
			s = r.Status
		}
	}
	return s, ""
}

// bogusResult is the fail for a test whose answers failed DNSSEC validation.
func bogusResult() Result {
	return result(StatusFail,
		text{"De DNSSEC-handtekeningen kloppen niet (bogus): validerende resolvers weigeren de antwoorden.",
			"The DNSSEC signatures do not validate (bogus): validating resolvers refuse the answers."},
		text{"Herstel de ondertekening van de zone (verlopen handtekeningen, verkeerde DS-record bij de registry) of trek DNSSEC gecontroleerd in.",
			"Repair the zone's signing (expired signatures, a wrong DS record at the registry) or withdraw DNSSEC in an orderly way."})
}
