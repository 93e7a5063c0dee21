package mailcheck

// Scenario tests against the real lab (labfixture_test.go): a domain that
// passes everything, and one domain failing each sub-test in turn, each in its
// own zone of one Knot + Unbound, checked end to end through Report.

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/testenv"
)

// Expectations beyond a Status: statusOK accepts pass or info; statusAny
// accepts anything (an outcome that follows from the fault but is not the
// point of the scenario, e.g. DANE in an unsigned zone).
const (
	statusOK  Status = "ok"
	statusAny Status = "any"
)

// labScenario is one domain of the lab and what its report must say.
type labScenario struct {
	domain string
	spec   zoneSpec
	// want maps "test" (every result of the test) or "test@mx1" / "test@mx2"
	// (the result for that MX host) to its status; no result of a test absent
	// from want may be fail or warning.
	want       map[string]Status
	transport  *Transport
	status     Status   // the report's overall status; "" = not checked
	mxHosts    []string // the report's MX hosts, when checked
	stsFetched bool     // the MTA-STS policy must have been fetched from the lab's server
	// because maps a key of want to text its English summary must contain,
	// showing the finding is the intended one.
	because map[string]string
}

// coreTests pass for a well-configured domain; infoTests are informational
// (issue 6 §2) and only judged where a scenario says so.
var (
	coreTests = []string{TestMX, TestDNSSEC, TestSPF, TestDMARC, TestDKIM, TestSTARTTLS, TestDANE}
	infoTests = []string{TestMTASTS, TestTLSRPT, TestNTA7516}
)

// expect is every core test ok, with the given overrides.
func expect(over map[string]Status) map[string]Status {
	w := map[string]Status{}
	for _, t := range coreTests {
		w[t] = statusOK
	}
	for k, s := range over {
		if test, _, ok := strings.Cut(k, "@"); ok {
			delete(w, test) // judged per host below
			for _, h := range []string{"mx1", "mx2"} {
				if _, set := w[test+"@"+h]; !set {
					w[test+"@"+h] = statusOK
				}
			}
		}
		w[k] = s
	}
	return w
}

// labScenarios are the scenarios (issue 6 §6).
func labScenarios() []labScenario {
	spf11, includes := elevenIncludes("spf11.test")
	return []labScenario{
		{domain: "pass.test", spec: zoneSpec{signed: true, mtaSTS: true}, status: StatusPass,
			mxHosts: []string{"mx1.pass.test", "mx2.pass.test"}, stsFetched: true,
			want:      expect(map[string]Status{TestMTASTS: statusOK, TestTLSRPT: statusOK}),
			transport: &Transport{DNSSEC: true, DANE: true, MTASTSEnforce: true, Policy: PolicyDANE}},
		{domain: "nodnssec.test", spec: zoneSpec{}, status: StatusFail,
			want:      expect(map[string]Status{TestDNSSEC: StatusFail, TestDANE: statusAny}),
			because:   map[string]string{TestDNSSEC: "not signed with DNSSEC"},
			transport: &Transport{Policy: PolicyPKIX}},
		{domain: "bogus.test", spec: zoneSpec{bogus: true},
			// Every answer is refused, so every DNS-based test fails as bogus.
			want: map[string]Status{TestMX: StatusFail, TestDNSSEC: StatusFail, TestSPF: StatusFail,
				TestDMARC: StatusFail, TestDKIM: StatusFail, TestMTASTS: StatusFail, TestTLSRPT: StatusFail,
				TestNTA7516: StatusFail}, status: StatusFail, because: map[string]string{TestMX: "bogus", TestSPF: "bogus"},
			transport: &Transport{Policy: PolicyPKIX}},
		{domain: "spfall.test", spec: zoneSpec{signed: true, spf: []string{"v=spf1 +all"}}, status: StatusFail,
			want: expect(map[string]Status{TestSPF: StatusFail}), because: map[string]string{TestSPF: "+all"}},
		{domain: "spf11.test", spec: zoneSpec{signed: true, spf: []string{spf11}, extra: includes},
			status: StatusFail, want: expect(map[string]Status{TestSPF: StatusFail}),
			because: map[string]string{TestSPF: "more than 10 DNS lookups"}},
		{domain: "dmarc2.test", spec: zoneSpec{signed: true, dmarc: []string{
			"v=DMARC1; p=reject", "v=DMARC1; p=quarantine"}}, status: StatusFail,
			want: expect(map[string]Status{TestDMARC: StatusFail}), because: map[string]string{TestDMARC: "more than one DMARC record"}},
		{domain: "pnone.test", spec: zoneSpec{signed: true, dmarc: []string{"v=DMARC1; p=none"}}, status: StatusFail,
			want: expect(map[string]Status{TestDMARC: StatusFail}), because: map[string]string{TestDMARC: "p=none"}},
		{domain: "nostarttls.test", spec: zoneSpec{signed: true, mx1IP: ipOff}, status: StatusFail,
			want: expect(map[string]Status{TestSTARTTLS + "@mx1": StatusFail,
				TestDANE + "@mx1": statusAny}), // nothing to match the TLSA record against
			because: map[string]string{TestSTARTTLS + "@mx1": "no STARTTLS"}},
		{domain: "tls10.test", spec: zoneSpec{signed: true, mx1IP: ipTLS10}, status: StatusWarning,
			want:    expect(map[string]Status{TestSTARTTLS + "@mx1": StatusWarning}),
			because: map[string]string{TestSTARTTLS + "@mx1": "TLS version TLS 1.0: phase out"}},
		{domain: "rsa1024.test", spec: zoneSpec{signed: true, mx1IP: ipRSA1024}, status: StatusFail,
			want:    expect(map[string]Status{TestSTARTTLS + "@mx1": StatusFail}),
			because: map[string]string{TestSTARTTLS + "@mx1": "RSA-1024"}},
		{domain: "norollover.test", spec: zoneSpec{signed: true, noRollover: true}, status: StatusWarning,
			want:      expect(map[string]Status{TestDANE + "@mx1": StatusWarning}),
			because:   map[string]string{TestDANE + "@mx1": "no rollover scheme"},
			transport: &Transport{DNSSEC: true, DANE: true, Policy: PolicyDANE}},
		{domain: "tlsamismatch.test", spec: zoneSpec{signed: true, wrongTLSA: true}, status: StatusFail,
			want:      expect(map[string]Status{TestDANE + "@mx1": StatusFail}),
			because:   map[string]string{TestDANE + "@mx1": "matches the certificate"},
			transport: &Transport{DNSSEC: true, Policy: PolicyPKIX}},
	}
}

// labDomains lists the scenarios' domains.
func labDomains(scs []labScenario) []string {
	var ds []string
	for _, sc := range scs {
		ds = append(ds, sc.domain)
	}
	return ds
}

// startScenarioLab starts every server and one DNS lab serving all scenarios.
func startScenarioLab(t *testing.T, scs []labScenario) *mailLab {
	t.Helper()
	l := startMailServers(t, labOptions{domains: labDomains(scs), badServers: true})
	var zones []testenv.Zone
	policies := map[string]string{}
	for _, sc := range scs {
		zones = append(zones, l.zone(sc.domain, sc.spec))
		if sc.spec.mtaSTS {
			policies[sc.domain] = mtaSTSPolicy(sc.domain)
		}
	}
	l.startLabDNS(t, zones, policies)
	return l
}

func TestLabScenarios(t *testing.T) {
	scs := labScenarios()
	l := startScenarioLab(t, scs)
	c := l.checker(t)
	for _, sc := range scs {
		t.Run(sc.domain, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*labCheckTimeout)
			defer cancel()
			rep := c.Report(ctx, sc.domain)
			checkScenario(t, sc, rep)
			if sc.stsFetched && l.sts.Fetches(sc.domain) == 0 {
				t.Errorf("the MTA-STS policy of %s was never fetched", sc.domain)
			}
		})
	}
}

// checkScenario asserts rep against sc.
func checkScenario(t *testing.T, sc labScenario, rep Report) {
	t.Helper()
	if rep.Domain != sc.domain || rep.Error != "" && sc.status != StatusError {
		t.Errorf("report of %s: domain %q, error %q", sc.domain, rep.Domain, rep.Error)
	}
	for key, want := range sc.want {
		checkWant(t, rep, key, want)
	}
	for key, text := range sc.because {
		checkBecause(t, rep, key, text)
	}
	checkNoOtherFindings(t, sc, rep)
	if sc.status != "" && rep.Status != sc.status {
		t.Errorf("report status = %s, want %s", rep.Status, sc.status)
	}
	if sc.mxHosts != nil && !slices.Equal(rep.MXHosts, sc.mxHosts) {
		t.Errorf("MX hosts = %v, want %v", rep.MXHosts, sc.mxHosts)
	}
	if sc.transport != nil && rep.Transport != *sc.transport {
		t.Errorf("transport = %+v, want %+v", rep.Transport, *sc.transport)
	}
	if t.Failed() {
		t.Logf("report: %s", describe(rep))
	}
}

// checkWant asserts the results selected by key ("test" or "test@mxN").
func checkWant(t *testing.T, rep Report, key string, want Status) {
	t.Helper()
	got := selectResults(rep, key)
	if len(got) == 0 {
		t.Errorf("%s: no result", key)
	}
	for _, r := range got {
		if !statusMatches(r.Status, want) {
			t.Errorf("%s (host %q) = %s, want %s: %s", key, r.Host, r.Status, want, r.Summary["en"])
		}
	}
}

// checkBecause asserts every result selected by key explains itself with text.
func checkBecause(t *testing.T, rep Report, key, text string) {
	t.Helper()
	got := selectResults(rep, key)
	if len(got) == 0 {
		t.Errorf("%s: no result", key)
	}
	for _, r := range got {
		if !strings.Contains(r.Summary["en"], text) || r.Summary["nl"] == "" || r.Fix["en"] == "" || r.Fix["nl"] == "" {
			t.Errorf("%s (host %q): summary %q, want it to mention %q (and nl/en summary and fix)",
				key, r.Host, r.Summary["en"], text)
		}
	}
}

// selectResults returns the results of key's test, for key's host if it
// names one (mx1 or mx2 of the report's domain).
func selectResults(rep Report, key string) []Result {
	test, host, _ := strings.Cut(key, "@")
	if host != "" {
		host += "." + rep.Domain
	}
	var out []Result
	for _, r := range rep.Tests {
		if r.Test == test && (host == "" || strings.TrimSuffix(r.Host, ".") == host) {
			out = append(out, r)
		}
	}
	return out
}

func statusMatches(got, want Status) bool {
	switch want {
	case statusOK:
		return got == StatusPass || got == StatusInfo
	case statusAny:
		return true
	}
	return got == want
}

// checkNoOtherFindings fails on a fail or warning that the scenario neither
// expects nor ignores: each scenario breaks exactly one thing.
func checkNoOtherFindings(t *testing.T, sc labScenario, rep Report) {
	t.Helper()
	for _, r := range rep.Tests {
		if r.Status != StatusFail && r.Status != StatusWarning {
			continue
		}
		if _, judged := sc.want[r.Test]; !judged && slices.Contains(infoTests, r.Test) {
			continue
		}
		keys := []string{r.Test}
		if label, _, ok := strings.Cut(r.Host, "."); ok {
			keys = append(keys, r.Test+"@"+label)
		}
		if !expected(sc, keys, r.Status) {
			t.Errorf("unexpected %s for %s (host %q): %s", r.Status, r.Test, r.Host, r.Summary["en"])
		}
	}
}

// expected reports whether any of keys expects status.
func expected(sc labScenario, keys []string, status Status) bool {
	for _, k := range keys {
		if w, ok := sc.want[k]; ok && w != statusOK && statusMatches(status, w) {
			return true
		}
	}
	return false
}

// describe renders a report's results one per line, for failure messages.
func describe(rep Report) string {
	var b strings.Builder
	b.WriteString(string(rep.Status) + " " + rep.Error)
	for _, r := range rep.Tests {
		b.WriteString("\n  " + r.Test + " " + r.Host + " " + string(r.Status) + ": " + r.Summary["en"])
	}
	return b.String()
}
