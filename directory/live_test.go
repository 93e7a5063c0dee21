package directory_test

import (
	"context"
	"testing"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// Two serve processes share one database: a change written through one store is
// picked up by the other's in-memory view on its next refresh.
func TestLiveFollowsChangesByOtherProcesses(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		writer := directory.NewStore(db.DB, fixedNow)
		reader := directory.NewLive(directory.NewStore(db.DB, fixedNow), testenv.Discard(), fixedNow)
		if loaded, err := reader.Refresh(ctx); err != nil || !loaded {
			t.Fatalf("first Refresh = %v, %v; want a load", loaded, err)
		}
		if got := reader.Snapshot().Index.Search("utrecht", 10); len(got) != 0 {
			t.Fatalf("empty directory found %d hits", len(got))
		}
		write(t, writer, true, []directory.Organisation{org("u1", "Gemeente Utrecht", "utrecht.nl")},
			[]directory.Person{person("p1", "u1", "Zoë Jansen", "zoe@utrecht.nl")})
		if loaded, err := reader.Refresh(ctx); err != nil || !loaded {
			t.Fatalf("Refresh after a write = %v, %v; want a load", loaded, err)
		}
		if loaded, _ := reader.Refresh(ctx); loaded {
			t.Error("Refresh without a change reloaded")
		}
		snap := reader.Snapshot()
		if hits := snap.Index.Search("zoe", 10); len(hits) != 1 || hits[0].Record.OrganisationName != "Gemeente Utrecht" {
			t.Errorf("search after sync = %+v", hits)
		}
		if got := snap.PersonName("ZOE@utrecht.nl"); got != "Zoë Jansen" {
			t.Errorf("PersonName = %q, want Zoë Jansen", got)
		}
		if got := snap.PersonName("nobody@utrecht.nl"); got != "" {
			t.Errorf("PersonName of a stranger = %q", got)
		}
		if org, ok := snap.Lookup("mail.utrecht.nl"); !ok || org.Name != "Gemeente Utrecht" {
			t.Errorf("Lookup(mail.utrecht.nl) = %+v, %v", org, ok)
		}
	})
}
