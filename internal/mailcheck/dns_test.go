package mailcheck

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/veilig/veilig/internal/testenv"
)

// fakeServer is a miekg/dns server on 127.0.0.1 (UDP and TCP, one port)
// answering from plain data, for the cases the lab cannot produce.
func fakeServer(t *testing.T) string {
	t.Helper()
	return testenv.ServeDNS(t, dns.HandlerFunc(fakeAnswer))
}

// fakeAnswer answers by the first label of the question.
func fakeAnswer(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	name := q.Question[0].Name
	switch strings.SplitN(name, ".", 2)[0] {
	case "silent":
		return // no answer: the client times out
	case "servfail":
		m.Rcode = dns.RcodeServerFailure
	case "refused":
		m.Rcode = dns.RcodeRefused
	case "mismatch":
		m.Question[0].Name = "other.example."
	case "big":
		if w.RemoteAddr().Network() == "udp" {
			m.Truncated = true
			break
		}
		m.Answer = records(name + " TXT \"over\" \"tcp\"")
	case "upper":
		m.Answer = records(name+" MX 10 MX1.Upper.EXAMPLE.", name+" MX 0 .")
	case "cname":
		m.AuthenticatedData = true
		m.Answer = records(name+" CNAME target.example.", "target.example. TXT \"v=spf1 -all\"")
	}
	_ = w.WriteMsg(m)
}

// records parses zone-file lines; the handler has no *testing.T, and the
// lines are constants, so a bad one is a bug in this file.
func records(lines ...string) []dns.RR {
	out := make([]dns.RR, 0, len(lines))
	for _, l := range lines {
		r, err := dns.NewRR(l)
		if err != nil {
			panic(err)
		}
		out = append(out, r)
	}
	return out
}

func TestDNSFake(t *testing.T) {
	d := NewDNS(fakeServer(t), time.Second)
	quick := NewDNS(d.server, 100*time.Millisecond)
	cases := []struct {
		name    string
		r       *DNS
		mx      bool
		want    any
		secure  bool
		wantErr error
	}{
		{name: "servfail.example", r: d, wantErr: ErrLookup},
		{name: "refused.example", r: d, mx: true, wantErr: ErrLookup},
		{name: "mismatch.example", r: d, wantErr: ErrLookup},
		{name: "silent.example", r: quick, wantErr: ErrLookup},
		{name: "big.example", r: d, want: []string{"overtcp"}},
		{name: "upper.example", r: d, mx: true, want: []MX{{"mx1.upper.example", 10}, {".", 0}}},
		{name: "cname.example", r: d, want: []string{"v=spf1 -all"}, secure: true},
		{name: "empty.example", r: d, want: []string(nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, secure, err := lookup(tc.r, tc.name, tc.mx)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || errors.Is(err, ErrNXDomain) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || secure != tc.secure {
				t.Errorf("secure = %v, want %v; records (-want +got):\n%s", secure, tc.secure, diff)
			}
		})
	}
}

// lookup asks r for MX or TXT records.
func lookup(r Resolver, name string, mx bool) (any, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if mx {
		return r.MX(ctx, name)
	}
	return r.TXT(ctx, name)
}

func TestNewDNSDefaultTimeout(t *testing.T) {
	if got := NewDNS("127.0.0.1:53", 0).timeout; got != DefaultDNSTimeout {
		t.Errorf("timeout = %v, want %v", got, DefaultDNSTimeout)
	}
}

// labSPF is an SPF record longer than 255 characters, so it must be published
// as several character-strings (RFC 7208 §3.3).
func labSPF() string {
	var b strings.Builder
	b.WriteString("v=spf1")
	for i := 1; i <= 30; i++ {
		b.WriteString(" ip4:192.0.2." + strconv.Itoa(i))
	}
	b.WriteString(" -all")
	return b.String()
}

// txtLine renders s as a TXT record of character-strings of at most n bytes.
func txtLine(owner, s string, n int) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, fmt.Sprintf("%q", s[:n]))
		s = s[n:]
	}
	return owner + " TXT " + strings.Join(append(parts, fmt.Sprintf("%q", s)), " ")
}

const labDMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@mailcheck.test"

func labZones() []testenv.Zone {
	return []testenv.Zone{{Name: "mailcheck.test", Signed: true, Records: []string{
		"@ MX 10 mx.mailcheck.test.",
		"@ MX 20 mx2.mailcheck.test.",
		"mx A 127.0.0.1",
		"mx2 A 127.0.0.1",
		txtLine("@", labSPF(), 200),
		`_dmarc TXT "` + labDMARC + `"`,
		`sel1._domainkey TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="`,
		"alias CNAME mailcheck.test.",
		"nullmx MX 0 .",
	}}, {Name: "plain.test", Records: []string{"@ MX 10 mx.plain.test.", "mx A 127.0.0.1"}}}
}

func TestDNSLab(t *testing.T) {
	if len(labSPF()) <= 255 {
		t.Fatalf("the lab SPF record is only %d characters", len(labSPF()))
	}
	lab := testenv.StartDNS(t, labZones())
	r := NewDNS(lab.ResolverAddr(), 10*time.Second)
	cases := []struct {
		name     string
		mx       bool
		want     any
		insecure bool // from the unsigned zone
		wantErr  error
	}{
		{name: "plain.test", mx: true, want: []MX{{"mx.plain.test", 10}}, insecure: true},
		{name: "mailcheck.test", mx: true, want: []MX{{"mx.mailcheck.test", 10}, {"mx2.mailcheck.test", 20}}},
		{name: "nullmx.mailcheck.test", mx: true, want: []MX{{".", 0}}},
		{name: "mailcheck.test", want: []string{labSPF()}},
		{name: "alias.mailcheck.test", want: []string{labSPF()}},
		{name: "_dmarc.mailcheck.test", want: []string{labDMARC}},
		{name: "_domainkey.mailcheck.test", want: []string(nil)},
		{name: "mx.mailcheck.test", mx: true, want: []MX(nil)},
		{name: "nope.mailcheck.test", wantErr: ErrNXDomain},
		{name: "nope.mailcheck.test", mx: true, wantErr: ErrNXDomain},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/mx=%v", tc.name, tc.mx), func(t *testing.T) {
			got, secure, err := lookup(r, tc.name, tc.mx)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if secure == tc.insecure {
				t.Errorf("secure = %v, want %v", secure, !tc.insecure)
			}
			sortMX(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("check", func(t *testing.T) { labCheck(t, r) })
}

// sortMX orders MX records by preference (the resolver may rotate them).
func sortMX(v any) {
	if hosts, ok := v.([]MX); ok && len(hosts) == 2 && hosts[0].Pref > hosts[1].Pref {
		hosts[0], hosts[1] = hosts[1], hosts[0]
	}
}

// labCheck runs all tests end to end against the lab's resolver.
func labCheck(t *testing.T, r Resolver) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results, err := New(r, testenv.Logger(t), 0).Check(ctx, "mailcheck.test")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, res := range results {
		got = append(got, res.Test+":"+string(res.Status))
	}
	want := []string{"mx:pass", "spf:pass", "dmarc:pass", "dkim:pass"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s\n%+v", diff, results)
	}
}
