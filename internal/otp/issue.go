package otp

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// codeRow is one row of otp_codes.
type codeRow struct {
	ID           int64
	Subject      string
	CodeHash     []byte
	CreatedAt    time.Time
	ExpiresAt    time.Time
	UsedAt       *time.Time
	SupersededAt *time.Time
	Failures     int
}

// subjectRow is one row of otp_subjects.
type subjectRow struct {
	Subject      string
	Failures     int
	LockedAt     *time.Time
	LastIssuedAt *time.Time
}

// Issue creates a code for subject, valid for Config.TTL, and returns it for
// sending; it supersedes the subject's earlier unused code. It fails with
// ErrLocked while the subject is locked and with a *LimitError wrapping
// ErrTooManyCodes once MaxIssued codes were issued in IssueWindow.
func (s *Service) Issue(ctx context.Context, subject string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	code, err := newCode(s.cfg.Digits)
	if err != nil {
		return "", err
	}
	now := s.now()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.issueTx(tx, subject, hashCode(s.cfg.Secret, subject, code), now)
	})
	if err != nil {
		s.log.Info("otp code refused", "subject", subject, "err", err)
		return "", err
	}
	s.log.Info("otp code issued", "subject", subject)
	return code, nil
}

func (s *Service) issueTx(tx *gorm.DB, subject string, hash []byte, now time.Time) error {
	st, err := lockSubject(tx, subject)
	if err != nil {
		return err
	}
	if st.LockedAt != nil {
		return ErrLocked
	}
	codes, err := subjectCodes(tx, subject)
	if err != nil {
		return err
	}
	if err := s.checkIssueLimit(codes, now); err != nil {
		return err
	}
	if err := s.prune(tx, subject, codes, now); err != nil {
		return err
	}
	return insertCode(tx, subject, hash, now, now.Add(s.cfg.TTL))
}

func insertCode(tx *gorm.DB, subject string, hash []byte, now, expires time.Time) error {
	err := tx.Exec(`INSERT INTO otp_codes (subject, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		subject, hash, now, expires).Error
	if err != nil {
		return fmt.Errorf("otp: store code: %w", err)
	}
	err = tx.Exec(`UPDATE otp_subjects SET last_issued_at = ? WHERE subject = ?`, now, subject).Error
	if err != nil {
		return fmt.Errorf("otp: mark issue: %w", err)
	}
	return nil
}

// lockSubject creates the subject's row if needed and locks it for the rest of
// the transaction (a row lock in PostgreSQL; SQLite transactions begin
// IMMEDIATE and so hold the write lock already).
func lockSubject(tx *gorm.DB, subject string) (subjectRow, error) {
	err := tx.Exec(`INSERT INTO otp_subjects (subject) VALUES (?) ON CONFLICT (subject) DO NOTHING`, subject).Error
	if err != nil {
		return subjectRow{}, fmt.Errorf("otp: create subject: %w", err)
	}
	if err := tx.Exec(`UPDATE otp_subjects SET failures = failures WHERE subject = ?`, subject).Error; err != nil {
		return subjectRow{}, fmt.Errorf("otp: lock subject: %w", err)
	}
	var st subjectRow
	if err := tx.Table("otp_subjects").Where("subject = ?", subject).Take(&st).Error; err != nil {
		return subjectRow{}, fmt.Errorf("otp: read subject: %w", err)
	}
	return st, nil
}

// subjectCodes returns the subject's codes, oldest first. Issue prunes them, so
// there are a few at most.
func subjectCodes(tx *gorm.DB, subject string) ([]codeRow, error) {
	var codes []codeRow
	if err := tx.Table("otp_codes").Where("subject = ?", subject).Order("id").Find(&codes).Error; err != nil {
		return nil, fmt.Errorf("otp: read codes: %w", err)
	}
	return codes, nil
}

// checkIssueLimit allows at most MaxIssued codes in any IssueWindow.
func (s *Service) checkIssueLimit(codes []codeRow, now time.Time) error {
	since := now.Add(-s.cfg.IssueWindow)
	var recent []time.Time
	for _, c := range codes {
		if c.CreatedAt.After(since) {
			recent = append(recent, c.CreatedAt)
		}
	}
	if len(recent) < s.cfg.MaxIssued {
		return nil
	}
	oldest := recent[len(recent)-s.cfg.MaxIssued]
	return &LimitError{RetryAfter: oldest.Add(s.cfg.IssueWindow).Sub(now), Err: ErrTooManyCodes}
}

// prune supersedes the live codes and deletes those the issue limit no longer
// counts.
func (s *Service) prune(tx *gorm.DB, subject string, codes []codeRow, now time.Time) error {
	since := now.Add(-s.cfg.IssueWindow)
	var old []int64
	for _, c := range codes {
		if !c.CreatedAt.After(since) && !c.ExpiresAt.After(now) {
			old = append(old, c.ID)
		}
	}
	if len(old) > 0 {
		if err := tx.Exec(`DELETE FROM otp_codes WHERE id IN ?`, old).Error; err != nil {
			return fmt.Errorf("otp: prune codes: %w", err)
		}
	}
	err := tx.Exec(`UPDATE otp_codes SET superseded_at = ? WHERE subject = ? AND used_at IS NULL AND superseded_at IS NULL`,
		now, subject).Error
	if err != nil {
		return fmt.Errorf("otp: supersede codes: %w", err)
	}
	return nil
}
