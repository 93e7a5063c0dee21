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

	"github.com/veilig/veilig/internal/audit"
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
	live   *liveUsers     // the Service's account-status cache; nil outside a Service
	audit  audit.Recorder // the Service's audit trail; nil records nothing
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
	if err := createRow(s.db.WithContext(ctx), &row); err != nil {
		return User{}, err
	}
	s.recordUser(ctx, audit.ActionUserCreated, row.user())
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

// Disable refuses the user further logins, revokes all their refresh tokens
// and API keys in one transaction, and makes this process refuse their access
// tokens at once (other processes within LiveTTL).
func (s *Users) Disable(ctx context.Context, id string) error {
	return s.disable(ctx, id, "")
}

// DisableInOrganisation is Disable for an organisation administrator: a user of
// another organisation (or none) is ErrUserNotFound, as if it did not exist.
func (s *Users) DisableInOrganisation(ctx context.Context, orgID, userID string) error {
	if orgID == "" {
		return ErrUserNotFound
	}
	return s.disable(ctx, userID, orgID)
}

// disable disables user id, only within orgID unless that is empty.
func (s *Users) disable(ctx context.Context, id, orgID string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Model(&userRow{}).Where("id = ?", id)
		if orgID != "" {
			q = q.Where("organisation_id = ?", orgID)
		}
		res := q.Updates(map[string]any{"status": statusDisabled, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("auth: disable user: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrUserNotFound
		}
		if err := revokeUserTokens(tx, id, now); err != nil {
			return err
		}
		return revokeUserKeys(tx, id, now)
	})
	if err == nil {
		s.live.forget(id)
		s.recordDisabled(ctx, id)
	}
	return err
}

// recordDisabled records a disabled account, in its organisation's trail.
func (s *Users) recordDisabled(ctx context.Context, id string) {
	if s.audit == nil {
		return
	}
	u, err := s.Get(ctx, id)
	if err != nil {
		u = User{ID: id}
	}
	s.recordUser(ctx, audit.ActionUserDisabled, u)
}

// ListOrganisation returns the users of one organisation, by address.
func (s *Users) ListOrganisation(ctx context.Context, orgID string) ([]User, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []userRow
	err := s.db.WithContext(ctx).Where("organisation_id = ?", orgID).Order("email").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	users := make([]User, 0, len(rows))
	for _, r := range rows {
		users = append(users, r.user())
	}
	return users, nil
}

// CreateOrgAdmin adds an administrator of orgID without a password, who sets
// one later (enrolment admission). The address's mail domain must belong to
// orgID (ErrForeignDomain); a taken address is ErrUserExists.
func (s *Users) CreateOrgAdmin(ctx context.Context, orgID, email string) (string, error) {
	row, err := s.memberRow(ctx, orgID, email, RoleOrgAdmin)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := createRow(s.db.WithContext(ctx), &row); err != nil {
		return "", err
	}
	s.recordUser(ctx, audit.ActionUserCreated, row.user())
	return row.ID, nil
}

// memberRow is a new passwordless user of orgID, whose address's mail domain
// must belong to orgID.
func (s *Users) memberRow(ctx context.Context, orgID, email string, role Role) (userRow, error) {
	if role != RoleSender && role != RoleOrgAdmin {
		return userRow{}, fmt.Errorf("%w: %q", ErrInvalidRole, role)
	}
	addr, err := NormalizeEmail(email)
	if err != nil {
		return userRow{}, err
	}
	if err := s.checkDomain(ctx, orgID, addr); err != nil {
		return userRow{}, err
	}
	now := s.clock()
	return userRow{ID: uuid.NewString(), Email: addr, Role: string(role), OrganisationID: &orgID,
		Status: statusActive, CreatedAt: now, UpdatedAt: now}, nil
}

// checkDomain refuses an address whose mail domain orgID does not hold, without
// saying whether another organisation does.
func (s *Users) checkDomain(ctx context.Context, orgID, addr string) error {
	if s.orgs == nil || orgID == "" {
		return fmt.Errorf("%w: no organisation", ErrForeignDomain)
	}
	id, err := s.orgs.OrganisationForAddress(ctx, addr)
	switch {
	case errors.Is(err, ErrNoOrganisation) || (err == nil && id != orgID):
		return ErrForeignDomain
	case err != nil:
		return fmt.Errorf("auth: organisation of the address: %w", err)
	}
	return nil
}

func createRow(db *gorm.DB, row *userRow) error {
	err := db.Create(row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%w: %s", ErrUserExists, row.Email)
	}
	if err != nil {
		return fmt.Errorf("auth: create user: %w", err)
	}
	return nil
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
