package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedCache remembers access tokens whose signature and claims were already
// checked, until they expire: an Ed25519 verification costs tens of µs, which on
// the autocomplete path is most of a request. Keys are SHA-256 digests of the
// token, so the cache holds no bearer token. Bounded: when full it starts over.
type verifiedCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]Principal
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{max: max, entries: make(map[[sha256.Size]byte]Principal)}
}

func (c *verifiedCache) get(token string, now time.Time) (Principal, bool) {
	key := sha256.Sum256([]byte(token))
	c.mu.RLock()
	p, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(p.ExpiresAt) {
		return Principal{}, false
	}
	return p, true
}

func (c *verifiedCache) put(token string, p Principal) {
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[key] = p
}
