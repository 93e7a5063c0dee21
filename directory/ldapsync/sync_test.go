package ldapsync

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// fixtureOrgs and fixturePeople are what a sync of fixture() yields.
func fixtureOrgs() map[string]string {
	return map[string]string{
		"Gemeente Zuid, Noord":     "active zuidnoord.test",
		"Stadsdeel Oost":           "active oost.zuidnoord.test",
		"Stadsdeel West":           "active west.zuidnoord.test",
		"Waterschap Ĳssel + Vecht": "active waterschap.test",
		"Zeta Dubbel":              "active zeta.test",
	}
}

func fixturePeople(t *testing.T) map[string]string {
	return map[string]string{
		key(t, annaDN):                        "Gemeente Zuid, Noord <anna.devries@zuidnoord.test>",
		key(t, bramDN):                        "Stadsdeel Oost <bram@oost.zuidnoord.test>",
		key(t, "cn=Dirk Zonder Mail,"+oostDN): "Stadsdeel Oost <>",
		key(t, celikDN):                       "Waterschap Ĳssel + Vecht <celik@waterschap.test>",
		key(t, "cn=Wim,"+westDN):              "Stadsdeel West <wim@west.zuidnoord.test>",
		key(t, "cn=Zoë,"+zetaDN):              "Zeta Dubbel <zoe@zeta.test>",
		key(t, "cn=Dubbel Mail A,"+zetaDN):    "Zeta Dubbel <dubbel@zeta.test>",
		key(t, "cn=Dubbel Mail B,"+zetaDN):    "Zeta Dubbel <dubbel@zeta.test>",
	}
}

func TestFullSync(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testenv.SlapdOptions{LDIF: fixture()})
		ctx := ctxT(t)
		run, err := e.syncer(t, e.config()).Sync(ctx)
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		orgs, people := dump(t, db).brief()
		if diff := cmp.Diff(fixtureOrgs(), orgs); diff != "" {
			t.Errorf("organisations (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(fixturePeople(t), people); diff != "" {
			t.Errorf("people (-want +got):\n%s", diff)
		}
		// Skipped: an organisation whose only domain is taken, one without a
		// valid domain, their people, a person outside any organisation, a
		// bad mail address. Noted: the organisation that lost a domain.
		wantIssues := []string{zetaDN, zuluDN, "cn=Zulu Persoon," + zuluDN, geenDN, "cn=Gert," + geenDN,
			"cn=Zwerver," + orgsDN, "cn=Foute Mail," + zuidDN}
		for i, dn := range wantIssues {
			wantIssues[i] = key(t, dn)
		}
		slices.Sort(wantIssues)
		if diff := cmp.Diff(wantIssues, issueDNs(t, run)); diff != "" {
			t.Errorf("issues (-want +got):\n%s\n%+v", diff, run.Issues)
		}
		want := directory.SyncRun{Kind: directory.RunFull, Outcome: directory.OutcomeSucceeded,
			Organisations: 5, People: 8, Skipped: 6}
		got := directory.SyncRun{Kind: run.Kind, Outcome: run.Outcome, Organisations: run.Organisations,
			People: run.People, Skipped: run.Skipped}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("run (-want +got):\n%s", diff)
		}
		last, err := e.store.LastRun(ctx)
		if err != nil || last.ID != run.ID || last.Outcome != directory.OutcomeSucceeded || len(last.Issues) != 7 {
			t.Errorf("recorded run = %+v, %v", last, err)
		}
		snap := dump(t, db)
		if p := snap.People[key(t, bramDN)]; p.Name != "Bram Bakker" || p.Dept != "" {
			t.Errorf("Bram = %+v, want the displayName", p)
		}
		if p := snap.People[key(t, annaDN)]; p.Name != "Anna de Vries" || p.Dept != "Burgerzaken" {
			t.Errorf("Anna = %+v", p)
		}
	})
}

// mutate applies changes through the administrator connection.
func mutate(t *testing.T, c *ldap.Conn, changes ...func(*ldap.Conn) error) {
	t.Helper()
	for i, ch := range changes {
		if err := ch(c); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
}

func modify(dn string, fn func(*ldap.ModifyRequest)) func(*ldap.Conn) error {
	return func(c *ldap.Conn) error {
		m := ldap.NewModifyRequest(dn, nil)
		fn(m)
		return c.Modify(m)
	}
}

func rename(dn, rdn, newSuperior string) func(*ldap.Conn) error {
	return func(c *ldap.Conn) error { return c.ModifyDN(ldap.NewModifyDNRequest(dn, rdn, true, newSuperior)) }
}

func add(dn string, attrs map[string][]string) func(*ldap.Conn) error {
	return func(c *ldap.Conn) error {
		a := ldap.NewAddRequest(dn, nil)
		for _, k := range slices.Sorted(maps.Keys(attrs)) {
			a.Attribute(k, attrs[k])
		}
		return c.Add(a)
	}
}

func del(dn string) func(*ldap.Conn) error {
	return func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(dn, nil)) }
}

func person(cn, mail string) map[string][]string {
	return map[string][]string{"objectClass": {"inetOrgPerson"}, "cn": {cn}, "sn": {cn}, "mail": {mail}}
}

func TestIncrementalSync(t *testing.T) {
	const (
		noordDN = `o=Gemeente Noord\, Zuid,` + orgsDN // zuidDN renamed
		nieuwDN = "o=Nieuwe Gemeente," + orgsDN
		// People of an organisation that itself does not change, whose entries
		// become unusable: their old rows must go.
		pieterDN  = "cn=Pieter," + waterDN
		quintenDN = "cn=Quinten," + waterDN
		roosDN    = "cn=Roos," + waterDN
		sanneDN   = "cn=Sanne," + waterDN
	)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testenv.SlapdOptions{LDIF: fixture()})
		ctx := ctxT(t)
		sy := e.syncer(t, e.config())
		mutate(t, e.slapd.Conn(t),
			add(pieterDN, person("Pieter", "pieter@waterschap.test")),
			add(quintenDN, person("Quinten", "quinten@waterschap.test")),
			add(roosDN, person("Roos", "roos@waterschap.test")),
			add(sanneDN, person("Sanne", "sanne@waterschap.test")),
		)
		if _, err := sy.Sync(ctx); err != nil {
			t.Fatalf("first Sync: %v", err)
		}
		before := dump(t, db)
		for _, dn := range []string{pieterDN, quintenDN, roosDN, sanneDN} {
			if _, ok := before.People[key(t, dn)]; !ok {
				t.Fatalf("%s is not in the directory after the first sync", dn)
			}
		}
		run, err := sy.Sync(ctx)
		if err != nil || run.Kind != directory.RunIncremental || run.People != 0 || run.Deleted != 0 {
			t.Fatalf("Sync without changes = %+v, %v; want an empty incremental run", run, err)
		}
		mutate(t, e.slapd.Conn(t),
			modify(annaDN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"anna@zuidnoord.test"}) }),
			add("cn=Nieuw,"+oostDN, person("Nieuw", "nieuw@oost.zuidnoord.test")),
			del("cn=Dirk Zonder Mail,"+oostDN),
			rename(celikDN, "cn=Çelik Öztürk-Jansen", ""),
			// Zoë moves to another organisation.
			rename("cn=Zoë,"+zetaDN, "cn=Zoë", "ou=Burgerzaken,"+zuidDN),
			// Zeta gives up the contested domain.
			modify(zetaDN, func(m *ldap.ModifyRequest) { m.Replace("associatedDomain", []string{"zeta.test"}) }),
			// Stadsdeel Oost stops being an organisation: its people fall to the
			// organisation above.
			modify(oostDN, func(m *ldap.ModifyRequest) {
				m.Delete("associatedDomain", nil)
				m.Delete("objectClass", []string{"domainRelatedObject"})
			}),
			// The organisation above is renamed, with everything below it.
			rename(zuidDN, `o=Gemeente Noord\, Zuid`, ""),
			add(nieuwDN, map[string][]string{"objectClass": {"organization", "domainRelatedObject"},
				"o": {"Nieuwe Gemeente"}, "associatedDomain": {"nieuw.test"}}),
			add("cn=Eerste,"+nieuwDN, person("Eerste", "eerste@nieuw.test")),
			// The mail address becomes invalid.
			modify(pieterDN, func(m *ldap.ModifyRequest) { m.Replace("mail", []string{"geen adres"}) }),
			// Moved out of every organisation.
			rename(quintenDN, "cn=Quinten", orgsDN),
			// Moved below an organisation that is skipped (its only domain is
			// taken), and below one without a valid domain.
			rename(roosDN, "cn=Roos", zuluDN),
			rename(sanneDN, "cn=Sanne", geenDN),
		)
		run, err = sy.Sync(ctx)
		if err != nil {
			t.Fatalf("incremental Sync: %v", err)
		}
		if run.Kind != directory.RunIncremental {
			t.Fatalf("run kind = %s, want incremental", run.Kind)
		}
		for _, dn := range []string{pieterDN, "cn=Quinten," + orgsDN, "cn=Roos," + zuluDN, "cn=Sanne," + geenDN} {
			if !slices.Contains(issueDNs(t, run), key(t, dn)) {
				t.Errorf("%s is not reported as skipped: %+v", dn, run.Issues)
			}
		}
		after := dump(t, db)
		orgs, people := after.brief()
		wantOrgs := fixtureOrgs()
		delete(wantOrgs, "Gemeente Zuid, Noord") // renamed: the name changes, the id stays
		wantOrgs["Gemeente Noord, Zuid"] = "active zuidnoord.test"
		wantOrgs["Stadsdeel Oost"] = "removed "
		wantOrgs["Nieuwe Gemeente"] = "active nieuw.test"
		if diff := cmp.Diff(wantOrgs, orgs); diff != "" {
			t.Errorf("organisations (-want +got):\n%s", diff)
		}
		const gemeente = "Gemeente Noord, Zuid"
		noordOost := "o=Stadsdeel Oost," + noordDN
		wantPeople := map[string]string{
			key(t, "cn=Anna de Vries+uid=avries,ou=Burgerzaken,"+noordDN): gemeente + " <anna@zuidnoord.test>",
			key(t, "cn=Bram,ou=Wijkteam,ou=Teams,"+noordOost):             gemeente + " <bram@oost.zuidnoord.test>",
			key(t, "cn=Nieuw,"+noordOost):                                 gemeente + " <nieuw@oost.zuidnoord.test>",
			key(t, "cn=Zoë,ou=Burgerzaken,"+noordDN):                      gemeente + " <zoe@zeta.test>",
			key(t, "cn=Çelik Öztürk-Jansen,"+waterDN):                     "Waterschap Ĳssel + Vecht <celik@waterschap.test>",
			key(t, "cn=Dubbel Mail A,"+zetaDN):                            "Zeta Dubbel <dubbel@zeta.test>",
			key(t, "cn=Dubbel Mail B,"+zetaDN):                            "Zeta Dubbel <dubbel@zeta.test>",
			key(t, "cn=Eerste,"+nieuwDN):                                  "Nieuwe Gemeente <eerste@nieuw.test>",
			key(t, "cn=Wim,o=Stadsdeel West,"+noordDN):                    "Stadsdeel West <wim@west.zuidnoord.test>",
		}
		if diff := cmp.Diff(wantPeople, people); diff != "" {
			t.Errorf("people (-want +got):\n%s", diff)
		}
		if got, was := after.Orgs[gemeente], before.Orgs["Gemeente Zuid, Noord"]; got.ID != was.ID ||
			key(t, got.SourceDN) != key(t, noordDN) {
			t.Errorf("renamed organisation = %+v, want id %s and DN %s", got, was.ID, noordDN)
		}
		if got := after.Orgs["Stadsdeel West"].SourceDN; key(t, got) != key(t, "o=Stadsdeel West,"+noordDN) {
			t.Errorf("organisation below the renamed one has DN %s", got)
		}
		// The incremental result must be what a full sync makes of the same data.
		full, err := sy.FullSync(ctx)
		if err != nil {
			t.Fatalf("FullSync: %v", err)
		}
		if diff := cmp.Diff(after, dump(t, db)); diff != "" {
			t.Errorf("incremental and full sync differ (-incremental +full):\n%s\nfull run: %+v", diff, full)
		}
	})
}

func TestSyncFallsBackToFull(t *testing.T) {
	tests := []struct {
		name    string
		opts    testenv.SlapdOptions
		restart bool
		want    []string // kinds and outcomes of the runs of the second Sync
	}{
		{"no session log", testenv.SlapdOptions{NoSessionLog: true}, false,
			[]string{"incremental failed", "full succeeded"}},
		{"session log lost in a restart", testenv.SlapdOptions{}, true,
			[]string{"incremental failed", "full succeeded"}},
		{"no syncprov", testenv.SlapdOptions{NoSyncprov: true}, false, []string{"full succeeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := testenv.DB(t, database.SQLite)
			tc.opts.LDIF = fixture()
			e := newEnv(t, db, tc.opts)
			ctx := ctxT(t)
			sy := e.syncer(t, e.config())
			first, err := sy.Sync(ctx)
			if err != nil {
				t.Fatalf("first Sync: %v", err)
			}
			mutate(t, e.slapd.Conn(t), del("cn=Zoë,"+zetaDN))
			if tc.restart {
				e.slapd.Restart()
			}
			last, err := sy.Sync(ctx)
			if err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			var got []string
			for id := first.ID + 1; id <= last.ID; id++ {
				var row struct{ Kind, Outcome string }
				db.WithContext(ctx).Raw("SELECT kind, outcome FROM sync_runs WHERE id = ?", id).Scan(&row)
				got = append(got, row.Kind+" "+row.Outcome)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
			if _, ok := dump(t, db).People[key(t, "cn=Zoë,"+zetaDN)]; ok {
				t.Error("the deleted person is still in the directory")
			}
		})
	}
}

func TestFullSyncLDAPDies(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testenv.SlapdOptions{LDIF: generated(6, 500)})
		ctx := ctxT(t)
		cfg := e.config()
		cfg.PageSize = 400
		sy := e.syncer(t, cfg)
		if _, err := sy.FullSync(ctx); err != nil {
			t.Fatalf("first FullSync: %v", err)
		}
		before, err := e.store.Counts(ctx)
		if err != nil || before.People != 3000 {
			t.Fatalf("counts after the first sync = %+v, %v; want 3000 people", before, err)
		}
		// Kill slapd once the first 1000 people are read: pages are fetched one
		// by one, so the rest can no longer come.
		sy.batchRead = func(n int) {
			if n == batchSize {
				e.slapd.Kill()
			}
		}
		run, err := sy.FullSync(ctx)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("FullSync with a dying server = %v, want ErrUnavailable", err)
		}
		after, cerr := e.store.Counts(ctx)
		if cerr != nil || after != before {
			t.Errorf("counts after the failed sync = %+v, %v; want the previous %+v", after, cerr, before)
		}
		last, lerr := e.store.LastRun(ctx)
		if lerr != nil || last.ID != run.ID || last.Outcome != directory.OutcomeFailed || last.Error == "" {
			t.Errorf("recorded run = %+v, %v; want failed with an error", last, lerr)
		}
	})
}
