package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Display limits in characters: a longer value is cut and ends in "…".
const (
	maxName    = 100
	maxOrg     = 150
	maxSubject = 200
)

// display prepares s for a header or body: valid UTF-8, control and bidi
// formatting characters removed (they can disguise text), white space
// collapsed, at most max characters.
func display(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r), r == '\uFEFF':
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return truncate(strings.Join(strings.Fields(s), " "), max)
}

// truncate cuts s to at most max characters, the last being "…".
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)
	return strings.TrimRight(string(runes[:max-1]), " ") + "…"
}

// formatNL formats t in loc the Dutch way: "zaterdag 14 maart 2026 om 09:26 (CET)".
func formatNL(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	weekdays := [...]string{"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"}
	months := [...]string{"januari", "februari", "maart", "april", "mei", "juni", "juli",
		"augustus", "september", "oktober", "november", "december"}
	return fmt.Sprintf("%s %d %s %d om %s", weekdays[t.Weekday()], t.Day(), months[t.Month()-1],
		t.Year(), t.Format("15:04 (MST)"))
}

// formatEN formats t in loc the British way: "Saturday 14 March 2026 at 09:26 (CET)".
func formatEN(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Monday 2 January 2006 at 15:04 (MST)")
}
