package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestTTLCache(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	c := newTTLCache[int](2*time.Second, 3)
	c.put("a", 1, now, c.generation())
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"fresh", now, true},
		{"just before expiry", now.Add(2*time.Second - time.Nanosecond), true},
		{"expired", now.Add(2 * time.Second), false},
	} {
		if v, ok := c.get("a", tc.at); ok != tc.ok || (ok && v != 1) {
			t.Errorf("%s: get = %d, %v; want found %v", tc.name, v, ok, tc.ok)
		}
	}

	// A lookup that began before an invalidation must not store its stale answer.
	gen := c.generation()
	c.invalidate("b")
	c.put("b", 2, now, gen)
	if _, ok := c.get("b", now); ok {
		t.Error("a put begun before invalidate was stored")
	}
	c.invalidate("a")
	if _, ok := c.get("a", now); ok {
		t.Error("invalidated entry still served")
	}
	var nilCache *ttlCache[int]
	nilCache.invalidate("x") // must not panic
}

func TestTTLCacheBound(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	c := newTTLCache[int](time.Second, 3)
	c.put("old", 0, now, c.generation())
	later := now.Add(time.Second)
	for i := range 10 {
		c.put(fmt.Sprint(i), i, later, c.generation())
		if len(c.entries) > 3 {
			t.Fatalf("cache holds %d entries, bound 3", len(c.entries))
		}
	}
	if v, ok := c.get("9", later); !ok || v != 9 {
		t.Errorf("newest entry lost: %d, %v", v, ok)
	}
}

func BenchmarkTTLCacheGet(b *testing.B) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	c := newTTLCache[liveness](LiveTTL, liveCacheSize)
	c.put("11111111-1111-4111-8111-111111111111", liveness{}, now, c.generation())
	b.ReportAllocs()
	for b.Loop() {
		c.get("11111111-1111-4111-8111-111111111111", now)
	}
}
