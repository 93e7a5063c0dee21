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

// TestAccountLimitPerWindow checks the OWASP-style bound: about ten guesses per
// account in fifteen minutes, however they are spread.
func TestAccountLimitPerWindow(t *testing.T) {
	l := newLimiter(DefaultConfig().RateLimit)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	admitted := 0
	for end := now.Add(15 * time.Minute); now.Before(end); now = now.Add(time.Second) {
		if l.begin(now, fmt.Sprintf("198.51.100.%d", admitted), "jan@utrecht.example") == nil {
			admitted++
		}
	}
	if admitted < 5 || admitted > 10 {
		t.Errorf("%d guesses admitted in 15 minutes, want 5–10", admitted)
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
	if l.accounts.len() > 100 || l.clients.len() > 100 {
		t.Errorf("tracked %d accounts and %d clients, want at most 100 each", l.accounts.len(), l.clients.len())
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
