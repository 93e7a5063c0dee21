package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/idna"
	"gorm.io/gorm"
)

// dbTimeout bounds every database statement or transaction of this package.
const dbTimeout = 10 * time.Second

// User status values in the users table.
const (
	statusActive   = "active"
	statusDisabled = "disabled"
)

type userRow struct {
	ID             string `gorm:"primaryKey"`
	Email          string
	PasswordHash   string
	Role           string
	OrganisationID *string
	Status         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (userRow) TableName() string { return "users" }

func (r userRow) user() User {
	u := User{ID: r.ID, Email: r.Email, Role: Role(r.Role), Disabled: r.Status != statusActive,
		HasPassword: r.PasswordHash != "", CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.OrganisationID != nil {
		u.OrganisationID = *r.OrganisationID
	}
	return u
}

// NewUser is what Users.Create needs. The organisation follows from the address.
type NewUser struct {
	Email    string
	Role     Role
	Password string // optional: empty means no local password (LDAP only)
}

// Users stores accounts in the users table.
type Users struct {
	db     *gorm.DB
	orgs   OrganisationFinder
	hasher *Hasher
	now    func() time.Time
}

// NewUsers returns the user store on db. orgs finds the organisation of senders
// and organisation administrators; now is the clock.
func NewUsers(db *gorm.DB, orgs OrganisationFinder, hasher *Hasher, now func() time.Time) *Users {
	return &Users{db: db, orgs: orgs, hasher: hasher, now: now}
}

// Create adds a user. Senders and organisation administrators belong to the
// organisation holding their mail domain (an error wrapping ErrNoOrganisation when
// none does); operators belong to none. A taken address is ErrUserExists.
func (s *Users) Create(ctx context.Context, n NewUser) (User, error) {
	row, err := s.newRow(ctx, n)
	if err != nil {
		return User{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	err = s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return User{}, fmt.Errorf("%w: %s", ErrUserExists, row.Email)
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	return row.user(), nil
}

func (s *Users) newRow(ctx context.Context, n NewUser) (userRow, error) {
	email, err := NormalizeEmail(n.Email)
	if err != nil {
		return userRow{}, err
	}
	if !n.Role.Valid() {
		return userRow{}, fmt.Errorf("%w: %q", ErrInvalidRole, n.Role)
	}
	orgID, err := s.organisationFor(ctx, email, n.Role)
	if err != nil {
		return userRow{}, err
	}
	var hash string
	if n.Password != "" {
		if hash, err = s.hasher.Hash(ctx, n.Password); err != nil {
			return userRow{}, err
		}
	}
	now := s.clock()
	return userRow{ID: uuid.NewString(), Email: email, PasswordHash: hash, Role: string(n.Role),
		OrganisationID: orgID, Status: statusActive, CreatedAt: now, UpdatedAt: now}, nil
}

func (s *Users) organisationFor(ctx context.Context, email string, role Role) (*string, error) {
	if !role.NeedsOrganisation() {
		return nil, nil
	}
	if s.orgs == nil {
		return nil, fmt.Errorf("%w: no organisation finder", ErrNoOrganisation)
	}
	id, err := s.orgs.OrganisationForAddress(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("auth: organisation of %s: %w", email, err)
	}
	if id == "" {
		return nil, fmt.Errorf("auth: organisation of %s: %w", email, ErrNoOrganisation)
	}
	return &id, nil
}

// Get returns the user with this id, or ErrUserNotFound.
func (s *Users) Get(ctx context.Context, id string) (User, error) {
	row, err := s.find(ctx, s.db, "id = ?", id)
	return row.user(), err
}

// GetByEmail returns the user with this address, or ErrUserNotFound.
func (s *Users) GetByEmail(ctx context.Context, email string) (User, error) {
	row, err := s.byEmail(ctx, email)
	return row.user(), err
}

func (s *Users) byEmail(ctx context.Context, email string) (userRow, error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return userRow{}, fmt.Errorf("%w: %w", ErrUserNotFound, err)
	}
	return s.find(ctx, s.db, "email = ?", addr)
}

func (s *Users) find(ctx context.Context, db *gorm.DB, where string, arg string) (userRow, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var row userRow
	err := db.WithContext(ctx).Where(where, arg).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return userRow{}, ErrUserNotFound
	}
	if err != nil {
		return userRow{}, fmt.Errorf("auth: find user: %w", err)
	}
	return row, nil
}

// Disable refuses the user further logins and revokes all their refresh tokens,
// in one transaction. Access tokens already issued live out their short lifetime.
func (s *Users) Disable(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&userRow{}).Where("id = ?", id).
			Updates(map[string]any{"status": statusDisabled, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("auth: disable user: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrUserNotFound
		}
		return revokeUserTokens(tx, id, now)
	})
}

// SetPassword checks the password rules and replaces the user's local password.
func (s *Users) SetPassword(ctx context.Context, id, password string) error {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	return s.updateHash(ctx, id, "", hash, false)
}

// updateHash stores hash; with conditional set, only if the stored hash is still old.
func (s *Users) updateHash(ctx context.Context, id, old, hash string, conditional bool) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	q := s.db.WithContext(ctx).Model(&userRow{}).Where("id = ?", id)
	if conditional {
		q = q.Where("password_hash = ?", old)
	}
	res := q.Updates(map[string]any{"password_hash": hash, "updated_at": s.clock()})
	if res.Error != nil {
		return fmt.Errorf("auth: set password: %w", res.Error)
	}
	if res.RowsAffected == 0 && !conditional {
		return ErrUserNotFound
	}
	return nil
}

// activeUser loads a user who may still log in: not disabled, and, unless an
// operator, of an organisation that is still an active community member.
// Otherwise it returns ErrUserDisabled or an error wrapping ErrNoOrganisation.
func activeUser(ctx context.Context, db *gorm.DB, id string) (User, error) {
	var row userRow
	err := db.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: find user: %w", err)
	}
	u := row.user()
	return u, checkActive(ctx, db, u)
}

func checkActive(ctx context.Context, db *gorm.DB, u User) error {
	if u.Disabled {
		return ErrUserDisabled
	}
	if !u.Role.NeedsOrganisation() {
		return nil
	}
	var status string
	err := db.WithContext(ctx).Raw("SELECT status FROM organisations WHERE id = ?", u.OrganisationID).
		Scan(&status).Error
	if err != nil {
		return fmt.Errorf("auth: organisation status: %w", err)
	}
	if status != "active" {
		return fmt.Errorf("%w: organisation %s is %q", ErrNoOrganisation, u.OrganisationID, status)
	}
	return nil
}

func (s *Users) clock() time.Time { return dbTime(s.now()) }

// dbTime is t as stored: UTC, microseconds (PostgreSQL's precision), so that SQLite's
// text timestamps compare in time order and values survive a round trip.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// idnaProfile is the IDNA2008 lookup profile (RFC 5891 §5) with the RFC 1123
// hostname rules, the same the directory uses for mail domains.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
)

// maxEmailBytes is the longest usable address (RFC 5321 §4.5.3.1.3 path, less <>).
const maxEmailBytes = 254

// NormalizeEmail validates an RFC 5322 addr-spec (no display name, no comments,
// no domain literal) and returns it with the local part lower-cased and the domain
// as a lower-case IDNA A-label (RFC 5891), the form the directory stores.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEmailBytes {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%w: not a bare addr-spec", ErrInvalidEmail)
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	ascii, err := idnaProfile.ToASCII(domain)
	if err != nil || strings.HasPrefix(domain, "[") || strings.HasSuffix(ascii, ".") ||
		!strings.Contains(ascii, ".") {
		return "", fmt.Errorf("%w: bad domain", ErrInvalidEmail)
	}
	return strings.ToLower(local) + "@" + ascii, nil
}
