package testenv

import (
	"testing"
	"time"
)

// WaitFor polls cond every 200 ms until it reports done or timeout passes; then
// it fails the test with what cond last said. It is not a timing assertion.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	Poll(t, timeout, 200*time.Millisecond, what, cond)
}

// Poll is WaitFor with its own interval, for conditions that are costly to check.
func Poll(t testing.TB, timeout, every time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state: %s", what, timeout, state)
		}
		time.Sleep(every)
	}
}
