package external_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/external"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/sms"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/viewer"
)

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  external.Config
	}{
		{"no idle time-out", external.Config{AbsoluteTimeout: time.Hour}},
		{"absolute below idle", external.Config{IdleTimeout: time.Hour, AbsoluteTimeout: time.Minute}},
		{"negative cap", external.Config{IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour, DailySMSCap: -1}},
		{"no dependencies", external.Config{IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := external.New(tt.cfg, external.Deps{}); !errors.Is(err, external.ErrConfig) {
				t.Errorf("New = %v, want ErrConfig", err)
			}
		})
	}
}

func TestResolveAndSession(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.send(t, draft())
		tok := s.links[outsider].token
		phone, err := sms.Normalize(phoneA, "NL")
		if err != nil {
			t.Fatal(err)
		}
		want := viewer.Visit{State: viewer.StateActive, SenderName: "Alice Tester", SenderOrganisation: "Gemeente A",
			SenderEmail: senderA, ExpiresAt: t0.AddDate(0, 0, expiry), MaskedPhone: phone.Masked()}
		if strings.Contains(want.MaskedPhone, "12345678") || !strings.HasSuffix(want.MaskedPhone, "78") {
			t.Fatalf("mask %q is not a masked form of %s", want.MaskedPhone, phoneA)
		}

		for _, bad := range []string{"", "x", strings.Repeat("A", 43), tok[:42], tok + "A"} {
			if _, err := e.ext.Resolve(ctx, bad); !errors.Is(err, viewer.ErrUnknownLink) {
				t.Errorf("Resolve(%q) = %v, want ErrUnknownLink", bad, err)
			}
			if _, err := e.ext.StartSession(ctx, bad); !errors.Is(err, viewer.ErrUnknownLink) {
				t.Errorf("StartSession(%q) = %v, want ErrUnknownLink", bad, err)
			}
		}
		v, err := e.ext.Resolve(ctx, tok)
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		checkVisit(t, "Resolve", v, want)

		sess1, sess2 := e.session(t, tok), e.session(t, tok)
		if sess1 == tok || sess2 == tok || sess1 == sess2 || len(sess1) < 22 {
			t.Errorf("session tokens %q, %q: must be long, distinct and not the link token", sess1, sess2)
		}
		v, err = e.ext.Session(ctx, sess1)
		if err != nil {
			t.Fatalf("Session: %v", err)
		}
		checkVisit(t, "Session", v, want)
		for _, bad := range []string{"", tok, "nonsense"} {
			if _, err := e.ext.Session(ctx, bad); !errors.Is(err, viewer.ErrNoSession) {
				t.Errorf("Session(%q) = %v, want ErrNoSession", bad, err)
			}
		}
		checkOnlyHashes(t, e, tok, sess1, sess2)
	})
}

func checkVisit(t *testing.T, what string, got, want viewer.Visit) {
	t.Helper()
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("%s: ExpiresAt %v, want %v", what, got.ExpiresAt, want.ExpiresAt)
	}
	got.ExpiresAt = want.ExpiresAt
	if got != want {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
}

// checkOnlyHashes: the raw tokens appear in neither table, their hashes do.
func checkOnlyHashes(t *testing.T, e *env, link string, sessions ...string) {
	t.Helper()
	dump := tableText(t, e.db, "viewer_sessions") + tableText(t, e.db, "external_recipients")
	for _, tok := range append([]string{link}, sessions...) {
		if strings.Contains(dump, tok) {
			t.Errorf("a raw token is stored")
		}
	}
	if n := e.count(t, "SELECT COUNT(*) FROM viewer_sessions"); n != len(sessions) {
		t.Errorf("%d sessions stored, want %d", n, len(sessions))
	}
	if n := e.count(t, "SELECT COUNT(*) FROM external_recipients WHERE token_hash = ?", message.HashToken(link)); n != 1 {
		t.Errorf("link hash stored %d times, want 1", n)
	}
	for _, s := range sessions {
		if n := e.count(t, "SELECT COUNT(*) FROM viewer_sessions WHERE token_hash = ?", message.HashToken(s)); n != 1 {
			t.Errorf("session hash stored %d times, want 1", n)
		}
	}
}

func TestSessionTimeouts(t *testing.T) {
	tests := []struct {
		name  string
		steps []time.Duration // clock advances, each followed by a Session call
		alive bool            // after the last step
	}{
		{"fresh", []time.Duration{0}, true},
		{"just under idle", []time.Duration{idle - time.Second}, true},
		{"idle", []time.Duration{idle}, false},
		{"kept alive by use", []time.Duration{idle - time.Minute, idle - time.Minute, idle - time.Minute}, true},
		{"absolute despite use", absoluteSteps(), false},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		tok := e.send(t, draft()).links[outsider].token
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.clock.Set(t0)
				sess := e.session(t, tok)
				var err error
				for i, d := range tt.steps {
					e.clock.Add(d)
					_, err = e.ext.Session(ctx, sess)
					if i < len(tt.steps)-1 && err != nil {
						t.Fatalf("step %d: Session = %v", i, err)
					}
				}
				if tt.alive != (err == nil) || (err != nil && !errors.Is(err, viewer.ErrNoSession)) {
					t.Fatalf("Session = %v, want alive=%v", err, tt.alive)
				}
				if !tt.alive { // a dead session stays dead, even back in time
					e.clock.Set(t0)
					if _, err := e.ext.Session(ctx, sess); !errors.Is(err, viewer.ErrNoSession) {
						t.Errorf("dead session revived: %v", err)
					}
				}
			})
		}
	})
}

// absoluteSteps keeps a session busy until past its absolute time-out.
func absoluteSteps() []time.Duration {
	var out []time.Duration
	for d := idle / 2; d <= absolute; d += idle / 2 {
		out = append(out, idle/2)
	}
	return out
}

func TestEndAndPruneSessions(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		tok := e.send(t, draft()).links[outsider].token
		ended, kept, idled := e.session(t, tok), e.session(t, tok), e.session(t, tok)
		if err := e.ext.EndSession(ctx, ended); err != nil {
			t.Fatalf("EndSession: %v", err)
		}
		if _, err := e.ext.Session(ctx, ended); !errors.Is(err, viewer.ErrNoSession) {
			t.Errorf("Session after EndSession = %v, want ErrNoSession", err)
		}
		if err := e.ext.EndSession(ctx, ended); err != nil {
			t.Errorf("second EndSession = %v, want nil", err)
		}
		e.clock.Add(idle - time.Minute)
		if _, err := e.ext.Session(ctx, kept); err != nil {
			t.Fatalf("Session: %v", err)
		}
		e.clock.Add(2 * time.Minute)
		n, err := e.ext.PruneSessions(ctx)
		if err != nil || n != 1 {
			t.Errorf("PruneSessions = %d, %v; want 1 (the idle one)", n, err)
		}
		if _, err := e.ext.Session(ctx, kept); err != nil {
			t.Errorf("kept session: %v", err)
		}
		if _, err := e.ext.Session(ctx, idled); !errors.Is(err, viewer.ErrNoSession) {
			t.Errorf("idle session: %v", err)
		}
	})
}

// tableText prints every row of table, []byte decoded as text.
func tableText(t *testing.T, db *database.DB, table string) string {
	t.Helper()
	rows, err := db.Raw(fmt.Sprintf("SELECT * FROM %q", table)).Rows()
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			fmt.Fprintf(&sb, "%s.%s=%v\n", table, cols[i], v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	return sb.String()
}
