package outbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestSystemMailIsCheckedBeforeQueueing(t *testing.T) {
	ok := SystemMail{To: []string{"beheer@partner.nl"}, Subject: "s", Text: "t"}
	for name, m := range map[string]SystemMail{
		"no recipients": {Subject: "s", Text: "t"},
		"no subject":    {To: ok.To, Text: "t"},
		"no text":       {To: ok.To, Subject: "s"},
		"bad address":   {To: []string{"not an address"}, Subject: "s", Text: "t"},
		"too long":      {To: ok.To, Subject: "s", Text: strings.Repeat("x", maxSystemMailText+1)},
	} {
		if err := checkSystemMail(m); !errors.Is(err, ErrInvalidSystemMail) {
			t.Errorf("%s: %v, want ErrInvalidSystemMail", name, err)
		}
	}
	if err := checkSystemMail(ok); err != nil {
		t.Errorf("valid mail: %v", err)
	}
}

// TestSystemMailIsRetriedAndDelivered queues a mail to two recipients: one is
// deferred once and then delivered, both arrive with the same Message-ID on
// every try, from the null reverse-path, marked auto-generated.
func TestSystemMailIsRetriedAndDelivered(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		cfg.Retry = RetryPolicy{Base: 10 * time.Millisecond, Max: 10 * time.Millisecond}
		cfg.PollInterval = 100 * time.Millisecond
		e := newEnv(t, db, cfg, time.Now)
		e.fake.set(temporary, delivered)
		m := SystemMail{To: []string{"a@partner.nl", "b@partner.nl"}, Subject: "Domein gecontroleerd / Domain checked",
			Text: "Regel één\nLine two"}
		if err := e.o.SendSystemMail(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.o.Run(ctx) }()
		deadline := time.Now().Add(time.Minute)
		var completed int
		for completed < 2 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			db.Raw("SELECT COUNT(*) FROM river_job WHERE state = 'completed' AND kind = 'veilig_system_mail'").Scan(&completed)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		calls := e.fake.called()
		if completed != 2 || len(calls) != 3 {
			t.Fatalf("%d completed jobs after %d transport calls, want 2 after 3", completed, len(calls))
		}
		ids := map[string]map[string]bool{}
		for _, c := range calls {
			if c.from != "" || c.domain != "partner.nl" || !strings.Contains(c.body, "Auto-Submitted: auto-generated") ||
				!strings.Contains(c.body, "Line two") {
				t.Errorf("call %+v: want null sender, domain partner.nl, auto-generated, the text", c)
			}
			id := headerValue(c.body, "Message-Id")
			if !strings.HasSuffix(id, "@"+cfg.SMTPHostname+">") {
				t.Errorf("Message-ID %q, want one of %s", id, cfg.SMTPHostname)
			}
			if ids[c.to[0]] == nil {
				ids[c.to[0]] = map[string]bool{}
			}
			ids[c.to[0]][id] = true
		}
		for to, set := range ids {
			if len(set) != 1 {
				t.Errorf("%s got %d different Message-IDs, want 1 across retries", to, len(set))
			}
		}
	})
}

func headerValue(msg, name string) string {
	for line := range strings.SplitSeq(msg, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
