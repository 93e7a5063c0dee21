package auth

import (
	"testing"
	"time"
)

func TestVerifiedCache(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := newVerifiedCache(2)
	p := Principal{UserID: "u1", ExpiresAt: now.Add(time.Minute)}
	c.put("token-1", p)
	if got, ok := c.get("token-1", now); !ok || got.UserID != "u1" {
		t.Fatalf("get = %+v, %v", got, ok)
	}
	if _, ok := c.get("token-2", now); ok {
		t.Error("unknown token found")
	}
	if _, ok := c.get("token-1", now.Add(time.Minute)); ok {
		t.Error("expired token still served from the cache")
	}
	c.put("token-2", p)
	c.put("token-3", p) // full: starts over
	if _, ok := c.get("token-1", now); ok || len(c.entries) > 2 {
		t.Errorf("cache grew past its bound: %d entries", len(c.entries))
	}
}
