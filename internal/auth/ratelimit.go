package auth

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter counts login attempts per account and per client address. An attempt
// counts as a failure from the moment it starts and is forgiven when it succeeds,
// so a burst of concurrent guesses meets the limit as surely as a sequence does.
// Memory is bounded: each table keeps at most MaxTrackedKeys entries and evicts
// the least recently used. State is per process.
type limiter struct {
	cfg      RateLimitConfig
	mu       sync.Mutex
	accounts *lru[accountState]
	clients  *lru[bucket]
}

// accountState is an account's run of failures.
type accountState struct {
	failures int
	last     time.Time
}

// bucket is a token bucket of failed attempts a client may still make.
type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(cfg RateLimitConfig) *limiter {
	return &limiter{cfg: cfg, accounts: newLRU[accountState](cfg.MaxTrackedKeys),
		clients: newLRU[bucket](cfg.MaxTrackedKeys)}
}

// begin admits an attempt from client on account (empty: no account, as for a
// refresh grant) and counts it as failed, or returns a *RateLimitError.
func (l *limiter) begin(now time.Time, client, account string) error {
	ckey, akey := clientKey(client), ""
	if account != "" {
		akey = accountKey(account)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait := l.takeClient(now, ckey); wait > 0 {
		return &RateLimitError{RetryAfter: wait, Scope: "client"}
	}
	if akey == "" {
		return nil
	}
	if wait := l.failAccount(now, akey); wait > 0 {
		return &RateLimitError{RetryAfter: wait, Scope: "account"}
	}
	return nil
}

// succeeded forgives the attempt begin counted and clears the account's failures.
func (l *limiter) succeeded(now time.Time, client, account string) {
	ckey, akey := clientKey(client), ""
	if account != "" {
		akey = accountKey(account)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.clients.get(ckey); ok {
		b = l.refill(b, now)
		b.tokens++
		if b.tokens >= float64(l.cfg.ClientBurst) {
			l.clients.remove(ckey) // a full bucket is the same as none
		} else {
			l.clients.put(ckey, b)
		}
	}
	if akey != "" {
		l.accounts.remove(akey)
	}
}

// takeClient takes one token from the client's bucket, or says how long until one
// is there.
func (l *limiter) takeClient(now time.Time, key string) time.Duration {
	b, ok := l.clients.get(key)
	if !ok {
		b = bucket{tokens: float64(l.cfg.ClientBurst), last: now}
	}
	b = l.refill(b, now)
	if b.tokens < 1 {
		l.clients.put(key, b)
		return time.Duration((1 - b.tokens) / l.perNanosecond())
	}
	b.tokens--
	l.clients.put(key, b)
	return 0
}

func (l *limiter) perNanosecond() float64 {
	return float64(l.cfg.ClientPerMinute) / float64(time.Minute)
}

func (l *limiter) refill(b bucket, now time.Time) bucket {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(b.tokens+float64(elapsed)*l.perNanosecond(), float64(l.cfg.ClientBurst))
		b.last = now
	}
	return b
}

// failAccount records a failure for the account unless it must still wait, in
// which case the wait is returned and nothing is recorded (so that attempts made
// while blocked do not prolong the block).
func (l *limiter) failAccount(now time.Time, key string) time.Duration {
	st, ok := l.accounts.get(key)
	if ok && now.Sub(st.last) > l.cfg.AccountForgetAfter {
		st = accountState{}
	}
	if wait := st.last.Add(l.backoff(st.failures)).Sub(now); st.failures > 0 && wait > 0 {
		return wait
	}
	l.accounts.put(key, accountState{failures: st.failures + 1, last: now})
	return 0
}

// backoff is the wait after failures failures: none for the first
// AccountFreeFailures, then AccountBaseDelay doubling up to AccountMaxDelay.
func (l *limiter) backoff(failures int) time.Duration {
	over := failures - l.cfg.AccountFreeFailures
	if over < 0 {
		return 0
	}
	if over >= 32 {
		return l.cfg.AccountMaxDelay
	}
	d := l.cfg.AccountBaseDelay << over
	if d <= 0 || d > l.cfg.AccountMaxDelay {
		return l.cfg.AccountMaxDelay
	}
	return d
}

// maxKeyBytes bounds a limiter key; longer inputs are hashed.
const maxKeyBytes = 128

// accountKey is the account an attempt names, as NormalizeEmail would give it
// where possible.
func accountKey(email string) string {
	key, err := NormalizeEmail(email)
	if err != nil {
		key = strings.ToLower(strings.TrimSpace(email))
	}
	return boundKey(key)
}

// clientKey groups client addresses: one IPv4 address, or one IPv6 /64 (the
// smallest prefix usually given to one subscriber).
func clientKey(client string) string {
	client = strings.TrimSpace(client)
	addr, err := netip.ParseAddr(client)
	if err != nil {
		ap, err := netip.ParseAddrPort(client)
		if err != nil {
			return boundKey(client)
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func boundKey(s string) string {
	if len(s) <= maxKeyBytes {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// lru is a map bounded to max entries that evicts the least recently used.
type lru[V any] struct {
	max   int
	items map[string]*list.Element
	order *list.List // front: most recently used
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, items: make(map[string]*list.Element), order: list.New()}
}

func (c *lru[V]) get(key string) (V, bool) {
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry[V]).val, true
}

func (c *lru[V]) put(key string, val V) {
	if el, ok := c.items[key]; ok {
		el.Value.(*lruEntry[V]).val = val
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, val: val})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry[V]).key)
	}
}

func (c *lru[V]) remove(key string) {
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}

func (c *lru[V]) len() int { return c.order.Len() }
