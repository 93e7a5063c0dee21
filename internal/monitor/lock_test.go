package monitor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/monitor"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/trust"
)

// fakeLock is Deps.Lock: held means another process has the lock.
type fakeLock struct {
	mu     sync.Mutex
	held   bool
	passes int
}

func (l *fakeLock) lock(ctx context.Context, fn func(context.Context) error) (bool, error) {
	l.mu.Lock()
	l.passes++
	held := l.held
	l.mu.Unlock()
	if held {
		return false, nil
	}
	return true, fn(ctx)
}

func (l *fakeLock) count() int { l.mu.Lock(); defer l.mu.Unlock(); return l.passes }

// TestRunChecksOnlyUnderTheLock: while another process holds the lock, Run's
// passes check nothing; once it is free, they do.
func TestRunChecksOnlyUnderTheLock(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		addOrg(t, db, "org-a")
		l := &fakeLock{held: true}
		c := &checker{reports: map[string]mailcheck.Report{}}
		store := trust.NewStore(db, time.Now)
		if err := store.PutPin(context.Background(), trust.Pin{Domain: "a.test", OrganisationID: "org-a",
			Policy: trust.PolicyDANE}); err != nil {
			t.Fatal(err)
		}
		m, err := monitor.New(monitor.Deps{Store: store, Checker: c, Log: testenv.Logger(t), Lock: l.lock},
			monitor.Config{Tick: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		run := func(until func() bool) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			deadline := time.Now().Add(30 * time.Second)
			for !until() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		run(func() bool { return l.count() >= 3 })
		if n := c.count(); n != 0 || l.count() < 3 {
			t.Fatalf("%d checks in %d passes while the lock was held elsewhere; want 0 in ≥ 3", n, l.count())
		}
		l.mu.Lock()
		l.held = false
		l.mu.Unlock()
		run(func() bool { return c.count() > 0 })
		if c.count() == 0 {
			t.Fatal("no check once the lock was free")
		}
	})
}

func (c *checker) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }
