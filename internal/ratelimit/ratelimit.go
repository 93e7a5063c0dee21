// Package ratelimit keeps rate-limit counters in the database, so that every
// serve process on one PostgreSQL enforces the same limits (OWASP ASVS 5.0
// 6.3.1 and 2.4.1, NIST SP 800-63B §5.2.2 on throttling). Each hit is one
// atomic upsert (INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING, PostgreSQL
// 9.5+ and SQLite 3.35+) on the table of migration 00013: the database orders
// concurrent hits, so a burst spread over several processes meets a limit at
// the same total as a sequence on one. Attempts refused by a limit are not
// counted, so that waiting clients do not prolong their own wait.
//
// Three kinds of counter: Take counts attempts in a fixed window that begins
// with the key's first attempt (a client's codes per hour, an account's failures
// per hour); Bucket is a token bucket (a client's failed logins: a burst, then a
// steady rate); Backoff counts failures with a wait that doubles per failure beyond a
// free number, forgotten after a period without failures (exponential backoff
// per account and client). Rows past their window are swept at most once a
// minute per Store by the hit that notices, so the table holds only live keys.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/clientkey"
)

// ErrStore wraps failures of the database behind the counters; callers fail
// closed (the attempt is neither admitted nor counted).
var ErrStore = errors.New("ratelimit: store")

// Defaults.
const (
	sweepEvery = time.Minute
	timeout    = 5 * time.Second // bound on one statement
)

// Store keeps counters in the rate_limits table. It is safe for concurrent use
// and across processes.
type Store struct {
	db        *gorm.DB
	lastSweep atomic.Int64 // Unix ms of this Store's last sweep
}

// New returns a Store over db, migrated to 00013 or later.
func New(db *gorm.DB) *Store { return &Store{db: db} }

// ms is t in Unix milliseconds, the table's unit.
func ms(t time.Time) int64 { return t.UnixMilli() }

// untilMS is the wait from now until the Unix-ms instant at; at least a
// millisecond, since the caller was refused.
func untilMS(at int64, now time.Time) time.Duration {
	return max(time.UnixMilli(at).Sub(now), time.Millisecond)
}

const takeSQL = `INSERT INTO rate_limits (key, window_start, count, not_before, expires_at)
VALUES (@key, CAST(@now AS BIGINT), 1, 0, CAST(@expires AS BIGINT))
ON CONFLICT (key) DO UPDATE SET
  count = CASE WHEN rate_limits.expires_at <= CAST(@now AS BIGINT) THEN 1 ELSE rate_limits.count + 1 END,
  window_start = CASE WHEN rate_limits.expires_at <= CAST(@now AS BIGINT) THEN CAST(@now AS BIGINT) ELSE rate_limits.window_start END,
  expires_at = CASE WHEN rate_limits.expires_at <= CAST(@now AS BIGINT) THEN CAST(@expires AS BIGINT) ELSE rate_limits.expires_at END
WHERE rate_limits.expires_at <= CAST(@now AS BIGINT) OR rate_limits.count < CAST(@max AS INTEGER)
RETURNING count`

// Take counts an attempt on key if fewer than max were counted in its window (of
// length window, begun by the key's first attempt), and returns 0; otherwise it
// counts nothing and returns how long until the window ends.
func (s *Store) Take(ctx context.Context, now time.Time, key string, max int, window time.Duration) (time.Duration, error) {
	s.maybeSweep(ctx, now)
	args := map[string]any{"key": key, "now": ms(now), "expires": ms(now.Add(window)), "max": max}
	ok, err := s.upsert(ctx, takeSQL, args)
	if err != nil || ok {
		return 0, err
	}
	return s.wait(ctx, now, key, "expires_at")
}

// newCount is the count a Backoff hit gives the row (1 once it is forgotten).
const newCount = `(CASE WHEN rate_limits.expires_at <= CAST(@now AS BIGINT) THEN 1 ELSE rate_limits.count + 1 END)`

// backoffSQL: window_start holds the last failure; not_before the end of the
// wait after it (Schedule.Delay of the new count, in SQL); expires_at when the
// failures are forgotten.
const backoffSQL = `INSERT INTO rate_limits (key, window_start, count, not_before, expires_at)
VALUES (@key, CAST(@now AS BIGINT), 1, CAST(@first AS BIGINT), CAST(@expires AS BIGINT))
ON CONFLICT (key) DO UPDATE SET
  count = ` + newCount + `,
  window_start = CAST(@now AS BIGINT),
  not_before = CAST(@now AS BIGINT) + CASE
    WHEN ` + newCount + ` < CAST(@free AS INTEGER) THEN 0
    WHEN ` + newCount + ` - CAST(@free AS INTEGER) >= CAST(@cap AS INTEGER) THEN CAST(@maxd AS BIGINT)
    ELSE CAST(@base AS BIGINT) << CAST(` + newCount + ` - CAST(@free AS INTEGER) AS INTEGER) END,
  expires_at = CAST(@expires AS BIGINT)
WHERE rate_limits.expires_at <= CAST(@now AS BIGINT) OR rate_limits.not_before <= CAST(@now AS BIGINT)
RETURNING count`

// Backoff counts a failure on key unless the wait after the key's earlier
// failures (sched) is still running; then it counts nothing and returns the rest
// of the wait. Failures are forgotten forget after the last one.
func (s *Store) Backoff(ctx context.Context, now time.Time, key string, sched Schedule, forget time.Duration) (time.Duration, error) {
	s.maybeSweep(ctx, now)
	args := map[string]any{"key": key, "now": ms(now), "expires": ms(now.Add(forget)),
		"first": ms(now.Add(sched.Delay(1))), "free": sched.Free, "cap": sched.capShift(),
		"maxd": sched.Max.Milliseconds(), "base": sched.Base.Milliseconds()}
	ok, err := s.upsert(ctx, backoffSQL, args)
	if err != nil || ok {
		return 0, err
	}
	return s.wait(ctx, now, key, "not_before")
}

// bucketSQL is a token bucket as GCRA (ITU-T I.371 generic cell rate
// algorithm): not_before holds the theoretical arrival time (TAT), the instant
// the bucket is full again; an attempt is admitted while TAT ≤ now + tolerance
// and moves TAT one interval on. A full bucket is the same as none, so the row
// expires at TAT.
const bucketSQL = `INSERT INTO rate_limits (key, window_start, count, not_before, expires_at)
VALUES (@key, CAST(@now AS BIGINT), 1, CAST(@tat AS BIGINT), CAST(@tat AS BIGINT))
ON CONFLICT (key) DO UPDATE SET
  count = rate_limits.count + 1,
  not_before = CASE WHEN rate_limits.not_before > CAST(@now AS BIGINT) THEN rate_limits.not_before ELSE CAST(@now AS BIGINT) END + CAST(@interval AS BIGINT),
  expires_at = CASE WHEN rate_limits.not_before > CAST(@now AS BIGINT) THEN rate_limits.not_before ELSE CAST(@now AS BIGINT) END + CAST(@interval AS BIGINT)
WHERE rate_limits.not_before <= CAST(@limit AS BIGINT)
RETURNING count`

// Bucket takes a token from key's bucket of burst tokens, refilled one per
// interval, and returns 0; or, when it is empty, takes nothing and returns how
// long until a token is there.
func (s *Store) Bucket(ctx context.Context, now time.Time, key string, burst int, interval time.Duration) (time.Duration, error) {
	s.maybeSweep(ctx, now)
	tolerance := time.Duration(burst-1) * interval
	args := map[string]any{"key": key, "now": ms(now), "tat": ms(now.Add(interval)),
		"interval": interval.Milliseconds(), "limit": ms(now.Add(tolerance))}
	ok, err := s.upsert(ctx, bucketSQL, args)
	if err != nil || ok {
		return 0, err
	}
	return s.wait(ctx, now.Add(tolerance), key, "not_before")
}

// Refill puts back the token an attempt took from key's bucket (see Bucket).
func (s *Store) Refill(ctx context.Context, now time.Time, key string, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := s.db.WithContext(ctx).Exec("UPDATE rate_limits SET not_before = not_before - ?, expires_at = expires_at - ? "+
		"WHERE key = ? AND not_before > ?", interval.Milliseconds(), interval.Milliseconds(), key, ms(now)).Error
	if err != nil {
		return fmt.Errorf("%w: refill: %w", ErrStore, err)
	}
	return nil
}

// Forgive takes back one attempt counted on key in its current window (an
// attempt counted when it began and found to be legitimate).
func (s *Store) Forgive(ctx context.Context, now time.Time, key string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := s.db.WithContext(ctx).Exec(
		"UPDATE rate_limits SET count = count - 1 WHERE key = ? AND count > 0 AND expires_at > ?", key, ms(now)).Error
	if err != nil {
		return fmt.Errorf("%w: forgive: %w", ErrStore, err)
	}
	return nil
}

// Reset forgets key.
func (s *Store) Reset(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.db.WithContext(ctx).Exec("DELETE FROM rate_limits WHERE key = ?", key).Error; err != nil {
		return fmt.Errorf("%w: reset: %w", ErrStore, err)
	}
	return nil
}

// Sweep deletes the rows whose windows ended by now and returns how many.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := s.db.WithContext(ctx).Exec("DELETE FROM rate_limits WHERE expires_at <= ?", ms(now))
	if res.Error != nil {
		return 0, fmt.Errorf("%w: sweep: %w", ErrStore, res.Error)
	}
	return res.RowsAffected, nil
}

// maybeSweep sweeps when this Store has not for sweepEvery. A failed sweep is
// retried a minute later; the hit itself decides whether the store works.
func (s *Store) maybeSweep(ctx context.Context, now time.Time) {
	last := s.lastSweep.Load()
	if ms(now)-last < sweepEvery.Milliseconds() && ms(now) >= last {
		return
	}
	if s.lastSweep.CompareAndSwap(last, ms(now)) {
		_, _ = s.Sweep(ctx, now)
	}
}

// upsert runs a counting statement and reports whether it counted (returned a row).
func (s *Store) upsert(ctx context.Context, query string, args map[string]any) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var counts []int64
	if err := s.db.WithContext(ctx).Raw(query, args).Scan(&counts).Error; err != nil {
		return false, fmt.Errorf("%w: count: %w", ErrStore, err)
	}
	return len(counts) > 0, nil
}

// wait reads the instant (column expires_at or not_before) a refused key waits for.
func (s *Store) wait(ctx context.Context, now time.Time, key, column string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var at []int64
	err := s.db.WithContext(ctx).Raw("SELECT "+column+" FROM rate_limits WHERE key = ?", key).Scan(&at).Error
	if err != nil {
		return 0, fmt.Errorf("%w: wait: %w", ErrStore, err)
	}
	if len(at) == 0 {
		return time.Millisecond, nil // swept meanwhile: the caller may retry at once
	}
	return untilMS(at[0], now), nil
}

// Schedule is an exponential backoff: no wait after fewer than Free failures,
// then Base, doubling per failure, at most Max.
type Schedule struct {
	Free      int
	Base, Max time.Duration
}

// Delay is the wait after failures failures.
func (s Schedule) Delay(failures int) time.Duration {
	over := failures - s.Free
	if over < 0 {
		return 0
	}
	if over >= s.capShift() {
		return s.Max
	}
	return s.Base << over
}

// capShift is the least doubling of Base that reaches Max (at most 62), so that
// the SQL shift never overflows.
func (s Schedule) capShift() int {
	k := 0
	for k < 62 && s.Base > 0 && s.Base<<k < s.Max {
		k++
	}
	return k
}

// Limiter allows Max attempts per client address (see package clientkey: an IPv4
// address or an IPv6 /64) and window, across all processes; the shared
// counterpart of the in-memory per-client limiter it replaced.
type Limiter struct {
	store  *Store
	name   string
	max    int
	window time.Duration
}

// NewLimiter returns a Limiter named name (the key's namespace, unique per use)
// of max attempts per client and window.
func NewLimiter(store *Store, name string, max int, window time.Duration) *Limiter {
	return &Limiter{store: store, name: name, max: max, window: window}
}

// Take counts an attempt from client, or returns how long it must wait.
func (l *Limiter) Take(ctx context.Context, now time.Time, client string) (time.Duration, error) {
	return l.store.Take(ctx, now, Key(l.name, clientkey.Of(client)), l.max, l.window)
}

// Key joins a namespace and parts into a key; each part is length-prefixed so
// that no part can imitate another, and the whole stays bounded.
func Key(namespace string, parts ...string) string {
	k := namespace
	for _, p := range parts {
		k += fmt.Sprintf("|%d:%s", len(p), p)
	}
	return clientkey.Bound(k)
}
