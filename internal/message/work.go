package message

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/blob"
)

// Delivery is one delivery as the outbox worker needs it.
type Delivery struct {
	ID             string
	MessageID      string // the row id of the message
	Kind           string
	Address        string
	Domain         string
	OrganisationID string // the recipient's organisation
	Status         string
	Attempts       int // delivery runs so far

	SenderUserID         string
	SenderEmail          string
	SenderOrganisationID string
	MessageIDHeader      string
	MessageCreatedAt     time.Time
	// BlobKey, Size and DKIMSignature describe what is sent: the message's own
	// blob, or a notice's. The DKIM-Signature header field goes before the blob.
	BlobKey       string
	Size          int64
	DKIMSignature string
	// Content opens and writes blobs sealed under the message's data key; nil
	// once the message is purged (its key destroyed).
	Content       blob.Store
	Reason        string // why the delivery exists (a notice's kind, e.g. "bounce-notice")
	Route         string
	OwnBlob       bool       // BlobKey is the delivery's own (a notice or notification), not the message's
	NextAttemptAt *time.Time // when a deferred delivery is due
}

// Final reports whether the delivery has nothing left to do.
func (d Delivery) Final() bool { return d.Status == StatusDelivered || d.Status == StatusFailed }

// Delivery returns delivery id with its message, or ErrNotFound.
func (s *Store) Delivery(ctx context.Context, id string) (Delivery, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var ds []deliveryRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&ds).Error; err != nil {
		return Delivery{}, fmt.Errorf("message: read delivery: %w", err)
	}
	if len(ds) == 0 {
		return Delivery{}, fmt.Errorf("%w: delivery %s", ErrNotFound, id)
	}
	var ms []messageRow
	if err := s.db.WithContext(ctx).Where("id = ?", ds[0].MessageID).Limit(1).Find(&ms).Error; err != nil {
		return Delivery{}, fmt.Errorf("message: read message: %w", err)
	}
	if len(ms) == 0 {
		return Delivery{}, fmt.Errorf("%w: message of delivery %s", ErrNotFound, id)
	}
	d := deliveryOf(ds[0], ms[0])
	var err error
	d.Content, err = s.content(ctx, ms[0].ID)
	return d, err
}

// content returns the sealed store of a message's content, nil when purged.
func (s *Store) content(ctx context.Context, messageID string) (blob.Store, error) {
	var keys []dataKeyRow
	if err := s.db.WithContext(ctx).Where("message_id = ?", messageID).Limit(1).Find(&keys).Error; err != nil {
		return nil, fmt.Errorf("message: read data key: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	dk, err := s.vault.unwrap(messageID, keys[0].wrappedKey())
	if err != nil {
		return nil, err
	}
	return s.vault.With(dk), nil
}

func deliveryOf(d deliveryRow, m messageRow) Delivery {
	out := Delivery{ID: d.ID, MessageID: m.ID, Kind: d.Kind, Address: d.Address, Domain: d.Domain,
		OrganisationID: d.OrganisationID, Status: d.Status, Attempts: d.Attempts,
		SenderUserID: m.SenderUserID, SenderEmail: m.SenderEmail, SenderOrganisationID: m.OrganisationID,
		MessageIDHeader: m.MessageIDHeader, MessageCreatedAt: m.CreatedAt,
		BlobKey: m.BlobKey, Size: m.Size, DKIMSignature: m.DKIMSignature, Reason: d.Reason, Route: d.Route,
		NextAttemptAt: d.NextAttemptAt}
	if d.BlobKey != "" || d.Kind == KindNotice { // a notice carries its own content, or is rendered
		out.BlobKey, out.Size, out.DKIMSignature, out.OwnBlob = d.BlobKey, d.Size, "", true
	}
	return out
}

// Outcome is the result of one delivery run.
type Outcome struct {
	Status        string    // StatusDelivered, StatusDeferred or StatusFailed
	Evidence      []Attempt // this run's connection attempts (Run is filled in)
	Reason        string    // why it is deferred or failed
	NextAttemptAt time.Time // when deferred
	Suspicious    bool      // the domain lost DANE or MTA-STS it had before
}

// Notice is a bounce notice to the sender, written to its own blob.
type Notice struct {
	Address, Domain, OrganisationID string
	BlobKey                         string
	Size                            int64
}

// Record stores the outcome of a run of delivery d: its evidence, the new state,
// the message's state when d's became final, and — in the same transaction — the
// notice (with its outbox job) when one is given. It reports false, storing
// nothing, when d was already final (another run got there first).
func (s *Store) Record(ctx context.Context, d Delivery, o Outcome, notice *Notice, q Enqueuer) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.clock()
	recorded, shredded := false, false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ok, err := updateDelivery(tx, d, o, now)
		if err != nil || !ok {
			return err
		}
		recorded = true
		if err := insertEvidence(tx, d, o, now); err != nil {
			return err
		}
		if o.Status == StatusDeferred {
			return nil
		}
		if err := markNotified(tx, d, o, now); err != nil {
			return err
		}
		// Only the addressed recipients decide the message's state; a self-copy
		// or notice becoming final need not lock and recount the message.
		if countsForState(d.Kind) {
			if err := updateMessageState(tx, d.MessageID, now); err != nil {
				return err
			}
		}
		if err := insertNotice(ctx, tx, d, notice, q, now); err != nil {
			return err
		}
		shredded, err = purgeIfDone(tx, d.MessageID, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("message: record delivery outcome: %w", err)
	}
	if shredded {
		s.recordLifecycle(ctx, audit.ActionShredded, messageRow{ID: d.MessageID, OrganisationID: d.SenderOrganisationID})
	}
	return recorded, nil
}

// markNotified records that an external recipient's notification arrived.
func markNotified(tx *gorm.DB, d Delivery, o Outcome, now time.Time) error {
	if d.Route != directory.RouteExternal || d.Kind == KindNotice || o.Status != StatusDelivered {
		return nil
	}
	return tx.Model(&externalRow{}).Where("delivery_id = ?", d.ID).Update("notified_at", now).Error
}

// purgeIfDone destroys the data key of a message that every recipient has
// received over the internal route (nothing pending, no external recipient,
// who keeps reading until expiry): only status and evidence remain, and the
// sweeper deletes the ciphertext.
func purgeIfDone(tx *gorm.DB, messageID string, now time.Time) (bool, error) {
	var open int64
	err := tx.Model(&deliveryRow{}).Where("message_id = ? AND (status IN ? OR (route = ? AND kind <> ?))",
		messageID, []string{StatusQueued, StatusDeferred}, directory.RouteExternal, KindNotice).Count(&open).Error
	if err != nil || open > 0 {
		return false, err
	}
	return destroyKey(tx, messageID, now)
}

// destroyKey crypto-shreds a message: its data key is deleted. It reports
// whether the message was shredded now rather than before.
func destroyKey(tx *gorm.DB, messageID string, now time.Time) (bool, error) {
	if err := tx.Where("message_id = ?", messageID).Delete(&dataKeyRow{}).Error; err != nil {
		return false, err
	}
	res := tx.Model(&messageRow{}).Where("id = ? AND purged_at IS NULL", messageID).Update("purged_at", now)
	return res.RowsAffected == 1, res.Error
}

// updateDelivery moves d to its new state unless it is final already.
func updateDelivery(tx *gorm.DB, d Delivery, o Outcome, now time.Time) (bool, error) {
	set := map[string]any{"status": o.Status, "attempts": gorm.Expr("attempts + 1"), "last_error": o.Reason,
		"next_attempt_at": nil, "updated_at": now}
	switch o.Status {
	case StatusDeferred:
		next := o.NextAttemptAt.UTC().Truncate(time.Microsecond)
		set["next_attempt_at"] = &next
	case StatusDelivered:
		set["delivered_at"], set["last_error"] = &now, ""
	}
	if o.Suspicious {
		set["suspicious"] = true
	}
	res := tx.Model(&deliveryRow{}).Where("id = ? AND status IN ?", d.ID, []string{StatusQueued, StatusDeferred}).
		Updates(set)
	return res.RowsAffected == 1, res.Error
}

func insertEvidence(tx *gorm.DB, d Delivery, o Outcome, now time.Time) error {
	if len(o.Evidence) == 0 {
		return nil
	}
	rows := make([]attemptRow, len(o.Evidence))
	for i, a := range o.Evidence {
		rows[i] = attemptRow{DeliveryID: d.ID, Run: d.Attempts + 1, StartedAt: utc(a.StartedAt, now),
			FinishedAt: utc(a.FinishedAt, now), MX: a.MX, IP: a.IP, Policy: a.Policy, TLSVersion: a.TLSVersion,
			Cipher: a.Cipher, TLSAMatch: a.TLSAMatch, Code: a.Code, Enhanced: a.Enhanced, Reply: a.Reply,
			Error: a.Error, Outcome: a.Outcome}
	}
	return tx.Create(&rows).Error
}

func utc(t, fallback time.Time) time.Time {
	if t.IsZero() {
		return fallback
	}
	return t.UTC().Truncate(time.Microsecond)
}

// updateMessageState recomputes the message's state from its recipients'. It
// first locks the message row, so that of two deliveries of one message becoming
// final at once, the second counts after the first committed (PostgreSQL's
// READ COMMITTED would otherwise let both count the other as pending).
func updateMessageState(tx *gorm.DB, messageID string, now time.Time) error {
	if err := tx.Model(&messageRow{}).Where("id = ?", messageID).Update("updated_at", now).Error; err != nil {
		return err
	}
	var counts []struct {
		Status string
		N      int
	}
	err := tx.Model(&deliveryRow{}).Select("status, COUNT(*) AS n").
		Where("message_id = ? AND kind IN ?", messageID, stateKinds).
		Group("status").Scan(&counts).Error
	if err != nil {
		return err
	}
	by := map[string]int{}
	for _, c := range counts {
		by[c.Status] = c.N
	}
	return tx.Model(&messageRow{}).Where("id = ?", messageID).
		Updates(map[string]any{"status": messageState(by), "updated_at": now}).Error
}

// countsForState reports whether deliveries of this kind make up the message's state.
func countsForState(kind string) bool { return slices.Contains(stateKinds, kind) }

var stateKinds = []string{KindTo, KindCc, KindBcc}

func messageState(by map[string]int) string {
	switch {
	case by[StatusQueued]+by[StatusDeferred] > 0:
		return StateSending
	case by[StatusFailed] == 0:
		return StateDelivered
	case by[StatusDelivered] == 0:
		return StateFailed
	}
	return StatePartial
}

// insertNotice adds the bounce notice delivery and its job.
func insertNotice(ctx context.Context, tx *gorm.DB, d Delivery, n *Notice, q Enqueuer, now time.Time) error {
	if n == nil {
		return nil
	}
	if q == nil {
		return errors.New("message: a notice needs an Enqueuer")
	}
	var pos int
	if err := tx.Model(&deliveryRow{}).Select("COALESCE(MAX(position), -1) + 1").
		Where("message_id = ?", d.MessageID).Scan(&pos).Error; err != nil {
		return err
	}
	row := deliveryRow{ID: uuid.NewString(), MessageID: d.MessageID, Position: pos, Address: n.Address,
		Kind: KindNotice, Route: directory.RouteInternal, Reason: "bounce-notice", Domain: n.Domain,
		OrganisationID: n.OrganisationID, BlobKey: n.BlobKey, Size: n.Size, Status: StatusQueued,
		CreatedAt: now, UpdatedAt: now}
	return insertDeliveries(ctx, tx, []deliveryRow{row}, q)
}
