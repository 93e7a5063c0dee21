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
