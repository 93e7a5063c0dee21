package otp

import (
	"container/list"
	"sync"
	"time"

	"github.com/veilig/veilig/internal/clientkey"
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
	e := l.entry(clientkey.Of(client))
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
