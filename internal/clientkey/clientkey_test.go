package clientkey

import (
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	tests := []struct{ a, b string }{
		{"2001:db8::1", "[2001:db8::2]:443"}, // same /64
		{"192.0.2.1", "::ffff:192.0.2.1"},    // mapped IPv4
		{"192.0.2.1", "192.0.2.1:8080"},
	}
	for _, tc := range tests {
		if Of(tc.a) != Of(tc.b) {
			t.Errorf("Of(%q) = %q, Of(%q) = %q; want one key", tc.a, Of(tc.a), tc.b, Of(tc.b))
		}
	}
	if Of("192.0.2.1") == Of("192.0.2.2") || Of("2001:db8::1") == Of("2001:db8:0:1::1") {
		t.Error("different clients share a key")
	}
	if k := Of(strings.Repeat("x", 1000)); len(k) > MaxBytes {
		t.Errorf("key of a long input is %d bytes, want ≤ %d", len(k), MaxBytes)
	}
}
