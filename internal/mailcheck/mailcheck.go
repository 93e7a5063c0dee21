// Package mailcheck rates the DNS records a mail domain publishes, the way
// Internet.nl's mail test does, so a partner organisation can see during
// self-enrolment what to fix before Veilig trusts its domain.
//
// It checks:
//   - MX records (RFC 5321 §5.1), including the null MX of RFC 7505;
//   - the SPF record (RFC 7208 §4.5, §4.6.4 lookup limit, §5 mechanisms);
//   - the DMARC record (RFC 7489 §6.1, §6.6.3) with organisational-domain
//     fallback (§3.2, via the Public Suffix List) and external report
//     destination verification (§7.1);
//   - the existence of the DKIM "_domainkey" node (RFC 6376 §3.6.2.1), as
//     Internet.nl does (a NOERROR/NODATA answer shows keys may exist below it);
//   - DNSSEC of the domain and of each MX host's zone (RFC 4033–4035);
//   - STARTTLS per MX (RFC 3207) graded per the NCSC-NL TLS guidelines, with
//     the certificate's PKIX validity (RFC 5280);
//   - DANE per MX (RFC 6698, RFC 7671, RFC 7672) and its rollover scheme;
//   - MTA-STS (RFC 8461) and TLS-RPT (RFC 8460), informational;
//   - an NTA 7516 TXT declaration, if present (see nta7516.go).
//
// All lookups go through the small Resolver interface; Checker.Report runs
// everything and derives the transport policy to pin. Every Result carries a
// Dutch and an English summary and fix; Report.WriteHTML renders a page.
package mailcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrNXDomain is returned by a Resolver when the queried name does not
	// exist (RCODE 3). A name that exists without records of the asked type
	// (NODATA) is not an error: the Resolver returns no records and nil.
	ErrNXDomain = errors.New("mailcheck: no such domain")
	// ErrLookup wraps any other resolver failure (SERVFAIL, timeout, ...):
	// the domain could not be rated and the check should be retried later.
	ErrLookup = errors.New("mailcheck: DNS lookup failed")
	// ErrInvalidDomain is returned for an empty or malformed domain name.
	ErrInvalidDomain = errors.New("mailcheck: invalid domain")
	// ErrBogus is returned by a Resolver when DNSSEC validation of the
	// answer failed (RFC 4035 §5.5): the zone's signatures are broken.
	ErrBogus = errors.New("mailcheck: DNSSEC validation failed (bogus)")
)

// MX is one mail exchanger record.
type MX struct {
	Host string // fully qualified, with or without the trailing dot; "." is a null MX
	Pref uint16
}

// Resolver answers the DNS questions the checks need. secure reports whether
// the answer was DNSSEC-authenticated. A TXT record made of several strings
// is returned joined into one string (RFC 7208 §3.3).
//
// An answer that fails DNSSEC validation (the resolver answers SERVFAIL, but
// answers with checking disabled, RFC 4035 §3.2.2) is an error wrapping
// ErrBogus.
type Resolver interface {
	TXT(ctx context.Context, name string) (records []string, secure bool, err error)
	MX(ctx context.Context, name string) (hosts []MX, secure bool, err error)
	// Addrs returns the A and AAAA addresses of host.
	Addrs(ctx context.Context, host string) (addrs []net.IP, secure bool, err error)
	// TLSA returns the TLSA records at name, e.g. "_25._tcp.mx.example.nl".
	TLSA(ctx context.Context, name string) (records []TLSA, secure bool, err error)
}

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         string // certificate association data, lower-case hex
}

// Status is the rating of one test.
type Status string

// Ratings, from best to worst for the sake of Worse; StatusInfo is neutral.
const (
	StatusPass    Status = "pass"
	StatusInfo    Status = "info"
	StatusWarning Status = "warning"
	StatusFail    Status = "fail"
)

// Test names.
const (
	TestMX    = "mx"
	TestSPF   = "spf"
	TestDMARC = "dmarc"
	TestDKIM  = "dkim"
)

// Result is the outcome of one test. Summary and Fix are keyed by language
// ("nl", "en").
type Result struct {
	Test    string            `json:"test"`
	Host    string            `json:"host,omitempty"` // the MX host, for per-host tests
	Status  Status            `json:"status"`
	Summary map[string]string `json:"summary"`
	Fix     map[string]string `json:"fix"`
}

// DefaultTimeout bounds each test, including all of its lookups.
const DefaultTimeout = 10 * time.Second

// Checker runs the tests against a Resolver.
type Checker struct {
	r       Resolver
	log     *slog.Logger
	timeout time.Duration
	opts    Options
	now     func() time.Time
}

// New returns a Checker probing port 25 with the system roots. timeout <= 0
// selects DefaultTimeout.
func New(r Resolver, log *slog.Logger, timeout time.Duration) *Checker {
	return NewWithOptions(r, log, Options{Timeout: timeout})
}

// Check runs all tests for domain, in the order MX, SPF, DMARC, DKIM. It
// stops at the first lookup failure, which is returned wrapped in ErrLookup.
func (c *Checker) Check(ctx context.Context, domain string) ([]Result, error) {
	tests := []func(context.Context, string) (Result, error){c.MX, c.SPF, c.DMARC, c.DKIM}
	results := make([]Result, 0, len(tests))
	for _, test := range tests {
		res, err := test(ctx, domain)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	return results, nil
}

// run normalises domain, applies the timeout, runs fn and logs the outcome.
func (c *Checker) run(ctx context.Context, test, domain string, fn func(context.Context, string) (Result, error)) (Result, error) {
	d, err := normalise(domain)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := fn(ctx, d)
	if err != nil {
		c.log.WarnContext(ctx, "mail check failed", "test", test, "domain", d, "err", err)
		return Result{}, err
	}
	res.Test = test
	c.log.DebugContext(ctx, "mail check done", "test", test, "domain", d, "status", res.Status)
	return res, nil
}

// normalise lower-cases domain and strips one trailing dot.
func normalise(domain string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if d == "" || len(d) > 253 || strings.ContainsAny(d, " \t/@") || strings.Contains(d, "..") {
		return "", fmt.Errorf("%w: %q", ErrInvalidDomain, domain)
	}
	return d, nil
}

// lookupErr wraps a resolver error in ErrLookup.
func lookupErr(kind, name string, err error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrLookup, kind, name, err)
}

// text is a message in both languages.
type text struct{ nl, en string }

func (t text) m() map[string]string { return map[string]string{"nl": t.nl, "en": t.en} }

// result builds a Result from a status, summary and fix.
func result(s Status, summary, fix text) Result {
	return Result{Status: s, Summary: summary.m(), Fix: fix.m()}
}

// noFix is the fix text for a passing test.
func noFix() text { return text{"Geen actie nodig.", "No action needed."} }

// severity orders statuses for picking the worst finding.
func severity(s Status) int {
	switch s {
	case StatusFail:
		return 3
	case StatusWarning:
		return 2
	case StatusInfo:
		return 1
	}
	return 0
}

// Test names of the checks that report.go runs beyond the four above.
const (
	TestDNSSEC  = "dnssec"
	TestDANE    = "dane"
	TestMTASTS  = "mta-sts"
	TestTLSRPT  = "tls-rpt"
	TestNTA7516 = "nta7516"
)
