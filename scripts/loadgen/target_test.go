package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLoopbackURL(t *testing.T) {
	tests := []struct {
		raw, mode string
		want      error
	}{
		{"http://127.0.0.1:8080", "http", nil},
		{"http://127.9.9.9", "http", nil},
		{"https://localhost:8443/", "http", nil},
		{"http://LOCALHOST", "http", nil},
		{"http://[::1]:8080", "http", nil},
		{"http://[::ffff:127.0.0.1]:80", "http", nil},
		{"ldap://127.0.0.1:3389", "ldap", nil},
		{"http://10.0.0.1:8080", "http", errNotLoopback},
		{"http://0.0.0.0:8080", "http", errNotLoopback},
		{"http://example.test", "http", errNotLoopback},
		{"http://localhost.example.test", "http", errNotLoopback},
		{"http://127.0.0.1.nip.io", "http", errNotLoopback},
		{"ldap://[2001:db8::1]", "ldap", errNotLoopback},
		{"http://", "http", errNotLoopback},
		{"ldap://127.0.0.1", "http", errUsage},
		{"ldaps://127.0.0.1", "ldap", errUsage},
		{"127.0.0.1:8080", "http", errUsage},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			if _, err := loopbackURL(tc.raw, tc.mode); !errors.Is(err, tc.want) {
				t.Errorf("loopbackURL(%q, %s) = %v, want %v", tc.raw, tc.mode, err, tc.want)
			}
		})
	}
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true},
		{"127.1.2.3:389", true},
		{"[::1]:80", true},
		{"192.0.2.1:80", false},
		{"[2001:db8::1]:80", false},
		{"not-an-address", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			err := loopbackOnly("tcp", tc.addr, nil)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errNotLoopback)) {
				t.Errorf("loopbackOnly(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
			}
		})
	}
}

// TestDialerRefuses shows the hook stops the socket before connect(2).
func TestDialerRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := loopbackDialer(time.Second).DialContext(ctx, "tcp", "192.0.2.1:9")
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, errNotLoopback) {
		t.Fatalf("dial 192.0.2.1 = %v, want %v", err, errNotLoopback)
	}
}
