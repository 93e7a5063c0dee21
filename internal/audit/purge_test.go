package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestPurgeKeepsTheChainVerifiable(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		tr, c := newTrail(t, db, 4)
		ctx := context.Background()
		now := c.now()
		exec(t, db, "INSERT INTO organisations (id, source_id, name, created_at, updated_at) VALUES ('org-a', 'a', 'A', ?, ?)", now, now)
		exec(t, db, "INSERT INTO organisation_settings (organisation_id, updated_at, audit_retention_days) VALUES ('org-a', ?, 365)", now)
		ages := []struct {
			org string
			age time.Duration
		}{
			{"org-a", 7 * 365 * 24 * time.Hour}, // 1: past both retentions
			{"org-b", 7 * 365 * 24 * time.Hour}, // 2
			{"", 7 * 365 * 24 * time.Hour},      // 3: Veilig itself follows the default
			{"org-a", 2 * 365 * 24 * time.Hour}, // 4: past org-a's year
			{"org-b", 2 * 365 * 24 * time.Hour}, // 5: within the default six years
			{"org-a", 24 * time.Hour},           // 6
		}
		for _, a := range ages {
			e := audit.Event{Action: audit.ActionMessageOpened, OrganisationID: a.org, At: now.Add(-a.age),
				Actor:  audit.Actor{UserID: "u", IP: "192.0.2.1"},
				Object: audit.Object{Type: "delivery", ID: "d"}, Detail: map[string]string{"message_id": "m"}}
			if _, err := tr.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		n, err := tr.Purge(ctx, now)
		if err != nil || n != 4 {
			t.Fatalf("purge = %d, %v; want 4", n, err)
		}
		if n, err := tr.Purge(ctx, now); err != nil || n != 0 {
			t.Fatalf("second purge = %d, %v", n, err)
		}
		rep := verify(t, tr)
		if !rep.OK() || rep.Purged != 4 || rep.Events != 6 {
			t.Fatalf("report %+v", rep)
		}
		all, err := tr.List(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range all {
			purged := s.PurgedAt != nil
			if want := i+1 <= 4; purged != want {
				t.Errorf("seq %d purged %v, want %v", s.Seq, purged, want)
			}
			if purged && (s.Event.Actor != audit.Actor{} || s.Event.Object.ID != "" || len(s.Event.Detail) != 0 || s.MessageID != "") {
				t.Errorf("seq %d kept its payload: %+v", s.Seq, s)
			}
		}
		// An edit of a purged row's hash is still caught.
		exec(t, db, "UPDATE audit_events SET payload_hash = ? WHERE seq = 2", zeros)
		if rep := verify(t, tr); !hasProblem(rep, audit.ProblemHash, 2) {
			t.Fatalf("report %+v", rep)
		}
	})
}
