package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/veilig/veilig/internal/clientkey"
	"github.com/veilig/veilig/internal/ratelimit"
)

// Per-account ceiling on failures from all clients together. It bounds
// distributed guessing (NIST SP 800-63B §5.2.2: at most 100 consecutive failed
// attempts on one account) and is far above what one client can reach through
// its own backoff, so that strangers need many addresses to lock a user out.
const (
	accountCeiling       = 100
	accountCeilingWindow = time.Hour
)

// Key namespaces in the shared rate_limits table.
const (
	nsClient  = "auth:client"
	nsAccount = "auth:account"
	nsPair    = "auth:pair"
)

// limiter counts login attempts per client address (a token bucket of
// ClientBurst failures refilled at ClientPerMinute), per account and
// client (exponential backoff), and per account (a ceiling over all clients).
// The backoff is kept per account and client so that a stranger's failures
// cannot lock a user out of their own logins from another address. An attempt
// counts as a failure from the moment it starts and is forgiven when it
// succeeds, so a burst of concurrent guesses meets the limit as surely as a
// sequence does. The counters live in the database (package ratelimit), so
// every serve process on it enforces the same limits.
type limiter struct {
	cfg     RateLimitConfig
	store   *ratelimit.Store
	sched   ratelimit.Schedule
	ceiling int           // failures per account and window from all clients
	window  time.Duration // the ceiling's window
}

func newLimiter(cfg RateLimitConfig, store *ratelimit.Store) *limiter {
	return &limiter{cfg: cfg, store: store, ceiling: accountCeiling, window: accountCeilingWindow,
		sched: ratelimit.Schedule{Free: cfg.AccountFreeFailures, Base: cfg.AccountBaseDelay, Max: cfg.AccountMaxDelay}}
}

// begin admits an attempt from client on account (empty: no account, as for a
// refresh grant) and counts it as failed, or returns a *RateLimitError. Other
// errors (the database did not answer) refuse the attempt too.
func (l *limiter) begin(ctx context.Context, now time.Time, client, account string) error {
	ckey, akey := keys(client, account)
	if wait, err := l.store.Bucket(ctx, now, ratelimit.Key(nsClient, ckey), l.cfg.ClientBurst, l.interval()); err != nil || wait > 0 {
		return refusal(err, wait, "client")
	}
	if akey == "" {
		return nil
	}
	return l.failAccount(ctx, now, akey, ckey)
}

// failAccount records a failure for the account from one client unless the
// account has reached its ceiling or that client must still wait; then the wait
// is returned and nothing is recorded (so that attempts made while blocked do
// not prolong the block).
func (l *limiter) failAccount(ctx context.Context, now time.Time, akey, ckey string) error {
	acct := ratelimit.Key(nsAccount, akey)
	if wait, err := l.store.Take(ctx, now, acct, l.ceiling, l.window); err != nil || wait > 0 {
		return refusal(err, wait, "account")
	}
	wait, err := l.store.Backoff(ctx, now, ratelimit.Key(nsPair, akey, ckey), l.sched, l.cfg.AccountForgetAfter)
	if err != nil || wait > 0 {
		return errors.Join(refusal(err, wait, "account"), l.store.Forgive(ctx, now, acct))
	}
	return nil
}

// refusal is the error for a refused or failed hit.
func refusal(err error, wait time.Duration, scope string) error {
	if err != nil {
		return err
	}
	return &RateLimitError{RetryAfter: wait, Scope: scope}
}

// succeeded forgives the attempt begin counted and clears the failures of the
// account from this client.
func (l *limiter) succeeded(ctx context.Context, now time.Time, client, account string) error {
	ckey, akey := keys(client, account)
	err := l.store.Refill(ctx, now, ratelimit.Key(nsClient, ckey), l.interval())
	if akey == "" {
		return err
	}
	return errors.Join(err,
		l.store.Reset(ctx, ratelimit.Key(nsPair, akey, ckey)),
		l.store.Forgive(ctx, now, ratelimit.Key(nsAccount, akey)))
}

// interval is the time a client's bucket takes to refill by one attempt.
func (l *limiter) interval() time.Duration {
	return time.Minute / time.Duration(l.cfg.ClientPerMinute)
}

// backoff is the wait after failures failures: none for the first
// AccountFreeFailures, then AccountBaseDelay doubling up to AccountMaxDelay.
func (l *limiter) backoff(failures int) time.Duration { return l.sched.Delay(failures) }

// maxKeyBytes bounds a limiter key; longer inputs are hashed.
const maxKeyBytes = clientkey.MaxBytes

// clientKey groups client addresses (see package clientkey).
func clientKey(client string) string { return clientkey.Of(client) }

func boundKey(s string) string { return clientkey.Bound(s) }

// accountKey is the account an attempt names, as NormalizeEmail would give it
// where possible.
func accountKey(email string) string {
	key, err := NormalizeEmail(email)
	if err != nil {
		key = strings.ToLower(strings.TrimSpace(email))
	}
	return boundKey(key)
}

// keys returns the client's key and the account's, "" for no account.
func keys(client, account string) (ckey, akey string) {
	if account != "" {
		akey = accountKey(account)
	}
	return clientKey(client), akey
}

// limitOutcome is the outcome of an attempt begin refused: rate limited, or
// internal when the counters could not be reached.
func limitOutcome(err error) outcome {
	if errors.Is(err, ErrRateLimited) {
		return outcome{reason: reasonRateLimited, err: err}
	}
	return internal(User{}, err)
}

// forgive forgives a successful attempt; a failure only leaves the attempt
// counted (stricter), so it is logged, not returned.
func (s *Service) forgive(ctx context.Context, client, account string) {
	if err := s.limits.succeeded(ctx, s.now(), client, account); err != nil {
		s.log.WarnContext(ctx, "rate limit not forgiven", "client", client, "err", err)
	}
}
