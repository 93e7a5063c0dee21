package message

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/audit"
)

// purgeBatch bounds the messages one Expire or PurgeContent pass handles.
const purgeBatch = 200

// Expire crypto-shreds messages whose reading window has passed or that their
// sender withdrew: their data keys are deleted, so the ciphertext can never be
// read again; deliveries still pending fail. PurgeContent then deletes the
// ciphertext. It returns how many messages it shredded.
func (s *Store) Expire(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	var ms []messageRow
	err := s.db.WithContext(ctx).Select("id", "organisation_id", "revoked_at").
		Where("purged_at IS NULL AND (revoked_at IS NOT NULL OR expires_at <= ?)", now).
		Limit(purgeBatch).Find(&ms).Error
	if err != nil {
		return 0, fmt.Errorf("message: find expired messages: %w", err)
	}
	for _, m := range ms {
		if m.RevokedAt == nil {
			s.recordLifecycle(ctx, audit.ActionExpired, m)
		}
		if err := s.shred(ctx, m.ID, now); err != nil {
			return 0, err
		}
		s.recordLifecycle(ctx, audit.ActionShredded, m)
	}
	return len(ms), nil
}

// shred destroys a message's key and ends its pending deliveries, except the
// sender notices rendered from the record (first open, locked, new link):
// they hold no content, so they still go out, e.g. a recipient asking for a
// new link in the minute between expiry and this shredding.
func (s *Store) shred(ctx context.Context, id string, now time.Time) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Model(&deliveryRow{}).Where("message_id = ? AND status IN ?", id, []string{StatusQueued, StatusDeferred}).
			Where("NOT (kind = ? AND blob_key = '')", KindNotice).
			Updates(map[string]any{"status": StatusFailed, "last_error": purgedReason, "next_attempt_at": nil,
				"updated_at": now}).Error
		if err != nil {
			return err
		}
		if err := updateMessageState(tx, id, now); err != nil {
			return err
		}
		_, err = destroyKey(tx, id, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("message: shred %s: %w", id, err)
	}
	return nil
}

// purgedReason is what a delivery ended by shredding says.
const purgedReason = "the message was withdrawn or has expired before this delivery; its content is destroyed"

// PurgeContent deletes the ciphertext of shredded messages (content and
// notices), then forgets the blob keys. It returns how many blobs it deleted.
func (s *Store) PurgeContent(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var ms []messageRow
	err := s.db.WithContext(ctx).Where("purged_at IS NOT NULL AND blob_key <> ''").Limit(purgeBatch).Find(&ms).Error
	if err != nil {
		return 0, fmt.Errorf("message: find purged messages: %w", err)
	}
	n := 0
	for _, m := range ms {
		k, err := s.purgeBlobs(ctx, m)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *Store) purgeBlobs(ctx context.Context, m messageRow) (int, error) {
	var keys []string
	if err := s.db.WithContext(ctx).Model(&deliveryRow{}).Where("message_id = ? AND blob_key <> ''", m.ID).
		Pluck("blob_key", &keys).Error; err != nil {
		return 0, fmt.Errorf("message: purge: %w", err)
	}
	keys = append(keys, m.BlobKey)
	for _, k := range keys {
		if err := s.vault.Blobs().Delete(ctx, k); err != nil {
			return 0, fmt.Errorf("message: purge %s: %w", k, err)
		}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&deliveryRow{}).Where("message_id = ?", m.ID).Update("blob_key", "").Error; err != nil {
			return err
		}
		return tx.Model(&messageRow{}).Where("id = ?", m.ID).Update("blob_key", "").Error
	})
	if err != nil {
		return 0, fmt.Errorf("message: purge %s: %w", m.ID, err)
	}
	return len(keys), nil
}

// Revoke withdraws a message of sender: external recipients see it withdrawn and
// its content is shredded at once. ErrNotFound when it is not theirs.
func (s *Store) Revoke(ctx context.Context, senderUserID, id string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&messageRow{}).
		Where("id = ? AND sender_user_id = ? AND revoked_at IS NULL", id, senderUserID).Update("revoked_at", now)
	if res.Error != nil {
		return fmt.Errorf("message: revoke: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		var n int64
		if err := s.db.WithContext(ctx).Model(&messageRow{}).Where("id = ? AND sender_user_id = ?", id, senderUserID).
			Count(&n).Error; err != nil {
			return fmt.Errorf("message: revoke: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("%w: message %s", ErrNotFound, id)
		}
		return nil // already withdrawn: idempotent
	}
	m := s.recordRevoked(ctx, senderUserID, id)
	if err := s.shred(ctx, id, now); err != nil {
		return err
	}
	s.recordLifecycle(ctx, audit.ActionShredded, m)
	return nil
}

// Revoke withdraws the sender's message id (POST /api/v1/messages/{id}/revoke).
func (s *Service) Revoke(ctx context.Context, from Sender, id string) error {
	if err := s.store.Revoke(ctx, from.UserID, id); err != nil {
		return err
	}
	s.log.Info("message withdrawn", "message", id, "sender", from.UserID)
	return nil
}
