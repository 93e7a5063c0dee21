package auth

import (
	"container/list"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/veilig/veilig/internal/clientkey"
)

// Per-account ceiling on failures from all clients together. It bounds
// distributed guessing (NIST SP 800-63B §5.2.2: at most 100 consecutive failed
// attempts on one account) and is far above what one client can reach through
// its own backoff, so that strangers need many addresses to lock a user out.
const (
	accountCeiling       = 100
	accountCeilingWindow = time.Hour
)

// limiter counts login attempts per client address, per account and client
// (exponential backoff), and per account (a ceiling over all clients). The
// backoff is kept per account and client so that a stranger's failures cannot
// lock a user out of their own logins from another address. An attempt counts
// as a failure from the moment it starts and is forgiven when it succeeds, so a
// burst of concurrent guesses meets the limit as surely as a sequence does.
// Memory is bounded: each table keeps at most MaxTrackedKeys entries and evicts
// the least recently used. State is per process.
type limiter struct {
	cfg      RateLimitConfig
	ceiling  int           // failures per account and window from all clients
	window   time.Duration // the ceiling's window
	mu       sync.Mutex
	pairs    *lru[accountState] // by account and client
	accounts *lru[windowCount]  // by account
	clients  *lru[bucket]
}

// accountState is a run of failures on one account from one client.
type accountState struct {
	failures int
	last     time.Time
}

// windowCount is an account's failures from all clients since start.
type windowCount struct {
	failures int
	start    time.Time
}

// bucket is a token bucket of failed attempts a client may still make.
type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(cfg RateLimitConfig) *limiter {
	return &limiter{cfg: cfg, ceiling: accountCeiling, window: accountCeilingWindow,
		pairs:    newLRU[accountState](cfg.MaxTrackedKeys),
		accounts: newLRU[windowCount](cfg.MaxTrackedKeys),
		clients:  newLRU[bucket](cfg.MaxTrackedKeys)}
}

// begin admits an attempt from client on account (empty: no account, as for a
// refresh grant) and counts it as failed, or returns a *RateLimitError.
func (l *limiter) begin(now time.Time, client, account string) error {
	ckey, akey := keys(client, account)
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait := l.takeClient(now, ckey); wait > 0 {
		return &RateLimitError{RetryAfter: wait, Scope: "client"}
	}
	if akey == "" {
		return nil
	}
	if wait := l.failAccount(now, akey, pairKey(akey, ckey)); wait > 0 {
		return &RateLimitError{RetryAfter: wait, Scope: "account"}
	}
	return nil
}

// succeeded forgives the attempt begin counted and clears the failures of the
// account from this client.
func (l *limiter) succeeded(now time.Time, client, account string) {
	ckey, akey := keys(client, account)
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
	if akey == "" {
		return
	}
	l.pairs.remove(pairKey(akey, ckey))
	if c := l.windowOf(now, akey); c.failures > 0 {
		c.failures--
		l.accounts.put(akey, c)
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

// failAccount records a failure for the account (akey) from one client (pkey)
// unless that client must still wait or the account has reached its ceiling; then
// the wait is returned and nothing is recorded (so that attempts made while
// blocked do not prolong the block).
func (l *limiter) failAccount(now time.Time, akey, pkey string) time.Duration {
	st, ok := l.pairs.get(pkey)
	if ok && now.Sub(st.last) > l.cfg.AccountForgetAfter {
		st = accountState{}
	}
	if wait := st.last.Add(l.backoff(st.failures)).Sub(now); st.failures > 0 && wait > 0 {
		return wait
	}
	c := l.windowOf(now, akey)
	if c.failures >= l.ceiling {
		return c.start.Add(l.window).Sub(now)
	}
	l.pairs.put(pkey, accountState{failures: st.failures + 1, last: now})
	l.accounts.put(akey, windowCount{failures: c.failures + 1, start: c.start})
	return 0
}

// windowOf returns the account's failures in its current ceiling window; a new
// window starts when the last one is over.
func (l *limiter) windowOf(now time.Time, akey string) windowCount {
	c, ok := l.accounts.get(akey)
	if !ok || !now.Before(c.start.Add(l.window)) {
		return windowCount{start: now}
	}
	return c
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
const maxKeyBytes = clientkey.MaxBytes

// clientKey groups client addresses (see package clientkey).
func clientKey(client string) string { return clientkey.Of(client) }

func boundKey(s string) string { return clientkey.Bound(s) }

// accountKey is the account an attempt names, as NormalizeEmail would give it
// where possible.
func accountKey(email string) string {
	key, err := NormalizeEmail(email)
	if err != nil {
		key = strings.ToLower(strings.TrimSpace(email))
	}
	return boundKey(key)
}

// keys returns the client's key and the account's, "" for no account.
func keys(client, account string) (ckey, akey string) {
	if account != "" {
		akey = accountKey(account)
	}
	return clientKey(client), akey
}

// pairKey is the key of an account and a client key; the length prefix keeps
// the pair unambiguous whatever either contains.
func pairKey(akey, ckey string) string {
	return fmt.Sprintf("%d:%s|%s", len(akey), akey, ckey)
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
