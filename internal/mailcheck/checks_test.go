package mailcheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/veilig/veilig/internal/testenv"
)

func TestTLSAMatches(t *testing.T) {
	ca, other := testenv.NewCA(t), testenv.NewCA(t)
	leaf := withCA(ca.Issue(t, testMX), ca)
	chain := []*x509.Certificate{leaf.Leaf, ca.Cert}
	otherLeaf := other.Issue(t, testMX)
	caRec := func(u, s, m uint8, c *x509.Certificate) TLSA { return parseTLSA(t, must(testenv.TLSA(u, s, m, c))) }
	cases := []struct {
		name  string
		rec   TLSA
		host  string
		match bool
	}{
		{"3 1 1", tlsaFor(t, 3, 1, 1, leaf), testMX, true},
		{"3 0 1", tlsaFor(t, 3, 0, 1, leaf), testMX, true},
		{"3 1 2", tlsaFor(t, 3, 1, 2, leaf), testMX, true},
		{"3 0 0", tlsaFor(t, 3, 0, 0, leaf), testMX, true},
		{"3 1 1 ignores the name", tlsaFor(t, 3, 1, 1, leaf), "other.example", true},
		{"3 1 1 upper-case hex", func() TLSA { r := tlsaFor(t, 3, 1, 1, leaf); r.Data = strings.ToUpper(r.Data); return r }(), testMX, true},
		{"3 1 1 other key", tlsaFor(t, 3, 1, 1, otherLeaf), testMX, false},
		{"2 1 1", caRec(2, 1, 1, ca.Cert), testMX, true},
		{"2 0 2", caRec(2, 0, 2, ca.Cert), testMX, true},
		{"2 1 1 wrong name", caRec(2, 1, 1, ca.Cert), "other.example", false},
		{"2 1 1 other CA", caRec(2, 1, 1, other.Cert), testMX, false},
		{"2 1 1 for the leaf", tlsaFor(t, 2, 1, 1, leaf), testMX, false},
		{"1 1 1 unusable", tlsaFor(t, 1, 1, 1, leaf), testMX, false},
		{"3 2 1 unknown selector", TLSA{3, 2, 1, tlsaFor(t, 3, 1, 1, leaf).Data}, testMX, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.matches(chain, tc.host, time.Now()); got != tc.match {
				t.Errorf("matches = %v, want %v", got, tc.match)
			}
		})
	}
}

func TestRateDANE(t *testing.T) {
	ca := testenv.NewCA(t)
	leaf := ca.Issue(t, testMX)
	ee, ee2 := tlsaFor(t, 3, 1, 1, leaf), tlsaFor(t, 3, 1, 1, testenv.SelfSigned(t, testMX))
	ta := parseTLSA(t, must(testenv.TLSA(2, 1, 1, ca.Cert)))
	on := probed{offered: true, state: tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf.Leaf}}}
	cases := []struct {
		name    string
		recs    []TLSA
		insec   bool
		p       probed
		status  Status
		matched bool
		want    string
	}{
		{"3 1 1 + 2 1 1", []TLSA{ee, ta}, false, on, StatusPass, true, "matches TLSA record 3 1 1"},
		{"two 3 1 1", []TLSA{ee2, ee}, false, on, StatusPass, true, "matches"},
		{"one record", []TLSA{ee}, false, on, StatusWarning, true, "no rollover scheme"},
		{"3 1 1 + 3 0 1", []TLSA{ee, tlsaFor(t, 3, 0, 1, leaf)}, false, on, StatusWarning, true, "no rollover"},
		{"none", nil, false, on, StatusFail, false, "no TLSA"},
		{"insecure", []TLSA{ee, ee2}, true, on, StatusFail, false, "not DNSSEC-secure"},
		{"unusable", []TLSA{tlsaFor(t, 1, 1, 1, leaf)}, false, on, StatusFail, false, "unusable"},
		{"mismatch", []TLSA{ee2, ee2}, false, on, StatusFail, false, "No TLSA record"},
		{"no STARTTLS", []TLSA{ee, ta}, false, probed{}, StatusFail, false, "offers no STARTTLS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rateDANE(tc.recs, !tc.insec, tc.p, testMX)
			r.Test = TestDANE
			assertResult(t, r.Result, TestDANE, tc.status, tc.want)
			if r.matched != tc.matched {
				t.Errorf("matched = %v, want %v", r.matched, tc.matched)
			}
		})
	}
}

func TestCheckMTASTS(t *testing.T) {
	ca := testenv.NewCA(t)
	hosts := []string{"mx1.gemeente.example", "mx2.gemeente.example"}
	policy := func(mode string, mx ...string) string { return testenv.MTASTSPolicy(mode, 24*time.Hour, mx...) }
	cases := []struct {
		name    string
		txt     []string
		policy  string // "" answers 404
		status  Status
		enforce bool
		want    string
	}{
		{"enforce", []string{"v=STSv1; id=1"}, policy("enforce", hosts...), StatusPass, true, `"enforce"`},
		{"wildcard", []string{"v=STSv1; id=1"}, policy("enforce", "*.gemeente.example"), StatusPass, true, "covers every"},
		{"testing", []string{"v=STSv1; id=1"}, policy("testing", hosts...), StatusInfo, false, `"testing"`},
		{"none", []string{"v=STSv1; id=1"}, policy("none"), StatusInfo, false, `"none"`},
		{"uncovered", []string{"v=STSv1; id=1"}, policy("enforce", hosts[0]), StatusWarning, false, hosts[1]},
		{"no record", []string{"v=spf1 -all"}, policy("enforce", hosts...), StatusInfo, false, "no MTA-STS"},
		{"two records", []string{"v=STSv1; id=1", "v=STSv1; id=2"}, policy("enforce", hosts...), StatusWarning, false, "more than one"},
		{"bad record", []string{"v=STSv1; idd"}, policy("enforce", hosts...), StatusWarning, false, "record is invalid"},
		{"404", []string{"v=STSv1; id=1"}, "", StatusWarning, false, "could not be fetched"},
		{"bad policy", []string{"v=STSv1; id=1"}, "version: STSv1\r\nmode: sometimes\r\n", StatusWarning, false, "policy is invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.StartMTASTS(t, ca, map[string]string{testDomain: tc.policy})
			f := fakeDNS{txt: map[string][]string{"_mta-sts." + testDomain: tc.txt}}
			c := NewWithOptions(f, testenv.Logger(t), Options{HTTPClient: srv.Client()})
			res, enforce, err := c.MTASTS(context.Background(), testDomain, hosts)
			if err != nil {
				t.Fatal(err)
			}
			assertResult(t, res, TestMTASTS, tc.status, tc.want)
			if enforce != tc.enforce {
				t.Errorf("enforce = %v, want %v", enforce, tc.enforce)
			}
		})
	}
}

func TestCheckTLSRPT(t *testing.T) {
	name := "_smtp._tls." + testDomain
	cases := []checkCase{
		{name: "valid", dns: fakeDNS{txt: map[string][]string{name: {"v=TLSRPTv1; rua=mailto:tls@gemeente.example"}}}, status: StatusPass, want: "valid TLS-RPT"},
		{name: "https", dns: fakeDNS{txt: map[string][]string{name: {"v=TLSRPTv1;rua=https://report.example/tls"}}}, status: StatusPass, want: "valid"},
		{name: "none", dns: fakeDNS{nx: map[string]bool{name: true}}, status: StatusInfo, want: "no TLS-RPT"},
		{name: "two", dns: fakeDNS{txt: map[string][]string{name: {"v=TLSRPTv1; rua=mailto:a@b.example", "v=TLSRPTv1; rua=mailto:c@b.example"}}}, status: StatusWarning, want: "more than one"},
		{name: "no rua", dns: fakeDNS{txt: map[string][]string{name: {"v=TLSRPTv1;"}}}, status: StatusWarning, want: "invalid"},
		{name: "ftp rua", dns: fakeDNS{txt: map[string][]string{name: {"v=TLSRPTv1; rua=ftp://x.example/"}}}, status: StatusWarning, want: "invalid"},
	}
	runCases(t, TestTLSRPT, cases, func(c *Checker) func(context.Context, string) (Result, error) { return c.TLSRPT })
}

func TestCheckNTA7516(t *testing.T) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		txt    []string
		status Status
		want   string
	}{
		{[]string{"v=spf1 -all"}, StatusInfo, "no NTA 7516"},
		{[]string{"v=NTA7516;version:2019-06;expire:2026-03;provider:smartlockr;ntamx:mx.gemeente.example"}, StatusPass, "through 2026-03, provider smartlockr"},
		{[]string{"v=NTA7516; version=2019-06; expire=2027-01"}, StatusPass, "through 2027-01"},
		{[]string{"v=NTA7516;version:2019-06;expire:2026-02"}, StatusWarning, "expired"},
		{[]string{"v=NTA7516;version:2019-06"}, StatusWarning, "no expiry"},
		{[]string{"v=NTA7516;expire:soon"}, StatusWarning, "malformed"},
		{[]string{"v=NTA7516;expire:2027-01", "v=NTA7516;expire:2028-01"}, StatusWarning, "more than one"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			c := newChecker(fakeDNS{txt: map[string][]string{testDomain: tc.txt}})
			c.now = func() time.Time { return now }
			res, err := c.NTA7516(context.Background(), testDomain)
			if err != nil {
				t.Fatal(err)
			}
			assertResult(t, res, TestNTA7516, tc.status, tc.want)
		})
	}
}

func TestFloor(t *testing.T) {
	dmarcPass := Result{Test: TestDMARC, Status: StatusPass}
	dmarcFail := Result{Test: TestDMARC, Status: StatusFail}
	cases := []struct {
		name    string
		floor   string
		rep     Report
		ok      bool
		missing []string
	}{
		{"dane", DefaultFloor, Report{Status: StatusFail, Tests: []Result{dmarcPass}, Transport: Transport{DNSSEC: true, DANE: true}}, true, nil},
		{"mta-sts", DefaultFloor, Report{Tests: []Result{dmarcPass}, Transport: Transport{MTASTSEnforce: true}}, true, nil},
		{"dane without dnssec", DefaultFloor, Report{Tests: []Result{dmarcPass}, Transport: Transport{DANE: true}}, false, []string{"dnssec+dane|mta-sts"}},
		{"no dmarc", DefaultFloor, Report{Tests: []Result{dmarcFail}, Transport: Transport{MTASTSEnforce: true}}, false, []string{"dmarc"}},
		{"nothing", DefaultFloor, Report{}, false, []string{"dnssec+dane|mta-sts", "dmarc"}},
		{"error", DefaultFloor, Report{Status: StatusError}, false, []string{"complete check"}},
		{"all", "all", Report{Status: StatusInfo}, true, nil},
		{"spaces and case", " DNSSEC + DANE ", Report{Transport: Transport{DNSSEC: true, DANE: true}}, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFloor(tc.floor)
			if err != nil {
				t.Fatal(err)
			}
			ok, missing := tc.rep.Meets(f)
			if ok != tc.ok || !cmp.Equal(missing, tc.missing) {
				t.Errorf("Meets = %v %q, want %v %q", ok, missing, tc.ok, tc.missing)
			}
		})
	}
	for _, bad := range []string{"", "dane,", "dnssec+", "ipv6", "dane|x"} {
		if _, err := ParseFloor(bad); err == nil {
			t.Errorf("ParseFloor(%q) succeeded", bad)
		}
	}
}

func TestWriteHTML(t *testing.T) {
	rep := Report{Domain: "gemeente.example", CheckedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Status: StatusError,
		Error: "secret resolver 10.0.0.53", MXHosts: []string{testMX},
		Transport: Transport{DNSSEC: true, Policy: PolicyPKIX},
		Tests: []Result{
			{Test: TestDANE, Host: testMX, Status: StatusFail, Summary: text{"Geen <script>alert(1)</script>", "No <b>match</b>\nsecond line"}.m(), Fix: text{"Herstel", "Repair"}.m()},
			{Test: TestMX, Status: StatusPass, Summary: text{"Goed", "Good"}.m(), Fix: noFix().m()},
		}}
	cases := []struct {
		lang    string
		want    []string
		notWant []string
	}{
		{"nl", []string{`<html lang="nl">`, "✗ gezakt", "✓ geslaagd", "Geen &lt;script&gt;alert(1)&lt;/script&gt;", "Herstel", "niet helemaal", "<th scope=\"row\">DANE</th>"},
			[]string{"<script>", "No &lt;b&gt;", "10.0.0.53"}},
		{"en", []string{`<html lang="en">`, "✗ fail", "✓ pass", "No &lt;b&gt;match&lt;/b&gt;<br>second line", "Repair", "could not be completed", "<caption>"},
			[]string{"<script", "<b>", "Geen", "10.0.0.53"}},
		{"fr", []string{`<html lang="nl">`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.lang, func(t *testing.T) {
			var b bytes.Buffer
			if err := rep.WriteHTML(&b, tc.lang); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("page contains %q", w)
				}
			}
		})
	}
}

// bogusAnswer fails validation: SERVFAIL, but an answer with CD=1. Names
// starting with "broken" SERVFAIL either way; "tlsa" and "addr" answer data.
func bogusAnswer(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	name := q.Question[0].Name
	switch strings.SplitN(name, ".", 2)[0] {
	case "bogus":
		if !q.CheckingDisabled {
			m.Rcode = dns.RcodeServerFailure
		}
	case "broken":
		m.Rcode = dns.RcodeServerFailure
	case "tlsa":
		m.AuthenticatedData = true
		m.Answer = records(name+" TLSA 3 1 1 ABCDEF01", name+" TLSA 2 0 2 00ff")
	case "addr":
		m.AuthenticatedData = true
		m.Answer = records(name+" CNAME other.example.", "other.example. A 192.0.2.1", "other.example. AAAA 2001:db8::1")
		if q.Question[0].Qtype == dns.TypeA {
			m.Answer = m.Answer[:2]
		} else {
			m.Answer = append(m.Answer[:1], m.Answer[2])
		}
	}
	_ = w.WriteMsg(m)
}

func TestDNSBogusTLSAAddrs(t *testing.T) {
	r := NewDNS(testenv.ServeDNS(t, dns.HandlerFunc(bogusAnswer)), time.Second)
	ctx := context.Background()
	if _, _, err := r.TXT(ctx, "bogus.example"); !errorsIs(err, ErrBogus) {
		t.Errorf("bogus: err = %v, want ErrBogus", err)
	}
	if _, _, err := r.TXT(ctx, "broken.example"); !errorsIs(err, ErrLookup) || errorsIs(err, ErrBogus) {
		t.Errorf("broken: err = %v, want ErrLookup, not ErrBogus", err)
	}
	recs, secure, err := r.TLSA(ctx, "tlsa.example")
	want := []TLSA{{3, 1, 1, "abcdef01"}, {2, 0, 2, "00ff"}}
	if err != nil || !secure || !cmp.Equal(want, recs) {
		t.Errorf("TLSA = %v %v %v, want %v secure", recs, secure, err, want)
	}
	addrs, secure, err := r.Addrs(ctx, "addr.example")
	if err != nil || !secure || len(addrs) != 2 || addrs[0].String() != "192.0.2.1" || addrs[1].String() != "2001:db8::1" {
		t.Errorf("Addrs = %v %v %v", addrs, secure, err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
