package enrolment

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/clientkey"
	"github.com/veilig/veilig/internal/database"
)

// lockKey serialises, on PostgreSQL, the transactions that count or claim
// (creation limits, first-to-verify); SQLite write transactions already
// serialise (BEGIN IMMEDIATE).
const lockKey int64 = 0x7665696c69670006 // "veilig" + 6

// activatedPrefix marks a token hash whose holder has activated the first admin.
const activatedPrefix = "activated:"

// secretBytes is the entropy of status tokens and challenge values (256 bits).
const secretBytes = 32

// maxTokenLen bounds a presented status token before hashing.
const maxTokenLen = 256

type enrolmentRow struct {
	ID               string `gorm:"primaryKey"`
	Status           string
	OrganisationName string
	KvK              string `gorm:"column:kvk"`
	OIN              string `gorm:"column:oin"`
	AdminName        string
	AdminEmail       string
	AdminPhone       string
	TokenHash        string
	ClientHash       string
	OrganisationID   *string
	DecidedBy        string
	DecisionReason   string
	CreatedAt        time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt        time.Time `gorm:"autoUpdateTime:false"`
	ExpiresAt        time.Time
	DecidedAt        *time.Time
}

func (enrolmentRow) TableName() string { return "enrolments" }

type domainRow struct {
	EnrolmentID string `gorm:"primaryKey"`
	Domain      string `gorm:"primaryKey"`
	Challenge   string
	VerifiedAt  *time.Time
}

func (domainRow) TableName() string { return "enrolment_domains" }

// openStatuses are the statuses whose verified domains block others.
var openStatuses = []string{StatusPending, StatusVerified}

func (s *Service) db(ctx context.Context) *gorm.DB { return s.d.DB.WithContext(ctx) }

// step returns a context bounded by the database timeout.
func (s *Service) step(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.DBTimeout)
}

// locked runs fn in a transaction that holds the enrolment lock.
func (s *Service) locked(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db(ctx).Transaction(func(tx *gorm.DB) error {
		if s.d.DB.Dialect == database.Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", lockKey).Error; err != nil {
				return fmt.Errorf("enrolment: lock: %w", err)
			}
		}
		return fn(tx)
	})
}

func (s *Service) load(ctx context.Context, id string) (enrolmentRow, error) {
	ctx, cancel := s.step(ctx)
	defer cancel()
	var row enrolmentRow
	err := s.db(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, ErrNotFound
	}
	if err != nil {
		return row, fmt.Errorf("enrolment: load: %w", err)
	}
	return row, nil
}

func (s *Service) domainsOf(ctx context.Context, ids ...string) ([]domainRow, error) {
	ctx, cancel := s.step(ctx)
	defer cancel()
	var rows []domainRow
	err := s.db(ctx).Where("enrolment_id IN ?", ids).Order("enrolment_id, domain").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("enrolment: load domains: %w", err)
	}
	return rows, nil
}

// authorised loads the enrolment and checks the status token against it.
func (s *Service) authorised(ctx context.Context, id, token string) (enrolmentRow, error) {
	if token == "" || len(token) > maxTokenLen {
		return enrolmentRow{}, ErrUnauthorized
	}
	row, err := s.load(ctx, id)
	if err != nil {
		return row, err
	}
	stored := strings.TrimPrefix(row.TokenHash, activatedPrefix)
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hashToken(token))) != 1 {
		return enrolmentRow{}, ErrUnauthorized
	}
	return row, nil
}

// takenByOpen reports whether another open enrolment verified domain.
func takenByOpen(tx *gorm.DB, domain, exceptID string) (bool, error) {
	var n int64
	err := tx.Table("enrolment_domains AS d").
		Joins("JOIN enrolments e ON e.id = d.enrolment_id").
		Where("d.domain = ? AND d.verified_at IS NOT NULL AND e.status IN ? AND e.id <> ?", domain, openStatuses, exceptID).
		Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("enrolment: verified claims: %w", err)
	}
	return n > 0, nil
}

// secret returns 256 random bits, base64url without padding.
func secret(r io.Reader) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("enrolment: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// clientHash keys a client address (IPv4, or IPv6 /64) under the salt.
func (s *Service) clientHash(ip string) string {
	m := hmac.New(sha256.New, s.cfg.ClientSalt)
	m.Write([]byte(clientkey.Of(ip)))
	return hex.EncodeToString(m.Sum(nil))
}

func challengeName(domain string) string { return ChallengePrefix + domain }
