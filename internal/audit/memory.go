package audit

import (
	"context"
	"sync"
)

// Memory is a Recorder that keeps events in memory, for tests and tools; it
// is safe for concurrent use.
type Memory struct {
	mu     sync.Mutex
	events []Event
}

// Record implements Recorder.
func (m *Memory) Record(_ context.Context, e Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
}

// Take returns the events recorded since the last Take.
func (m *Memory) Take() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.events
	m.events = nil
	return out
}

// Events returns every event recorded and not yet taken, keeping them.
func (m *Memory) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.events...)
}
