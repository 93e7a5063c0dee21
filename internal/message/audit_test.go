package message_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

// auditedService is e's service recording into log.
func auditedService(t *testing.T, e *env, log *audit.Memory) *message.Service {
	t.Helper()
	svc, err := message.New(message.Config{MaxRecipients: 5, SMTPHostname: host},
		message.Deps{DB: e.db, Vault: e.vault, Signer: e.signed, Router: e.router, Queue: e.queue,
			Log: testenv.Logger(t), Now: e.clock.Now, Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

const canaryFile = "canary-dossier-Jansen.txt"

func TestAuditMessageLifecycle(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		log := &audit.Memory{}
		svc := auditedService(t, e, log)
		from := e.sender(senderA)
		actor := audit.Actor{UserID: from.UserID, OrganisationID: e.orgA, Role: "sender", IP: "192.0.2.9"}
		ctx := audit.WithActor(context.Background(), actor)
		d := draft(recipient)
		d.Attachments = append(d.Attachments, attachment(canaryFile, "canary content"))
		revoked := accept(t, svc, ctx, from, d)
		expired := accept(t, svc, ctx, from, draft(recipient))
		check(t, svc.Revoke(ctx, from, revoked))
		db.Exec("UPDATE messages SET expires_at = ? WHERE id = ?", t0.Add(-time.Hour), expired)
		if _, err := svc.Store().Expire(context.Background()); err != nil {
			t.Fatal(err)
		}
		obj := func(id string) audit.Object { return audit.Object{Type: "message", ID: id} }
		want := []audit.Event{
			{Action: audit.ActionMessageSubmit, Outcome: "success", Actor: actor, Object: obj(revoked),
				OrganisationID: e.orgA, Detail: map[string]string{"recipients": "1", "routes": "internal:1",
					"size": size(t, e, revoked), "attachments": "1"}},
			{Action: audit.ActionMessageSubmit, Outcome: "success", Actor: actor, Object: obj(expired),
				OrganisationID: e.orgA, Detail: map[string]string{"recipients": "1", "routes": "internal:1",
					"size": size(t, e, expired), "attachments": "0"}},
			{Action: audit.ActionRevoked, Outcome: "success", Actor: actor, Object: obj(revoked), OrganisationID: e.orgA},
			{Action: audit.ActionShredded, Outcome: "success", Object: obj(revoked), OrganisationID: e.orgA},
			{Action: audit.ActionExpired, Outcome: "success", Object: obj(expired), OrganisationID: e.orgA},
			{Action: audit.ActionShredded, Outcome: "success", Object: obj(expired), OrganisationID: e.orgA},
		}
		got := log.Take()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		testenv.AssertNoSecrets(t, got, d.Subject, "Geachte heer", canaryFile, "canary content", recipient, from.Name)
	})
}

// The SMTP submission gateway sets no actor: the sender is the actor.
func TestAuditSubmitWithoutActor(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		log := &audit.Memory{}
		from := e.sender(senderA)
		accept(t, auditedService(t, e, log), context.Background(), from, draft(recipient))
		got := log.Take()
		want := audit.Actor{UserID: from.UserID, OrganisationID: e.orgA}
		if len(got) != 1 || got[0].Actor != want {
			t.Errorf("events %+v, want one by %+v", got, want)
		}
	})
}

func accept(t *testing.T, svc *message.Service, ctx context.Context, from message.Sender, d message.Draft) string {
	t.Helper()
	acc, err := svc.Accept(ctx, from, d, "")
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return acc.ID
}

func size(t *testing.T, e *env, id string) string {
	t.Helper()
	var n int64
	if err := e.db.Raw("SELECT size FROM messages WHERE id = ?", id).Scan(&n).Error; err != nil || n == 0 {
		t.Fatalf("size of %s: %d, %v", id, n, err)
	}
	return strconv.FormatInt(n, 10)
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditSettingsChanged(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		log := &audit.Memory{}
		admin := audit.Actor{UserID: "admin-1", OrganisationID: e.orgA, Role: "org-admin", IP: "192.0.2.3"}
		ctx := audit.WithActor(context.Background(), admin)
		set := message.DefaultSettings()
		set.ExpiryDays, set.EmailCodeAllowed = 30, true
		check(t, auditedService(t, e, log).Store().PutOrganisationSettings(ctx, e.orgA, set))
		want := []audit.Event{{Action: audit.ActionSettings, Outcome: "success", Actor: admin,
			Object: audit.Object{Type: "organisation", ID: e.orgA}, OrganisationID: e.orgA,
			Detail: map[string]string{"self_copy": "true", "show_subject": "false", "expiry_days": "30",
				"notify_first_open": "false", "sms_daily_cap": "-1", "email_code_allowed": "true"}}}
		if diff := cmp.Diff(want, log.Take()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}
