// Package enrolment is partner self-enrolment (issue 6): an organisation
// claims its mail domains, proves control of each with a DNS TXT challenge at
// "_veilig-challenge.<domain>" (the ACME dns-01 pattern of RFC 8555 §8.4), has
// its mail set-up checked (package mailcheck), and is admitted by an operator
// or by an explicit automatic-admission floor.
//
// Secrets: the status token and the challenge values carry 256 bits from
// crypto/rand, base64url without padding (RFC 4648 §5). Only the SHA-256 of the
// status token is stored; it is compared in constant time. Client addresses
// are kept only as an HMAC-SHA-256 under a server-side salt, for the per-client
// rate limit. Phone numbers are E.164 (ITU-T E.164).
//
// Lifecycle: pending → verified (every domain's TXT found and checked) →
// approved | rejected; pending and verified → expired after Config.ExpireAfter.
// Only open enrolments (pending, verified) block a domain, and only for the
// domains they verified: two unverified claims coexist, the first to verify
// wins.
//
// Approval spans stores this package reaches only through interfaces
// (directory, accounts, trust), so it cannot be one database transaction.
// Instead it is an idempotent sequence that a re-run of Approve completes: the
// enrolment is first claimed (decided_by set while still verified, which
// blocks Reject and Expire), the organisation gets an id derived from the
// enrolment id (found again on a re-run), the first admin is looked up before
// it is created, pins are upserts, and only the last step sets the status to
// approved.
package enrolment

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/outbox"
	"github.com/veilig/veilig/internal/ratelimit"
)

// Errors; every error of this package wraps one of them (test with errors.Is).
var (
	ErrNotFound     = errors.New("enrolment: not found")
	ErrUnauthorized = errors.New("enrolment: missing or wrong status token")
	ErrInvalid      = errors.New("enrolment: invalid enrolment")
	ErrDomainTaken  = errors.New("enrolment: domain is already taken")
	ErrConflict     = errors.New("enrolment: not possible in the enrolment's current status")
	ErrRateLimited  = errors.New("enrolment: too many requests")
	ErrConfig       = errors.New("enrolment: invalid configuration")
)

// Statuses.
const (
	StatusPending  = "pending"
	StatusVerified = "verified"
	StatusApproved = "approved"
	StatusRejected = "rejected"
	StatusExpired  = "expired"
)

// DecidedByAuto is the DecidedBy of an automatic admission.
const DecidedByAuto = "auto-admission"

// ChallengePrefix is the label under which a domain publishes its challenge.
const ChallengePrefix = "_veilig-challenge."

// FieldError says what is wrong with one field of a NewEnrolment. Field is
// the JSON path of the API body ("organisation.kvk", "domains[1]").
type FieldError struct {
	Field    string `json:"field"`
	Detail   string `json:"detail"`    // English
	DetailNL string `json:"detail_nl"` // Dutch
}

// ValidationError lists every invalid field; it wraps ErrInvalid.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	s := ErrInvalid.Error()
	for i, f := range e.Fields {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		s += sep + f.Field + ": " + f.Detail
	}
	return s
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// RateLimitError says a limit was reached and when to try again; it wraps
// ErrRateLimited.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v; retry after %s", ErrRateLimited, e.RetryAfter.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// NewEnrolment is what a partner submits.
type NewEnrolment struct {
	OrganisationName, KvK, OIN string
	Domains                    []string
	AdminName, AdminEmail      string
	AdminPhone                 string // E.164
}

// Challenge is the TXT record a domain must publish: Value at Name.
type Challenge struct{ Domain, Name, Value string }

// Created is the answer to Create; StatusToken is shown this once.
type Created struct {
	ID, StatusToken string
	Challenges      []Challenge
}

// Domain is one claimed domain and its progress. Report is the latest mail
// check, shown only to the enrolment that verified the domain.
type Domain struct {
	Name       string
	Challenge  Challenge
	VerifiedAt *time.Time
	Report     *mailcheck.Report
}

// Enrolment is one enrolment as the partner and operators see it.
type Enrolment struct {
	ID, Status, OrganisationName, KvK, OIN, AdminName, AdminEmail, AdminPhone string
	Domains                                                                   []Domain
	OrganisationID                                                            string
	CreatedAt, UpdatedAt, ExpiresAt                                           time.Time
	DecidedAt                                                                 *time.Time
	DecidedBy, DecisionReason                                                 string
	Activated                                                                 bool // the first admin has set a password
}

// Resolver looks TXT records up; mailcheck.Resolver satisfies it. A name that
// does not exist is an error wrapping mailcheck.ErrNXDomain.
type Resolver interface {
	TXT(ctx context.Context, name string) (records []string, secure bool, err error)
}

// Checker runs the mail-standards check of one domain; it never fails (a
// check that could not run has Status mailcheck.StatusError).
type Checker interface {
	Report(ctx context.Context, domain string) mailcheck.Report
}

// Directory is the community directory (directory.Store).
type Directory interface {
	// DomainTaken reports whether an active organisation holds domain.
	DomainTaken(ctx context.Context, domain string) (bool, error)
	// AddEnrolledOrganisation adds o with origin enrolment and returns its id;
	// o.ID, when set, must be used. A held domain wraps directory.ErrDomainTaken.
	AddEnrolledOrganisation(ctx context.Context, o directory.Organisation) (string, error)
	// Organisation returns one organisation, or directory.ErrNotFound.
	Organisation(ctx context.Context, id string) (directory.Organisation, error)
}

// Accounts manages user accounts (auth.Users).
type Accounts interface {
	CreateOrgAdmin(ctx context.Context, orgID, email string) (userID string, err error)
	// OrgAdmin returns the id of the org-admin of orgID with this e-mail
	// address, and false when there is none.
	OrgAdmin(ctx context.Context, orgID, email string) (userID string, found bool, err error)
	SetPassword(ctx context.Context, userID, password string) error
}

// Trust records reports and transport pins (trust.Store, adapted).
type Trust interface {
	// PutPin upserts the trusted pin of an admitted domain (state trusted,
	// next check after the monitoring interval).
	PutPin(ctx context.Context, domain, orgID, policy string, mxHosts []string) error
	SaveReport(ctx context.Context, r mailcheck.Report) error
	// Report returns the latest report of domain (an error when none).
	Report(ctx context.Context, domain string) (mailcheck.Report, error)
}

// Mailer queues system mail (outbox.Outbox).
type Mailer interface {
	SendSystemMail(ctx context.Context, m outbox.SystemMail) error
}

// Config sets the service's rules; zero fields take the defaults in brackets.
type Config struct {
	ClientSalt     []byte        // HMAC key for client addresses, at least 16 bytes (required)
	ExpireAfter    time.Duration // an enrolment not decided by then expires [14 days]
	ClientLimit    int           // creations per client per LimitWindow [5]
	AttemptLimit   int           // attempts (refused ones too) per client per LimitWindow, shared in the database [20]
	DomainLimit    int           // creations claiming one domain per LimitWindow [3]
	LimitWindow    time.Duration // [1h]
	VerifyCooldown time.Duration // at most one verification per enrolment per cooldown [30s]
	VerifyAtOnce   int           // verifications running at once in this process (TXT lookups, mail checks); more are refused [4]
	LookupTimeout  time.Duration // one TXT lookup [10s]
	CheckTimeout   time.Duration // one domain's mail check [2m]
	DBTimeout      time.Duration // one database step [10s]
	AutoAdmit      bool          // admit verified enrolments whose every report meets Floor
	Floor          string        // mailcheck floor for AutoAdmit [mailcheck.DefaultFloor]
	PublicURL      string        // base URL in mails, e.g. "https://veilig.example.nl" (optional)
}

// Deps are the service's collaborators. Mailer, Log, Now and Rand are optional.
type Deps struct {
	DB        *database.DB
	Resolver  Resolver
	Checker   Checker
	Directory Directory
	Accounts  Accounts
	Trust     Trust
	Mailer    Mailer
	Log       *slog.Logger
	Now       func() time.Time
	Rand      io.Reader      // crypto/rand.Reader unless set (tests)
	Audit     audit.Recorder // the audit trail (optional; nil records nothing)
}

// Service runs enrolments.
type Service struct {
	cfg   Config
	floor mailcheck.Floor
	d     Deps
	// attempts bounds every creation attempt per client over all processes,
	// refused ones included, so that probing which domains are taken (409)
	// is as slow as enrolling.
	attempts *ratelimit.Limiter
	// verifying holds a slot per verification running in this process.
	verifying chan struct{}
}

// New checks cfg and deps and returns a service.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg = withDefaults(cfg)
	if len(cfg.ClientSalt) < 16 {
		return nil, fmt.Errorf("%w: client salt shorter than 16 bytes", ErrConfig)
	}
	if deps.DB == nil || deps.Resolver == nil || deps.Checker == nil || deps.Directory == nil ||
		deps.Accounts == nil || deps.Trust == nil {
		return nil, fmt.Errorf("%w: missing dependency", ErrConfig)
	}
	floor, err := mailcheck.ParseFloor(cfg.Floor)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return &Service{cfg: cfg, floor: floor, d: withDefaultDeps(deps),
		attempts:  ratelimit.NewLimiter(ratelimit.New(deps.DB.DB), "enrolment:attempt", cfg.AttemptLimit, cfg.LimitWindow),
		verifying: make(chan struct{}, cfg.VerifyAtOnce)}, nil
}

func withDefaults(c Config) Config {
	c.ExpireAfter = orDuration(c.ExpireAfter, 14*24*time.Hour)
	c.LimitWindow = orDuration(c.LimitWindow, time.Hour)
	c.VerifyCooldown = orDuration(c.VerifyCooldown, 30*time.Second)
	c.LookupTimeout = orDuration(c.LookupTimeout, 10*time.Second)
	c.CheckTimeout = orDuration(c.CheckTimeout, 2*time.Minute)
	c.DBTimeout = orDuration(c.DBTimeout, 10*time.Second)
	if c.ClientLimit <= 0 {
		c.ClientLimit = 5
	}
	if c.DomainLimit <= 0 {
		c.DomainLimit = 3
	}
	if c.AttemptLimit <= 0 {
		c.AttemptLimit = 20
	}
	if c.VerifyAtOnce <= 0 {
		c.VerifyAtOnce = 4
	}
	if c.Floor == "" {
		c.Floor = mailcheck.DefaultFloor
	}
	return c
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func withDefaultDeps(d Deps) Deps {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Audit == nil {
		d.Audit = audit.Discard{}
	}
	return d
}

// now is the clock as stored: UTC, microseconds (PostgreSQL's precision).
func (s *Service) now() time.Time { return dbTime(s.d.Now()) }

func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
