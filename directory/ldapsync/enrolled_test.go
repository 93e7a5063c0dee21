package ldapsync

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// DNs of partnerFixture.
const (
	alfaDN  = "o=Alfa," + orgsDN
	betaDN  = "o=Beta," + orgsDN
	gammaDN = "o=Gamma," + orgsDN
	adaDN   = "cn=Ada," + alfaDN
	bobDN   = "cn=Bob," + betaDN
	gusDN   = "cn=Gus," + gammaDN
)

// partnerFixture is a directory beside a self-enrolled partner (see
// addPartner): Alfa lists one of the partner's domains besides its own, Gamma
// only the partner's.
func partnerFixture(withConflicts bool) string {
	var l ldifBuilder
	l.ou(orgsDN, "Organisaties")
	if withConflicts {
		l.org(alfaDN, "Alfa", "alfa.test", "shared.test")
	} else {
		l.org(alfaDN, "Alfa", "alfa.test")
	}
	l.person(adaDN, "Ada", "ada@alfa.test")
	l.org(betaDN, "Beta", "beta.test")
	l.person(bobDN, "Bob", "bob@beta.test")
	if withConflicts {
		l.org(gammaDN, "Gamma", "partner.test")
		l.person(gusDN, "Gus", "gus@partner.test")
	}
	return l.String()
}

const partnerName = "Partner B.V."

func addPartner(t *testing.T, store *directory.Store) string {
	t.Helper()
	id, err := store.AddEnrolledOrganisation(ctxT(t), directory.Organisation{Name: partnerName,
		Domains: []string{"partner.test", "shared.test", "partner2.test"}})
	if err != nil {
		t.Fatalf("AddEnrolledOrganisation: %v", err)
	}
	return id
}

// partnerIntact fails unless the enrolled partner is active with all its domains.
func partnerIntact(t *testing.T, db *database.DB, id string) {
	t.Helper()
	got, ok := dump(t, db).Orgs[partnerName]
	want := snapOrg{ID: id, SourceID: "enrolment:" + id, Status: directory.StatusActive,
		Domains: []string{"partner.test", "partner2.test", "shared.test"}}
	if !ok || !cmp.Equal(want, got) {
		t.Errorf("enrolled organisation = %+v (present %v); want %+v", got, ok, want)
	}
}

// conflictIssues returns the DNs of the run's issues about enrolled domains,
// sorted, as "dn domain".
func conflictIssues(t *testing.T, run directory.SyncRun) []string {
	var out []string
	for _, is := range run.Issues {
		for _, d := range []string{"partner.test", "shared.test", "partner2.test"} {
			if is.Reason == enrolledConflict(d) {
				out = append(out, key(t, is.DN)+" "+d)
			}
		}
	}
	slices.Sort(out)
	return out
}

func wantConflicts(t *testing.T) []string {
	return []string{key(t, alfaDN) + " shared.test", key(t, gammaDN) + " partner.test"}
}

// checkPartnerRun checks a full sync or import of partnerFixture(true) beside
// the enrolled partner.
func checkPartnerRun(t *testing.T, db *database.DB, run directory.SyncRun, id string) {
	t.Helper()
	partnerIntact(t, db, id)
	orgs, people := dump(t, db).brief()
	delete(orgs, partnerName)
	if diff := cmp.Diff(map[string]string{"Alfa": "active alfa.test", "Beta": "active beta.test"}, orgs); diff != "" {
		t.Errorf("synced organisations (-want +got):\n%s", diff)
	}
	wantPeople := map[string]string{key(t, adaDN): "Alfa <ada@alfa.test>", key(t, bobDN): "Beta <bob@beta.test>"}
	if diff := cmp.Diff(wantPeople, people); diff != "" {
		t.Errorf("people (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantConflicts(t), conflictIssues(t, run)); diff != "" {
		t.Errorf("conflicts reported (-want +got):\n%s\n%+v", diff, run.Issues)
	}
	// Gamma, which has no domain left, and its person are skipped.
	if !hasIssue(run, gammaDN) || !hasIssue(run, gusDN) || run.Skipped != 2 {
		t.Errorf("run = %+v; want Gamma and Gus skipped", run)
	}
}

// A full sync leaves an enrolled organisation as it is, reports the domains it
// would have taken, and routes them to the partner.
func TestFullSyncBesideEnrolled(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testenv.SlapdOptions{LDIF: partnerFixture(true)})
		ctx := ctxT(t)
		id := addPartner(t, e.store)
		sy := e.syncer(t, e.config())
		run, err := sy.FullSync(ctx)
		if err != nil {
			t.Fatalf("FullSync: %v", err)
		}
		checkPartnerRun(t, db, run, id)
		if last, err := e.store.LastRun(ctx); err != nil || !cmp.Equal(conflictIssues(t, last), wantConflicts(t)) {
			t.Errorf("recorded run issues = %+v, %v; want the conflicts", last.Issues, err)
		}
		// Beta leaves LDAP: the next full sync removes it, not the partner.
		mutate(t, e.slapd.Conn(t), del(bobDN), del(betaDN))
		if _, err := sy.FullSync(ctx); err != nil {
			t.Fatalf("second FullSync: %v", err)
		}
		partnerIntact(t, db, id)
		if beta := dump(t, db).Orgs["Beta"]; beta.Status != directory.StatusRemoved {
			t.Errorf("Beta = %+v, want removed", beta)
		}
		live := directory.NewLive(e.store, testenv.Discard(), time.Now)
		if _, err := live.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		for addr, want := range map[string]string{"x@shared.test": partnerName, "x@partner.test": partnerName,
			"x@alfa.test": "Alfa"} {
			r := live.Snapshot().Resolve([]string{addr})[0]
			if r.Route != directory.RouteInternal || r.Organisation == nil || r.Organisation.Name != want {
				t.Errorf("Resolve(%s) = %+v; want internal, %s", addr, r, want)
			}
		}
	})
}

func TestImportBesideEnrolled(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		store := directory.NewStore(db.DB, time.Now)
		id := addPartner(t, store)
		sy, err := NewSyncer(Config{}, store, testenv.Logger(t))
		if err != nil {
			t.Fatalf("NewSyncer: %v", err)
		}
		for i := range 2 { // the second import replaces the first
			run, err := sy.Import(ctxT(t), strings.NewReader(partnerFixture(true)), "partners.ldif")
			if err != nil {
				t.Fatalf("Import %d: %v", i, err)
			}
			checkPartnerRun(t, db, run, id)
		}
	})
}

// An incremental sync, by content sync or by polling, removes and changes
// synced organisations only, and reports the enrolled domains an entry gains.
func TestIncrementalSyncBesideEnrolled(t *testing.T) {
	tests := []struct {
		name string
		opts testenv.SlapdOptions
	}{
		{"content sync", testenv.SlapdOptions{}},
		{"poll", testenv.SlapdOptions{NoSyncprov: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
				tc.opts.LDIF = aged(partnerFixture(false))
				testIncrementalBesideEnrolled(t, db, tc.opts)
			})
		})
	}
}

func testIncrementalBesideEnrolled(t *testing.T, db *database.DB, opts testenv.SlapdOptions) {
	e := newEnv(t, db, opts)
	ctx := ctxT(t)
	sy := e.syncer(t, e.config())
	if _, err := sy.Sync(ctx); err != nil {
		t.Fatalf("first Sync: %v", err)
	}
	id := addPartner(t, e.store)
	mutate(t, e.slapd.Conn(t),
		modify(alfaDN, func(m *ldap.ModifyRequest) { m.Add("associatedDomain", []string{"shared.test"}) }),
		del(bobDN), del(betaDN),
		add(gammaDN, map[string][]string{"objectClass": {"organization", "domainRelatedObject"},
			"o": {"Gamma"}, "associatedDomain": {"partner.test"}}),
		add(gusDN, person("Gus", "gus@partner.test")),
	)
	run, err := sy.Sync(ctx)
	if err != nil || run.Kind != directory.RunIncremental {
		t.Fatalf("Sync = %+v, %v; want an incremental run", run, err)
	}
	partnerIntact(t, db, id)
	orgs, people := dump(t, db).brief()
	delete(orgs, partnerName)
	if diff := cmp.Diff(map[string]string{"Alfa": "active alfa.test", "Beta": "removed "}, orgs); diff != "" {
		t.Errorf("synced organisations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{key(t, adaDN): "Alfa <ada@alfa.test>"}, people); diff != "" {
		t.Errorf("people (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantConflicts(t), conflictIssues(t, run)); diff != "" {
		t.Errorf("conflicts reported (-want +got):\n%s\n%+v", diff, run.Issues)
	}
	if !hasIssue(run, gammaDN) || !hasIssue(run, gusDN) {
		t.Errorf("issues = %+v; want Gamma and Gus skipped", run.Issues)
	}
}

// An LDAP entry cannot take over an enrolled organisation by its source id.
func TestReservedSourceID(t *testing.T) {
	s, err := Config{IDAttr: "description"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseDNPath(alfaDN)
	if err != nil {
		t.Fatal(err)
	}
	r := record{dn: alfaDN, attrs: map[string][]string{"o": {"Alfa"}, "associateddomain": {"alfa.test"},
		"description": {"enrolment:0f8fad5b-d9cb-469f-a165-70867728950e"}}}
	if c := (mapper{s}).organisation(r, p); !strings.Contains(c.reason, "reserved") {
		t.Errorf("organisation with a reserved source id: reason %q, want it skipped", c.reason)
	}
}
