package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Stored is an event as the trail holds it.
type Stored struct {
	Seq         int64
	Event       Event
	MessageID   string // the message the event concerns, if any
	PayloadHash string // hex SHA-256 of Canonical
	PrevHash    string
	Hash        string     // hex SHA-256(prev_hash || payload_hash)
	PurgedAt    *time.Time // payload removed by retention
}

// row is one audit_events row; payload columns are NULL once purged.
type row struct {
	Seq               int64      `gorm:"column:seq"`
	At                time.Time  `gorm:"column:at"`
	Action            string     `gorm:"column:action"`
	Outcome           string     `gorm:"column:outcome"`
	ActorUserID       *string    `gorm:"column:actor_user_id"`
	ActorAPIKeyID     *string    `gorm:"column:actor_api_key_id"`
	ActorOrganisation *string    `gorm:"column:actor_organisation"`
	ActorRole         *string    `gorm:"column:actor_role"`
	ActorIP           *string    `gorm:"column:actor_ip"`
	ActorUserAgent    *string    `gorm:"column:actor_user_agent"`
	ObjectType        string     `gorm:"column:object_type"`
	ObjectID          *string    `gorm:"column:object_id"`
	MessageID         *string    `gorm:"column:message_id"`
	OrganisationID    string     `gorm:"column:organisation_id"`
	Detail            *string    `gorm:"column:detail"`
	PayloadHash       string     `gorm:"column:payload_hash"`
	PrevHash          string     `gorm:"column:prev_hash"`
	Hash              string     `gorm:"column:hash"`
	PurgedAt          *time.Time `gorm:"column:purged_at"`
}

const eventColumns = "seq, at, action, outcome, actor_user_id, actor_api_key_id, actor_organisation, " +
	"actor_role, actor_ip, actor_user_agent, object_type, object_id, message_id, organisation_id, detail, " +
	"payload_hash, prev_hash, hash, purged_at"

func insertEvent(tx *gorm.DB, s Stored) error {
	detail, err := json.Marshal(s.Event.Detail)
	if err != nil {
		return fmt.Errorf("%w: detail: %w", ErrMalformed, err)
	}
	e, a := s.Event, s.Event.Actor
	return tx.Exec("INSERT INTO audit_events ("+eventColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
		s.Seq, e.At, e.Action, e.Outcome, a.UserID, a.APIKeyID, a.OrganisationID, a.Role, a.IP, a.UserAgent,
		e.Object.Type, e.Object.ID, s.MessageID, e.OrganisationID, string(detail),
		s.PayloadHash, s.PrevHash, s.Hash).Error
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// stored turns a row back into the event it was made from.
func (r row) stored() (Stored, error) {
	e := Event{Action: r.Action, Outcome: r.Outcome, At: r.At.UTC(), OrganisationID: r.OrganisationID,
		Actor: Actor{UserID: str(r.ActorUserID), APIKeyID: str(r.ActorAPIKeyID),
			OrganisationID: str(r.ActorOrganisation), Role: str(r.ActorRole), IP: str(r.ActorIP),
			UserAgent: str(r.ActorUserAgent)},
		Object: Object{Type: r.ObjectType, ID: str(r.ObjectID)}, Detail: map[string]string{}}
	if r.Detail != nil {
		if err := json.Unmarshal([]byte(*r.Detail), &e.Detail); err != nil {
			return Stored{}, fmt.Errorf("%w: seq %d: detail: %w", ErrMalformed, r.Seq, err)
		}
	}
	var purged *time.Time
	if r.PurgedAt != nil {
		p := r.PurgedAt.UTC()
		purged = &p
	}
	return Stored{Seq: r.Seq, Event: e, MessageID: str(r.MessageID), PayloadHash: r.PayloadHash,
		PrevHash: r.PrevHash, Hash: r.Hash, PurgedAt: purged}, nil
}

// Filter selects events for List; zero fields select everything.
type Filter struct {
	OrganisationID string
	ObjectType     string
	ObjectID       string
	MessageID      string // events about this message (its deliveries, codes, downloads included)
	ActorUserID    string
	Action         string
	Since, Until   time.Time // at >= Since, at < Until
	After          int64     // seq > After (cursor)
	Limit          int       // 0 = 100; at most MaxListLimit
}

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
	queryTimeout     = 30 * time.Second
)

// List returns the events f selects in chain order.
func (t *Trail) List(ctx context.Context, f Filter) ([]Stored, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var rows []row
	if err := filtered(t.db.WithContext(ctx), f).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("%w: list: %w", ErrStore, err)
	}
	return toStored(rows)
}

func toStored(rows []row) ([]Stored, error) {
	out := make([]Stored, 0, len(rows))
	for _, r := range rows {
		s, err := r.stored()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func filtered(q *gorm.DB, f Filter) *gorm.DB {
	q = q.Table("audit_events").Select(eventColumns).Where("seq > ?", f.After)
	for _, c := range [...]struct{ col, v string }{{"organisation_id", f.OrganisationID},
		{"object_type", f.ObjectType}, {"object_id", f.ObjectID}, {"message_id", f.MessageID},
		{"actor_user_id", f.ActorUserID}, {"action", f.Action}} {
		if c.v != "" {
			q = q.Where(c.col+" = ?", c.v)
		}
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	return q.Order("seq").Limit(min(limit, MaxListLimit))
}

// Submitter returns the user who submitted message id according to the trail
// ("" when the trail has no such submission, or it was purged): the API lets
// a sender see a message's events only when the trail says they sent it.
func (t *Trail) Submitter(ctx context.Context, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var users []string
	err := t.db.WithContext(ctx).Raw("SELECT actor_user_id FROM audit_events WHERE action = ? AND message_id = ? "+
		"AND purged_at IS NULL ORDER BY seq LIMIT 1", ActionMessageSubmit, id).Scan(&users).Error
	if err != nil {
		return "", fmt.Errorf("%w: submitter: %w", ErrStore, err)
	}
	if len(users) == 0 {
		return "", nil
	}
	return users[0], nil
}
