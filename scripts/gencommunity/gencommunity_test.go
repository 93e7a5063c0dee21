package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory/ldif"
)

func mustDataset(t testing.TB) *dataset {
	t.Helper()
	ds, err := loadDataset()
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func generateBytes(t testing.TB, opt options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := generate(&buf, mustDataset(t), opt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDataset(t *testing.T) {
	ds := mustDataset(t)
	counts := map[string]int{}
	names := map[string]bool{}
	for _, s := range append(append([]orgSeed(nil), ds.public...), ds.special...) {
		counts[s.kind]++
		if names[nameKey(s.name)] {
			t.Errorf("organisation %q listed twice", s.name)
		}
		names[nameKey(s.name)] = true
	}
	want := map[string]int{kindGemeente: 342, kindProvincie: 12, kindWaterschap: 21}
	for kind, n := range want {
		if counts[kind] != n {
			t.Errorf("%d organisations of kind %s, want %d", counts[kind], kind, n)
		}
	}
}

func TestDeterministic(t *testing.T) {
	opt := options{orgs: 400, people: 2000, seed: 1}
	a, b := generateBytes(t, opt), generateBytes(t, opt)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different output")
	}
	opt.seed = 2
	if bytes.Equal(a, generateBytes(t, opt)) {
		t.Fatal("different seeds gave the same output")
	}
}

// TestDemoFileUpToDate keeps the committed demo file equal to what the
// default flags generate.
func TestDemoFileUpToDate(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../demo-community.ldif")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(generateBytes(t, cfg.options), want) {
		t.Fatal("scripts/demo-community.ldif is stale: run go run ./scripts/gencommunity -out scripts/demo-community.ldif")
	}
	if len(want) > 1<<20 {
		t.Errorf("demo file is %d bytes, keep it under 1 MiB", len(want))
	}
}

func TestGeneratedDirectory(t *testing.T) {
	tests := []options{
		{orgs: 1, people: 0, seed: 1},
		{orgs: 7, people: 40, seed: 3},
		{orgs: 300, people: 1500, seed: 1},
		{orgs: 700, people: 6000, seed: 9}, // every public body and special name
	}
	for _, opt := range tests {
		t.Run(fmt.Sprintf("orgs=%d,people=%d", opt.orgs, opt.people), func(t *testing.T) {
			c := newChecker(t)
			r := ldif.NewReader(bytes.NewReader(generateBytes(t, opt)))
			for {
				e, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				c.check(e)
			}
			if c.orgs != opt.orgs || c.people != opt.people {
				t.Errorf("%d organisations and %d people, want %d and %d", c.orgs, c.people, opt.orgs, opt.people)
			}
			if opt.orgs >= 700 && c.municipalities != 342 {
				t.Errorf("%d municipalities, want 342", c.municipalities)
			}
		})
	}
}

// checker verifies entries in file order.
type checker struct {
	t                            *testing.T
	dns                          map[string]bool     // normalised DNs seen
	orgDomains                   map[string][]string // normalised org DN → domains
	domains, mails, orgNames     map[string]bool
	orgs, people, municipalities int
}

func newChecker(t *testing.T) *checker {
	return &checker{t: t, dns: map[string]bool{}, orgDomains: map[string][]string{},
		domains: map[string]bool{}, mails: map[string]bool{}, orgNames: map[string]bool{}}
}

func (c *checker) check(e *ldif.Entry) {
	c.t.Helper()
	dn, err := ldap.ParseDN(e.DN)
	if err != nil {
		c.t.Fatalf("line %d: dn %q: %v", e.Line, e.DN, err)
	}
	key := dnKey(dn.RDNs)
	if c.dns[key] {
		c.t.Fatalf("line %d: duplicate dn %q", e.Line, e.DN)
	}
	c.dns[key] = true
	if e.DN != baseDN && !c.dns[dnKey(dn.RDNs[1:])] {
		c.t.Fatalf("line %d: parent of %q not written before it", e.Line, e.DN)
	}
	for _, ava := range dn.RDNs[0].Attributes {
		if !contains(e.Attributes[strings.ToLower(ava.Type)], ava.Value) {
			c.t.Fatalf("line %d: RDN value %s=%q missing from the entry", e.Line, ava.Type, ava.Value)
		}
	}
	switch classes := e.Attributes["objectclass"]; {
	case contains(classes, "domainRelatedObject"):
		c.checkOrg(e, key)
	case contains(classes, "inetOrgPerson"):
		c.checkPerson(e, dn)
	}
}

func dnKey(rdns []*ldap.RelativeDN) string {
	return nameKey((&ldap.DN{RDNs: rdns}).String())
}

func (c *checker) checkOrg(e *ldif.Entry, key string) {
	c.orgs++
	name := e.Attributes["o"][0]
	if c.orgNames[nameKey(name)] {
		c.t.Fatalf("line %d: organisation name %q repeats", e.Line, name)
	}
	c.orgNames[nameKey(name)] = true
	if strings.HasPrefix(e.Attributes["description"][0], "Gemeente in ") {
		c.municipalities++
	}
	ds := e.Attributes["associateddomain"]
	if len(ds) < 1 || len(ds) > 5 {
		c.t.Fatalf("line %d: %d domains", e.Line, len(ds))
	}
	for _, d := range ds {
		if norm, err := normalizeDomain(newIDNAProfile(), d); err != nil || norm != d || c.domains[d] {
			c.t.Fatalf("line %d: domain %q: normalised %q, %v, seen before %v", e.Line, d, norm, err, c.domains[d])
		}
		c.domains[d] = true
	}
	c.orgDomains[key] = ds
}

// checkPerson checks that the mail is unique and at a domain of the nearest
// organisation above the person.
func (c *checker) checkPerson(e *ldif.Entry, dn *ldap.DN) {
	c.people++
	for _, attr := range []string{"cn", "sn", "givenname", "mail", "ou"} {
		if len(e.Attributes[attr]) != 1 {
			c.t.Fatalf("line %d: %d values of %s", e.Line, len(e.Attributes[attr]), attr)
		}
	}
	mail := e.Attributes["mail"][0]
	local, domain, ok := strings.Cut(mail, "@")
	if !ok || local == "" || !isASCII(mail) || c.mails[mail] {
		c.t.Fatalf("line %d: bad or repeated mail %q", e.Line, mail)
	}
	c.mails[mail] = true
	for i := 1; i < len(dn.RDNs); i++ {
		if domains, ok := c.orgDomains[dnKey(dn.RDNs[i:])]; ok {
			if !contains(domains, domain) {
				c.t.Fatalf("line %d: mail %q not at a domain of its organisation %v", e.Line, mail, domains)
			}
			return
		}
	}
	c.t.Fatalf("line %d: no organisation above %q", e.Line, e.DN)
}

func TestEscapeRDNValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Gemeente Amsterdam", "Gemeente Amsterdam"},
		{"Stichting Zorg, Welzijn + Wonen", `Stichting Zorg\, Welzijn \+ Wonen`},
		{`Stichting "Het Gouden Hart"`, `Stichting \"Het Gouden Hart\"`},
		{"#WijDoenMee", `\#WijDoenMee`},
		{"a#b", "a#b"},
		{`Schuin\Streep`, `Schuin\\Streep`},
		{"a;b<c>d", `a\;b\<c\>d`},
		{" lead and trail ", `\ lead and trail\ `},
		{"Reken=Kunst", "Reken=Kunst"},
		{"Café De Zoë", "Café De Zoë"},
		{"nul\x00", `nul\00`},
	}
	for _, tt := range tests {
		got := escapeRDNValue(tt.in)
		if got != tt.want {
			t.Errorf("escapeRDNValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
		dn, err := ldap.ParseDN("o=" + got + ",dc=test")
		if err != nil {
			t.Errorf("ParseDN(%q): %v", got, err)
			continue
		}
		if v := dn.RDNs[0].Attributes[0].Value; v != tt.in {
			t.Errorf("round trip of %q gave %q", tt.in, v)
		}
	}
}

func TestLDIFWriter(t *testing.T) {
	long := strings.Repeat("abcdefghij", 20)
	tests := []struct {
		name, value string
		want        string
	}{
		{"cn", "Jan de Vries", "cn: Jan de Vries\n"},
		{"cn", "Zoë", "cn:: Wm/Dqw==\n"},
		{"description", " leading space", "description:: IGxlYWRpbmcgc3BhY2U=\n"},
		{"description", "trailing ", "description:: dHJhaWxpbmcg\n"},
		{"description", ":colon", "description:: OmNvbG9u\n"},
		{"description", "<angle", "description:: PGFuZ2xl\n"},
		{"description", "a:b<c", "description: a:b<c\n"},
		{"description", long, "description: " + long[:63] + "\n " + long[63:138] + "\n " + long[138:] + "\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		lw := newLDIFWriter(bufio.NewWriter(&buf))
		lw.attr(tt.name, tt.value)
		lw.w.Flush()
		if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
			t.Errorf("attr(%q, %q) (-want +got):\n%s", tt.name, tt.value, diff)
		}
		e, err := ldif.NewReader(strings.NewReader("dn: o=x\n" + buf.String())).Next()
		if err != nil || e.Attributes[tt.name][0] != tt.value {
			t.Errorf("reading back %q: %v, %+v", buf.String(), err, e)
		}
	}
}

func TestFoldAndWords(t *testing.T) {
	tests := []struct{ in, folded, compact string }{
		{"Súdwest-Fryslân", "sudwest-fryslan", "sudwestfryslan"},
		{"Ĳsbrand", "ijsbrand", "ijsbrand"},
		{"'s-Hertogenbosch", "'s-hertogenbosch", "shertogenbosch"},
		{"Hunze en Aa's", "hunze en aa's", "hunzeenaas"},
		{"Zorg, Welzijn + Wonen", "zorg, welzijn + wonen", "zorgwelzijnenwonen"},
		{"Yılmaz Çelik Şahin Straße", "yilmaz celik sahin strasse", "yilmazceliksahinstrasse"},
	}
	for _, tt := range tests {
		if got := fold(tt.in); got != tt.folded {
			t.Errorf("fold(%q) = %q, want %q", tt.in, got, tt.folded)
		}
		if got := strings.Join(asciiWords(tt.in), ""); got != tt.compact {
			t.Errorf("asciiWords(%q) joined = %q, want %q", tt.in, got, tt.compact)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Amsterdam.NL", "amsterdam.nl"},
		{"súdwest-fryslân.nl", "xn--sdwest-frysln-teb26a.nl"},
		{"gemeente-ĳsselstein.nl", "gemeente-ijsselstein.nl"},
		{"café-de-zoë.nl", "xn--caf-de-zo-d4a2a.nl"},
		{"nl", ""},
		{"under_score.nl", ""},
		{"-leading.nl", ""},
	}
	for _, tt := range tests {
		got, err := normalizeDomain(newIDNAProfile(), tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("normalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestAllocatePeople(t *testing.T) {
	tests := []struct {
		weights []int
		m       int
		want    []int
	}{
		{[]int{1, 1, 1}, 10, []int{4, 3, 3}},
		{[]int{400, 40, 6}, 446, []int{400, 40, 6}},
		{[]int{3, 5}, 0, []int{0, 0}},
		{[]int{1, 2, 3, 4}, 1, []int{0, 0, 0, 1}},
	}
	for _, tt := range tests {
		var orgs []*org
		for _, w := range tt.weights {
			orgs = append(orgs, &org{weight: w})
		}
		allocatePeople(orgs, tt.m)
		var got []int
		for _, o := range orgs {
			got = append(got, o.people)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("allocatePeople(%v, %d) (-want +got):\n%s", tt.weights, tt.m, diff)
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    config
		wantErr bool
	}{
		{args: nil, want: config{options: options{orgs: 300, people: 1500, seed: 1}}},
		{args: []string{"-orgs", "14000", "-people", "500000", "-seed", "7", "-out", "x.ldif"},
			want: config{options: options{orgs: 14000, people: 500000, seed: 7}, out: "x.ldif"}},
		{args: []string{"-orgs", "0"}, wantErr: true},
		{args: []string{"-people", "-1"}, wantErr: true},
		{args: []string{"-people", "99999999"}, wantErr: true},
		{args: []string{"stray"}, wantErr: true},
		{args: []string{"-bogus"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseFlags(tt.args, io.Discard)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(config{}, options{})); !tt.wantErr && diff != "" {
			t.Errorf("parseFlags(%q) (-want +got):\n%s", tt.args, diff)
		}
	}
}

// TestReadLDIFFile reads a large generated file with directory/ldif, e.g.
//
//	go run ./scripts/gencommunity -orgs 14000 -people 500000 -out /tmp/big.ldif
//	GENCOMMUNITY_LDIF=/tmp/big.ldif go test ./scripts/gencommunity -run ReadLDIFFile -v
func TestReadLDIFFile(t *testing.T) {
	name := os.Getenv("GENCOMMUNITY_LDIF")
	if name == "" {
		t.Skip("GENCOMMUNITY_LDIF not set")
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := newChecker(t)
	r := ldif.NewReader(f)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c.check(e)
	}
	t.Logf("%s: %d organisations, %d people, %d domains", name, c.orgs, c.people, len(c.domains))
}

func BenchmarkGenerate(b *testing.B) {
	ds := mustDataset(b)
	for b.Loop() {
		if _, err := generate(io.Discard, ds, options{orgs: 1000, people: 40000, seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
