package auth

import (
	"sync"
	"time"
)

// ttlCache remembers values for a short time. It is bounded: when full it drops
// expired entries, and starts over if that frees nothing. A lookup that missed
// takes a generation before reading the database and puts its answer with it; an
// invalidate in between bumps the generation, so that the stale answer is not
// stored and the invalidation holds at once in this process.
type ttlCache[V any] struct {
	mu      sync.RWMutex
	ttl     time.Duration
	max     int
	gen     uint64
	entries map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v     V
	until time.Time
}

func newTTLCache[V any](ttl time.Duration, max int) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, max: max, entries: make(map[string]ttlEntry[V])}
}

// get returns the value for key unless missing or expired at now.
func (c *ttlCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// generation is the token a missed lookup passes to put.
func (c *ttlCache[V]) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores v until now+ttl, unless an invalidate happened since gen was taken.
func (c *ttlCache[V]) put(key string, v V, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[key] = ttlEntry[V]{v: v, until: now.Add(c.ttl)}
}

func (c *ttlCache[V]) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
}

// invalidate forgets key and fails every put begun before it. It is safe on a
// nil cache (a Users made without a Service has none).
func (c *ttlCache[V]) invalidate(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
	c.gen++
}
