package enrolment

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestAuditEnrolmentSteps(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, Config{ExpireAfter: 48 * time.Hour})
		log := &audit.Memory{}
		e.svc.d.Audit = log
		op := audit.Actor{UserID: "op-1", Role: "operator", IP: "192.0.2.50"}
		ctx := audit.WithActor(context.Background(), op)
		const pw = "canary horse battery staple"
		c := e.verified(t, "a.example.nl")
		got, err := e.svc.Approve(ctx, c.ID, "op-1")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Activate(context.Background(), c.ID, c.StatusToken, pw); err != nil {
			t.Fatal(err)
		}
		rejected := e.create(t, valid("r.example.nl"), "192.0.2.1")
		if _, err := e.svc.Reject(ctx, rejected.ID, "op-1", "canary reason"); err != nil {
			t.Fatal(err)
		}
		old := e.create(t, valid("old.example.nl"), "192.0.2.1")
		e.clock.Advance(49 * time.Hour)
		if _, err := e.svc.Expire(context.Background()); err != nil {
			t.Fatal(err)
		}
		ev := func(step, id, org string, actor audit.Actor, detail map[string]string) audit.Event {
			return audit.Event{Action: audit.ActionEnrolment + step, Outcome: "success", Actor: actor,
				Object: audit.Object{Type: "enrolment", ID: id}, OrganisationID: org, Detail: detail}
		}
		none := audit.Actor{}
		want := []audit.Event{
			ev("created", c.ID, "", none, map[string]string{"domains": "1"}),
			ev("verified", c.ID, "", none, nil),
			ev("approved", c.ID, got.OrganisationID, op, map[string]string{"by": "operator"}),
			ev("activated", c.ID, got.OrganisationID, none, nil),
			ev("created", rejected.ID, "", none, map[string]string{"domains": "1"}),
			ev("rejected", rejected.ID, "", op, nil),
			ev("created", old.ID, "", none, map[string]string{"domains": "1"}),
			ev("expired", old.ID, "", none, nil),
		}
		events := log.Take()
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		raw, err := json.Marshal(events)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{c.StatusToken, rejected.StatusToken, pw, "an@", "+31612345678", "canary reason"} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("an audit event contains %q", secret)
			}
		}
	})
}
