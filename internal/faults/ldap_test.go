package faults

// Scenario 2: slapd killed in the middle of a full directory sync.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	ldapOrgs      = 200
	ldapPeople    = 40      // per organisation
	ldapKillBytes = 1 << 20 // slapd dies once this much of the search was relayed
)

// ldapKilled: a full sync succeeds; the directory then changes and slapd is
// killed while the next full sync reads it. That sync exits non-zero, its
// sync_runs row says failed, and the directory is exactly what the first sync
// left; after slapd is back a full sync succeeds and brings the change.
func (e *env) ldapKilled(t *testing.T) {
	file := filepath.Join(t.TempDir(), "community.ldif")
	if err := os.WriteFile(file, []byte(bigCommunity(ldapOrgs, ldapPeople)), 0o600); err != nil {
		t.Fatal(err)
	}
	slapd := testenv.StartSlapd(t, testenv.SlapdOptions{LDIFFile: file})
	relay := startRelay(t, "127.0.0.1:0", strings.TrimPrefix(slapd.URL(), "ldap://"))
	v := e.ldapVeilig(t, slapd, relay)
	v.Run(t, "", "migrate")
	if out := v.Run(t, "", "directory", "sync", "--full"); !strings.Contains(out, fmt.Sprintf("%d people", ldapOrgs*ldapPeople)) {
		t.Fatalf("first full sync: %s", out)
	}
	db := openURL(t, v.Vars["VEILIG_DATABASE_URL"])
	before := directoryState(t, db)
	addPerson(t, slapd, "Nieuw Persoon", "nieuw.persoon@org0000.test")

	relay.onBytes(relay.fromTarget.Load()+ldapKillBytes, slapd.Kill)
	out, err := v.RunErr("directory", "sync", "--full")
	if err == nil {
		t.Fatalf("the sync succeeded although slapd was killed during it (relayed %d bytes): %s", relay.fromTarget.Load(), out)
	}
	t.Logf("ldap: slapd killed after %d bytes of the search; sync exited with %v: %s", relay.fromTarget.Load(), err, lastLine(out))
	if after := directoryState(t, db); after != before {
		t.Errorf("the failed sync changed the directory:\nbefore %s\nafter  %s", before, after)
	}
	if outcome := lastRun(t, db); outcome != "failed" {
		t.Errorf("the failed sync's run is recorded as %q, want failed", outcome)
	}
	slapd.Restart()
	if out := v.Run(t, "", "directory", "sync", "--full"); !strings.Contains(out, fmt.Sprintf("%d people", ldapOrgs*ldapPeople+1)) {
		t.Fatalf("full sync after slapd is back: %s", out)
	}
	if outcome := lastRun(t, db); outcome != "succeeded" {
		t.Errorf("the last sync is recorded as %q, want succeeded", outcome)
	}
	t.Logf("ldap: directory before and after the failed sync: %s", before)
}

// ldapVeilig is the binary on a database of its own, syncing through relay.
func (e *env) ldapVeilig(t *testing.T, slapd *testenv.Slapd, relay *tcpRelay) *testenv.Veilig {
	t.Helper()
	dir := t.TempDir()
	return &testenv.Veilig{Bin: e.v.Bin, Dir: dir, Vars: map[string]string{
		"VEILIG_DATABASE_URL":        e.newDatabase(t, "ldapsync"),
		"VEILIG_DATA_DIR":            filepath.Join(dir, "data"),
		"VEILIG_LOG_FORMAT":          "text",
		"VEILIG_LDAP_URL":            "ldap://" + relay.addr,
		"VEILIG_LDAP_BIND_DN":        slapd.ReaderDN(),
		"VEILIG_LDAP_BIND_PASSWORD":  slapd.ReaderPassword(),
		"VEILIG_LDAP_BASE_DN":        slapd.Suffix(),
		"VEILIG_LDAP_PAGE_SIZE":      "200",
		"VEILIG_LDAP_TIMEOUT":        "20s",
		"VEILIG_CHECK_ALLOW_PRIVATE": "true",
	}}
}

// bigCommunity is an LDIF of orgs organisations with people each, under the
// suffix slapd already has.
func bigCommunity(orgs, people int) string {
	var b strings.Builder
	b.WriteString("dn: ou=organisations,dc=veilig,dc=test\nobjectClass: top\nobjectClass: organizationalUnit\nou: organisations\n\n")
	for o := range orgs {
		org := fmt.Sprintf("Organisatie %04d", o)
		fmt.Fprintf(&b, "dn: o=%s,ou=organisations,dc=veilig,dc=test\nobjectClass: top\nobjectClass: organization\n"+
			"objectClass: domainRelatedObject\no: %s\nassociatedDomain: org%04d.test\n\n", org, org, o)
		for p := range people {
			name := fmt.Sprintf("Medewerker %04d-%03d", o, p)
			fmt.Fprintf(&b, "dn: cn=%s,o=%s,ou=organisations,dc=veilig,dc=test\nobjectClass: top\nobjectClass: person\n"+
				"objectClass: organizationalPerson\nobjectClass: inetOrgPerson\ncn: %s\nsn: %03d\ndisplayName: %s\n"+
				"mail: m%03d@org%04d.test\n\n", name, org, name, p, name, p, o)
		}
	}
	return b.String()
}

func addPerson(t *testing.T, slapd *testenv.Slapd, name, mail string) {
	t.Helper()
	req := ldap.NewAddRequest("cn="+name+",o=Organisatie 0000,ou=organisations,dc=veilig,dc=test", nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
	req.Attribute("cn", []string{name})
	req.Attribute("sn", []string{"Persoon"})
	req.Attribute("displayName", []string{name})
	req.Attribute("mail", []string{mail})
	if err := slapd.Conn(t).Add(req); err != nil {
		t.Fatalf("add %s to LDAP: %v", mail, err)
	}
}

// directoryState summarises the directory tables: counts and a digest of
// every person's address and organisation.
func directoryState(t *testing.T, db *database.DB) string {
	t.Helper()
	var s struct {
		Orgs, People, Domains int64
		Digest                string
	}
	q := db.WithContext(t.Context())
	err := q.Raw(`SELECT (SELECT count(*) FROM organisations) AS orgs, (SELECT count(*) FROM people) AS people,
		(SELECT count(*) FROM domains) AS domains,
		(SELECT coalesce(md5(string_agg(mail || '/' || organisation_id || '/' || display_name, ',' ORDER BY mail, source_id)), '') FROM people) AS digest`).
		Scan(&s).Error
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d organisations, %d domains, %d people, digest %s", s.Orgs, s.Domains, s.People, s.Digest)
}

// lastRun is the outcome of the latest sync_runs row.
func lastRun(t *testing.T, db *database.DB) string {
	t.Helper()
	var outcome string
	if err := db.WithContext(t.Context()).Raw("SELECT outcome FROM sync_runs ORDER BY id DESC LIMIT 1").Scan(&outcome).Error; err != nil {
		t.Fatal(err)
	}
	return outcome
}

// newDatabase creates a database on the suite's cluster and returns its URL.
func (e *env) newDatabase(t *testing.T, name string) string {
	t.Helper()
	admin := e.openDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.WithContext(ctx).Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return strings.Replace(e.pg.URL(), "/postgres?", "/"+name+"?", 1)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
