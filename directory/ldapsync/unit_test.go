package ldapsync

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
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
	ok := Config{URL: "ldaps://ldap.test", BaseDN: "dc=veilig,dc=test", BindDN: "cn=r,dc=veilig,dc=test", BindPassword: "x"}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr bool
	}{
		{"valid", func(*Config) {}, false},
		{"no URL (import only)", func(c *Config) { c.URL = "" }, false},
		{"http URL", func(c *Config) { c.URL = "http://ldap.test" }, true},
		{"ldaps with StartTLS", func(c *Config) { c.StartTLS = true }, true},
		{"ldap with StartTLS", func(c *Config) { c.URL = "ldap://ldap.test"; c.StartTLS = true }, false},
		{"plain ldap to a remote host", func(c *Config) { c.URL = "ldap://ldap.test" }, true},
		{"plain ldap to a remote address", func(c *Config) { c.URL = "ldap://192.0.2.1:389" }, true},
		{"plain ldap to the unspecified address", func(c *Config) { c.URL = "ldap://0.0.0.0:389" }, true},
		{"plain ldap to a name beginning with localhost", func(c *Config) { c.URL = "ldap://localhost.evil.test" }, true},
		{"plain ldap to 127.0.0.1", func(c *Config) { c.URL = "ldap://127.0.0.1:1389" }, false},
		{"plain ldap to 127.8.9.10", func(c *Config) { c.URL = "ldap://127.8.9.10" }, false},
		{"plain ldap to ::1", func(c *Config) { c.URL = "ldap://[::1]:389" }, false},
		{"plain ldap to localhost", func(c *Config) { c.URL = "ldap://LocalHost:389" }, false},
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
	if err != nil || ad.PageSize != 1000 || ad.Timeout != DefaultTimeout || ad.contentSync || ad.pollAttr != attrUSN || !ad.binaryID {
		t.Errorf("AD settings = %+v, %v", ad, err)
	}
}

func TestSourceID(t *testing.T) {
	guid := func(first, last byte) string {
		b := make([]byte, 16)
		b[0], b[15] = first, last
		return string(b)
	}
	tests := []struct {
		name, preset, value, want string
	}{
		{"GUID starting with a space", PresetAD, guid(0x20, 0x41), "00000020-0000-0000-0000-000000000041"},
		{"GUID starting with a tab", PresetAD, guid(0x09, 0x41), "00000009-0000-0000-0000-000000000041"},
		{"GUID starting with a newline", PresetAD, guid(0x0a, 0x00), "0000000a-0000-0000-0000-000000000000"},
		{"GUID ending with a carriage return", PresetAD, guid(0x41, 0x0d), "00000041-0000-0000-0000-00000000000d"},
		{"GUID of spaces only", PresetAD, strings.Repeat(" ", 16), "20202020-2020-2020-2020-202020202020"},
		{"GUID of capitals", PresetAD, strings.Repeat("A", 16), "41414141-4141-4141-4141-414141414141"},
		{"GUID exported as text", PresetAD, "{0D0C0B0A-0201-0403-0506-070809101112}", "0d0c0b0a-0201-0403-0506-070809101112"},
		{"binary id of another length", PresetAD, "\x00\x01\xff", "hex:0001ff"},
		{"entryUUID", PresetOpenLDAP, " 0D0C0B0A-0201-0403-0506-0708091011FF ", "0d0c0b0a-0201-0403-0506-0708091011ff"},
		{"binary value in a text id", PresetOpenLDAP, "a\x00b", "hex:610062"},
		{"no id", PresetAD, "", "dn:cn=x,dc=test"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Config{Preset: tc.preset}.resolve()
			if err != nil {
				t.Fatal(err)
			}
			attrs := map[string][]string{"cn": {"x"}}
			if tc.value != "" {
				attrs[s.idAttr] = []string{tc.value}
			}
			p, err := parseDNPath("cn=x,dc=test")
			if err != nil {
				t.Fatal(err)
			}
			got := mapper{s}.sourceID(recordFromEntry(ldap.NewEntry("cn=x,dc=test", attrs)), p)
			if got != tc.want {
				t.Errorf("sourceID = %q, want %q", got, tc.want)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("same id as %q", other)
			}
			seen[got] = tc.name
		})
	}
}

// TestPlaintextWarning: plain ldap:// to a loopback address is allowed with one
// warning per syncer or authenticator; TLS gives none.
func TestPlaintextWarning(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		startTLS bool
		want     int
	}{
		{"plain ldap to loopback", "ldap://127.0.0.1:389", false, 1},
		{"StartTLS to loopback", "ldap://127.0.0.1:389", true, 0},
		{"ldaps", "ldaps://ldap.test", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			cfg := Config{URL: tc.url, StartTLS: tc.startTLS, BaseDN: "dc=veilig,dc=test"}
			if _, err := NewAuthenticator(cfg, log); err != nil {
				t.Fatalf("NewAuthenticator: %v", err)
			}
			if got := strings.Count(buf.String(), "not encrypted"); got != tc.want {
				t.Errorf("%d warnings, want %d; log:\n%s", got, tc.want, buf.String())
			}
		})
	}
}
