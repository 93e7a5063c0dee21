package outbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

func TestRetryPolicyBacksOffExponentiallyWithJitter(t *testing.T) {
	p := DefaultRetryPolicy()
	tests := []struct {
		attempt int
		base    time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {6, 32 * time.Minute},
		{7, time.Hour}, {30, time.Hour}, {500, time.Hour}}
	for _, tt := range tests {
		spread := map[time.Duration]bool{}
		for job := int64(1); job <= 50; job++ {
			d := p.Delay(job, tt.attempt)
			if d > tt.base || d < tt.base*8/10 {
				t.Errorf("Delay(%d, %d) = %s, want within (0.8, 1]·%s", job, tt.attempt, d, tt.base)
			}
			if d != p.Delay(job, tt.attempt) {
				t.Errorf("Delay(%d, %d) is not deterministic", job, tt.attempt)
			}
			spread[d] = true
		}
		if len(spread) < 10 {
			t.Errorf("attempt %d: only %d distinct delays over 50 jobs; no jitter", tt.attempt, len(spread))
		}
	}
}

func TestMaxAttemptsOutlastsMaxAge(t *testing.T) {
	p := DefaultRetryPolicy()
	for _, age := range []time.Duration{time.Minute, 48 * time.Hour, 30 * 24 * time.Hour} {
		n := p.MaxAttempts(age)
		var total time.Duration
		for i := 1; i < n; i++ {
			total += p.Delay(int64(i), i) // any job's delays
		}
		if total < age || n < 25 {
			t.Errorf("MaxAttempts(%s) = %d: its retries span only %s", age, n, total)
		}
	}
}

func TestClientRetryPolicyMatchesWorker(t *testing.T) {
	c := clientRetryPolicy{p: DefaultRetryPolicy(), now: func() time.Time { return t0 }}
	got := c.NextRetry(&rivertype.JobRow{ID: 9, Attempt: 3})
	if want := t0.Add(DefaultRetryPolicy().Delay(9, 3)); !got.Equal(want) {
		t.Errorf("NextRetry = %s, want %s", got, want)
	}
}

func TestConfigIsChecked(t *testing.T) {
	for _, cfg := range []Config{
		{Workers: 0, MaxAge: time.Hour, SMTPHostname: host},
		{Workers: 1, MaxAge: 0, SMTPHostname: host},
		{Workers: 1, MaxAge: time.Hour, SMTPHostname: "bad host"},
		{Workers: 1, MaxAge: time.Hour, SMTPHostname: host, JobTimeout: time.Hour, RescueAfter: time.Minute},
		{Workers: 1, MaxAge: time.Hour, SMTPHostname: host, Retry: RetryPolicy{Base: time.Hour, Max: time.Minute}},
		{Workers: 1, MaxAge: time.Hour, SMTPHostname: host, Retry: RetryPolicy{Base: 1, Max: 2, Jitter: 1}},
	} {
		if _, err := withDefaults(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("withDefaults(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestMigrateIsRepeatable(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		for i := range 2 {
			if err := Migrate(context.Background(), db); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
		}
		var n int
		if err := db.Raw("SELECT COUNT(*) FROM river_job").Scan(&n).Error; err != nil {
			t.Errorf("river_job missing: %v", err)
		}
	})
}

// TestRunDeliversThroughRiver runs the real River client: a job inserted with the
// message is fetched, deferred once, retried and delivered, and Run stops
// gracefully when its context ends.
func TestRunDeliversThroughRiver(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		cfg.Retry = RetryPolicy{Base: 10 * time.Millisecond, Max: 10 * time.Millisecond}
		cfg.PollInterval = 100 * time.Millisecond
		e := newEnv(t, db, cfg, time.Now)
		e.fake.set(temporary, delivered)
		msgID, _ := e.send(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.o.Run(ctx) }()
		st := waitFor(t, e, msgID, func(st message.Status) bool {
			for _, r := range st.Recipients {
				if r.Status != message.StatusDelivered {
					return false
				}
			}
			return st.State == message.StateDelivered
		})
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
		if runs := st.Recipients[0].Attempts + st.Recipients[1].Attempts; runs != 3 {
			t.Errorf("%d runs, want 3 (one deferred, two delivered)", runs)
		}
		var completed int
		db.Raw("SELECT COUNT(*) FROM river_job WHERE state = 'completed'").Scan(&completed)
		if completed != len(st.Recipients) {
			t.Errorf("%d completed jobs, want %d", completed, len(st.Recipients))
		}
	})
}

// waitFor polls the message's status until ok or a minute passes.
func waitFor(t *testing.T, e *env, id string, ok func(message.Status) bool) message.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := e.svc.Get(context.Background(), e.from, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("message never reached the expected state: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTwoProcessesShareTheWork runs two River clients on one PostgreSQL, as two
// serve processes would: every delivery is made, and none twice.
func TestTwoProcessesShareTheWork(t *testing.T) {
	db := testenv.DB(t, database.Postgres)
	cfg := testConfig()
	cfg.PollInterval = 100 * time.Millisecond
	e := newEnv(t, db, cfg, time.Now)
	e.fake.set(delivered)
	other, err := New(cfg, Deps{DB: db, Store: message.NewStore(db, time.Now, e.store.Vault()),
		Deliverer: e.fake, Log: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 10 {
		id, _ := e.send(t)
		ids = append(ids, id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	for _, o := range []*Outbox{e.o, other} {
		go func() { done <- o.Run(ctx) }()
	}
	for _, id := range ids {
		waitFor(t, e, id, func(st message.Status) bool {
			return st.State == message.StateDelivered && st.Recipients[1].Status == message.StatusDelivered
		})
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	if n := len(e.fake.called()); n != 2*len(ids) {
		t.Errorf("%d deliveries made, want %d (each once)", n, 2*len(ids))
	}
}
