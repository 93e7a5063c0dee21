package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/ratelimit"
	"github.com/veilig/veilig/internal/testenv"
)

var ctx = context.Background()

// testLimiter returns a limiter on a fresh SQLite database.
func testLimiter(t testing.TB, cfg RateLimitConfig) *limiter {
	t.Helper()
	return newLimiter(cfg, ratelimit.New(testenv.DB(t, database.SQLite).DB))
}

func TestBackoff(t *testing.T) {
	l := testLimiter(t, DefaultConfig().RateLimit)
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {4, 0}, {5, 30 * time.Second}, {6, time.Minute}, {7, 2 * time.Minute},
		{9, 8 * time.Minute}, {10, 15 * time.Minute}, {40, 15 * time.Minute}, {1000, 15 * time.Minute},
	} {
		if got := l.backoff(tc.failures); got != tc.want {
			t.Errorf("backoff(%d) = %s, want %s", tc.failures, got, tc.want)
		}
	}
}

// TestAccountLimitPerWindow checks the bounds on guessing one account: about ten
// guesses in fifteen minutes from one client (OWASP), and the ceiling of 100 an
// hour from any number of clients (NIST SP 800-63B §5.2.2).
func TestAccountLimitPerWindow(t *testing.T) {
	tests := []struct {
		name     string
		period   time.Duration
		client   func(attempt int) string
		min, max int
	}{
		{"one client, 15 minutes", 15 * time.Minute, func(int) string { return "198.51.100.1" }, 5, 10},
		{"a client per attempt, 15 minutes", 15 * time.Minute, spread, 100, 100},
		{"a client per attempt, 2 hours", 2 * time.Hour, spread, 200, 200},
		{"a /64 per attempt, 2 hours", 2 * time.Hour, func(n int) string {
			return fmt.Sprintf("2001:db8:%x:%x::1", n/65536, n%65536)
		}, 200, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := testLimiter(t, DefaultConfig().RateLimit)
			now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
			admitted := 0
			for n, end := 0, now.Add(tc.period); now.Before(end); n, now = n+1, now.Add(time.Second) {
				if l.begin(ctx, now, tc.client(n), "jan@utrecht.example") == nil {
					admitted++
				}
			}
			if admitted < tc.min || admitted > tc.max {
				t.Errorf("%d guesses admitted in %s, want %d–%d", admitted, tc.period, tc.min, tc.max)
			}
		})
	}
}

// spread gives every attempt its own IPv4 address.
func spread(n int) string { return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255) }

// TestStrangerCannotLockOut: failures from one client put that client in
// backoff for the account, not the account's owner at another address; only
// the ceiling, reached from many addresses, blocks every client.
func TestStrangerCannotLockOut(t *testing.T) {
	const jan, janIP, stranger = "jan@utrecht.example", "192.0.2.1", "198.51.100.7"
	l := testLimiter(t, DefaultConfig().RateLimit)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	blocked := 0
	for range 10 {
		if l.begin(ctx, now, stranger, jan) != nil {
			blocked++
		}
	}
	if blocked != 5 {
		t.Fatalf("stranger: %d of 10 attempts refused, want 5", blocked)
	}
	if err := l.begin(ctx, now, janIP, jan); err != nil {
		t.Fatalf("owner's attempt while the stranger is in backoff: %v", err)
	}
	_ = l.succeeded(ctx, now, janIP, jan)
	var rl *RateLimitError
	if err := l.begin(ctx, now, stranger, jan); !errors.As(err, &rl) || rl.Scope != "account" {
		t.Errorf("the owner's success lifted the stranger's backoff: %v", err)
	}
	// 95 more failures from as many addresses reach the ceiling of 100.
	for n := range accountCeiling - 5 {
		if err := l.begin(ctx, now, spread(n), jan); err != nil {
			t.Fatalf("distributed failure %d: %v", n+1, err)
		}
	}
	if err := l.begin(ctx, now.Add(time.Minute), janIP, jan); !errors.As(err, &rl) || rl.Scope != "account" ||
		rl.RetryAfter != accountCeilingWindow-time.Minute {
		t.Fatalf("owner at the ceiling: %v, want an account RateLimitError until the window ends", err)
	}
	if err := l.begin(ctx, now.Add(accountCeilingWindow), janIP, jan); err != nil {
		t.Errorf("owner after the window: %v", err)
	}
}

func TestAccountForgetAfter(t *testing.T) {
	l := testLimiter(t, RateLimitConfig{AccountFreeFailures: 1, AccountBaseDelay: time.Hour, AccountMaxDelay: time.Hour,
		AccountForgetAfter: 2 * time.Hour, ClientPerMinute: 100, ClientBurst: 100})
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	_ = l.begin(ctx, now, "192.0.2.1", "jan@utrecht.example")
	if err := l.begin(ctx, now.Add(time.Minute), "192.0.2.1", "jan@utrecht.example"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second failure within the hour: %v", err)
	}
	if err := l.begin(ctx, now.Add(3*time.Hour), "192.0.2.1", "jan@utrecht.example"); err != nil {
		t.Fatalf("after ForgetAfter: %v", err)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{" 192.0.2.1 ", "192.0.2.1"},
		{"192.0.2.1:4711", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"", ""},
		{"unknown", "unknown"},
	} {
		if got := clientKey(tc.in); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := clientKey(string(make([]byte, 4096)))
	if len(long) > maxKeyBytes {
		t.Errorf("clientKey of 4 KiB = %d bytes", len(long))
	}
}

// TestLimitsShared: two processes on one database share the limits, even with
// concurrent attempts: the account and client pair admits AccountFreeFailures
// failures before its backoff, the account its ceiling, whichever process counts.
func TestLimitsShared(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		cfg := DefaultConfig().RateLimit
		procs := []*limiter{newLimiter(cfg, ratelimit.New(db.DB)), newLimiter(cfg, ratelimit.New(db.DB))}
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		count := func(client func(int) string, n int) int32 {
			var admitted atomic.Int32
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					err := procs[i%2].begin(ctx, now, client(i), "jan@utrecht.example")
					if err == nil {
						admitted.Add(1)
					} else if !errors.Is(err, ErrRateLimited) {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			return admitted.Load()
		}
		if got := count(func(int) string { return "198.51.100.1" }, 20); got != 5 {
			t.Errorf("one client: %d failures admitted, want 5", got)
		}
		if got := count(spread, 120); got != accountCeiling-5 {
			t.Errorf("many clients: %d failures admitted, want %d", got, accountCeiling-5)
		}
	})
}
