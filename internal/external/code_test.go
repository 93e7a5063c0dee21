package external_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/viewer"
)

var smsTextRE = regexp.MustCompile(`^Veilig: uw code is (\d{6}) \(10 min\)\. Your code is (\d{6})\. veilig\.example$`)

func TestSendCode(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.send(t, draft())
		l := s.links[outsider]
		sess, other := e.session(t, l.token), e.session(t, l.token)
		if v, _ := e.ext.Session(ctx, sess); v.CodeSent {
			t.Error("CodeSent before any code")
		}
		if err := e.ext.SendCode(ctx, sess, ip); err != nil {
			t.Fatalf("SendCode: %v", err)
		}
		got := e.sms.all()
		if len(got) != 1 {
			t.Fatalf("%d SMS sent, want 1", len(got))
		}
		m := smsTextRE.FindStringSubmatch(got[0].Text)
		if m == nil || m[1] != m[2] {
			t.Errorf("SMS text %q: want the code twice, in Dutch and English, and the host", got[0].Text)
		}
		if got[0].To.E164() != phoneA {
			t.Errorf("SMS to %s, want %s", got[0].To.E164(), phoneA)
		}
		if ref := strings.ReplaceAll(l.deliveryID, "-", ""); got[0].Reference != ref {
			t.Errorf("SMS reference %q, want %q", got[0].Reference, ref)
		}
		if v, err := e.ext.Session(ctx, sess); err != nil || !v.CodeSent || v.Verified {
			t.Errorf("Session after SendCode = %+v, %v; want CodeSent, not Verified", v, err)
		}
		if v, _ := e.ext.Session(ctx, other); v.CodeSent {
			t.Error("CodeSent shows in another session")
		}
		if st := e.external(t, e.alice, s.id, outsider); st.CodeSentAt == nil || !st.CodeSentAt.Equal(t0) {
			t.Errorf("code_sent_at = %v, want %v", st.CodeSentAt, t0)
		}
		e.clock.Add(10 * time.Minute)
		if v, _ := e.ext.Session(ctx, sess); v.CodeSent {
			t.Error("CodeSent still set once the code expired")
		}
	})
}

func TestSendCodeLimitPerRecipient(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		sess := e.session(t, e.send(t, draft()).links[outsider].token)
		for i := range 3 {
			if err := e.ext.SendCode(ctx, sess, ip); err != nil {
				t.Fatalf("code %d: %v", i+1, err)
			}
			e.clock.Add(time.Minute)
		}
		le := limitError(t, "4th SendCode", e.ext.SendCode(ctx, sess, ip))
		if le.RetryAfter != 12*time.Minute {
			t.Errorf("RetryAfter %v, want 12m (15m after the first code)", le.RetryAfter)
		}
		if n := len(e.sms.all()); n != 3 {
			t.Errorf("%d SMS sent, want 3", n)
		}
		e.clock.Add(le.RetryAfter)
		if err := e.ext.SendCode(ctx, sess, ip); err != nil {
			t.Errorf("SendCode after RetryAfter: %v", err)
		}
	})
}

func TestSendCodeLimitPerIP(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		d := draft()
		d.To, d.Phones = nil, map[string]string{}
		for i := range 4 {
			addr := fmt.Sprintf("r%d@outside.example", i)
			d.To = append(d.To, addr)
			d.Phones[addr] = fmt.Sprintf("+3161234567%d", i)
		}
		s := e.send(t, d)
		var sessions []string
		for _, addr := range d.To {
			sessions = append(sessions, e.session(t, s.links[addr].token))
		}
		for i := range 10 { // 3, 3, 3 and 1: within every recipient's own limit
			if err := e.ext.SendCode(ctx, sessions[i/3], ip); err != nil {
				t.Fatalf("SMS %d: %v", i+1, err)
			}
		}
		le := limitError(t, "11th SendCode from one address", e.ext.SendCode(ctx, sessions[3], ip))
		if le.RetryAfter <= 0 || le.RetryAfter > time.Hour {
			t.Errorf("RetryAfter %v, want within the hour", le.RetryAfter)
		}
		if err := e.ext.SendCode(ctx, sessions[3], "198.51.100.7"); err != nil {
			t.Errorf("SendCode from another address: %v", err)
		}
		if n := len(e.sms.all()); n != 11 {
			t.Errorf("%d SMS sent, want 11", n)
		}
	})
}

func TestSendCodeDailyCap(t *testing.T) {
	tests := []struct {
		name     string
		start    time.Time     // UTC
		midnight time.Time     // the next midnight in Amsterdam, UTC
		wait     time.Duration // from start to midnight
	}{
		{"winter (CET)", t0, time.Date(2026, 11, 2, 23, 0, 0, 0, time.UTC), 13*time.Hour + 30*time.Minute},
		{"summer (CEST)", time.Date(2026, 7, 1, 9, 30, 0, 0, time.UTC), time.Date(2026, 7, 1, 22, 0, 0, 0, time.UTC),
			12*time.Hour + 30*time.Minute},
		{"25-hour day", time.Date(2026, 10, 24, 22, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC),
			24*time.Hour + 30*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
				e := newEnv(t, db)
				e.clock.Set(tt.start)
				checkDailyCap(t, e, tt.midnight, tt.wait)
			})
		})
	}
}

// checkDailyCap: with a cap of 2 the third SMS waits until midnight.
func checkDailyCap(t *testing.T, e *env, midnight time.Time, wait time.Duration) {
	t.Helper()
	ctx := context.Background()
	set := message.DefaultSettings()
	set.SMSDailyCap = 2
	e.settings(t, set)
	var tokens []string
	for range 3 {
		tokens = append(tokens, e.send(t, draft()).links[outsider].token)
	}
	for i, tok := range tokens[:2] {
		if err := e.ext.SendCode(ctx, e.session(t, tok), ip); err != nil {
			t.Fatalf("SMS %d: %v", i+1, err)
		}
	}
	le := limitError(t, "3rd SMS of the day", e.ext.SendCode(ctx, e.session(t, tokens[2]), ip))
	if le.RetryAfter != wait {
		t.Errorf("RetryAfter %v, want %v (midnight Europe/Amsterdam)", le.RetryAfter, wait)
	}
	e.clock.Set(midnight.Add(-time.Second))
	le = limitError(t, "SMS a second before midnight", e.ext.SendCode(ctx, e.session(t, tokens[2]), "198.51.100.1"))
	if le.RetryAfter != time.Second {
		t.Errorf("RetryAfter %v, want 1s", le.RetryAfter)
	}
	if n := len(e.sms.all()); n != 2 {
		t.Fatalf("%d SMS sent, want 2", n)
	}
	e.clock.Set(midnight)
	if err := e.ext.SendCode(ctx, e.session(t, tokens[2]), "198.51.100.2"); err != nil {
		t.Errorf("SMS at midnight Amsterdam: %v", err)
	}
}

// TestSendCodeRefusedKeepsCode: an SMS the daily cap refuses must not kill the
// code the recipient already has on their phone.
func TestSendCodeRefusedKeepsCode(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		set := message.DefaultSettings()
		set.SMSDailyCap = 1
		e.settings(t, set)
		sess := e.session(t, e.send(t, draft()).links[outsider].token)
		if err := e.ext.SendCode(ctx, sess, ip); err != nil {
			t.Fatalf("SendCode: %v", err)
		}
		code := e.sms.lastCode(t)
		limitError(t, "SendCode over the cap", e.ext.SendCode(ctx, sess, ip))
		if err := e.ext.VerifyCode(ctx, sess, code, ip); err != nil {
			t.Errorf("VerifyCode with the code sent before the refused SMS = %v, want nil", err)
		}
	})
}

// wrong returns a code that is not c.
func wrong(c string) string {
	b := []byte(c)
	b[5] = '0' + (b[5]-'0'+1)%10
	return string(b)
}

func TestVerifyCode(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		tok := e.send(t, draft()).links[outsider].token
		sess := e.session(t, tok)
		if err := e.ext.VerifyCode(ctx, sess, "123456", ip); !errors.Is(err, viewer.ErrCodeExpired) {
			t.Errorf("VerifyCode before any code = %v, want ErrCodeExpired", err)
		}
		checkNotVerified(t, e, sess)
		if err := e.ext.SendCode(ctx, sess, ip); err != nil {
			t.Fatal(err)
		}
		code := e.sms.lastCode(t)
		var remaining []int
		for range 4 {
			var ce *viewer.CodeError
			if err := e.ext.VerifyCode(ctx, sess, wrong(code), ip); !errors.As(err, &ce) {
				t.Fatalf("wrong code = %v, want *viewer.CodeError", err)
			}
			remaining = append(remaining, ce.Remaining)
		}
		if fmt.Sprint(remaining) != "[4 3 2 1]" {
			t.Errorf("Remaining %v, want [4 3 2 1]", remaining)
		}
		if err := e.ext.VerifyCode(ctx, sess, wrong(code), ip); !errors.Is(err, viewer.ErrCodeExpired) {
			t.Errorf("5th wrong try = %v, want ErrCodeExpired: the code is used up, not the recipient locked", err)
		}
		if err := e.ext.VerifyCode(ctx, sess, code, ip); !errors.Is(err, viewer.ErrCodeExpired) {
			t.Errorf("right code after 5 wrong = %v, want ErrCodeExpired", err)
		}
		checkNotVerified(t, e, sess)

		if err := e.ext.SendCode(ctx, sess, ip); err != nil {
			t.Fatal(err)
		}
		code = e.sms.lastCode(t)
		if err := e.ext.VerifyCode(ctx, sess, " "+code+" ", ip); err != nil {
			t.Fatalf("VerifyCode: %v", err)
		}
		if v, err := e.ext.Session(ctx, sess); err != nil || !v.Verified {
			t.Errorf("Session after VerifyCode = %+v, %v; want Verified", v, err)
		}
		if _, err := e.ext.Content(ctx, sess); err != nil {
			t.Errorf("Content after VerifyCode: %v", err)
		}
		if err := e.ext.VerifyCode(ctx, e.session(t, tok), code, ip); !errors.Is(err, viewer.ErrCodeExpired) {
			t.Errorf("used code in a new session = %v, want ErrCodeExpired", err)
		}
	})
}

// checkNotVerified: nothing of the message opens without a code.
func checkNotVerified(t *testing.T, e *env, sess string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.ext.Content(ctx, sess); !errors.Is(err, viewer.ErrNotVerified) {
		t.Errorf("Content = %v, want ErrNotVerified", err)
	}
	if _, rc, err := e.ext.Attachment(ctx, sess, 0); !errors.Is(err, viewer.ErrNotVerified) || rc != nil {
		t.Errorf("Attachment = %v, want ErrNotVerified", err)
	}
	if err := e.ext.SendReply(ctx, sess, viewer.Reply{Text: "hallo"}); !errors.Is(err, viewer.ErrNotVerified) {
		t.Errorf("SendReply = %v, want ErrNotVerified", err)
	}
}

func TestLockAndUnlock(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.send(t, draft())
		l := s.links[outsider]
		reader := e.verified(t, l.token) // verified before the lock
		sess := e.session(t, l.token)
		lockOut(t, e, sess)

		notices := e.notices(t, s.id, message.NoticeLocked+":"+l.deliveryID)
		if len(notices) != 1 || notices[0].Address != senderA || notices[0].Status != message.StatusQueued {
			t.Errorf("locked notices %+v, want one queued to %s", notices, senderA)
		}
		for _, tok := range []string{sess, reader} {
			if v, err := e.ext.Session(ctx, tok); err != nil || v.State != viewer.StateLocked {
				t.Errorf("Session = %q, %v; want locked", v.State, err)
			}
		}
		if v, err := e.ext.Resolve(ctx, l.token); err != nil || v.State != viewer.StateLocked {
			t.Errorf("Resolve = %q, %v; want locked", v.State, err)
		}
		if _, err := e.ext.Content(ctx, reader); !errors.Is(err, viewer.ErrInactive) {
			t.Errorf("Content while locked = %v, want ErrInactive", err)
		}
		if err := e.ext.SendCode(ctx, sess, "198.51.100.9"); !errors.Is(err, viewer.ErrInactive) {
			t.Errorf("SendCode while locked = %v, want ErrInactive", err)
		}
		if !e.external(t, e.alice, s.id, outsider).Locked {
			t.Error("sender does not see the recipient locked")
		}
		checkUnlock(t, e, s, reader)
	})
}

// lockOut enters 20 wrong codes over four codes; the last locks the recipient.
func lockOut(t *testing.T, e *env, sess string) {
	t.Helper()
	lockOutWith(t, e, sess, e.sms.lastCode)
}

// lockOutWith is lockOut with the codes read by lastCode (from SMS or e-mail).
func lockOutWith(t *testing.T, e *env, sess string, lastCode func(*testing.T) string) {
	t.Helper()
	ctx := context.Background()
	for try := 1; try <= 20; try++ {
		if try%5 == 1 {
			if try == 11 {
				e.clock.Add(15 * time.Minute) // three codes per quarter of an hour
			}
			if err := e.ext.SendCode(ctx, sess, ip); err != nil {
				t.Fatalf("SendCode before try %d: %v", try, err)
			}
		}
		err := e.ext.VerifyCode(ctx, sess, wrong(lastCode(t)), ip)
		var ce *viewer.CodeError
		switch {
		case try == 20:
			if !errors.As(err, &ce) || ce.Remaining != 0 {
				t.Fatalf("20th wrong try = %v, want CodeError with 0 left (locked)", err)
			}
		case try%5 == 0 && !errors.Is(err, viewer.ErrCodeExpired):
			t.Fatalf("wrong try %d = %v, want ErrCodeExpired (the code is used up)", try, err)
		case try%5 != 0 && (!errors.As(err, &ce) || ce.Remaining < 1):
			t.Fatalf("wrong try %d = %v, want a CodeError with tries left", try, err)
		}
	}
}

func checkUnlock(t *testing.T, e *env, s sent, reader string) {
	t.Helper()
	ctx := context.Background()
	tests := []struct {
		name    string
		from    message.Sender
		id      string
		address string
		err     error
	}{
		{"another sender", e.anna, s.id, outsider, message.ErrNotFound},
		{"another address", e.alice, s.id, "dave@outside.example", message.ErrNotFound},
		{"another message", e.alice, "00000000-0000-0000-0000-000000000000", outsider, message.ErrNotFound},
		{"the sender", e.alice, s.id, strings.ToUpper(outsider), nil},
	}
	for _, tt := range tests {
		err := e.ext.Unlock(ctx, tt.from, tt.id, tt.address)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Unlock by %s = %v, want %v", tt.name, err, tt.err)
		}
		if v, _ := e.ext.Session(ctx, reader); (tt.err == nil) != (v.State == viewer.StateActive) {
			t.Errorf("after Unlock by %s: state %q", tt.name, v.State)
		}
	}
	if _, err := e.ext.Content(ctx, reader); err != nil {
		t.Errorf("Content after Unlock: %v", err)
	}
	if e.external(t, e.alice, s.id, outsider).Locked {
		t.Error("sender still sees the recipient locked")
	}
}
