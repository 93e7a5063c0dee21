package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// LiveTTL bounds how long after a user is disabled, or their organisation leaves
// the community, another process still accepts their access tokens and API keys.
// The process that disables a user stops accepting them at once.
const LiveTTL = 2 * time.Second

// liveCacheSize bounds the account-status cache (about 300 bytes an entry).
const liveCacheSize = 50_000

// liveness is what the database said about an account: the user, and err when
// they may no longer act (ErrUserDisabled, ErrUserNotFound or an error wrapping
// ErrNoOrganisation).
type liveness struct {
	user User
	err  error
}

// liveUsers answers "may this account still act?" from a short-lived cache, so
// that verifying a token costs a map lookup and not a query on every request.
type liveUsers struct {
	db    *gorm.DB
	now   func() time.Time
	cache *ttlCache[liveness]
}

func newLiveUsers(db *gorm.DB, now func() time.Time) *liveUsers {
	return &liveUsers{db: db, now: now, cache: newTTLCache[liveness](LiveTTL, liveCacheSize)}
}

// user returns the account if it may still act. fresh skips the cache. Errors
// other than the refusals above are internal and are not remembered.
func (l *liveUsers) user(ctx context.Context, id string, fresh bool) (User, error) {
	now := l.now()
	if !fresh {
		if v, ok := l.cache.get(id, now); ok {
			return v.user, v.err
		}
	}
	gen := l.cache.generation()
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	u, err := activeUser(ctx, l.db, id)
	if err != nil && !refused(err) {
		return User{}, err
	}
	l.cache.put(id, liveness{user: u, err: err}, now, gen)
	return u, err
}

// forget makes this process ask the database again about the account, at once.
// Safe on nil: a Users made by NewUsers has no cache to keep fresh.
func (l *liveUsers) forget(id string) {
	if l != nil {
		l.cache.invalidate(id)
	}
}

// refused reports whether err says the account may no longer act.
func refused(err error) bool {
	return errors.Is(err, ErrUserDisabled) || errors.Is(err, ErrUserNotFound) || errors.Is(err, ErrNoOrganisation)
}

// checkPrincipal checks that the account behind a verified access token may
// still act, with the organisation and role the token carries. A mismatch with
// the cached account is checked once more against the database, since the
// account may have changed (and a new token been issued) within LiveTTL.
func (l *liveUsers) checkPrincipal(ctx context.Context, p Principal) error {
	u, err := l.user(ctx, p.UserID, false)
	if err == nil && !matches(u, p) {
		u, err = l.user(ctx, p.UserID, true)
	}
	switch {
	case err != nil && refused(err):
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	case err != nil:
		return err
	case !matches(u, p):
		return fmt.Errorf("%w: the account changed since the token was issued", ErrInvalidToken)
	}
	return nil
}

func matches(u User, p Principal) bool {
	return u.Role == p.Role && u.OrganisationID == p.OrganisationID
}
