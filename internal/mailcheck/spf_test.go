package mailcheck

import (
	"context"
	"fmt"
	"testing"
)

func spfDNS(records map[string][]string) fakeDNS { return fakeDNS{txt: records} }

func TestCheckSPF(t *testing.T) {
	d := "gemeente.example"
	// chain builds n include levels, each with one "a" term: 2n lookups.
	chain := func(n int) map[string][]string {
		m := map[string][]string{d: {"v=spf1 include:l1.example -all"}}
		for i := 1; i <= n; i++ {
			next := fmt.Sprintf("include:l%d.example", i+1)
			if i == n {
				next = ""
			}
			m[fmt.Sprintf("l%d.example", i)] = []string{"v=spf1 a " + next + " ~all"}
		}
		return m
	}
	cases := []checkCase{
		{name: "hardfail", dns: spfDNS(map[string][]string{d: {"v=spf1 ip4:192.0.2.1 -all"}}), status: StatusPass, want: "-all, 0 DNS"},
		{name: "softfail", dns: spfDNS(map[string][]string{d: {"v=spf1 mx a ~all"}}), status: StatusPass, want: "~all, 2 DNS"},
		{name: "case and other TXT", dns: spfDNS(map[string][]string{d: {"google-site-verification=x", "V=SPF1 MX -ALL"}}), status: StatusPass, want: "-all"},
		{name: "neutral", dns: spfDNS(map[string][]string{d: {"v=spf1 mx ?all"}}), status: StatusWarning, want: "?all"},
		{name: "pass all", dns: spfDNS(map[string][]string{d: {"v=spf1 mx +all"}}), status: StatusFail, want: "+all"},
		{name: "implicit pass all", dns: spfDNS(map[string][]string{d: {"v=spf1 mx all"}}), status: StatusFail, want: "+all"},
		{name: "missing all", dns: spfDNS(map[string][]string{d: {"v=spf1 mx"}}), status: StatusWarning, want: `no "all"`},
		{name: "none", dns: spfDNS(map[string][]string{d: {"v=spf10 -all"}}), status: StatusFail, want: "no SPF record"},
		{name: "nxdomain", dns: fakeDNS{nx: map[string]bool{d: true}}, status: StatusFail, want: "no SPF record"},
		{name: "two records", dns: spfDNS(map[string][]string{d: {"v=spf1 -all", "v=spf1 mx -all"}}), status: StatusFail, want: "permerror"},
		{name: "ptr", dns: spfDNS(map[string][]string{d: {"v=spf1 ptr -all"}}), status: StatusWarning, want: `"ptr"`},
		{name: "ptr in include", dns: spfDNS(map[string][]string{d: {"v=spf1 include:isp.example -all"}, "isp.example": {"v=spf1 ptr:isp.example ~all"}}), status: StatusWarning, want: `"ptr"`},
		{name: "ptr with +all fails", dns: spfDNS(map[string][]string{d: {"v=spf1 ptr +all"}}), status: StatusFail, want: "+all"},
		{name: "unknown mechanism", dns: spfDNS(map[string][]string{d: {"v=spf1 foo -all"}}), status: StatusFail, want: "unknown mechanism"},
		{name: "unknown modifier ignored", dns: spfDNS(map[string][]string{d: {"v=spf1 mx foo=bar exp=explain.example -all"}}), status: StatusPass, want: "1 DNS"},
		{name: "exactly 10 lookups", dns: spfDNS(chain(5)), status: StatusPass, want: "-all, 10 DNS"}, // 5 includes + 5 a
		{name: "11 lookups", dns: spfDNS(map[string][]string{d: {"v=spf1 a mx a:x.example mx:y.example exists:z.example a a a a a a -all"}}), status: StatusFail, want: "more than 10"},
		{name: "lookups in includes", dns: spfDNS(chain(6)), status: StatusFail, want: "more than 10"},
		{name: "include loop", dns: spfDNS(map[string][]string{d: {"v=spf1 include:a.example -all"}, "a.example": {"v=spf1 include:gemeente.example -all"}}), status: StatusFail, want: "looping include"},
		{name: "include without record", dns: spfDNS(map[string][]string{d: {"v=spf1 include:none.example -all"}}), status: StatusFail, want: "without an SPF record"},
		{name: "include nxdomain", dns: fakeDNS{txt: map[string][]string{d: {"v=spf1 include:gone.example -all"}}, nx: map[string]bool{"gone.example": true}}, status: StatusFail, want: "without an SPF record"},
		{name: "include with two records", dns: spfDNS(map[string][]string{d: {"v=spf1 include:two.example -all"}, "two.example": {"v=spf1 -all", "v=spf1 a -all"}}), status: StatusFail, want: "more than one"},
		{name: "include +all does not count", dns: spfDNS(map[string][]string{d: {"v=spf1 include:isp.example -all"}, "isp.example": {"v=spf1 +all"}}), status: StatusPass, want: "-all, 1 DNS"},
		{name: "empty include", dns: spfDNS(map[string][]string{d: {"v=spf1 include: -all"}}), status: StatusFail, want: "invalid or looping"},
		{name: "macro include counted not followed", dns: spfDNS(map[string][]string{d: {"v=spf1 include:%{i}._spf.example -all"}}), status: StatusPass, want: "1 DNS"},
		{name: "redirect all", dns: spfDNS(map[string][]string{d: {"v=spf1 redirect=_spf.gemeente.example"}, "_spf.gemeente.example": {"v=spf1 mx -all"}}), status: StatusPass, want: "-all, 2 DNS"},
		{name: "redirect neutral", dns: spfDNS(map[string][]string{d: {"v=spf1 redirect=_spf.gemeente.example"}, "_spf.gemeente.example": {"v=spf1 mx ?all"}}), status: StatusWarning, want: "?all"},
		{name: "redirect ignored with all", dns: spfDNS(map[string][]string{d: {"v=spf1 -all redirect=missing.example"}}), status: StatusPass, want: "0 DNS"},
		{name: "redirect loop", dns: spfDNS(map[string][]string{d: {"v=spf1 redirect=gemeente.example"}}), status: StatusFail, want: "looping redirect"},
	}
	runCases(t, TestSPF, cases, func(c *Checker) func(context.Context, string) (Result, error) { return c.SPF })
}

func TestParseTerm(t *testing.T) {
	cases := []struct {
		in   string
		want spfTerm
	}{
		{"-all", spfTerm{qual: "-", name: "all"}},
		{"a/24", spfTerm{qual: "+", name: "a"}},
		{"~MX:mail.example/24//64", spfTerm{qual: "~", name: "mx", arg: "mail.example"}},
		{"include:_spf.example", spfTerm{qual: "+", name: "include", arg: "_spf.example"}},
		{"redirect=_spf.example", spfTerm{qual: "+", name: "redirect", arg: "_spf.example", modifier: true}},
		{"ip6:2001:db8::/32", spfTerm{qual: "+", name: "ip6", arg: "2001:db8::"}},
	}
	for _, tc := range cases {
		if got := parseTerm(tc.in); got != tc.want {
			t.Errorf("parseTerm(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
