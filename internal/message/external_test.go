package message_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

// plainNotifier writes a minimal mail carrying the link, like internal/notify.
type plainNotifier struct{}

func (plainNotifier) WriteNotification(w io.Writer, n message.Notification) error {
	_, err := fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: notification\r\n\r\n%s\r\n", n.SenderEmail, n.Recipient, n.Link)
	return err
}

func (plainNotifier) WriteReminder(w io.Writer, n message.Notification, days int) error {
	_, err := fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: reminder %d\r\n\r\n%s\r\n", n.SenderEmail, n.Recipient, days, n.Link)
	return err
}

var linkRE = regexp.MustCompile(`/v/([A-Za-z0-9_-]{43})`)

// serviceWith is a service like e's over another vault.
func (e *env) serviceWith(t *testing.T, v *message.Vault) *message.Service {
	t.Helper()
	svc, err := message.New(message.Config{MaxRecipients: 5, SMTPHostname: host},
		message.Deps{DB: e.db, Vault: v, Signer: e.signed, Router: e.router, Queue: e.queue,
			Log: testenv.Logger(t), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// externalService is e's service with the external route on.
func (e *env) externalService(t *testing.T) *message.Service {
	t.Helper()
	svc, err := message.New(message.Config{MaxRecipients: 5, SMTPHostname: host,
		External: &message.ExternalConfig{PublicURL: "https://veilig.example", ExpiryDays: 30}},
		message.Deps{DB: e.db, Vault: e.vault, Signer: e.signed, Router: e.router, Queue: e.queue,
			Notifier: plainNotifier{}, Log: testenv.Logger(t), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestExternalAcceptRefusesWithoutUsablePhone(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		svc := e.externalService(t)
		tests := []struct {
			name   string
			phones map[string]string
		}{
			{"no phone", nil},
			{"other address", map[string]string{"piet@extern.example": "+31612345678"}},
			{"not a mobile region allowed", map[string]string{"jan@extern.example": "+12025550123"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				d := draft("jan@extern.example")
				d.Phones = tc.phones
				_, err := svc.Accept(context.Background(), e.sender(senderA), d, "")
				var inv *message.InvalidError
				if !errors.As(err, &inv) || inv.Field != "phones" {
					t.Fatalf("err = %v, want InvalidError on phones", err)
				}
				if got := e.counts(t); got != [3]int{} {
					t.Errorf("stored %v after a refusal", got)
				}
			})
		}
	})
}

func TestExternalLinkAndReminder(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		svc := e.externalService(t)
		ctx := context.Background()
		d := draft("jan@extern.example")
		d.Phones = map[string]string{"jan@extern.example": "+31612345678"}
		acc, err := svc.Accept(ctx, e.sender(senderA), d, "")
		if err != nil {
			t.Fatal(err)
		}
		if r := acc.Recipients[0]; r.Route != "external" || r.Status != message.StatusQueued {
			t.Fatalf("recipient %+v", r)
		}
		st, err := svc.Get(ctx, e.sender(senderA), acc.ID)
		if err != nil {
			t.Fatal(err)
		}
		ext := st.Recipients[0].External
		if ext == nil || ext.Phone == "" || ext.Phone == "+31612345678" || ext.NotifiedAt != nil {
			t.Fatalf("external status %+v, want a masked phone and nothing yet", ext)
		}
		if st.ExpiresAt == nil || !st.ExpiresAt.Equal(t0.Add(30*24*time.Hour)) {
			t.Errorf("expires %v, want the 30-day default", st.ExpiresAt)
		}
		first := e.linkOf(t, "notifications/"+deliveryID(t, e, acc.ID))
		l, err := e.store.LinkByToken(ctx, first)
		if err != nil || l.Address != "jan@extern.example" || l.MessageID != acc.ID {
			t.Fatalf("LinkByToken = %+v, %v", l, err)
		}
		if phone, err := e.store.Phone(ctx, l); err != nil || phone != "+31612345678" {
			t.Errorf("Phone = %q, %v", phone, err)
		}
		e.remindOnce(t, svc, l, first)
	})
}

// remindOnce: before notification or too early, nothing; near expiry, one
// reminder with a new link; never a second.
func (e *env) remindOnce(t *testing.T, svc *message.Service, l message.Link, first string) {
	ctx := context.Background()
	if n, err := svc.SendReminders(ctx, 72*time.Hour); err != nil || n != 0 {
		t.Fatalf("reminders before the notification arrived: %d, %v", n, err)
	}
	if err := e.db.Exec("UPDATE external_recipients SET notified_at = ?", t0).Error; err != nil {
		t.Fatal(err)
	}
	if n, err := svc.SendReminders(ctx, 72*time.Hour); err != nil || n != 0 {
		t.Fatalf("reminders a month early: %d, %v", n, err)
	}
	e.clock.Add(28 * 24 * time.Hour)
	if n, err := svc.SendReminders(ctx, 72*time.Hour); err != nil || n != 1 {
		t.Fatalf("reminders near expiry: %d, %v; want 1", n, err)
	}
	if n, err := svc.SendReminders(ctx, 72*time.Hour); err != nil || n != 0 {
		t.Fatalf("second pass: %d, %v; want none", n, err)
	}
	var key string
	if err := e.db.Raw("SELECT blob_key FROM deliveries WHERE reason = ?", "reminder:"+l.DeliveryID).Scan(&key).Error; err != nil || key == "" {
		t.Fatalf("reminder delivery: %q, %v", key, err)
	}
	second := e.linkOf(t, key)
	for _, tok := range []string{first, second} {
		if got, err := e.store.LinkByToken(ctx, tok); err != nil || got.DeliveryID != l.DeliveryID {
			t.Errorf("link %q… = %+v, %v; both links open the message", tok[:6], got, err)
		}
	}
	if first == second {
		t.Error("the reminder reuses the first link")
	}
}

func (e *env) linkOf(t *testing.T, key string) string {
	t.Helper()
	m := linkRE.FindStringSubmatch(e.blobText(t, key))
	if m == nil {
		t.Fatalf("no link in %s", key)
	}
	return m[1]
}

func deliveryID(t *testing.T, e *env, messageID string) string {
	t.Helper()
	var id string
	if err := e.db.Raw("SELECT id FROM deliveries WHERE message_id = ? AND route = 'external'", messageID).
		Scan(&id).Error; err != nil || id == "" {
		t.Fatalf("external delivery: %q, %v", id, err)
	}
	return id
}
