package message

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// List page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Get returns the sender's message id with every delivery and its evidence;
// another sender's message is ErrNotFound.
func (s *Service) Get(ctx context.Context, from Sender, id string) (Status, error) {
	m, err := s.store.message(ctx, from.UserID, id)
	if err != nil {
		return Status{}, err
	}
	ds, err := s.store.deliveries(ctx, []string{m.ID})
	if err != nil {
		return Status{}, err
	}
	evidence, err := s.evidence(ctx, ds)
	if err != nil {
		return Status{}, err
	}
	ext, err := s.store.externals(ctx, m.ID)
	if err != nil {
		return Status{}, err
	}
	st := Status{ID: m.ID, MessageID: m.MessageIDHeader, ClientMessageID: m.ClientMessageID, State: m.Status,
		Size: m.Size, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt, RevokedAt: m.RevokedAt, PurgedAt: m.PurgedAt,
		Recipients: make([]Recipient, len(ds))}
	for i, d := range ds {
		st.Recipients[i] = recipientOf(d, evidence[d.ID])
		if e, ok := ext[d.ID]; ok && d.Kind != KindNotice {
			st.Recipients[i].External = e
		}
	}
	return st, nil
}

func (s *Service) evidence(ctx context.Context, ds []deliveryRow) (map[string][]Attempt, error) {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	rows, err := s.store.attempts(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]Attempt, len(ds))
	for _, r := range rows {
		out[r.DeliveryID] = append(out[r.DeliveryID], attemptOf(r))
	}
	return out, nil
}

func recipientOf(d deliveryRow, evidence []Attempt) Recipient {
	if evidence == nil {
		evidence = []Attempt{}
	}
	return Recipient{Address: d.Address, Kind: d.Kind, Route: d.Route, Reason: d.Reason, Status: d.Status,
		Attempts: d.Attempts, LastError: d.LastError, NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt,
		Suspicious: d.Suspicious, UpdatedAt: d.UpdatedAt, Evidence: evidence}
}

func attemptOf(r attemptRow) Attempt {
	return Attempt{Run: r.Run, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, MX: r.MX, IP: r.IP,
		Policy: r.Policy, TLSVersion: r.TLSVersion, Cipher: r.Cipher, TLSAMatch: r.TLSAMatch, Code: r.Code,
		Enhanced: r.Enhanced, Reply: r.Reply, Error: r.Error, Outcome: r.Outcome}
}

// List returns the sender's messages, newest first, limit per page (0 means
// DefaultPageSize, at most MaxPageSize), after the opaque cursor of the previous
// page ("" for the first). The returned cursor is "" on the last page.
func (s *Service) List(ctx context.Context, from Sender, cursor string, limit int) ([]Summary, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	limit = pageSize(limit)
	ms, err := s.store.page(ctx, from.UserID, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ms) > limit {
		ms = ms[:limit]
		last := ms[limit-1]
		next = encodeCursor(pageKey{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	out, err := s.summaries(ctx, ms)
	return out, next, err
}

func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageSize
	case limit > MaxPageSize:
		return MaxPageSize
	}
	return limit
}

func (s *Service) summaries(ctx context.Context, ms []messageRow) ([]Summary, error) {
	out := make([]Summary, len(ms))
	if len(ms) == 0 {
		return out, nil
	}
	ids := make([]string, len(ms))
	index := make(map[string]int, len(ms))
	for i, m := range ms {
		ids[i], index[m.ID] = m.ID, i
		out[i] = Summary{ID: m.ID, MessageID: m.MessageIDHeader, ClientMessageID: m.ClientMessageID,
			State: m.Status, Size: m.Size, CreatedAt: m.CreatedAt, Recipients: []RecipientStatus{}}
	}
	ds, err := s.store.deliveries(ctx, ids, KindTo, KindCc, KindBcc)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		i := index[d.MessageID]
		out[i].Recipients = append(out[i].Recipients, d.status())
	}
	return out, nil
}

// pageKey is the position after which a page starts: (created_at, id) descending.
type pageKey struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"i"`
}

func encodeCursor(k pageKey) string {
	b, _ := json.Marshal(k) // a time and a string: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string) (*pageKey, error) {
	if c == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	var k pageKey
	if err == nil {
		err = json.Unmarshal(b, &k)
	}
	if err != nil || k.ID == "" || k.CreatedAt.IsZero() {
		return nil, &InvalidError{Field: "cursor", Reason: "not a cursor returned by this list"}
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return &k, nil
}

// page returns up to n of the sender's messages after the key, newest first.
func (s *Store) page(ctx context.Context, userID string, after *pageKey, n int) ([]messageRow, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	q := s.db.WithContext(ctx).Where("sender_user_id = ?", userID)
	if after != nil {
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", after.CreatedAt, after.CreatedAt, after.ID)
	}
	var rows []messageRow
	if err := q.Order("created_at DESC, id DESC").Limit(n).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("message: list messages: %w", err)
	}
	return rows, nil
}
