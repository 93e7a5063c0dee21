package otp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// clock is a fixed clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t   *testing.T
	s   *Service
	clk *clock
	db  *database.DB
}

func newEnv(t *testing.T, db *database.DB, cfg Config) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	cfg.Secret, cfg.Now = testSecret, clk.Now
	s, err := New(db, cfg, testenv.Logger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{t: t, s: s, clk: clk, db: db}
}

func (e *env) issue(subject string) string {
	e.t.Helper()
	code, err := e.s.Issue(context.Background(), subject)
	if err != nil {
		e.t.Fatalf("Issue(%s): %v", subject, err)
	}
	return code
}

func (e *env) verify(subject, code string) error {
	return e.s.Verify(context.Background(), subject, code, "192.0.2.1")
}

// wrong returns a code of the same length that differs in every digit.
func wrong(code string) string {
	b := []byte(code)
	for i := range b {
		b[i] = '0' + (b[i]-'0'+1)%10
	}
	return string(b)
}

// check fails unless err matches every one of want (nil: err must be nil).
func check(t *testing.T, step string, err error, want ...error) {
	t.Helper()
	if len(want) == 0 && err != nil {
		t.Fatalf("%s: got %v, want nil", step, err)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Fatalf("%s: got %v, want %v", step, err, w)
		}
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		run  func(t *testing.T, e *env)
	}{
		{"right code", Config{}, func(t *testing.T, e *env) {
			check(t, "verify", e.verify("r1", e.issue("r1")))
		}},
		{"right code with spaces", Config{}, func(t *testing.T, e *env) {
			check(t, "verify", e.verify("r1", " "+e.issue("r1")+"\n"))
		}},
		{"wrong code", Config{}, func(t *testing.T, e *env) {
			check(t, "verify", e.verify("r1", wrong(e.issue("r1"))), ErrWrongCode)
		}},
		{"no code issued", Config{}, func(t *testing.T, e *env) {
			check(t, "verify", e.verify("r1", "123456"), ErrNoCode)
		}},
		{"bound to its subject", Config{}, func(t *testing.T, e *env) {
			code := e.issue("r1")
			check(t, "other subject without code", e.verify("r2", code), ErrNoCode)
			if other := e.issue("r2"); other != code {
				check(t, "other subject", e.verify("r2", code), ErrWrongCode)
			}
		}},
		{"expired", Config{}, func(t *testing.T, e *env) {
			code := e.issue("r1")
			e.clk.Advance(10 * time.Minute)
			check(t, "verify", e.verify("r1", code), ErrExpired)
		}},
		{"valid until just before expiry", Config{}, func(t *testing.T, e *env) {
			code := e.issue("r1")
			e.clk.Advance(10*time.Minute - time.Microsecond)
			check(t, "verify", e.verify("r1", code))
		}},
		{"shorter ttl", Config{TTL: time.Minute}, func(t *testing.T, e *env) {
			code := e.issue("r1")
			e.clk.Advance(time.Minute)
			check(t, "verify", e.verify("r1", code), ErrExpired)
		}},
		{"single use", Config{}, func(t *testing.T, e *env) {
			code := e.issue("r1")
			check(t, "first", e.verify("r1", code))
			check(t, "second", e.verify("r1", code), ErrUsed)
		}},
		{"superseded code refused", Config{}, func(t *testing.T, e *env) {
			old := e.issue("r1")
			code := e.issue("r1")
			if old == code {
				t.Skip("two equal codes in a row (p = 1e-6)")
			}
			check(t, "old", e.verify("r1", old), ErrWrongCode)
			check(t, "new", e.verify("r1", code))
		}},
		{"eight digits", Config{Digits: 8}, func(t *testing.T, e *env) {
			code := e.issue("r1")
			if len(code) != 8 {
				t.Fatalf("code length %d, want 8", len(code))
			}
			check(t, "verify", e.verify("r1", code))
		}},
		{"five wrong tries exhaust a code", Config{}, func(t *testing.T, e *env) {
			code := e.issue("r1")
			for i := 1; i < 5; i++ {
				check(t, "wrong", e.verify("r1", wrong(code)), ErrWrongCode)
			}
			check(t, "fifth wrong", e.verify("r1", wrong(code)), ErrWrongCode, ErrCodeExhausted)
			check(t, "right after", e.verify("r1", code), ErrCodeExhausted)
			check(t, "new code", e.verify("r1", e.issue("r1")))
		}},
		{"twenty wrong tries lock, unlock lifts", Config{}, func(t *testing.T, e *env) {
			wrongTries(t, e, "r1", 19)
			code := e.issue("r1")
			check(t, "twentieth", e.verify("r1", wrong(code)), ErrWrongCode, ErrLocked)
			check(t, "right code while locked", e.verify("r1", code), ErrLocked)
			e.clk.Advance(time.Hour)
			if _, err := e.s.Issue(context.Background(), "r1"); !errors.Is(err, ErrLocked) {
				t.Fatalf("Issue while locked: %v, want ErrLocked", err)
			}
			check(t, "unlock", e.s.Unlock(context.Background(), "r1"))
			check(t, "after unlock", e.verify("r1", e.issue("r1")))
		}},
		{"success resets the subject's failures", Config{}, func(t *testing.T, e *env) {
			wrongTries(t, e, "r1", 19)
			check(t, "right", e.verify("r1", e.issue("r1")))
			e.clk.Advance(6 * time.Minute)
			check(t, "wrong after success", e.verify("r1", wrong(e.issue("r1"))), ErrWrongCode)
			if err := e.verify("r1", "000000"); errors.Is(err, ErrLocked) {
				t.Fatalf("locked after success: %v", err)
			}
		}},
		{"three codes per fifteen minutes", Config{}, func(t *testing.T, e *env) {
			for range 3 {
				e.issue("r1")
				e.clk.Advance(time.Minute)
			}
			_, err := e.s.Issue(context.Background(), "r1")
			var le *LimitError
			if !errors.As(err, &le) || !errors.Is(err, ErrTooManyCodes) || le.RetryAfter != 12*time.Minute {
				t.Fatalf("fourth issue: %v, want LimitError retry 12m", err)
			}
			e.issue("r2")
			e.clk.Advance(12 * time.Minute)
			check(t, "after the window", e.verify("r1", e.issue("r1")))
		}},
		{"per-client limit", Config{IPMaxAttempts: 3}, func(t *testing.T, e *env) {
			code := e.issue("r1")
			for range 3 {
				check(t, "wrong", e.verify("r1", wrong(code)), ErrWrongCode)
			}
			err := e.verify("r1", code)
			var le *LimitError
			if !errors.As(err, &le) || !errors.Is(err, ErrTooManyAttempts) || le.RetryAfter != 15*time.Minute {
				t.Fatalf("fourth attempt: %v, want LimitError retry 15m", err)
			}
			check(t, "other client", e.s.Verify(context.Background(), "r1", code, "198.51.100.7"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.ForEachDB(t, func(t *testing.T, db *database.DB) { tc.run(t, newEnv(t, db, tc.cfg)) })
		})
	}
}

// wrongTries makes n wrong tries on subject over as many codes as needed,
// moving the clock so that the issue limit never applies.
func wrongTries(t *testing.T, e *env, subject string, n int) {
	t.Helper()
	for n > 0 {
		code := e.issue(subject)
		for i := 0; i < 4 && n > 0; i++ {
			check(t, "wrong", e.s.Verify(context.Background(), subject, wrong(code), "192.0.2.9"), ErrWrongCode)
			n--
		}
		e.clk.Advance(6 * time.Minute)
	}
}

func TestParallelRightCode(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, Config{})
		code := e.issue("r1")
		errs := make([]error, 50)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = e.verify("r1", code) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, ErrUsed) {
				t.Errorf("loser: %v, want ErrUsed", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d successes, want exactly 1", ok)
		}
	})
}

func TestParallelIssueLimit(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, Config{})
		errs := make([]error, 10)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = e.s.Issue(context.Background(), "r1") })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, ErrTooManyCodes) {
				t.Errorf("refused issue: %v, want ErrTooManyCodes", err)
			}
		}
		if ok != 3 {
			t.Fatalf("%d codes issued, want 3", ok)
		}
	})
}

func TestStoredHash(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, Config{})
		code := e.issue("r1")
		var rows []codeRow
		if err := db.Table("otp_codes").Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("%d rows, want 1", len(rows))
		}
		h := rows[0].CodeHash
		if len(h) != 32 || bytes.Contains(h, []byte(code)) || !hmac.Equal(h, hashCode(testSecret, "r1", code)) {
			t.Fatalf("stored hash %x is not HMAC-SHA-256 of the code", h)
		}
		if bytes.Equal(h, hashCode([]byte("another secret, 32 bytes long..."), "r1", code)) {
			t.Fatal("hash does not depend on the secret")
		}
	})
}

func TestCodeDigits(t *testing.T) {
	for _, digits := range []int{6, 8} {
		seen := make([][10]bool, digits)
		for range 2000 {
			code, err := newCode(digits)
			if err != nil {
				t.Fatal(err)
			}
			if len(code) != digits || strings.Trim(code, "0123456789") != "" {
				t.Fatalf("code %q is not %d digits", code, digits)
			}
			for i, c := range code {
				seen[i][c-'0'] = true
			}
		}
		for i, s := range seen {
			for d, ok := range s {
				if !ok {
					t.Errorf("%d digits: digit %d never at position %d in 2000 codes", digits, d, i)
				}
			}
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Secret: testSecret}, true},
		{"short secret", Config{Secret: testSecret[:31]}, false},
		{"five digits", Config{Secret: testSecret, Digits: 5}, false},
		{"nine digits", Config{Secret: testSecret, Digits: 9}, false},
		{"ttl over ten minutes", Config{Secret: testSecret, TTL: 11 * time.Minute}, false},
		{"negative limit", Config{Secret: testSecret, MaxIssued: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(nil, tc.cfg, testenv.Discard())
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
