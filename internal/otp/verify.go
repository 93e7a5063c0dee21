package otp

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Verify checks code against the subject's current code and uses it up: of any
// number of concurrent submissions of the right code exactly one returns nil.
// A wrong code returns ErrWrongCode, joined with ErrCodeExhausted when it was
// the code's last try and with ErrLocked when it was the subject's. Other
// outcomes: ErrNoCode, ErrUsed, ErrExpired, ErrCodeExhausted, ErrLocked, and a
// *LimitError wrapping ErrTooManyAttempts when clientIP made too many attempts.
func (s *Service) Verify(ctx context.Context, subject, code, clientIP string) error {
	now := s.now()
	wait, err := s.ips.Take(ctx, now, clientIP)
	if err != nil {
		return err
	}
	if wait > 0 {
		s.log.Warn("otp verify refused", "subject", subject, "client", clientIP, "err", ErrTooManyAttempts)
		return &LimitError{RetryAfter: wait, Err: ErrTooManyAttempts}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err = s.verify(s.db.WithContext(ctx), subject, strings.TrimSpace(code), now)
	if err != nil {
		s.log.Info("otp verify failed", "subject", subject, "client", clientIP, "err", err)
		return err
	}
	s.log.Info("otp verified", "subject", subject, "client", clientIP)
	return nil
}

func (s *Service) verify(db *gorm.DB, subject, code string, now time.Time) error {
	c, err := s.current(db, subject, now)
	if err != nil {
		return err
	}
	if hmac.Equal(c.CodeHash, hashCode(s.cfg.Secret, subject, code)) {
		return s.consume(db, c, now)
	}
	return s.fail(db, c, now)
}

// current returns the subject's newest code if it can still be used, or the
// reason why not.
func (s *Service) current(db *gorm.DB, subject string, now time.Time) (codeRow, error) {
	var st subjectRow
	err := db.Table("otp_subjects").Where("subject = ?", subject).Take(&st).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return codeRow{}, ErrNoCode
	}
	if err != nil {
		return codeRow{}, fmt.Errorf("otp: read subject: %w", err)
	}
	if st.LockedAt != nil {
		return codeRow{}, ErrLocked
	}
	var c codeRow
	err = db.Table("otp_codes").Where("subject = ?", subject).Order("id DESC").Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return codeRow{}, ErrNoCode
	}
	if err != nil {
		return codeRow{}, fmt.Errorf("otp: read code: %w", err)
	}
	return c, s.classify(c, now)
}

// classify says why a code cannot be used, or nil if it can.
func (s *Service) classify(c codeRow, now time.Time) error {
	switch {
	case c.UsedAt != nil:
		return ErrUsed
	case c.SupersededAt != nil:
		return ErrNoCode
	case c.Failures >= s.cfg.MaxCodeFailures:
		return ErrCodeExhausted
	case !now.Before(c.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// consume marks the code used if it still is usable; the conditional UPDATE is
// what lets only one of concurrent right submissions through. Success resets
// the subject's failure count (NIST counts consecutive failures).
func (s *Service) consume(db *gorm.DB, c codeRow, now time.Time) error {
	return db.Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE otp_codes SET used_at = ?
			WHERE id = ? AND used_at IS NULL AND superseded_at IS NULL AND failures < ?
			AND NOT EXISTS (SELECT 1 FROM otp_subjects s
				WHERE s.subject = otp_codes.subject AND s.locked_at IS NOT NULL)`,
			now, c.ID, s.cfg.MaxCodeFailures)
		if res.Error != nil {
			return fmt.Errorf("otp: use code: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return s.lostRace(tx, c.Subject, now)
		}
		err := tx.Exec(`UPDATE otp_subjects SET failures = 0 WHERE subject = ?`, c.Subject).Error
		if err != nil {
			return fmt.Errorf("otp: reset failures: %w", err)
		}
		return nil
	})
}

// lostRace explains why a conditional update matched no row: another request
// changed the code or the subject first.
func (s *Service) lostRace(tx *gorm.DB, subject string, now time.Time) error {
	if _, err := s.current(tx, subject, now); err != nil {
		return err
	}
	return ErrUsed
}

// fail counts a wrong try against the code and the subject, locking the
// subject at MaxFailures. The counts are committed; the error says what
// happened.
func (s *Service) fail(db *gorm.DB, c codeRow, now time.Time) error {
	var outcome error
	err := db.Transaction(func(tx *gorm.DB) error {
		var err error
		outcome, err = s.countFailure(tx, c, now)
		return err
	})
	if err != nil {
		return err
	}
	return outcome
}

func (s *Service) countFailure(tx *gorm.DB, c codeRow, now time.Time) (outcome, err error) {
	var codeFails []int
	err = tx.Raw(`UPDATE otp_codes SET failures = failures + 1
		WHERE id = ? AND used_at IS NULL AND superseded_at IS NULL AND failures < ?
		RETURNING failures`, c.ID, s.cfg.MaxCodeFailures).Scan(&codeFails).Error
	if err != nil {
		return nil, fmt.Errorf("otp: count code failure: %w", err)
	}
	if len(codeFails) == 0 {
		return s.lostRace(tx, c.Subject, now), nil
	}
	locked, err := s.countSubjectFailure(tx, c.Subject, now)
	switch {
	case err != nil:
		return nil, err // rolls back the code's count too
	case locked:
		return fmt.Errorf("%w (%w)", ErrWrongCode, ErrLocked), nil
	case codeFails[0] >= s.cfg.MaxCodeFailures:
		return fmt.Errorf("%w (%w)", ErrWrongCode, ErrCodeExhausted), nil
	}
	return &WrongCodeError{Remaining: s.cfg.MaxCodeFailures - codeFails[0]}, nil
}

// countSubjectFailure counts a wrong try against the subject and locks it at
// MaxFailures. It fails with ErrLocked if the subject was locked meanwhile.
func (s *Service) countSubjectFailure(tx *gorm.DB, subject string, now time.Time) (locked bool, err error) {
	var fails []int
	err = tx.Raw(`UPDATE otp_subjects SET failures = failures + 1
		WHERE subject = ? AND locked_at IS NULL RETURNING failures`, subject).Scan(&fails).Error
	if err != nil {
		return false, fmt.Errorf("otp: count failure: %w", err)
	}
	if len(fails) == 0 {
		return false, ErrLocked
	}
	if fails[0] < s.cfg.MaxFailures {
		return false, nil
	}
	err = tx.Exec(`UPDATE otp_subjects SET locked_at = ? WHERE subject = ?`, now, subject).Error
	if err != nil {
		return false, fmt.Errorf("otp: lock subject: %w", err)
	}
	return true, nil
}

// Locked reports whether subject is locked after too many wrong codes.
func (s *Service) Locked(ctx context.Context, subject string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var n int64
	err := s.db.WithContext(ctx).Table("otp_subjects").Where("subject = ? AND locked_at IS NOT NULL", subject).
		Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("otp: read lock: %w", err)
	}
	return n > 0, nil
}

// Unlock lifts the subject's lock and clears its failure count; the sender
// calls it. Codes exhausted before stay dead: the recipient requests a new one.
func (s *Service) Unlock(ctx context.Context, subject string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err := s.db.WithContext(ctx).Exec(`UPDATE otp_subjects SET failures = 0, locked_at = NULL WHERE subject = ?`,
		subject).Error
	if err != nil {
		return fmt.Errorf("otp: unlock: %w", err)
	}
	s.log.Info("otp subject unlocked", "subject", subject)
	return nil
}
