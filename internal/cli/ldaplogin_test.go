package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/config"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const loginLDIF = `dn: o=Gemeente Test,dc=veilig,dc=test
objectClass: organization
objectClass: domainRelatedObject
o: Gemeente Test
associatedDomain: gemeente.test

dn: cn=Jan Jansen,o=Gemeente Test,dc=veilig,dc=test
objectClass: inetOrgPerson
cn: Jan Jansen
sn: Jansen
mail: jan@gemeente.test
userPassword: jans LDAP wachtwoord
`

// TestLDAPLogin drives the wiring serve uses — the LDAP authenticator through the
// ldapVerifier adapter into auth — against a real slapd.
func TestLDAPLogin(t *testing.T) {
	slapd := testenv.StartSlapd(t, testenv.SlapdOptions{LDIF: loginLDIF})
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		cfg := config.Config{LDAPURL: slapd.URL(), LDAPBindDN: slapd.ReaderDN(), LDAPBindPassword: slapd.ReaderPassword(),
			LDAPBaseDN: slapd.Suffix(), LDAPPreset: "openldap", LDAPPageSize: 100, LDAPTimeout: 10 * time.Second,
			PublicURL: "http://veilig.test", TokenAudience: "veilig-api", AccessTokenTTL: 15 * time.Minute}
		s := &setup{cfg: cfg, log: testenv.Discard(), db: db}
		store := directory.NewStore(db.DB, time.Now)
		sy, err := newSyncer(cfg, store, s.log, audit.Discard{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sy.FullSync(ctx); err != nil {
			t.Fatal(err)
		}
		svc, err := newAuth(ctx, s, store)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PasswordGrant(ctx, "Jan@Gemeente.test", "jans LDAP wachtwoord", "192.0.2.1"); err != nil {
			t.Fatalf("right LDAP password: %v", err)
		}
		for _, tc := range []struct{ who, pw string }{
			{"jan@gemeente.test", "wrong password!"},
			{"jan@gemeente.test", ""},
			{"*)(mail=*", "jans LDAP wachtwoord"},
			{"nobody@gemeente.test", "jans LDAP wachtwoord"},
		} {
			_, err := svc.PasswordGrant(ctx, tc.who, tc.pw, "192.0.2.2")
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Errorf("PasswordGrant(%q, %q) = %v, want ErrInvalidCredentials", tc.who, strings.Repeat("*", len(tc.pw)), err)
			}
		}
		u, err := svc.Users().GetByEmail(ctx, "jan@gemeente.test")
		if err != nil || u.Role != auth.RoleSender || u.HasPassword {
			t.Errorf("provisioned user = %+v, %v; want an LDAP-only sender", u, err)
		}
	})
}
