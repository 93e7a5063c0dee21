package notify

import (
	"strings"
	"testing"
	"time"
)

func TestDisplay(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"Jan  Jansen\t", 100, "Jan Jansen"},
		{"invoice\u202Efdp.exe", 100, "invoicefdp.exe"},
		{"a\u2066b\u200Fc\uFEFFd\x07e", 100, "abcde"},
		{"bad\xffutf8", 100, "bad\uFFFDutf8"},
		{"abcdef", 4, "abc…"},
		{"ab   cdef", 4, "ab…"},
		{strings.Repeat("é", 10), 5, "éééé…"},
		{"", 5, ""},
	}
	for _, tt := range tests {
		if got := display(tt.in, tt.max); got != tt.want {
			t.Errorf("display(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestFormatDates(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		t      time.Time
		nl, en string
	}{
		{time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC), "donderdag 1 januari 2026 om 01:05 (CET)",
			"Thursday 1 January 2026 at 01:05 (CET)"},
		{time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), "zondag 25 oktober 2026 om 02:30 (CEST)",
			"Sunday 25 October 2026 at 02:30 (CEST)"},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), "vrijdag 1 januari 2027 om 00:00 (CET)",
			"Friday 1 January 2027 at 00:00 (CET)"},
	}
	for _, tt := range tests {
		if got := formatNL(tt.t, loc); got != tt.nl {
			t.Errorf("formatNL(%v) = %q, want %q", tt.t, got, tt.nl)
		}
		if got := formatEN(tt.t, loc); got != tt.en {
			t.Errorf("formatEN(%v) = %q, want %q", tt.t, got, tt.en)
		}
	}
}
