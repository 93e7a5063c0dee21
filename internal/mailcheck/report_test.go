package mailcheck

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/testenv"
)

const (
	testDomain = "gemeente.example"
	testMX     = "mx.gemeente.example"
)

// parseTLSA reads "u s m hex" as testenv.TLSA renders it.
func parseTLSA(t *testing.T, s string) TLSA {
	t.Helper()
	f := strings.Fields(s)
	if len(f) != 4 {
		t.Fatalf("bad TLSA %q", s)
	}
	n := func(s string) uint8 {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return uint8(v)
	}
	return TLSA{Usage: n(f[0]), Selector: n(f[1]), MatchingType: n(f[2]), Data: strings.ToLower(f[3])}
}

// tlsaFor computes TLSA records for cert with testenv's (miekg/dns) code.
func tlsaFor(t *testing.T, usage, selector, matching uint8, cert tls.Certificate) TLSA {
	t.Helper()
	s, err := testenv.TLSA(usage, selector, matching, cert.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	return parseTLSA(t, s)
}

// withCA returns cert's chain extended by the CA certificate, for DANE-TA.
func withCA(cert tls.Certificate, ca *testenv.CA) tls.Certificate {
	cert.Certificate = append(cert.Certificate[:1:1], ca.Cert.Raw)
	return cert
}

// goodDNS is a domain that passes every test with one MX on loopback; a
// "3 1 1" and "2 1 1" record for cert signed by ca.
func goodDNS(t *testing.T, cert tls.Certificate, ca *testenv.CA, port int) fakeDNS {
	tlsaName := "_" + strconv.Itoa(port) + "._tcp." + testMX
	return fakeDNS{
		mx:    map[string][]MX{testDomain: {{Host: testMX + ".", Pref: 10}}},
		addrs: map[string][]net.IP{testMX: {net.IPv4(127, 0, 0, 1)}},
		tlsa: map[string][]TLSA{tlsaName: {tlsaFor(t, 3, 1, 1, cert),
			parseTLSA(t, must(testenv.TLSA(2, 1, 1, ca.Cert)))}},
		txt: map[string][]string{
			testDomain:                 {"v=spf1 mx -all"},
			"_dmarc." + testDomain:     {"v=DMARC1; p=reject"},
			"_mta-sts." + testDomain:   {"v=STSv1; id=20250101"},
			"_smtp._tls." + testDomain: {"v=TLSRPTv1; rua=mailto:tls@gemeente.example"},
		},
		secure: map[string]bool{testDomain: true, testMX: true, tlsaName: true},
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// summary renders a report's tests as "test[@host]:status".
func summary(r Report) []string {
	var out []string
	for _, t := range r.Tests {
		s := t.Test
		if t.Host != "" {
			s += "@" + t.Host
		}
		out = append(out, s+":"+string(t.Status))
	}
	return out
}

// want builds the expected summary from the all-pass one and overrides.
func want(over map[string]Status, drop ...string) []string {
	base := []string{"mx", "dnssec", "dnssec@" + testMX, "spf", "dmarc", "dkim", "starttls@" + testMX,
		"dane@" + testMX, "mta-sts", "tls-rpt", "nta7516"}
	var out []string
	for _, k := range base {
		if contains(drop, k) {
			continue
		}
		s := StatusPass
		if k == "nta7516" {
			s = StatusInfo
		}
		if v, ok := over[k]; ok {
			s = v
		}
		out = append(out, k+":"+string(s))
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestReport(t *testing.T) {
	ca := testenv.NewCA(t)
	good := ca.Issue(t, testMX)
	self := testenv.SelfSigned(t, testMX)
	sts := testenv.StartMTASTS(t, ca, map[string]string{
		testDomain: testenv.MTASTSPolicy("enforce", 24*time.Hour, testMX)})
	perMX := []string{"dnssec@" + testMX, "starttls@" + testMX, "dane@" + testMX}
	cases := []struct {
		name      string
		cert      *tls.Certificate // nil: no STARTTLS
		dns       func(f fakeDNS, tlsaName string) fakeDNS
		want      []string
		status    Status
		transport Transport
		mxHosts   []string
	}{
		{name: "all good", cert: &good, dns: func(f fakeDNS, _ string) fakeDNS { return f },
			want: want(nil), status: StatusPass, transport: Transport{true, true, true, PolicyDANE}, mxHosts: []string{testMX}},
		{name: "no DNSSEC", cert: &good, dns: func(f fakeDNS, _ string) fakeDNS { f.secure = nil; return f },
			want:   want(map[string]Status{"dnssec": StatusFail, "dnssec@" + testMX: StatusFail, "dane@" + testMX: StatusFail}),
			status: StatusFail, transport: Transport{false, false, true, PolicyMTASTS}, mxHosts: []string{testMX}},
		{name: "bogus domain", cert: &good, dns: func(f fakeDNS, _ string) fakeDNS { f.bogus = map[string]bool{testDomain: true}; return f },
			want:   []string{"mx:fail", "dnssec:fail", "spf:fail", "dmarc:pass", "dkim:pass", "mta-sts:pass", "tls-rpt:pass", "nta7516:fail"},
			status: StatusFail, transport: Transport{Policy: PolicyPKIX}, mxHosts: []string{}},
		{name: "bogus MX zone", cert: &good, dns: func(f fakeDNS, _ string) fakeDNS { f.bogus = map[string]bool{testMX: true}; return f },
			want:   want(map[string]Status{"dnssec@" + testMX: StatusFail, "starttls@" + testMX: StatusFail, "dane@" + testMX: StatusFail, "mta-sts": StatusPass}),
			status: StatusFail, transport: Transport{false, false, true, PolicyMTASTS}, mxHosts: []string{testMX}},
		{name: "TLSA mismatch", cert: &good, dns: func(f fakeDNS, n string) fakeDNS {
			f.tlsa = map[string][]TLSA{n: {tlsaFor(t, 3, 1, 1, self), tlsaFor(t, 3, 1, 1, self)}}
			return f
		}, want: want(map[string]Status{"dane@" + testMX: StatusFail}), status: StatusFail,
			transport: Transport{true, false, true, PolicyMTASTS}, mxHosts: []string{testMX}},
		{name: "one TLSA record", cert: &good, dns: func(f fakeDNS, n string) fakeDNS { f.tlsa = map[string][]TLSA{n: f.tlsa[n][:1]}; return f },
			want: want(map[string]Status{"dane@" + testMX: StatusWarning}), status: StatusWarning,
			transport: Transport{true, true, true, PolicyDANE}, mxHosts: []string{testMX}},
		{name: "self-signed with DANE-EE", cert: &self, dns: func(f fakeDNS, n string) fakeDNS {
			f.tlsa = map[string][]TLSA{n: {tlsaFor(t, 3, 1, 1, self), tlsaFor(t, 3, 0, 2, self)}}
			return f
		}, want: want(map[string]Status{"dane@" + testMX: StatusWarning, "mta-sts": StatusPass}), status: StatusWarning,
			transport: Transport{true, true, true, PolicyDANE}, mxHosts: []string{testMX}},
		{name: "self-signed without TLSA", cert: &self, dns: func(f fakeDNS, _ string) fakeDNS { f.tlsa = nil; return f },
			want:   want(map[string]Status{"starttls@" + testMX: StatusWarning, "dane@" + testMX: StatusFail}),
			status: StatusFail, transport: Transport{true, false, true, PolicyMTASTS}, mxHosts: []string{testMX}},
		{name: "no STARTTLS", dns: func(f fakeDNS, _ string) fakeDNS { return f },
			want:   want(map[string]Status{"starttls@" + testMX: StatusFail, "dane@" + testMX: StatusFail}),
			status: StatusFail, transport: Transport{true, false, true, PolicyMTASTS}, mxHosts: []string{testMX}},
		{name: "null MX", cert: &good, dns: func(f fakeDNS, _ string) fakeDNS {
			f.mx = map[string][]MX{testDomain: {{Host: "."}}}
			return f
		}, want: want(map[string]Status{"mx": StatusInfo, "mta-sts": StatusPass}, perMX...), status: StatusPass,
			transport: Transport{DNSSEC: true, Policy: PolicyPKIX}, mxHosts: []string{}},
		{name: "TLSA lookup fails", cert: &good, dns: func(f fakeDNS, n string) fakeDNS { f.fail = map[string]bool{n: true}; return f },
			want: want(nil, "dane@"+testMX), status: StatusError,
			transport: Transport{true, false, true, PolicyMTASTS}, mxHosts: []string{testMX}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port := serveSMTP(t, smtpPeer{cert: tc.cert})
			f := tc.dns(goodDNS(t, good, ca, port), "_"+strconv.Itoa(port)+"._tcp."+testMX)
			c := NewWithOptions(f, testenv.Logger(t), Options{Port: port, Roots: ca.Pool(), HTTPClient: sts.Client(), Timeout: 10 * time.Second, AllowPrivate: true})
			rep := c.Report(context.Background(), "Gemeente.Example.")
			if diff := cmp.Diff(tc.want, summary(rep)); diff != "" {
				t.Errorf("tests (-want +got):\n%s\n%s", diff, dump(rep))
			}
			if rep.Status != tc.status || (rep.Status == StatusError) != (rep.Error != "") {
				t.Errorf("status %s, error %q; want %s", rep.Status, rep.Error, tc.status)
			}
			if diff := cmp.Diff(tc.transport, rep.Transport); diff != "" {
				t.Errorf("transport (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.mxHosts, rep.MXHosts); diff != "" || rep.Domain != testDomain {
				t.Errorf("domain %q, MX hosts (-want +got):\n%s", rep.Domain, diff)
			}
		})
	}
}

// dump renders each test's English summary, for failure messages.
func dump(r Report) string {
	var b strings.Builder
	for _, t := range r.Tests {
		b.WriteString(t.Test + "@" + t.Host + ": " + t.Summary["en"] + "\n")
	}
	return b.String() + "error: " + r.Error
}

func TestReportInvalidDomain(t *testing.T) {
	rep := newChecker(fakeDNS{}).Report(context.Background(), "a..example")
	if rep.Status != StatusError || rep.Error == "" || len(rep.Tests) != 0 {
		t.Errorf("got %+v, want an error report", rep)
	}
}
