package message

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/seal"
)

// Link is one external recipient of a message as the viewer needs it.
type Link struct {
	DeliveryID, MessageID, Address string
	SenderUserID, SenderName       string
	SenderEmail, OrganisationID    string
	MessageIDHeader                string
	CreatedAt, ExpiresAt           time.Time
	Revoked, Purged                bool
	PhoneMasked                    string
	OpenedAt, RepliedAt            *time.Time
	NewLinkRequestedAt             *time.Time
}

// Viewer events recorded on an external recipient.
const (
	EventCodeSent         = "code_sent_at"
	EventOpened           = "opened_at"
	EventDownloaded       = "downloaded_at"
	EventReplied          = "replied_at"
	EventNewLinkRequested = "new_link_requested_at"
)

// Reasons of the notices to a sender about an external recipient; the notice's
// reason is "<reason>:<delivery id of the recipient>".
const (
	NoticeFirstOpen = "first-open"
	NoticeLocked    = "locked"
	NoticeNewLink   = "new-link"
)

// LinkByToken returns the link whose token (from the URL) this is: the
// notification's or the latest reminder's. ErrNotFound when none.
func (s *Store) LinkByToken(ctx context.Context, token string) (Link, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	h := HashToken(token)
	var rows []externalRow
	if err := s.db.WithContext(ctx).Where("token_hash = ? OR reminder_token_hash = ?", h, h).Limit(1).
		Find(&rows).Error; err != nil {
		return Link{}, fmt.Errorf("message: find link: %w", err)
	}
	if len(rows) == 0 {
		return Link{}, fmt.Errorf("%w: link", ErrNotFound)
	}
	return s.link(ctx, rows[0])
}

// Link returns the link of an external recipient's delivery id.
func (s *Store) Link(ctx context.Context, deliveryID string) (Link, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []externalRow
	if err := s.db.WithContext(ctx).Where("delivery_id = ?", deliveryID).Limit(1).Find(&rows).Error; err != nil {
		return Link{}, fmt.Errorf("message: find link: %w", err)
	}
	if len(rows) == 0 {
		return Link{}, fmt.Errorf("%w: link", ErrNotFound)
	}
	return s.link(ctx, rows[0])
}

func (s *Store) link(ctx context.Context, e externalRow) (Link, error) {
	var ms []messageRow
	if err := s.db.WithContext(ctx).Where("id = ?", e.MessageID).Limit(1).Find(&ms).Error; err != nil {
		return Link{}, fmt.Errorf("message: find link message: %w", err)
	}
	var ds []deliveryRow
	if err := s.db.WithContext(ctx).Where("id = ?", e.DeliveryID).Limit(1).Find(&ds).Error; err != nil {
		return Link{}, fmt.Errorf("message: find link delivery: %w", err)
	}
	if len(ms) == 0 || len(ds) == 0 {
		return Link{}, fmt.Errorf("%w: link", ErrNotFound)
	}
	m := ms[0]
	l := Link{DeliveryID: e.DeliveryID, MessageID: m.ID, Address: ds[0].Address, SenderUserID: m.SenderUserID,
		SenderName: m.SenderName, SenderEmail: m.SenderEmail, OrganisationID: m.OrganisationID,
		MessageIDHeader: m.MessageIDHeader, CreatedAt: m.CreatedAt, Revoked: m.RevokedAt != nil,
		Purged: m.PurgedAt != nil, PhoneMasked: e.PhoneMasked, OpenedAt: e.OpenedAt, RepliedAt: e.RepliedAt,
		NewLinkRequestedAt: e.NewLinkRequestedAt}
	if m.ExpiresAt != nil {
		l.ExpiresAt = *m.ExpiresAt
	}
	return l, nil
}

// Phone returns an external recipient's phone number (E.164), decrypted with
// the message's data key; ErrPurged once that is destroyed.
func (s *Store) Phone(ctx context.Context, l Link) (string, error) {
	dk, err := s.dataKey(ctx, l.MessageID)
	if err != nil {
		return "", err
	}
	var rows []externalRow
	if err := s.db.WithContext(ctx).Where("delivery_id = ?", l.DeliveryID).Limit(1).Find(&rows).Error; err != nil {
		return "", fmt.Errorf("message: read phone: %w", err)
	}
	if len(rows) == 0 || rows[0].PhoneSealed == nil {
		return "", fmt.Errorf("%w: phone of %s", ErrPurged, l.DeliveryID)
	}
	b, err := openBytes(dk, phoneObject(l.DeliveryID), rows[0].PhoneSealed)
	return string(b), err
}

// OpenContent opens the plaintext of a message (RFC 5322); ErrPurged once its
// data key is destroyed.
func (s *Store) OpenContent(ctx context.Context, messageID string) (io.ReadCloser, error) {
	c, err := s.content(ctx, messageID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrPurged, messageID)
	}
	var keys []string
	if err := s.db.WithContext(ctx).Model(&messageRow{}).Where("id = ?", messageID).Pluck("blob_key", &keys).Error; err != nil {
		return nil, fmt.Errorf("message: read blob key: %w", err)
	}
	if len(keys) == 0 || keys[0] == "" {
		return nil, fmt.Errorf("%w: %s", ErrPurged, messageID)
	}
	return c.Open(ctx, keys[0])
}

func (s *Store) dataKey(ctx context.Context, messageID string) (dk seal.DataKey, err error) {
	var keys []dataKeyRow
	if err := s.db.WithContext(ctx).Where("message_id = ?", messageID).Limit(1).Find(&keys).Error; err != nil {
		return dk, fmt.Errorf("message: read data key: %w", err)
	}
	if len(keys) == 0 {
		return dk, fmt.Errorf("%w: %s", ErrPurged, messageID)
	}
	return s.vault.unwrap(messageID, keys[0].wrappedKey())
}

// Record sets event (one of the Event constants) on an external recipient. It
// reports whether this was the first time; code_sent_at is overwritten each time.
func (s *Store) RecordEvent(ctx context.Context, deliveryID, event string) (bool, error) {
	switch event {
	case EventCodeSent, EventOpened, EventDownloaded, EventReplied, EventNewLinkRequested:
	default:
		return false, fmt.Errorf("message: unknown event %q", event)
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	q := s.db.WithContext(ctx).Model(&externalRow{}).Where("delivery_id = ?", deliveryID)
	if event != EventCodeSent {
		q = q.Where(event + " IS NULL")
	}
	res := q.Update(event, s.clock())
	if res.Error != nil {
		return false, fmt.Errorf("message: record %s: %w", event, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecordSMSStatus keeps the SMS provider's answer to the latest code message.
func (s *Store) RecordSMSStatus(ctx context.Context, deliveryID, status string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if len(status) > 200 {
		status = status[:200]
	}
	err := s.db.WithContext(ctx).Model(&externalRow{}).Where("delivery_id = ?", deliveryID).
		Update("sms_status", status).Error
	if err != nil {
		return fmt.Errorf("message: record SMS status: %w", err)
	}
	return nil
}

// AddSenderNotice queues a notice to the sender about external recipient l
// (NoticeFirstOpen, NoticeLocked, NoticeNewLink). Its content is rendered when it
// is delivered, from the record alone, so it needs no data key.
func (s *Store) AddSenderNotice(ctx context.Context, l Link, reason string, q Enqueuer) error {
	domain, bad, _ := directory.CheckAddress(l.SenderEmail)
	if bad != "" {
		return fmt.Errorf("message: sender address of %s unusable: %s", l.MessageID, bad)
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var pos int
		if err := tx.Model(&deliveryRow{}).Select("COALESCE(MAX(position), -1) + 1").
			Where("message_id = ?", l.MessageID).Scan(&pos).Error; err != nil {
			return err
		}
		row := deliveryRow{ID: uuid.NewString(), MessageID: l.MessageID, Position: pos, Address: l.SenderEmail,
			Kind: KindNotice, Route: directory.RouteInternal, Reason: reason + ":" + l.DeliveryID, Domain: domain,
			OrganisationID: l.OrganisationID, Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
		return insertDeliveries(ctx, tx, []deliveryRow{row}, q)
	})
}

// NoticeSubject parses a sender notice's reason into its kind and the delivery
// id of the external recipient it is about.
func NoticeSubject(reason string) (kind, deliveryID string, ok bool) {
	kind, deliveryID, ok = strings.Cut(reason, ":")
	switch kind {
	case NoticeFirstOpen, NoticeLocked, NoticeNewLink:
		return kind, deliveryID, ok && deliveryID != ""
	}
	return "", "", false
}

// ExternalDelivery returns the delivery id of the external recipient address of
// the sender's message id; ErrNotFound when there is none.
func (s *Store) ExternalDelivery(ctx context.Context, senderUserID, messageID, address string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var ids []string
	err := s.db.WithContext(ctx).Model(&deliveryRow{}).
		Joins("JOIN messages ON messages.id = deliveries.message_id").
		Where("messages.id = ? AND messages.sender_user_id = ? AND deliveries.route = ? AND deliveries.kind <> ? AND LOWER(deliveries.address) = LOWER(?)",
			messageID, senderUserID, directory.RouteExternal, KindNotice, address).
		Limit(1).Pluck("deliveries.id", &ids).Error
	if err != nil {
		return "", fmt.Errorf("message: find external recipient: %w", err)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("%w: external recipient %s of message %s", ErrNotFound, address, messageID)
	}
	return ids[0], nil
}
