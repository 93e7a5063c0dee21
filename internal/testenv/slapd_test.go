package testenv

import (
	"crypto/tls"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

const slapdTestLDIF = `dn: o=Gemeente Test,dc=veilig,dc=test
objectClass: organization
objectClass: domainRelatedObject
o: Gemeente Test
associatedDomain: gemeente.test

dn: cn=Jan,o=Gemeente Test,dc=veilig,dc=test
objectClass: inetOrgPerson
cn: Jan
sn: Jansen
mail: jan@gemeente.test
userPassword: geheim
`

func TestSlapd(t *testing.T) {
	s := StartSlapd(t, SlapdOptions{LDIF: slapdTestLDIF})

	search := func(t *testing.T, c *ldap.Conn) int {
		t.Helper()
		res, err := c.Search(ldap.NewSearchRequest(s.Suffix(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 10, false, "(mail=jan@gemeente.test)", []string{"cn", "entryUUID"}, nil))
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		return len(res.Entries)
	}

	tests := []struct {
		name string
		dial func(t *testing.T) (*ldap.Conn, error)
	}{
		{"plain", func(t *testing.T) (*ldap.Conn, error) { return ldap.DialURL(s.URL()) }},
		{"ldaps", func(t *testing.T) (*ldap.Conn, error) {
			return ldap.DialURL(s.LDAPSURL(), ldap.DialWithTLSConfig(s.TLSConfig(t)))
		}},
		{"starttls", func(t *testing.T) (*ldap.Conn, error) {
			c, err := ldap.DialURL(s.URL())
			if err != nil {
				return nil, err
			}
			return c, c.StartTLS(s.TLSConfig(t))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dial(t)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if err := c.Bind(s.ReaderDN(), s.ReaderPassword()); err != nil {
				t.Fatalf("bind reader: %v", err)
			}
			if n := search(t, c); n != 1 {
				t.Fatalf("reader found %d entries, want 1", n)
			}
			if err := c.Bind("cn=Jan,o=Gemeente Test,"+s.Suffix(), "geheim"); err != nil {
				t.Fatalf("bind user: %v", err)
			}
			if err := c.Bind("cn=Jan,o=Gemeente Test,"+s.Suffix(), "fout"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				t.Fatalf("bind with a wrong password: %v, want invalid credentials", err)
			}
		})
	}

	t.Run("untrusted", func(t *testing.T) {
		_, err := ldap.DialURL(s.LDAPSURL(), ldap.DialWithTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
		if err == nil {
			t.Fatal("ldaps without the test CA succeeded")
		}
	})

	t.Run("kill and restart", func(t *testing.T) {
		c := s.Conn(t)
		s.Kill()
		if _, err := c.Search(ldap.NewSearchRequest(s.Suffix(), ldap.ScopeBaseObject, 0, 0, 0, false,
			"(objectClass=*)", nil, nil)); err == nil {
			t.Fatal("search after Kill succeeded")
		}
		s.Restart()
		if n := search(t, s.Conn(t)); n != 1 {
			t.Fatalf("after restart found %d entries, want 1", n)
		}
	})
}
