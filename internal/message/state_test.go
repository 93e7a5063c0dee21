package message

import (
	"errors"
	"testing"
)

func TestMessageState(t *testing.T) {
	tests := []struct {
		by   map[string]int
		want string
	}{
		{map[string]int{StatusQueued: 1, StatusDelivered: 2}, StateSending},
		{map[string]int{StatusDeferred: 1, StatusFailed: 2}, StateSending},
		{map[string]int{StatusDelivered: 3}, StateDelivered},
		{map[string]int{StatusFailed: 2}, StateFailed},
		{map[string]int{StatusFailed: 1, StatusDelivered: 1}, StatePartial},
	}
	for _, tt := range tests {
		if got := messageState(tt.by); got != tt.want {
			t.Errorf("messageState(%v) = %s, want %s", tt.by, got, tt.want)
		}
	}
}

func TestCheckPhones(t *testing.T) {
	tests := []struct {
		phones map[string]string
		ok     bool
	}{
		{map[string]string{"x@outside.example": "+31612345678"}, true},
		{map[string]string{"x@outside.example": "+442079460000"}, true},
		{map[string]string{"x@outside.example": "0612345678"}, false},
		{map[string]string{"x@outside.example": "+31 6 12345678"}, false},
		{map[string]string{"x@outside.example": "+3161234567890123"}, false},
		{map[string]string{"not-an-address": "+31612345678"}, false},
	}
	for _, tt := range tests {
		err := checkPhones(tt.phones)
		var inv *InvalidError
		if (err == nil) != tt.ok || (err != nil && !errors.As(err, &inv)) {
			t.Errorf("checkPhones(%v) = %v, want ok=%v", tt.phones, err, tt.ok)
		}
	}
}
