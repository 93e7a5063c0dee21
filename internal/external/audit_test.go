package external_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/external"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/viewer"
)

// audited is e's back end recording into log.
func (e *env) audited(t *testing.T, log *audit.Memory) *external.Service {
	t.Helper()
	ext, err := external.New(external.Config{IdleTimeout: idle, AbsoluteTimeout: absolute, DailySMSCap: 100,
		PublicHost: host}, external.Deps{DB: e.db, Messages: e.msgs, OTP: e.codes, SMS: e.sms, Queue: e.queue,
		Log: e.log, Now: e.clock.Now, Mail: e.mails, Notify: e.render, Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

const (
	canaryFile  = "canary-Jansen-dossier.txt"
	canaryReply = "canary reply text"
	userAgent   = "Canary-Browser/1.0"
)

func TestAuditViewerActions(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		log := &audit.Memory{}
		ext := e.audited(t, log)
		d := draft()
		d.Attachments = append(d.Attachments, attachment(canaryFile, "text/plain", []byte("canary attachment")))
		s := e.send(t, d)
		l := s.links[outsider]
		ctx := audit.WithActor(context.Background(), audit.Actor{IP: ip, UserAgent: userAgent})
		sess, err := ext.StartSession(ctx, l.token)
		check(t, err)
		check(t, ext.SendCode(ctx, sess, ip))
		code := e.sms.lastCode(t)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		if err := ext.VerifyCode(ctx, sess, wrong, ip); err == nil {
			t.Fatal("a wrong code was accepted")
		}
		check(t, ext.VerifyCode(ctx, sess, code, ip))
		c, err := ext.Content(ctx, sess)
		check(t, err)
		_, body, err := ext.Attachment(ctx, sess, c.Attachments[0].Index)
		check(t, err)
		n, _ := io.Copy(io.Discard, body)
		check(t, body.Close())
		check(t, ext.SendReply(ctx, sess, viewer.Reply{Text: canaryReply}))

		got := log.Take()
		var reply string
		if len(got) == 6 {
			reply = got[5].Detail["reply"]
		}
		ev := func(action, outcome string, detail map[string]string) audit.Event {
			detail["message"] = s.id
			return audit.Event{Action: action, Outcome: outcome, Actor: audit.Actor{IP: ip, UserAgent: userAgent},
				Object: audit.Object{Type: "delivery", ID: l.deliveryID}, OrganisationID: e.orgA, Detail: detail}
		}
		want := []audit.Event{
			ev(audit.ActionCodeRequested, "success", map[string]string{"channel": "sms", "phone": masked(t, got)}),
			ev(audit.ActionCodeFailed, "failure", map[string]string{"reason": "wrong_code; 4 left"}),
			ev(audit.ActionCodeVerified, "success", map[string]string{}),
			ev(audit.ActionMessageOpened, "success", map[string]string{"first": "true"}),
			ev(audit.ActionDownload, "success", map[string]string{"index": "0", "size": itoa(n), "complete": "true"}),
			ev(audit.ActionReply, "success", map[string]string{"reply": reply, "attachments": "0"}),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if reply == "" {
			t.Error("the reply event names no reply message")
		}
		testenv.AssertNoSecrets(t, got, code, wrong, sess, l.token, phoneA, "12345678", outsider, d.Subject,
			"Geachte mevrouw", canaryFile, "canary attachment", canaryReply)
	})
}

// masked returns the phone of the first event, which must be masked.
func masked(t *testing.T, events []audit.Event) string {
	t.Helper()
	if len(events) == 0 {
		return ""
	}
	p := events[0].Detail["phone"]
	if p == "" || strings.Contains(p, "12345678") {
		t.Errorf("phone %q in the event; want the masked number", p)
	}
	return p
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
