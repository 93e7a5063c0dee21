package mailcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

var errServfail = errors.New("servfail")

// fakeDNS is a map-backed Resolver. Names in nx answer NXDOMAIN, names in
// fail answer SERVFAIL, names in bogus fail validation, any other name
// answers its records (possibly none), authenticated when in secure.
type fakeDNS struct {
	txt    map[string][]string
	mx     map[string][]MX
	addrs  map[string][]net.IP
	tlsa   map[string][]TLSA
	nx     map[string]bool
	fail   map[string]bool
	bogus  map[string]bool
	secure map[string]bool
}

var _ Resolver = fakeDNS{}

func (f fakeDNS) err(name string) error {
	switch {
	case f.fail[name]:
		return errServfail
	case f.bogus[name]:
		return fmt.Errorf("%w: %s", ErrBogus, name)
	case f.nx[name]:
		return ErrNXDomain
	}
	return nil
}

func (f fakeDNS) TXT(_ context.Context, name string) ([]string, bool, error) {
	if err := f.err(name); err != nil {
		return nil, false, err
	}
	return f.txt[name], f.secure[name], nil
}

func (f fakeDNS) MX(_ context.Context, name string) ([]MX, bool, error) {
	if err := f.err(name); err != nil {
		return nil, false, err
	}
	return f.mx[name], f.secure[name], nil
}

func (f fakeDNS) Addrs(_ context.Context, name string) ([]net.IP, bool, error) {
	if err := f.err(name); err != nil {
		return nil, false, err
	}
	return f.addrs[name], f.secure[name], nil
}

func (f fakeDNS) TLSA(_ context.Context, name string) ([]TLSA, bool, error) {
	if err := f.err(name); err != nil {
		return nil, false, err
	}
	return f.tlsa[name], f.secure[name], nil
}

func newChecker(f fakeDNS) *Checker {
	return New(f, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
}

// checkCase is one row of a table test: the DNS data, the expected status
// and a fragment expected in the English summary.
type checkCase struct {
	name   string
	domain string
	dns    fakeDNS
	status Status
	want   string
}

// runCases runs a table of cases against one test method.
func runCases(t *testing.T, test string, cases []checkCase, fn func(*Checker) func(context.Context, string) (Result, error)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			domain := tc.domain
			if domain == "" {
				domain = "gemeente.example"
			}
			res, err := fn(newChecker(tc.dns))(context.Background(), domain)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			assertResult(t, res, test, tc.status, tc.want)
		})
	}
}

func assertResult(t *testing.T, res Result, test string, status Status, want string) {
	t.Helper()
	if res.Test != test || res.Status != status {
		t.Errorf("got %s/%s, want %s/%s (summary %q)", res.Test, res.Status, test, status, res.Summary["en"])
	}
	if !strings.Contains(res.Summary["en"], want) {
		t.Errorf("summary %q does not contain %q", res.Summary["en"], want)
	}
	for _, lang := range []string{"nl", "en"} {
		if res.Summary[lang] == "" || res.Fix[lang] == "" {
			t.Errorf("missing %s summary or fix: %+v", lang, res)
		}
	}
	if res.Summary["nl"] == res.Summary["en"] {
		t.Errorf("Dutch summary equals English: %q", res.Summary["nl"])
	}
}

func TestCheckMX(t *testing.T) {
	d := "gemeente.example"
	many := make([]MX, 11)
	for i := range many {
		many[i] = MX{Host: "mx.gemeente.example.", Pref: uint16(i)}
	}
	cases := []checkCase{
		{name: "pass", dns: fakeDNS{mx: map[string][]MX{d: {{Host: "mx1.gemeente.example.", Pref: 10}}}}, status: StatusPass, want: "valid MX"},
		{name: "null MX", dns: fakeDNS{mx: map[string][]MX{d: {{Host: ".", Pref: 0}}}}, status: StatusInfo, want: "accepts no mail"},
		{name: "null MX mixed", dns: fakeDNS{mx: map[string][]MX{d: {{Host: "."}, {Host: "mx.gemeente.example."}}}}, status: StatusFail, want: "mixes"},
		{name: "none", dns: fakeDNS{}, status: StatusFail, want: "no MX"},
		{name: "nxdomain", dns: fakeDNS{nx: map[string]bool{d: true}}, status: StatusFail, want: "no MX"},
		{name: "ten", dns: fakeDNS{mx: map[string][]MX{d: many[:10]}}, status: StatusPass, want: "valid MX"},
		{name: "eleven", dns: fakeDNS{mx: map[string][]MX{d: many}}, status: StatusWarning, want: "more than 10"},
	}
	runCases(t, TestMX, cases, func(c *Checker) func(context.Context, string) (Result, error) { return c.MX })
}

func TestCheckDKIM(t *testing.T) {
	name := "_domainkey.gemeente.example"
	cases := []checkCase{
		{name: "nodata", dns: fakeDNS{}, status: StatusPass, want: "publishes DKIM"},
		{name: "records", dns: fakeDNS{txt: map[string][]string{name: {"o=~"}}}, status: StatusPass, want: "publishes DKIM"},
		{name: "nxdomain", dns: fakeDNS{nx: map[string]bool{name: true}}, status: StatusFail, want: "No DKIM"},
	}
	runCases(t, TestDKIM, cases, func(c *Checker) func(context.Context, string) (Result, error) { return c.DKIM })
}

func TestLookupFailure(t *testing.T) {
	d := "gemeente.example"
	f := fakeDNS{fail: map[string]bool{d: true, "_dmarc." + d: true, "_domainkey." + d: true}}
	c := newChecker(f)
	for name, fn := range map[string]func(context.Context, string) (Result, error){
		"mx": c.MX, "spf": c.SPF, "dmarc": c.DMARC, "dkim": c.DKIM,
	} {
		if _, err := fn(context.Background(), d); !errors.Is(err, ErrLookup) || !errors.Is(err, errServfail) {
			t.Errorf("%s: err = %v, want ErrLookup wrapping servfail", name, err)
		}
	}
	if _, err := c.Check(context.Background(), d); !errors.Is(err, ErrLookup) {
		t.Errorf("Check: err = %v, want ErrLookup", err)
	}
}

func TestInvalidDomain(t *testing.T) {
	c := newChecker(fakeDNS{})
	for _, d := range []string{"", " ", "a..example", "user@gemeente.example"} {
		if _, err := c.MX(context.Background(), d); !errors.Is(err, ErrInvalidDomain) {
			t.Errorf("%q: err = %v, want ErrInvalidDomain", d, err)
		}
	}
}

func TestCheckAll(t *testing.T) {
	d := "gemeente.example"
	f := fakeDNS{
		mx: map[string][]MX{d: {{Host: "mx.gemeente.example.", Pref: 10}}},
		txt: map[string][]string{
			d:             {"v=spf1 mx -all"},
			"_dmarc." + d: {"v=DMARC1; p=reject"},
		},
	}
	results, err := newChecker(f).Check(context.Background(), "Gemeente.Example.")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{TestMX, TestSPF, TestDMARC, TestDKIM}
	if len(results) != len(want) {
		t.Fatalf("got %d results, want %d", len(results), len(want))
	}
	for i, r := range results {
		if r.Test != want[i] || r.Status != StatusPass {
			t.Errorf("result %d = %s/%s, want %s/pass: %s", i, r.Test, r.Status, want[i], r.Summary["en"])
		}
	}
}
