package message

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/veilig/veilig/directory"
)

// reminderBatch bounds the reminders one pass sends.
const reminderBatch = 100

// reminderCandidate is an external recipient due a reminder.
type reminderCandidate struct {
	DeliveryID, MessageID string
	Address               string
	ExpiresAt             time.Time
}

// SendReminders queues a reminder to every external recipient who has not opened
// their message, within before of its expiry, once. Each reminder carries a fresh
// link (its hash kept beside the first, which stays valid); it is composed,
// DKIM-signed and sealed like the notification. It returns how many it queued.
func (s *Service) SendReminders(ctx context.Context, before time.Duration) (int, error) {
	if s.cfg.External == nil || before <= 0 {
		return 0, nil
	}
	cands, err := s.store.reminderCandidates(ctx, before)
	if err != nil {
		return 0, err
	}
	for i, c := range cands {
		if err := s.remind(ctx, c); err != nil {
			return i, err
		}
	}
	return len(cands), nil
}

func (s *Store) reminderCandidates(ctx context.Context, before time.Duration) ([]reminderCandidate, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	var out []reminderCandidate
	err := s.db.WithContext(ctx).Table("external_recipients AS e").
		Select("e.delivery_id, e.message_id, d.address AS address, m.expires_at AS expires_at").
		Joins("JOIN deliveries d ON d.id = e.delivery_id").Joins("JOIN messages m ON m.id = e.message_id").
		Where("e.opened_at IS NULL AND e.reminded_at IS NULL AND e.notified_at IS NOT NULL").
		Where("m.purged_at IS NULL AND m.revoked_at IS NULL AND m.expires_at > ? AND m.expires_at <= ?", now, now.Add(before)).
		Limit(reminderBatch).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("message: find reminders due: %w", err)
	}
	return out, nil
}

// remind writes one reminder and queues it with the new link's hash.
func (s *Service) remind(ctx context.Context, c reminderCandidate) error {
	m, err := s.store.messageByID(ctx, c.MessageID)
	if err != nil {
		return err
	}
	if m.key, err = s.store.dataKey(ctx, m.ID); err != nil {
		return err
	}
	token, hash, err := NewToken()
	if err != nil {
		return err
	}
	channel, err := s.store.CodeChannel(ctx, c.DeliveryID)
	if err != nil {
		return err
	}
	id := uuid.NewString()
	n := Notification{SenderName: m.SenderName, SenderEmail: m.SenderEmail, Organisation: s.OrganisationName(m.SenderEmail),
		Recipient: c.Address, ExpiresAt: c.ExpiresAt, MessageID: "<" + id + "@" + s.cfg.SMTPHostname + ">",
		Date: s.store.clock(), Link: s.link(token), CodeByEmail: channel == CodeByEmail}
	key := "notifications/" + id
	size, err := s.writeMail(ctx, m, key, func(w io.Writer) error {
		return s.notifier.WriteReminder(w, n, daysLeft(c.ExpiresAt, n.Date))
	})
	if err != nil {
		return err
	}
	if err := s.store.insertReminder(ctx, m, c, id, key, size, hash, s.queue); err != nil {
		s.deleteBlob(ctx, key)
		return err
	}
	return nil
}

func daysLeft(expires, now time.Time) int {
	return max(1, int(math.Ceil(expires.Sub(now).Hours()/24)))
}

// insertReminder queues the reminder (a notice to the recipient, from the null
// reverse-path) and records it with the new link's hash, in one transaction.
func (s *Store) insertReminder(ctx context.Context, m messageRow, c reminderCandidate, id, key string, size int64,
	hash []byte, q Enqueuer) error {
	domain, _, _ := directory.CheckAddress(c.Address)
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&externalRow{}).Where("delivery_id = ? AND reminded_at IS NULL", c.DeliveryID).
			Updates(map[string]any{"reminded_at": now, "reminder_token_hash": hash})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error // another process reminded first: nothing to send
		}
		var pos int
		if err := tx.Model(&deliveryRow{}).Select("COALESCE(MAX(position), -1) + 1").
			Where("message_id = ?", m.ID).Scan(&pos).Error; err != nil {
			return err
		}
		row := deliveryRow{ID: id, MessageID: m.ID, Position: pos, Address: c.Address, Kind: KindNotice,
			Route: directory.RouteExternal, Reason: "reminder:" + c.DeliveryID, Domain: domain, BlobKey: key,
			Size: size, Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
		return insertDeliveries(ctx, tx, []deliveryRow{row}, q)
	})
}

func (s *Store) messageByID(ctx context.Context, id string) (messageRow, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var ms []messageRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&ms).Error; err != nil {
		return messageRow{}, fmt.Errorf("message: read message: %w", err)
	}
	if len(ms) == 0 {
		return messageRow{}, fmt.Errorf("%w: message %s", ErrNotFound, id)
	}
	return ms[0], nil
}
