package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// refreshTokenBytes is the entropy of a refresh token: 256 bits.
const refreshTokenBytes = 32

type refreshRow struct {
	ID        string `gorm:"primaryKey"`
	FamilyID  string
	UserID    string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

func (refreshRow) TableName() string { return "refresh_tokens" }

// refreshTokens keeps rotating single-use refresh tokens (RFC 9700 §4.14.2). Only
// SHA-256 hashes are stored. A family is the chain of tokens that descends from
// one login; it ends RefreshTokenTTL after that login, whatever the rotations.
type refreshTokens struct {
	db  *gorm.DB
	ttl time.Duration
	now func() time.Time
}

// start begins a new family for the user and returns its first token.
func (r *refreshTokens) start(ctx context.Context, userID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := dbTime(r.now())
	return r.insert(r.db.WithContext(ctx), userID, uuid.NewString(), now, now.Add(r.ttl))
}

func (r *refreshTokens) insert(tx *gorm.DB, userID, family string, now, expires time.Time) (string, error) {
	raw, err := randomBytes(refreshTokenBytes)
	if err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	row := refreshRow{ID: uuid.NewString(), FamilyID: family, UserID: userID, TokenHash: hashToken(token),
		CreatedAt: now, ExpiresAt: expires}
	if err := tx.Create(&row).Error; err != nil {
		return "", fmt.Errorf("auth: store refresh token: %w", err)
	}
	return token, nil
}

// redemption is the outcome of one redeem.
type redemption struct {
	userID string // the token's owner, whenever the token was found
	user   User   // on success
	next   string // the successor token, on success
}

// redeem spends token and returns its owner and the successor in the same family,
// in one transaction. A spent token revokes the family and is ErrTokenReused; an
// unknown, revoked or expired one is ErrInvalidToken; a user who may no longer log
// in also revokes the family, and is ErrInvalidToken wrapping the reason.
func (r *refreshTokens) redeem(ctx context.Context, token string) (redemption, error) {
	hash, ok := parseRefreshToken(token)
	if !ok {
		return redemption{}, fmt.Errorf("%w: malformed refresh token", ErrInvalidToken)
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := dbTime(r.now())
	var out redemption
	var refused error // an outcome to report after the transaction commits
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		out, refused, err = r.redeemTx(ctx, tx, hash, now)
		return err
	})
	if err != nil {
		return redemption{userID: out.userID}, err
	}
	if refused != nil {
		return redemption{userID: out.userID}, refused
	}
	return out, nil
}

// redeemTx does redeem's work inside tx. refused is an outcome to report once tx
// commits (so that a revocation sticks); err rolls tx back.
func (r *refreshTokens) redeemTx(ctx context.Context, tx *gorm.DB, hash string, now time.Time) (
	out redemption, refused error, err error) {
	var row refreshRow
	err = tx.Where("token_hash = ?", hash).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return redemption{}, fmt.Errorf("%w: unknown refresh token", ErrInvalidToken), nil
	case err != nil:
		return redemption{}, nil, fmt.Errorf("auth: find refresh token: %w", err)
	}
	out.userID = row.UserID
	switch {
	case row.UsedAt != nil: // spent, whether or not its family has been revoked since
		return out, ErrTokenReused, revokeFamily(tx, row.FamilyID, now)
	case row.RevokedAt != nil:
		return out, fmt.Errorf("%w: revoked refresh token", ErrInvalidToken), nil
	case !now.Before(row.ExpiresAt):
		return out, fmt.Errorf("%w: expired refresh token", ErrInvalidToken), nil
	}
	won, err := markUsed(tx, row.ID, now)
	if err != nil {
		return out, nil, err
	}
	if !won {
		// Someone spent it between our read and our write: a reuse too.
		return out, ErrTokenReused, revokeFamily(tx, row.FamilyID, now)
	}
	out.user, err = activeUser(ctx, tx, row.UserID)
	if errors.Is(err, ErrUserDisabled) || errors.Is(err, ErrNoOrganisation) || errors.Is(err, ErrUserNotFound) {
		return out, fmt.Errorf("%w: %w", ErrInvalidToken, err), revokeFamily(tx, row.FamilyID, now)
	}
	if err != nil {
		return out, nil, err
	}
	out.next, err = r.insert(tx, row.UserID, row.FamilyID, now, row.ExpiresAt)
	return out, nil, err
}

// markUsed spends the token unless another transaction already did; the
// conditional UPDATE makes exactly one of concurrent redeemers win.
func markUsed(tx *gorm.DB, id string, now time.Time) (bool, error) {
	res := tx.Model(&refreshRow{}).Where("id = ? AND used_at IS NULL AND revoked_at IS NULL", id).
		Update("used_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("auth: spend refresh token: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

func revokeFamily(tx *gorm.DB, family string, now time.Time) error {
	err := tx.Model(&refreshRow{}).Where("family_id = ? AND revoked_at IS NULL", family).
		Update("revoked_at", now).Error
	if err != nil {
		return fmt.Errorf("auth: revoke refresh token family: %w", err)
	}
	return nil
}

func revokeUserTokens(tx *gorm.DB, userID string, now time.Time) error {
	err := tx.Model(&refreshRow{}).Where("user_id = ? AND revoked_at IS NULL", userID).
		Update("revoked_at", now).Error
	if err != nil {
		return fmt.Errorf("auth: revoke refresh tokens: %w", err)
	}
	return nil
}

// revoke ends the family of token (logout, RFC 7009 §2.1). An unknown token is
// not an error. It returns the owner's user id when this call ended the
// family ("" when the token is unknown or its family had ended already).
func (r *refreshTokens) revoke(ctx context.Context, token string) (string, error) {
	hash, ok := parseRefreshToken(token)
	if !ok {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var row refreshRow
	err := r.db.WithContext(ctx).Where("token_hash = ?", hash).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("auth: find refresh token: %w", err)
	}
	res := r.db.WithContext(ctx).Model(&refreshRow{}).Where("family_id = ? AND revoked_at IS NULL", row.FamilyID).
		Update("revoked_at", dbTime(r.now()))
	if res.Error != nil {
		return "", fmt.Errorf("auth: revoke refresh token family: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return "", nil // ended already: nobody signed out now
	}
	return row.UserID, nil
}

// prune deletes tokens whose family has ended.
func (r *refreshTokens) prune(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	res := r.db.WithContext(ctx).Where("expires_at <= ?", dbTime(r.now())).Delete(&refreshRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("auth: prune refresh tokens: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// parseRefreshToken checks the token's form before any database work and returns
// its stored hash.
func parseRefreshToken(token string) (string, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(refreshTokenBytes) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err != nil {
		return "", false
	}
	return hashToken(token), true
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
