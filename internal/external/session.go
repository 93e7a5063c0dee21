package external

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/viewer"
)

// sessionRow is a viewer session; only the token's hash is stored.
type sessionRow struct {
	TokenHash  []byte `gorm:"primaryKey"`
	DeliveryID string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	CodeSentAt *time.Time
	VerifiedAt *time.Time
}

func (sessionRow) TableName() string { return "viewer_sessions" }

// StartSession exchanges a link token for a new, unverified session.
func (s *Service) StartSession(ctx context.Context, linkToken string) (string, error) {
	l, err := s.store.LinkByToken(ctx, linkToken)
	if err != nil {
		return "", linkError(err)
	}
	token, hash, err := message.NewToken()
	if err != nil {
		return "", err
	}
	now := s.clock()
	row := sessionRow{TokenHash: hash, DeliveryID: l.DeliveryID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.AbsoluteTimeout)}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return "", fmt.Errorf("external: start session: %w", err)
	}
	return token, nil
}

// Session returns the visit of a live session and touches its idle timer.
func (s *Service) Session(ctx context.Context, sessionToken string) (viewer.Visit, error) {
	sess, l, err := s.session(ctx, sessionToken)
	if err != nil {
		return viewer.Visit{}, err
	}
	return s.visit(ctx, l, sess)
}

// session loads a live session and its link.
func (s *Service) session(ctx context.Context, token string) (sessionRow, message.Link, error) {
	sess, err := s.liveSession(ctx, token)
	if err != nil {
		return sessionRow{}, message.Link{}, err
	}
	l, err := s.store.Link(ctx, sess.DeliveryID)
	if errors.Is(err, message.ErrNotFound) {
		return sessionRow{}, message.Link{}, viewer.ErrNoSession
	}
	return sess, l, err
}

func (s *Service) liveSession(ctx context.Context, token string) (sessionRow, error) {
	if token == "" {
		return sessionRow{}, viewer.ErrNoSession
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	hash := message.HashToken(token)
	var rows []sessionRow
	if err := s.db.WithContext(ctx).Where("token_hash = ?", hash).Limit(1).Find(&rows).Error; err != nil {
		return sessionRow{}, fmt.Errorf("external: read session: %w", err)
	}
	now := s.clock()
	if len(rows) == 0 || !now.Before(rows[0].ExpiresAt) || now.Sub(rows[0].LastSeenAt) >= s.cfg.IdleTimeout {
		if len(rows) == 1 {
			_ = s.db.WithContext(ctx).Where("token_hash = ?", hash).Delete(&sessionRow{}).Error
		}
		return sessionRow{}, viewer.ErrNoSession
	}
	if err := s.db.WithContext(ctx).Model(&sessionRow{}).Where("token_hash = ?", hash).
		Update("last_seen_at", now).Error; err != nil {
		return sessionRow{}, fmt.Errorf("external: touch session: %w", err)
	}
	return rows[0], nil
}

// setSession stores a session field (code_sent_at, verified_at) as now.
func (s *Service) setSession(ctx context.Context, sess sessionRow, field string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	err := s.db.WithContext(ctx).Model(&sessionRow{}).Where("token_hash = ?", sess.TokenHash).
		Update(field, s.clock()).Error
	if err != nil {
		return fmt.Errorf("external: update session: %w", err)
	}
	return nil
}

// EndSession logs out.
func (s *Service) EndSession(ctx context.Context, sessionToken string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	err := s.db.WithContext(ctx).Where("token_hash = ?", message.HashToken(sessionToken)).Delete(&sessionRow{}).Error
	if err != nil {
		return fmt.Errorf("external: end session: %w", err)
	}
	return nil
}

// PruneSessions deletes sessions past their absolute or idle time-out.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	res := s.db.WithContext(ctx).Where("expires_at <= ? OR last_seen_at <= ?", now, now.Add(-s.cfg.IdleTimeout)).
		Delete(&sessionRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("external: prune sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// verified loads a verified session whose message can still be read.
func (s *Service) verified(ctx context.Context, token string) (sessionRow, message.Link, error) {
	sess, l, err := s.session(ctx, token)
	if err != nil {
		return sess, l, err
	}
	if err := s.active(ctx, l, sess); err != nil {
		return sess, l, err
	}
	if sess.VerifiedAt == nil {
		return sess, l, viewer.ErrNotVerified
	}
	return sess, l, nil
}

// active is nil while l can be used, else viewer.ErrInactive (the state page
// says withdrawn, expired or locked).
func (s *Service) active(ctx context.Context, l message.Link, sess sessionRow) error {
	v, err := s.visit(ctx, l, sess)
	if err != nil {
		return err
	}
	if v.State != viewer.StateActive {
		return viewer.ErrInactive
	}
	return nil
}

// Unlock lifts the lock of the sender's external recipient address of message id.
func (s *Service) Unlock(ctx context.Context, from message.Sender, id, address string) error {
	deliveryID, err := s.store.ExternalDelivery(ctx, from.UserID, id, address)
	if err != nil {
		return err
	}
	if err := s.otp.Unlock(ctx, deliveryID); err != nil {
		return err
	}
	s.log.Info("external recipient unlocked", "message", id, "delivery", deliveryID, "sender", from.UserID)
	return nil
}
