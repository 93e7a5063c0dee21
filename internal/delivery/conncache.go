package delivery

// Reuse of verified SMTP sessions, after Postfix's connection cache (scache(8),
// smtp_connection_cache_*): after a successful transaction the session — past
// STARTTLS (RFC 3207), the verified handshake and EHLO — is kept idle for a few
// seconds, and the next delivery whose plan tries the same host under the same
// verification sends RSET (RFC 5321 §4.1.1.5) and EHLO (§4.1.4) on it instead of
// connecting again. A session serves one delivery at a time: take removes it
// from the cache, put returns it.

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mjl-/adns"
)

// Bounds of the session cache.
const (
	defaultConnCacheIdle = 5 * time.Second
	connCacheTotal       = 32  // idle sessions in all
	connCacheMaxUses     = 100 // transactions per session
	// connCachePerHost bounds the idle sessions per dialed address. It should not
	// be below the number of deliveries to one host at once (the outbox's
	// workers, 10 by default): workers between jobs all hold an idle session,
	// and with 4 the benchmark's 504 deliveries still opened 255 connections
	// (10 with 16).
	connCachePerHost = 16
	maxQuitTimeout   = 5 * time.Second
	minReapInterval  = 10 * time.Millisecond
)

// sessionKey is everything a session was verified against. A session is reused
// only by a delivery whose host plan yields the same key, so a PKIX-verified
// session never carries a DANE or MTA-STS delivery, and a changed TLSA RRset
// means a new connection.
type sessionKey struct {
	target string // the dialed "ip:port", or the relay's "host:port"
	host   string // the MX (or relay) name
	policy Policy // the plan's policy, before the handshake
	verify string // see verifyIdentity
}

func keyFor(h hostPlan, target string) sessionKey {
	return sessionKey{target: target, host: h.name, policy: h.policy, verify: verifyIdentity(h)}
}

// verifyIdentity renders what the handshake checked the certificate against:
// the TLS server name (for PKIX, MTA-STS and the relay with the Deliverer's
// fixed roots), the usable TLSA records in a fixed order and, when one of them
// is DANE-TA, the further names its certificate may carry (RFC 7672 §3.2.3;
// DANE-EE ignores names, §3.1.1).
func verifyIdentity(h hostPlan) string {
	records := make([]string, 0, len(h.tlsa))
	ta := false
	for _, r := range h.tlsa {
		records = append(records, fmt.Sprintf("%d %d %d %x", r.Usage, r.Selector, r.MatchType, r.CertAssoc))
		ta = ta || r.Usage == adns.TLSAUsageDANETA
	}
	slices.Sort(records)
	id := "sni=" + h.sni + ";tlsa=" + strings.Join(records, ",")
	if ta {
		names := slices.Clone(h.names)
		slices.Sort(names)
		id += ";names=" + strings.Join(names, ",")
	}
	return id
}

// smtpSession is one connection past STARTTLS, verification and EHLO (and AUTH
// for the relay).
type smtpSession struct {
	key      sessionKey
	raw      net.Conn
	client   *smtp.Client // nil until the session is established
	evidence Attempt      // IP, Policy and TLS fields of the handshake
	opened   time.Time
	uses     int // transactions completed

	idleSince time.Time // guarded by the cache's mutex while cached
}

// record copies the handshake's evidence into a, for a reused session.
func (s *smtpSession) record(a *Attempt) {
	e := s.evidence
	a.IP, a.Policy, a.TLSVersion, a.Cipher, a.TLSAMatch = e.IP, e.Policy, e.TLSVersion, e.Cipher, e.TLSAMatch
	a.Reused = true
}

// quit ends the session politely, waiting at most timeout for the reply.
func (s *smtpSession) quit(timeout time.Duration) {
	if s.client != nil {
		s.client.CommandTimeout = timeout
		_ = s.client.Quit()
	}
	_ = s.raw.Close()
}

// sessionCache holds idle sessions by key. Its zero idle disables it.
type sessionCache struct {
	idle, maxAge, quitTimeout time.Duration
	total, perHost, maxUses   int
	now                       func() time.Time

	mu      sync.Mutex
	byKey   map[sessionKey][]*smtpSession // most recently used last
	perAddr map[string]int
	count   int
	timer   *time.Timer // the reaper, armed while sessions are idle
	closed  bool
}

func newSessionCache(cfg Config, now func() time.Time) *sessionCache {
	return &sessionCache{idle: max(cfg.ConnCacheIdle, 0), maxAge: cfg.SessionTimeout,
		quitTimeout: min(cfg.CommandTimeout, maxQuitTimeout), total: connCacheTotal, perHost: connCachePerHost,
		maxUses: connCacheMaxUses, now: now, byKey: map[sessionKey][]*smtpSession{}, perAddr: map[string]int{}}
}

// take removes and returns the most recently used live session under the
// first key that has one, or nil. Expired sessions met on the way are ended.
func (c *sessionCache) take(keys []sessionKey) *smtpSession {
	c.mu.Lock()
	var expired []*smtpSession
	var found *smtpSession
	for _, k := range keys {
		for found == nil && len(c.byKey[k]) > 0 {
			s := c.pop(k)
			if c.live(s) {
				found = s
			} else {
				expired = append(expired, s)
			}
		}
	}
	c.mu.Unlock()
	if len(expired) > 0 {
		go c.end(expired)
	}
	return found
}

// pop removes the last session under k; c.mu is held.
func (c *sessionCache) pop(k sessionKey) *smtpSession {
	list := c.byKey[k]
	s := list[len(list)-1]
	if len(list) == 1 {
		delete(c.byKey, k)
	} else {
		c.byKey[k] = list[:len(list)-1]
	}
	c.uncount(k.target)
	return s
}

// uncount books a session at target out; c.mu is held.
func (c *sessionCache) uncount(target string) {
	c.count--
	if c.perAddr[target]--; c.perAddr[target] <= 0 {
		delete(c.perAddr, target)
	}
}

// live reports whether s may still be used; c.mu is held.
func (c *sessionCache) live(s *smtpSession) bool {
	now := c.now()
	return now.Sub(s.idleSince) < c.idle && now.Sub(s.opened) < c.maxAge
}

// put caches s for reuse and reports whether it did; when it did not, the
// caller ends the session.
func (c *sessionCache) put(s *smtpSession) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle <= 0 || c.closed || s.uses >= c.maxUses || c.count >= c.total ||
		c.perAddr[s.key.target] >= c.perHost || c.now().Sub(s.opened) >= c.maxAge {
		return false
	}
	s.idleSince = c.now()
	c.byKey[s.key] = append(c.byKey[s.key], s)
	c.count++
	c.perAddr[s.key.target]++
	if c.timer == nil {
		c.timer = time.AfterFunc(c.idle, c.reap)
	}
	return true
}

// reap ends the sessions idle for too long and re-arms itself while others
// remain.
func (c *sessionCache) reap() {
	c.mu.Lock()
	expired := c.removeIf(func(s *smtpSession) bool { return !c.live(s) })
	c.timer = nil
	if c.count > 0 && !c.closed {
		c.timer = time.AfterFunc(c.nextExpiry(), c.reap)
	}
	c.mu.Unlock()
	c.end(expired)
}

// removeIf removes and returns the sessions for which drop is true; c.mu is
// held.
func (c *sessionCache) removeIf(drop func(*smtpSession) bool) []*smtpSession {
	var out []*smtpSession
	for k, list := range c.byKey {
		kept := list[:0]
		for _, s := range list {
			if drop(s) {
				out = append(out, s)
				c.uncount(k.target)
			} else {
				kept = append(kept, s)
			}
		}
		clear(list[len(kept):])
		c.byKey[k] = kept
		if len(kept) == 0 {
			delete(c.byKey, k)
		}
	}
	return out
}

// nextExpiry is the time until the first cached session's idle time ends; c.mu
// is held.
func (c *sessionCache) nextExpiry() time.Duration {
	next, now := c.idle, c.now()
	for _, list := range c.byKey {
		for _, s := range list {
			next = min(next, c.idle-now.Sub(s.idleSince))
		}
	}
	return max(next, minReapInterval)
}

// close ends every cached session and caches none from now on.
func (c *sessionCache) close() {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	all := c.removeIf(func(*smtpSession) bool { return true })
	c.mu.Unlock()
	c.end(all)
}

// end sends QUIT on the sessions, in parallel, and closes them.
func (c *sessionCache) end(sessions []*smtpSession) {
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { s.quit(c.quitTimeout) })
	}
	wg.Wait()
}
