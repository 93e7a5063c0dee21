package mailcheck

import (
	"context"
	"testing"
)

func TestCheckDMARC(t *testing.T) {
	at := "_dmarc.gemeente.example"
	auth := "gemeente.example._report._dmarc.dmarc.vendor.example"
	txt := func(kv ...string) fakeDNS {
		m := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = append(m[kv[i]], kv[i+1])
		}
		return fakeDNS{txt: m}
	}
	cases := []checkCase{
		{name: "reject", dns: txt(at, "v=DMARC1; p=reject"), status: StatusPass, want: "p=reject"},
		{name: "quarantine", dns: txt(at, "v=DMARC1;p=Quarantine;pct=100"), status: StatusPass, want: "p=quarantine"},
		{name: "none", dns: txt(at, "v=DMARC1; p=none"), status: StatusFail, want: "p=none"},
		{name: "missing p", dns: txt(at, "v=DMARC1; rua=mailto:d@gemeente.example"), status: StatusFail, want: "no valid p="},
		{name: "bogus p", dns: txt(at, "v=DMARC1; p=strict"), status: StatusFail, want: "no valid p="},
		{name: "no record", dns: fakeDNS{}, status: StatusFail, want: "no DMARC"},
		{name: "nxdomain", dns: fakeDNS{nx: map[string]bool{at: true}}, status: StatusFail, want: "no DMARC"},
		{name: "not first tag", dns: txt(at, "p=reject; v=DMARC1"), status: StatusFail, want: "no DMARC"},
		{name: "other TXT ignored", dns: txt(at, "hello", at, "v=DMARC1; p=reject"), status: StatusPass, want: "p=reject"},
		{name: "two records", dns: txt(at, "v=DMARC1; p=reject", at, "v=DMARC1; p=none"), status: StatusFail, want: "more than one"},
		{name: "sp none weakens", dns: txt(at, "v=DMARC1; p=reject; sp=none"), status: StatusWarning, want: "sp=none"},
		{name: "sp reject with p none", dns: txt(at, "v=DMARC1; p=none; sp=reject"), status: StatusFail, want: "p=none"},
		{name: "org fallback uses sp", domain: "post.gemeente.example",
			dns: txt(at, "v=DMARC1; p=reject; sp=none"), status: StatusFail, want: "sp=none (at gemeente.example)"},
		{name: "org fallback uses p", domain: "post.gemeente.example",
			dns: txt(at, "v=DMARC1; p=quarantine"), status: StatusPass, want: "p=quarantine, at gemeente.example"},
		{name: "own record wins over org", domain: "post.gemeente.example",
			dns: txt("_dmarc.post.gemeente.example", "v=DMARC1; p=reject", at, "v=DMARC1; p=none"), status: StatusPass, want: "at post.gemeente.example"},
		{name: "org fallback with two records", domain: "post.gemeente.example",
			dns: txt(at, "v=DMARC1; p=reject", at, "v=DMARC1; p=reject"), status: StatusFail, want: "more than one"},
		{name: "public suffix has no org fallback", domain: "gemeente.co.uk",
			dns: txt("_dmarc.co.uk", "v=DMARC1; p=reject"), status: StatusFail, want: "no DMARC"},
		{name: "rua same org", dns: txt(at, "v=DMARC1; p=reject; rua=mailto:dmarc@rapport.gemeente.example"), status: StatusPass, want: "p=reject"},
		{name: "rua external unauthorised",
			dns:    txt(at, "v=DMARC1; p=reject; rua=mailto:d@gemeente.example,mailto:x@dmarc.vendor.example!10m"),
			status: StatusWarning, want: "dmarc.vendor.example has not authorised"},
		{name: "rua external authorised",
			dns:    txt(at, "v=DMARC1; p=reject; rua=mailto:x@dmarc.vendor.example", auth, "v=DMARC1"),
			status: StatusPass, want: "p=reject"},
		{name: "rua external wrong authorisation",
			dns:    txt(at, "v=DMARC1; p=reject; rua=mailto:x@dmarc.vendor.example", auth, "v=spf1 -all"),
			status: StatusWarning, want: "not authorised"},
		{name: "rua external nxdomain", dns: fakeDNS{txt: map[string][]string{at: {"v=DMARC1; p=reject; rua=mailto:x@dmarc.vendor.example"}}, nx: map[string]bool{auth: true}},
			status: StatusWarning, want: "not authorised"},
		{name: "p none outranks rua warning",
			dns:    txt(at, "v=DMARC1; p=none; rua=mailto:x@dmarc.vendor.example"),
			status: StatusFail, want: "p=none"},
		{name: "rua authorised for policy domain on fallback", domain: "post.gemeente.example",
			dns:    txt(at, "v=DMARC1; p=reject; rua=mailto:x@dmarc.vendor.example", auth, "v=DMARC1"),
			status: StatusPass, want: "at gemeente.example"},
	}
	runCases(t, TestDMARC, cases, func(c *Checker) func(context.Context, string) (Result, error) { return c.DMARC })
}

func TestExternalDests(t *testing.T) {
	got := externalDests("gemeente.example",
		" mailto:a@gemeente.example, mailto:b@Vendor.example!10m,https://x.example/r,mailto:c@vendor.example,mailto:d@mail.vendor.example.,mailto:")
	want := []string{"vendor.example", "mail.vendor.example"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
