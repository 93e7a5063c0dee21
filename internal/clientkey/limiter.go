package clientkey

import (
	"container/list"
	"sync"
	"time"
)

// Limiter allows max attempts per client and fixed window, remembering at
// most size clients (least recently used are forgotten).
type Limiter struct {
	max    int
	window time.Duration
	size   int
	mu     sync.Mutex
	items  map[string]*list.Element
	order  *list.List // front: most recently used
}

type entry struct {
	key   string
	start time.Time
	count int
}

// NewLimiter returns a Limiter of max attempts per client per window over at
// most size clients.
func NewLimiter(max int, window time.Duration, size int) *Limiter {
	return &Limiter{max: max, window: window, size: size,
		items: make(map[string]*list.Element), order: list.New()}
}

// Take counts an attempt from client, or returns how long it must wait.
func (l *Limiter) Take(now time.Time, client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(Of(client))
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
func (l *Limiter) entry(key string) *entry {
	if el, ok := l.items[key]; ok {
		l.order.MoveToFront(el)
		return el.Value.(*entry)
	}
	e := &entry{key: key}
	l.items[key] = l.order.PushFront(e)
	for l.order.Len() > l.size {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.items, oldest.Value.(*entry).key)
	}
	return e
}
