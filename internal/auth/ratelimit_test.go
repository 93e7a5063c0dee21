package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	l := newLimiter(DefaultConfig().RateLimit)
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
			l := newLimiter(DefaultConfig().RateLimit)
			now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
			admitted := 0
			for n, end := 0, now.Add(tc.period); now.Before(end); n, now = n+1, now.Add(time.Second) {
				if l.begin(now, tc.client(n), "jan@utrecht.example") == nil {
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
	l := newLimiter(DefaultConfig().RateLimit)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	blocked := 0
	for range 10 {
		if l.begin(now, stranger, jan) != nil {
			blocked++
		}
	}
	if blocked != 5 {
		t.Fatalf("stranger: %d of 10 attempts refused, want 5", blocked)
	}
	if err := l.begin(now, janIP, jan); err != nil {
		t.Fatalf("owner's attempt while the stranger is in backoff: %v", err)
	}
	l.succeeded(now, janIP, jan)
	var rl *RateLimitError
	if err := l.begin(now, stranger, jan); !errors.As(err, &rl) || rl.Scope != "account" {
		t.Errorf("the owner's success lifted the stranger's backoff: %v", err)
	}
	// 95 more failures from as many addresses reach the ceiling of 100.
	for n := range accountCeiling - 5 {
		if err := l.begin(now, spread(n), jan); err != nil {
			t.Fatalf("distributed failure %d: %v", n+1, err)
		}
	}
	if err := l.begin(now.Add(time.Minute), janIP, jan); !errors.As(err, &rl) || rl.Scope != "account" ||
		rl.RetryAfter != accountCeilingWindow-time.Minute {
		t.Fatalf("owner at the ceiling: %v, want an account RateLimitError until the window ends", err)
	}
	if err := l.begin(now.Add(accountCeilingWindow), janIP, jan); err != nil {
		t.Errorf("owner after the window: %v", err)
	}
}

func TestAccountForgetAfter(t *testing.T) {
	l := newLimiter(RateLimitConfig{AccountFreeFailures: 1, AccountBaseDelay: time.Hour, AccountMaxDelay: time.Hour,
		AccountForgetAfter: 2 * time.Hour, ClientPerMinute: 100, ClientBurst: 100, MaxTrackedKeys: 10})
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	_ = l.begin(now, "192.0.2.1", "jan@utrecht.example")
	if err := l.begin(now.Add(time.Minute), "192.0.2.1", "jan@utrecht.example"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second failure within the hour: %v", err)
	}
	if err := l.begin(now.Add(3*time.Hour), "192.0.2.1", "jan@utrecht.example"); err != nil {
		t.Fatalf("after ForgetAfter: %v", err)
	}
}

func TestLimiterMemoryBound(t *testing.T) {
	l := newLimiter(RateLimitConfig{AccountFreeFailures: 1, AccountBaseDelay: time.Hour, AccountMaxDelay: time.Hour,
		AccountForgetAfter: 24 * time.Hour, ClientPerMinute: 1, ClientBurst: 1, MaxTrackedKeys: 100})
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := range 10_000 {
		_ = l.begin(now, fmt.Sprintf("10.0.%d.%d", i/256, i%256), fmt.Sprintf("user%d@utrecht.example", i))
	}
	if l.pairs.len() > 100 || l.accounts.len() > 100 || l.clients.len() > 100 {
		t.Errorf("tracked %d account-client pairs, %d accounts and %d clients, want at most 100 each",
			l.pairs.len(), l.accounts.len(), l.clients.len())
	}
	// The most recent entries survive; the oldest were evicted.
	if err := l.begin(now, "10.0.39.15", "other@utrecht.example"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("most recent client forgotten: %v", err)
	}
	if err := l.begin(now, "10.0.0.0", "other@utrecht.example"); err != nil {
		t.Errorf("oldest client still tracked: %v", err)
	}
}

func TestLRU(t *testing.T) {
	c := newLRU[int](2)
	c.put("a", 1)
	c.put("b", 2)
	c.get("a") // b is now the least recently used
	c.put("c", 3)
	if _, ok := c.get("b"); ok {
		t.Error("b survived eviction")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if got, ok := c.get(k); !ok || got != want {
			t.Errorf("get(%s) = %d, %v", k, got, ok)
		}
	}
	c.remove("a")
	if c.len() != 1 {
		t.Errorf("len = %d after remove", c.len())
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
