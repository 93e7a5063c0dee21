package clientkey

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l := NewLimiter(1, time.Minute, 2)
	tests := []struct {
		client string
		want   time.Duration
	}{
		{"2001:db8::1", 0},
		{"[2001:db8::2]:443", time.Minute}, // same /64
		{"192.0.2.1", 0},
		{"::ffff:192.0.2.1", time.Minute}, // mapped IPv4
		{"198.51.100.1", 0},               // evicts the IPv6 /64
		{"2001:db8::3", 0},
	}
	for _, tc := range tests {
		if got := l.Take(now, tc.client); got != tc.want {
			t.Errorf("take(%s) = %s, want %s", tc.client, got, tc.want)
		}
	}
	if n := len(l.items); n != 2 {
		t.Fatalf("limiter holds %d clients, want at most 2", n)
	}
}
