// Package otp issues and verifies the one-time codes that let an external
// recipient open a message in the viewer: out-of-band codes after NIST SP
// 800-63B §5.1.3 (≥ 20 bits from an approved RNG, valid at most 10 minutes,
// single use, throttled per §5.2.2) and OWASP ASVS 5.0 6.5 (one-time passwords)
// and 6.6 (SMS: bound to one request, rate limited).
//
// A code is bound to a subject, an opaque recipient id (one recipient of one
// message). Only a keyed hash (HMAC-SHA-256 under a server secret) is stored;
// codes are never logged. The schema is migrations/*/00006_otp.sql.
package otp

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/ratelimit"
)

// Errors. Verify and Issue wrap them with %w; test with errors.Is.
var (
	ErrWrongCode       = errors.New("otp: wrong code")
	ErrExpired         = errors.New("otp: code expired")
	ErrUsed            = errors.New("otp: code already used")
	ErrNoCode          = errors.New("otp: no code issued")
	ErrCodeExhausted   = errors.New("otp: too many wrong tries for this code")
	ErrLocked          = errors.New("otp: locked after too many wrong codes")
	ErrTooManyCodes    = errors.New("otp: too many codes requested")
	ErrTooManyAttempts = errors.New("otp: too many attempts from this client")
	ErrConfig          = errors.New("otp: invalid configuration")
)

// LimitError says a limit was reached and when to try again. It wraps
// ErrTooManyCodes (issue limit per subject) or ErrTooManyAttempts (per client).
type LimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v; retry after %s", e.Err, e.RetryAfter.Round(time.Second))
}

func (e *LimitError) Unwrap() error { return e.Err }

// WrongCodeError is a wrong code with the tries left on it; it wraps ErrWrongCode.
type WrongCodeError struct{ Remaining int }

func (e *WrongCodeError) Error() string {
	return fmt.Sprintf("%v (%d tries left)", ErrWrongCode, e.Remaining)
}
func (e *WrongCodeError) Unwrap() error { return ErrWrongCode }

// Config sets the code rules; zero fields take the defaults in brackets.
type Config struct {
	Secret          []byte           // HMAC key, at least 32 bytes (required)
	Digits          int              // code length, 6–8 [6]
	TTL             time.Duration    // validity of a code [10m]
	MaxIssued       int              // codes per subject per IssueWindow [3]
	IssueWindow     time.Duration    // [15m]
	MaxCodeFailures int              // wrong tries per code [5]
	MaxFailures     int              // wrong tries per subject before the lock [20]
	IPMaxAttempts   int              // Verify calls per client per IPWindow [60]
	IPWindow        time.Duration    // [15m]
	Timeout         time.Duration    // per database operation [5s]
	Now             func() time.Time // clock [time.Now]
}

// LogValue masks the secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("digits", c.Digits), slog.Duration("ttl", c.TTL),
		slog.Int("max_issued", c.MaxIssued), slog.Duration("issue_window", c.IssueWindow),
		slog.Int("max_code_failures", c.MaxCodeFailures), slog.Int("max_failures", c.MaxFailures),
		slog.Int("ip_max_attempts", c.IPMaxAttempts), slog.Duration("ip_window", c.IPWindow),
		slog.String("secret", "***"))
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Digits, 6)
	def(&c.MaxIssued, 3)
	def(&c.MaxCodeFailures, 5)
	def(&c.MaxFailures, 20)
	def(&c.IPMaxAttempts, 60)
	dur(&c.TTL, 10*time.Minute)
	dur(&c.IssueWindow, 15*time.Minute)
	dur(&c.IPWindow, 15*time.Minute)
	dur(&c.Timeout, 5*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case len(c.Secret) < 32:
		return fmt.Errorf("%w: secret shorter than 32 bytes", ErrConfig)
	case c.Digits < 6 || c.Digits > 8:
		return fmt.Errorf("%w: digits %d not in 6–8", ErrConfig, c.Digits)
	case c.TTL < 0 || c.TTL > 10*time.Minute:
		return fmt.Errorf("%w: ttl %s over 10 minutes", ErrConfig, c.TTL)
	case c.MaxIssued < 1 || c.MaxCodeFailures < 1 || c.MaxFailures < 1 || c.IPMaxAttempts < 1:
		return fmt.Errorf("%w: limits must be positive", ErrConfig)
	case c.IssueWindow < 0 || c.IPWindow < 0 || c.Timeout < 0:
		return fmt.Errorf("%w: negative window, timeout or table size", ErrConfig)
	}
	return nil
}

// Service issues and verifies codes. It is safe for concurrent use; the
// per-client limit is shared by every process on the database.
type Service struct {
	db  *database.DB
	cfg Config
	log *slog.Logger
	ips *ratelimit.Limiter // verification attempts per client, shared by all processes
}

// New returns a Service over db (migrated to 00006 or later).
func New(db *database.DB, cfg Config, log *slog.Logger) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	secret := append([]byte(nil), cfg.Secret...)
	cfg.Secret = secret
	return &Service{db: db, cfg: cfg, log: log,
		ips: ratelimit.NewLimiter(ratelimit.New(gormOf(db)), "otp:verify", cfg.IPMaxAttempts, cfg.IPWindow)}, nil
}

// gormOf is db's gorm handle; nil for nil (a service that is only configured).
func gormOf(db *database.DB) *gorm.DB {
	if db == nil {
		return nil
	}
	return db.DB
}

// now is the clock in UTC at the database's precision (microseconds).
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }
