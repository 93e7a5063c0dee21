package ldapsync

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestImport(t *testing.T) {
	// The fixture with a suffix entry and a malformed record in the middle.
	data := "version: 1\n\ndn: " + base + "\nobjectClass: organization\no: Veilig\n\n" +
		"dn: cn=Kapot," + orgsDN + "\nobjectClass inetOrgPerson\n\n" + fixture()
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		store := directory.NewStore(db.DB, time.Now)
		sy, err := NewSyncer(Config{}, store, testenv.Logger(t))
		if err != nil {
			t.Fatalf("NewSyncer: %v", err)
		}
		ctx := ctxT(t)
		if _, err := sy.Sync(ctx); !errors.Is(err, ErrNotConfigured) {
			t.Errorf("Sync without LDAP = %v, want ErrNotConfigured", err)
		}
		// A plain io.Reader (spooled) and a seekable one give the same result.
		for _, r := range []interface{ Read([]byte) (int, error) }{onlyReader{strings.NewReader(data)}, strings.NewReader(data)} {
			run, err := sy.Import(ctx, r, "community.ldif")
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			orgs, people := dump(t, db).brief()
			if diff := cmp.Diff(fixtureOrgs(), orgs); diff != "" {
				t.Errorf("organisations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(fixturePeople(t), people); diff != "" {
				t.Errorf("people (-want +got):\n%s", diff)
			}
			if run.Kind != directory.RunImport || run.Source != "community.ldif" || run.Skipped != 7 {
				t.Errorf("run = %+v; want an import with 7 skipped entries", run)
			}
			if !hasIssue(run, "cn=Kapot,"+orgsDN) {
				t.Errorf("the malformed record is not reported: %+v", run.Issues)
			}
		}
	})
}

type onlyReader struct{ r *strings.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func hasIssue(run directory.SyncRun, dn string) bool {
	for _, is := range run.Issues {
		if is.DN == dn {
			return true
		}
	}
	return false
}

// TestImportADObjectGUIDs imports AD-style entries whose objectGUIDs begin or
// end with bytes that are white space in ASCII, or hold NUL bytes: each must keep
// its own id, written as a UUID, and PostgreSQL must accept them all.
func TestImportADObjectGUIDs(t *testing.T) {
	guid := func(first, last byte) string {
		b := make([]byte, 16)
		b[0], b[15] = first, last
		return string(b)
	}
	const ouDN = "ou=Gemeente,dc=ad,dc=test"
	people := []struct{ cn, guid, want string }{
		{"Spatie", guid(0x20, 0x41), "00000020-0000-0000-0000-000000000041"},
		{"Tab", guid(0x09, 0x41), "00000009-0000-0000-0000-000000000041"},
		{"Nul", guid(0x00, 0x41), "00000000-0000-0000-0000-000000000041"},
		{"Regel", guid(0x0a, 0x0d), "0000000a-0000-0000-0000-00000000000d"},
		{"Hoofdletter", guid(0x41, 0x20), "00000041-0000-0000-0000-000000000020"},
	}
	var l ldifBuilder
	l.entry(ouDN, "objectClass", "organizationalUnit", "objectClass", "domainRelatedObject", "ou", "Gemeente",
		"associatedDomain", "gemeente.test", "objectGUID", guid(0x0c, 0x20))
	want := map[string]string{}
	for _, p := range people {
		dn := "cn=" + p.cn + "," + ouDN
		l.entry(dn, "objectClass", "user", "cn", p.cn, "mail", strings.ToLower(p.cn)+"@gemeente.test",
			"objectGUID", p.guid)
		want[key(t, dn)] = p.want
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		store := directory.NewStore(db.DB, time.Now)
		cfg := Config{Preset: PresetAD, PersonFilter: "(&(objectClass=user)(mail=*))"}
		sy, err := NewSyncer(cfg, store, testenv.Logger(t))
		if err != nil {
			t.Fatalf("NewSyncer: %v", err)
		}
		run, err := sy.Import(ctxT(t), strings.NewReader(l.String()), "ad.ldif")
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		got := map[string]string{}
		for dn, p := range dump(t, db).People {
			got[dn] = p.SourceID
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("people's source ids (-want +got):\n%s\nissues: %+v", diff, run.Issues)
		}
		if org := dump(t, db).Orgs["Gemeente"]; org.SourceID != "0000000c-0000-0000-0000-000000000020" {
			t.Errorf("organisation source id = %q", org.SourceID)
		}
	})
}
