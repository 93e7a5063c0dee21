package ldapsync

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const base = testenv.SlapdSuffix

// ldifBuilder writes LDIF, base64-encoding what is not a SAFE-STRING (RFC 2849).
type ldifBuilder struct{ b strings.Builder }

func (l *ldifBuilder) line(attr, value string) {
	safe := utf8.ValidString(value) && !strings.HasPrefix(value, " ") && !strings.HasPrefix(value, ":") &&
		!strings.HasPrefix(value, "<")
	for _, r := range value {
		if r > 126 || r == '\n' || r == '\r' || r == 0 {
			safe = false
		}
	}
	if safe {
		fmt.Fprintf(&l.b, "%s: %s\n", attr, value)
		return
	}
	fmt.Fprintf(&l.b, "%s:: %s\n", attr, base64.StdEncoding.EncodeToString([]byte(value)))
}

// entry writes one entry; attrs alternate name, value.
func (l *ldifBuilder) entry(dn string, attrs ...string) {
	l.line("dn", dn)
	for i := 0; i+1 < len(attrs); i += 2 {
		l.line(attrs[i], attrs[i+1])
	}
	l.b.WriteString("\n")
}

func (l *ldifBuilder) org(dn, name string, domains ...string) {
	attrs := []string{"objectClass", "organization", "objectClass", "domainRelatedObject", "o", name}
	for _, d := range domains {
		attrs = append(attrs, "associatedDomain", d)
	}
	l.entry(dn, attrs...)
}

func (l *ldifBuilder) ou(dn, name string) {
	l.entry(dn, "objectClass", "organizationalUnit", "ou", name)
}

// person writes an inetOrgPerson; extra alternates name, value.
func (l *ldifBuilder) person(dn, cn, mail string, extra ...string) {
	attrs := []string{"objectClass", "inetOrgPerson", "cn", cn, "sn", cn}
	if mail != "" {
		attrs = append(attrs, "mail", mail)
	}
	l.entry(dn, append(attrs, extra...)...)
}

func (l *ldifBuilder) String() string { return l.b.String() }

// DNs of the fixture.
const (
	orgsDN  = "ou=Organisaties," + base
	zuidDN  = `o=Gemeente Zuid\, Noord,` + orgsDN
	oostDN  = "o=Stadsdeel Oost," + zuidDN
	westDN  = "o=Stadsdeel West," + zuidDN
	waterDN = `o=Waterschap Ĳssel \+ Vecht,` + orgsDN
	zetaDN  = "o=Zeta Dubbel," + orgsDN
	zuluDN  = "o=Zulu Alleen Dubbel," + orgsDN
	geenDN  = "o=Geen Domein," + orgsDN
	annaDN  = "cn=Anna de Vries+uid=avries,ou=Burgerzaken," + zuidDN
	bramDN  = "cn=Bram,ou=Wijkteam,ou=Teams," + oostDN
	celikDN = "cn=Çelik Öztürk," + waterDN
)

// fixture is a small community with the awkward cases: escaped commas and plus
// signs, a multi-valued RDN, non-ASCII names, people in ou= containers, an
// organisation inside another, contested domains and entries to skip.
func fixture() string {
	var l ldifBuilder
	l.ou(orgsDN, "Organisaties")
	l.org(zuidDN, "Gemeente Zuid, Noord", "zuidnoord.test")
	l.ou("ou=Burgerzaken,"+zuidDN, "Burgerzaken")
	l.person(annaDN, "Anna de Vries", "Anna.deVries@ZuidNoord.TEST", "uid", "avries", "ou", "Burgerzaken",
		"userPassword", "anna-secret")
	l.org(oostDN, "Stadsdeel Oost", "oost.zuidnoord.test")
	l.ou("ou=Teams,"+oostDN, "Teams")
	l.ou("ou=Wijkteam,ou=Teams,"+oostDN, "Wijkteam")
	l.person(bramDN, "Bram", "bram@oost.zuidnoord.test", "displayName", "Bram Bakker")
	l.person("cn=Dirk Zonder Mail,"+oostDN, "Dirk Zonder Mail", "")
	l.org(westDN, "Stadsdeel West", "west.zuidnoord.test")
	l.person("cn=Wim,"+westDN, "Wim", "wim@west.zuidnoord.test")
	l.org(waterDN, "Waterschap Ĳssel + Vecht", "Waterschap.TEST.")
	l.person(celikDN, "Çelik Öztürk", "celik@waterschap.test", "userPassword", "çelik-secret")
	l.org(zetaDN, "Zeta Dubbel", "zuidnoord.test", "zeta.test")
	l.person("cn=Zoë,"+zetaDN, "Zoë", "zoe@zeta.test")
	l.org(zuluDN, "Zulu Alleen Dubbel", "zuidnoord.test")
	l.person("cn=Zulu Persoon,"+zuluDN, "Zulu Persoon", "zp@zulu.test")
	l.org(geenDN, "Geen Domein", "localhost")
	l.person("cn=Gert,"+geenDN, "Gert", "gert@geen.test")
	l.person("cn=Zwerver,"+orgsDN, "Zwerver", "zwerver@nergens.test")
	l.person("cn=Foute Mail,"+zuidDN, "Foute Mail", "niet een adres")
	l.person("cn=Dubbel Mail A,"+zetaDN, "Dubbel Mail A", "dubbel@zeta.test", "userPassword", "a-secret")
	l.person("cn=Dubbel Mail B,"+zetaDN, "Dubbel Mail B", "dubbel@zeta.test", "userPassword", "b-secret")
	return l.String()
}

// generated is a community of n organisations with people people each, half of
// them in an ou= container, with commas, plus signs and non-ASCII in names.
func generated(n, people int) string {
	var l ldifBuilder
	l.ou(orgsDN, "Organisaties")
	for i := range n {
		name := fmt.Sprintf("Gemeente %d, Ĳ + Ö", i)
		dn := "o=" + ldap.EscapeDN(name) + "," + orgsDN
		l.org(dn, name, fmt.Sprintf("gemeente%d.test", i))
		l.ou("ou=Afdeling,"+dn, "Afdeling")
		for j := range people {
			parent := dn
			if j%2 == 1 {
				parent = "ou=Afdeling," + dn
			}
			cn := fmt.Sprintf("Medewerker %d+%d", i, j)
			l.person("cn="+ldap.EscapeDN(cn)+","+parent, cn, fmt.Sprintf("m%d@gemeente%d.test", j, i))
		}
	}
	return l.String()
}

// env is one test directory: a slapd and a store on one database.
type env struct {
	slapd *testenv.Slapd
	db    *database.DB
	store *directory.Store
}

func newEnv(t *testing.T, db *database.DB, opts testenv.SlapdOptions) *env {
	t.Helper()
	return &env{slapd: testenv.StartSlapd(t, opts), db: db, store: directory.NewStore(db.DB, time.Now)}
}

func (e *env) config() Config {
	return Config{URL: e.slapd.URL(), BindDN: e.slapd.ReaderDN(), BindPassword: e.slapd.ReaderPassword(),
		BaseDN: base, Timeout: 10 * time.Second}
}

func (e *env) syncer(t *testing.T, cfg Config) *Syncer {
	t.Helper()
	sy, err := NewSyncer(cfg, e.store, testenv.Logger(t))
	if err != nil {
		t.Fatalf("NewSyncer: %v", err)
	}
	return sy
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// snapshot is the directory as the database holds it, in comparable form.
type snapshot struct {
	Orgs   map[string]snapOrg    // by name
	People map[string]snapPerson // by normalised DN (key)
}

// key normalises a DN for comparison.
func key(t *testing.T, dn string) string {
	t.Helper()
	p, err := parseDNPath(dn)
	if err != nil {
		t.Fatalf("parse %q: %v", dn, err)
	}
	return p.key
}

type snapOrg struct {
	ID, SourceID, SourceDN, Status string
	Domains                        []string
}

type snapPerson struct {
	ID, SourceID, Org, Name, Mail, Dept string
}

func dump(t *testing.T, db *database.DB) snapshot {
	t.Helper()
	ctx := ctxT(t)
	var orgs []struct{ ID, SourceID, SourceDN, Name, Status string }
	if err := db.WithContext(ctx).Raw("SELECT id, source_id, source_dn, name, status FROM organisations").
		Scan(&orgs).Error; err != nil {
		t.Fatalf("dump organisations: %v", err)
	}
	var domains []struct{ Name, OrganisationID string }
	if err := db.WithContext(ctx).Raw("SELECT name, organisation_id FROM domains").Scan(&domains).Error; err != nil {
		t.Fatalf("dump domains: %v", err)
	}
	var people []struct{ ID, SourceID, SourceDN, OrganisationID, DisplayName, Mail, Department string }
	if err := db.WithContext(ctx).Raw("SELECT id, source_id, source_dn, organisation_id, display_name, mail, department FROM people").
		Scan(&people).Error; err != nil {
		t.Fatalf("dump people: %v", err)
	}
	s := snapshot{Orgs: map[string]snapOrg{}, People: map[string]snapPerson{}}
	names := map[string]string{}
	for _, o := range orgs {
		so := snapOrg{ID: o.ID, SourceID: o.SourceID, SourceDN: o.SourceDN, Status: o.Status}
		for _, d := range domains {
			if d.OrganisationID == o.ID {
				so.Domains = append(so.Domains, d.Name)
			}
		}
		slices.Sort(so.Domains)
		s.Orgs[o.Name] = so
		names[o.ID] = o.Name
	}
	for _, p := range people {
		s.People[key(t, p.SourceDN)] = snapPerson{ID: p.ID, SourceID: p.SourceID, Org: names[p.OrganisationID],
			Name: p.DisplayName, Mail: p.Mail, Dept: p.Department}
	}
	return s
}

// brief reduces a snapshot to what tests state by hand: organisation → status
// and domains, person DN → organisation and mail.
func (s snapshot) brief() (map[string]string, map[string]string) {
	orgs, people := map[string]string{}, map[string]string{}
	for name, o := range s.Orgs {
		orgs[name] = o.Status + " " + strings.Join(o.Domains, ",")
	}
	for dn, p := range s.People {
		people[dn] = p.Org + " <" + p.Mail + ">"
	}
	return orgs, people
}

func issueDNs(t *testing.T, run directory.SyncRun) []string {
	var out []string
	for _, is := range run.Issues {
		out = append(out, key(t, is.DN))
	}
	slices.Sort(out)
	return out
}
