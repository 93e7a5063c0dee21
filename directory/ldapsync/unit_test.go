package ldapsync

import (
	"errors"
	"testing"
)

func TestDNKeys(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"CN=Jan,O=Org,DC=veilig,DC=test", "cn=jan,o=org,dc=veilig,dc=test", true},
		{`o=Zuid\, Noord,dc=test`, `o=Zuid\2C Noord,dc=test`, true},
		{`o=Zuid\, Noord,dc=test`, `o=Zuid,o=Noord,dc=test`, false},
		{`cn=a\+b,dc=test`, `cn=a+uid=b,dc=test`, false},
		{`cn=Anna+uid=av,dc=test`, `UID=av+CN=anna,dc=test`, true},
		{"o=Ĳssel,dc=test", "o=ĳssel,dc=test", true},
		{"o=Ĳssel,dc=test", "o=ijssel,dc=test", true}, // NFKC: Ĳ is the ligature of I and J
		{"o=Café,dc=test", "o=Cafe\u0301,dc=test", true},
		{"o=Twee  spaties , dc=test", "o=twee spaties,dc=test", true},
		{`o=x\5c,dc=test`, `o=x\\,dc=test`, true},
		{`o=x\5c,dc=test`, `o=x\,dc=test`, false},
	}
	for _, tc := range tests {
		a, err := parseDNPath(tc.a)
		if err != nil {
			t.Fatalf("parse %q: %v", tc.a, err)
		}
		b, err := parseDNPath(tc.b)
		if err != nil {
			t.Fatalf("parse %q: %v", tc.b, err)
		}
		if (a.key == b.key) != tc.same {
			t.Errorf("%q ~ %q: keys %q and %q, want same=%v", tc.a, tc.b, a.key, b.key, tc.same)
		}
	}
}

func TestDNAncestors(t *testing.T) {
	p, err := parseDNPath(`cn=Anna+uid=av,ou=A\,B,o=Org\+X,dc=test`)
	if err != nil {
		t.Fatal(err)
	}
	org, _ := parseDNPath(`O=org\2bx,DC=TEST`)
	if got := p.ancestorKey(2); got != org.key {
		t.Errorf("ancestorKey(2) = %q, want %q", got, org.key)
	}
	if !p.under(org) || org.under(p) {
		t.Error("under is wrong")
	}
	back, err := parseDNPath(p.ancestorDN(1))
	if err != nil || back.key != p.ancestorKey(1) {
		t.Errorf("ancestorDN(1) = %q (%v) does not parse back to the parent", p.ancestorDN(1), err)
	}
	// Top-down order: parents first.
	if !(org.sortKey() < p.sortKey()) {
		t.Errorf("sortKey: the ancestor does not sort first")
	}
	other, _ := parseDNPath("o=Aap,dc=test")
	if !(other.sortKey() < org.sortKey()) {
		t.Errorf("sortKey: siblings are not in name order")
	}
}

func TestNormalizeMail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Jan@Example.TEST", "jan@example.test"},
		{"jan@bücher.test", "jan@xn--bcher-kva.test"},
		{" jan@example.test ", "jan@example.test"},
		{"jan", ""},
		{"Jan <jan@example.test>", ""},
		{"jan@localhost", ""},
		{"jan@@example.test", ""},
		{`"jan jansen"@example.test`, ""},
		{"jan@exa mple.test", ""},
	}
	for _, tc := range tests {
		got, err := normalizeMail(tc.in)
		if (err == nil) != (tc.want != "") || got != tc.want {
			t.Errorf("normalizeMail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestMatcher(t *testing.T) {
	entry := map[string][]string{
		"objectclass": {"top", "organization", "domainRelatedObject"},
		"o":           {"Gemeente Utrecht"},
		"mail":        {"info@utrecht.test"},
	}
	tests := []struct {
		filter string
		want   bool
	}{
		{"(objectClass=Organization)", true},
		{"(&(objectClass=organization)(objectClass=domainRelatedObject))", true},
		{"(&(objectClass=organization)(objectClass=inetOrgPerson))", false},
		{"(|(objectClass=inetOrgPerson)(o=gemeente utrecht))", true},
		{"(!(objectClass=inetOrgPerson))", true},
		{"(mail=*)", true},
		{"(description=*)", false},
		{"(o=Gemeente*)", true},
		{"(o=*utrecht)", true},
		{"(o=*mee*ech*)", true},
		{"(o=*amsterdam*)", false},
		{"(o=Gemeente Utrecht\\2a)", false},
	}
	for _, tc := range tests {
		m, err := compileMatcher(tc.filter)
		if err != nil {
			t.Fatalf("compile %s: %v", tc.filter, err)
		}
		if got := m(entry); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.filter, got, tc.want)
		}
	}
	if _, err := compileMatcher("(userAccountControl:1.2.840.113556.1.4.803:=2)"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("extensible match: %v, want ErrUnsupported", err)
	}
}

func TestFormatGUID(t *testing.T) {
	// objectGUID bytes as AD stores them, and the string AD shows.
	raw := []byte{0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x10, 0x11, 0x12}
	if got, want := formatGUID(raw), "0d0c0b0a-0201-0403-0506-070809101112"; got != want {
		t.Errorf("formatGUID = %s, want %s", got, want)
	}
}

func TestConfig(t *testing.T) {
	ok := Config{URL: "ldap://ldap.test", BaseDN: "dc=veilig,dc=test", BindDN: "cn=r,dc=veilig,dc=test", BindPassword: "x"}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr bool
	}{
		{"valid", func(*Config) {}, false},
		{"no URL (import only)", func(c *Config) { c.URL = "" }, false},
		{"http URL", func(c *Config) { c.URL = "http://ldap.test" }, true},
		{"ldaps with StartTLS", func(c *Config) { c.URL = "ldaps://ldap.test"; c.StartTLS = true }, true},
		{"credentials in the URL", func(c *Config) { c.URL = "ldap://u:p@ldap.test" }, true},
		{"bind DN without password", func(c *Config) { c.BindPassword = "" }, true},
		{"bad base", func(c *Config) { c.BaseDN = "veilig" }, true},
		{"bad filter", func(c *Config) { c.PersonFilter = "(cn=" }, true},
		{"unknown preset", func(c *Config) { c.Preset = "novell" }, true},
		{"missing CA file", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			_, err := NewSyncer(cfg, nil, nil)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Errorf("NewSyncer = %v, want error %v", err, tc.wantErr)
			}
		})
	}
	ad, err := Config{Preset: PresetAD, PageSize: 5000}.resolve()
	if err != nil || ad.PageSize != 1000 || ad.Timeout != DefaultTimeout || ad.incremental || !ad.binaryID {
		t.Errorf("AD settings = %+v, %v", ad, err)
	}
}
