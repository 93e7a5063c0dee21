package otp

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ipLimiter allows max attempts per client and fixed window, remembering at
// most size clients (least recently used are forgotten).
type ipLimiter struct {
	max    int
	window time.Duration
	size   int
	mu     sync.Mutex
	items  map[string]*list.Element
	order  *list.List // front: most recently used
}

type ipEntry struct {
	key   string
	start time.Time
	count int
}

func newIPLimiter(max int, window time.Duration, size int) *ipLimiter {
	return &ipLimiter{max: max, window: window, size: size,
		items: make(map[string]*list.Element), order: list.New()}
}

// take counts an attempt from client, or returns how long it must wait.
func (l *ipLimiter) take(now time.Time, client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(clientKey(client))
	if !now.Before(e.start.Add(l.window)) {
		e.start, e.count = now, 0
	}
	if e.count >= l.max {
		return e.start.Add(l.window).Sub(now)
	}
	e.count++
	return 0
}

// entry returns the client's entry, creating it and evicting the oldest.
func (l *ipLimiter) entry(key string) *ipEntry {
	if el, ok := l.items[key]; ok {
		l.order.MoveToFront(el)
		return el.Value.(*ipEntry)
	}
	e := &ipEntry{key: key}
	l.items[key] = l.order.PushFront(e)
	for l.order.Len() > l.size {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.items, oldest.Value.(*ipEntry).key)
	}
	return e
}

// clientKey groups addresses: one IPv4 address or one IPv6 /64 (what one
// subscriber usually gets). Anything else is bounded in length.
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
	if len(s) <= 64 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}
