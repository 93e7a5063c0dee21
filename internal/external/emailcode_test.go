package external_test

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/external"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/viewer"
)

// emailDraft is a message to the given outsiders without phone numbers.
func emailDraft(to ...string) message.Draft {
	d := draft()
	d.To, d.Phones = to, nil
	return d
}

// emailEnv is an env whose organisation allows codes by e-mail.
func emailEnv(t *testing.T, db *database.DB) *env {
	t.Helper()
	e := newEnv(t, db)
	set := message.DefaultSettings()
	set.EmailCodeAllowed = true
	e.settings(t, set)
	return e
}

// TestSendCodeByEmail: a recipient without a phone number gets a DKIM-signed,
// auto-generated mail with a 6-digit code that VerifyCode accepts; no SMS
// goes out, and the code is in no table row and no log line.
func TestSendCodeByEmail(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := emailEnv(t, db)
		ctx := context.Background()
		s := e.send(t, emailDraft(outsider))
		sess := e.session(t, s.links[outsider].token)
		if v, err := e.ext.Session(ctx, sess); err != nil || !v.CodeByEmail || v.MaskedPhone != "" {
			t.Fatalf("Session = %+v, %v; want CodeByEmail without a phone", v, err)
		}
		dbBefore, logsBefore := dumpDB(t, db), e.logs.String()
		if err := e.ext.SendCode(ctx, sess, ip); err != nil {
			t.Fatalf("SendCode: %v", err)
		}
		if n := len(e.sms.all()); n != 0 {
			t.Errorf("%d SMS sent, want none", n)
		}
		code := checkCodeMail(t, e)
		if v, err := e.ext.Session(ctx, sess); err != nil || !v.CodeSent {
			t.Errorf("Session after SendCode = %+v, %v; want CodeSent", v, err)
		}
		if st := e.external(t, e.alice, s.id, outsider); st.CodeSentAt == nil || st.SMSStatus != "e-mail: delivered" || st.Phone != "" {
			t.Errorf("sender's view %+v, want code sent by e-mail, no phone", st)
		}
		checkNotStored(t, e, code, dbBefore, logsBefore)
		if err := e.ext.VerifyCode(ctx, sess, code, ip); err != nil {
			t.Fatalf("VerifyCode: %v", err)
		}
		if c, err := e.ext.Content(ctx, sess); err != nil || c.Subject != draft().Subject {
			t.Errorf("Content = %q, %v", c.Subject, err)
		}
	})
}

// checkCodeMail checks the one mail sent and returns its code.
func checkCodeMail(t *testing.T, e *env) string {
	t.Helper()
	all := e.mails.all()
	if len(all) != 1 {
		t.Fatalf("%d mails sent, want 1", len(all))
	}
	m := all[0]
	if m.domain != "outside.example" || m.from != "" || len(m.to) != 1 || m.to[0] != outsider {
		t.Errorf("envelope %s → %v at %s, want the null reverse-path to %s", m.from, m.to, m.domain, outsider)
	}
	if !strings.HasPrefix(m.raw, "DKIM-Signature: v=1; d=a.example;") {
		t.Errorf("mail does not start with the sender organisation's signature: %.60q", m.raw)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.raw))
	if err != nil {
		t.Fatal(err)
	}
	code := e.mails.lastCode(t)
	h := msg.Header
	from, _ := mail.ParseAddress(h.Get("From"))
	if h.Get("Subject") != "Uw code / Your code" || h.Get("Auto-Submitted") != "auto-generated" ||
		from == nil || from.Address != senderA {
		t.Errorf("header Subject %q, Auto-Submitted %q, From %q", h.Get("Subject"), h.Get("Auto-Submitted"), h.Get("From"))
	}
	if head, _, _ := strings.Cut(m.raw, "\r\n\r\n"); strings.Contains(head, code) {
		t.Error("the code is in the header")
	}
	return code
}

// checkNotStored: the code occurs no more often in the database and the logs
// than before it was issued (a 6-digit string may occur by chance in ids),
// and a planted copy is found (the search works).
func checkNotStored(t *testing.T, e *env, code, dbBefore, logsBefore string) {
	t.Helper()
	if before, after := strings.Count(dbBefore, code), strings.Count(dumpDB(t, e.db), code); after > before {
		t.Errorf("the code is stored: %d occurrences in the database, %d before", after, before)
	}
	if before, after := strings.Count(logsBefore, code), strings.Count(e.logs.String(), code); after > before {
		t.Errorf("the code is logged: %d occurrences, %d before", after, before)
	}
	before := strings.Count(dumpDB(t, e.db), code)
	if err := e.db.Exec("INSERT INTO sms_spend (organisation_id, day, sent) VALUES (?, 'plant', 0)", "plant-"+code).Error; err != nil {
		t.Fatal(err)
	}
	if strings.Count(dumpDB(t, e.db), code) <= before {
		t.Error("the search misses a planted code")
	}
}

// TestEmailCodeLimits: the limits of SMS codes hold for codes by e-mail, but
// the organisation's SMS cap does not.
func TestEmailCodeLimits(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"per recipient", func(t *testing.T, e *env) {
			sess := e.session(t, e.send(t, emailDraft(outsider)).links[outsider].token)
			for i := range 3 {
				if err := e.ext.SendCode(context.Background(), sess, ip); err != nil {
					t.Fatalf("code %d: %v", i+1, err)
				}
				e.clock.Add(time.Minute)
			}
			limitError(t, "4th SendCode", e.ext.SendCode(context.Background(), sess, ip))
			if n := len(e.mails.all()); n != 3 {
				t.Errorf("%d mails sent, want 3", n)
			}
		}},
		{"per client address", func(t *testing.T, e *env) {
			var to []string
			for i := range 4 {
				to = append(to, fmt.Sprintf("r%d@outside.example", i))
			}
			s := e.send(t, emailDraft(to...))
			for i := range 10 { // 3, 3, 3 and 1: within every recipient's own limit
				if err := e.ext.SendCode(context.Background(), e.session(t, s.links[to[i/3]].token), ip); err != nil {
					t.Fatalf("code %d: %v", i+1, err)
				}
			}
			limitError(t, "11th SendCode", e.ext.SendCode(context.Background(), e.session(t, s.links[to[3]].token), ip))
		}},
		{"no SMS cap", func(t *testing.T, e *env) {
			set := message.DefaultSettings()
			set.EmailCodeAllowed, set.SMSDailyCap = true, 0
			e.settings(t, set)
			sess := e.session(t, e.send(t, emailDraft(outsider)).links[outsider].token)
			if err := e.ext.SendCode(context.Background(), sess, ip); err != nil {
				t.Errorf("SendCode with an SMS cap of 0: %v", err)
			}
		}},
		{"lock after wrong codes", func(t *testing.T, e *env) {
			sess := e.session(t, e.send(t, emailDraft(outsider)).links[outsider].token)
			lockOutWith(t, e, sess, e.mails.lastCode)
			if v, err := e.ext.Session(context.Background(), sess); err != nil || v.State != viewer.StateLocked {
				t.Errorf("Session = %q, %v; want locked", v.State, err)
			}
		}},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		for _, tt := range tests {
			// The per-client limit is shared through the database: each case starts afresh.
			if err := db.Exec("DELETE FROM rate_limits").Error; err != nil {
				t.Fatal(err)
			}
			t.Run(tt.name, func(t *testing.T) { tt.run(t, emailEnv(t, db)) })
		}
	})
}

// TestEmailCodeNotSent: an undelivered mail is an error the recipient sees,
// recorded for the sender; without a mailer no code is issued.
func TestEmailCodeNotSent(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := emailEnv(t, db)
		ctx := context.Background()
		s := e.send(t, emailDraft(outsider))
		sess := e.session(t, s.links[outsider].token)
		e.mails.fail(delivery.Temporary)
		if err := e.ext.SendCode(ctx, sess, ip); !errors.Is(err, external.ErrCodeMail) {
			t.Errorf("SendCode = %v, want ErrCodeMail", err)
		}
		if v, _ := e.ext.Session(ctx, sess); v.CodeSent {
			t.Error("CodeSent after an undelivered mail")
		}
		if st := e.external(t, e.alice, s.id, outsider); st.SMSStatus != "e-mail: failed: temporary" {
			t.Errorf("status %q", st.SMSStatus)
		}
		noMail, err := external.New(external.Config{IdleTimeout: idle, AbsoluteTimeout: absolute, PublicHost: host},
			external.Deps{DB: db, Messages: e.msgs, OTP: e.codes, SMS: e.sms, Queue: e.queue, Log: e.log, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		issued := e.count(t, "SELECT COUNT(*) FROM otp_codes")
		if err := noMail.SendCode(ctx, sess, ip); !errors.Is(err, external.ErrConfig) {
			t.Errorf("SendCode without a mailer = %v, want ErrConfig", err)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM otp_codes"); n != issued {
			t.Errorf("codes issued without a mailer: %d, before %d", n, issued)
		}
	})
}
