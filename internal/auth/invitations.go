package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/audit"
)

// InvitationTTL is how long an invitation to set a password stays valid.
const InvitationTTL = 7 * 24 * time.Hour

type invitationRow struct {
	TokenHash string `gorm:"primaryKey"`
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

func (invitationRow) TableName() string { return "invitations" }

// Invite adds a passwordless sender or administrator to orgID and returns them
// with a one-time invitation token (256 bits, shown once, stored as a SHA-256
// hash) with which they set their password within InvitationTTL. The address's
// mail domain must belong to orgID (ErrForeignDomain). Inviting someone already
// invited who has not yet set a password issues a new token and voids the old
// ones; any other taken address is ErrUserExists.
func (s *Users) Invite(ctx context.Context, orgID, email string, role Role) (User, string, error) {
	row, err := s.memberRow(ctx, orgID, email, role)
	if err != nil {
		return User{}, "", err
	}
	token, err := newSecret()
	if err != nil {
		return User{}, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if row, err = s.inviteeTx(tx, row); err != nil {
			return err
		}
		return s.insertInvitation(tx, row.ID, hashToken(token))
	})
	if err != nil {
		return User{}, "", err
	}
	s.recordUser(ctx, audit.ActionUserCreated, row.user())
	return row.user(), token, nil
}

// inviteeTx creates the invitee, or returns the one invited before who has not
// yet accepted, with their earlier invitations voided.
func (s *Users) inviteeTx(tx *gorm.DB, row userRow) (userRow, error) {
	var old userRow
	err := tx.Where("email = ?", row.Email).Take(&old).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, createRow(tx, &row)
	}
	if err != nil {
		return userRow{}, fmt.Errorf("auth: find user: %w", err)
	}
	if old.OrganisationID == nil || *old.OrganisationID != *row.OrganisationID || old.PasswordHash != "" ||
		old.Status != statusActive || old.Role != row.Role {
		return userRow{}, fmt.Errorf("%w: %s", ErrUserExists, row.Email)
	}
	err = tx.Where("user_id = ? AND used_at IS NULL", old.ID).Delete(&invitationRow{}).Error
	if err != nil {
		return userRow{}, fmt.Errorf("auth: void invitations: %w", err)
	}
	return old, nil
}

func (s *Users) insertInvitation(tx *gorm.DB, userID, hash string) error {
	now := s.clock()
	err := tx.Create(&invitationRow{TokenHash: hash, UserID: userID, CreatedAt: now,
		ExpiresAt: now.Add(InvitationTTL)}).Error
	if err != nil {
		return fmt.Errorf("auth: store invitation: %w", err)
	}
	return nil
}

// AcceptInvitation spends an invitation token and sets the invitee's first
// password. An unknown, spent or expired token, a disabled invitee or one who
// already has a password is ErrInvalidToken; a password breaking the rules is
// ErrPasswordTooShort or ErrPasswordTooLong (and the token stays valid).
func (s *Users) AcceptInvitation(ctx context.Context, token, password string) error {
	hash, ok := parseSecret(token)
	if !ok {
		return fmt.Errorf("%w: malformed invitation token", ErrInvalidToken)
	}
	if err := ValidatePassword(password); err != nil {
		return err
	}
	// Check the token before spending a password hash on it.
	if _, err := s.pendingInvitation(ctx, hash); err != nil {
		return err
	}
	pw, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.acceptTx(tx, hash, pw)
	})
}

// pendingInvitation returns the invitation if it can still be accepted.
func (s *Users) pendingInvitation(ctx context.Context, hash string) (invitationRow, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var inv invitationRow
	err := s.db.WithContext(ctx).Where("token_hash = ?", hash).Take(&inv).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return inv, fmt.Errorf("%w: unknown invitation", ErrInvalidToken)
	case err != nil:
		return inv, fmt.Errorf("auth: find invitation: %w", err)
	case inv.UsedAt != nil:
		return inv, fmt.Errorf("%w: invitation already used", ErrInvalidToken)
	case !s.clock().Before(inv.ExpiresAt):
		return inv, fmt.Errorf("%w: invitation expired", ErrInvalidToken)
	}
	return inv, nil
}

// acceptTx spends the invitation and sets the password, each only if still
// allowed, so that of concurrent acceptances exactly one wins.
func (s *Users) acceptTx(tx *gorm.DB, hash, pw string) error {
	now := s.clock()
	var inv invitationRow
	res := tx.Model(&invitationRow{}).Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", hash, now).
		Update("used_at", now)
	if res.Error != nil {
		return fmt.Errorf("auth: spend invitation: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("%w: invitation already used or expired", ErrInvalidToken)
	}
	if err := tx.Where("token_hash = ?", hash).Take(&inv).Error; err != nil {
		return fmt.Errorf("auth: find invitation: %w", err)
	}
	res = tx.Model(&userRow{}).Where("id = ? AND password_hash = '' AND status = ?", inv.UserID, statusActive).
		Updates(map[string]any{"password_hash": pw, "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("auth: set password: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("%w: the account is disabled or already has a password", ErrInvalidToken)
	}
	return nil
}

// secretBytes is the entropy of invitation tokens and API key secrets: 256 bits.
const secretBytes = 32

// newSecret returns 256 random bits, base64url without padding (43 characters).
func newSecret() (string, error) {
	raw, err := randomBytes(secretBytes)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// parseSecret checks a secret's form before any database work and returns its
// stored hash.
func parseSecret(s string) (string, bool) { return parseRefreshToken(s) }
