package message

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/message/compose"
)

// maxIdempotencyKey bounds the Idempotency-Key header value.
const maxIdempotencyKey = 255

// Accept validates and routes d, writes the signed message to the blob store
// (committed, fsynced) and then stores the message, its deliveries and their
// outbox jobs in one transaction; it returns only once all are committed.
//
// With a non-empty idempotencyKey a repeated request of the same sender with the
// same content returns the stored message with Replayed set; a different request
// under the same key is ErrIdempotencyConflict. Concurrent requests with one key
// store exactly one message.
func (s *Service) Accept(ctx context.Context, from Sender, d Draft, idempotencyKey string) (Accepted, error) {
	if err := checkRequest(from, d, idempotencyKey); err != nil {
		return Accepted{}, err
	}
	rcpts, err := s.knownRecipients(d)
	if err != nil {
		return Accepted{}, err
	}
	if idempotencyKey != "" {
		if acc, done, err := s.replay(ctx, from, d, idempotencyKey); done {
			return acc, err
		}
	}
	if rcpts != nil {
		if err := route(s.router, rcpts, s.cfg.External != nil); err != nil {
			return Accepted{}, err
		}
	}
	return s.accept(ctx, from, d, idempotencyKey, rcpts)
}

func checkRequest(from Sender, d Draft, key string) error {
	if err := checkSender(from); err != nil {
		return err
	}
	if len(key) > maxIdempotencyKey || strings.IndexFunc(key, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return &InvalidError{Field: "idempotency_key", Reason: "at most 255 printable ASCII characters"}
	}
	return checkDraft(d)
}

// knownRecipients returns the recipients known before composing (all but a raw
// message without envelope), merged and counted; nil when they come from Raw.
func (s *Service) knownRecipients(d Draft) ([]recipient, error) {
	var (
		rcpts []recipient
		err   error
	)
	switch {
	case d.Raw == nil:
		rcpts, err = fieldRecipients(d)
	case len(d.EnvelopeRecipients) > 0:
		rcpts, err = envelopeRecipients(d.EnvelopeRecipients, compose.Recipients{})
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return rcpts, checkCount(rcpts, s.cfg.MaxRecipients)
}

// accept composes, commits the blob and then the rows and jobs.
func (s *Service) accept(ctx context.Context, from Sender, d Draft, key string, rcpts []recipient) (Accepted, error) {
	m, err := s.newMessage(from, d, key)
	if err != nil {
		return Accepted{}, err
	}
	g := newDigest(d)
	teed := g.tee(d)
	p, err := s.write(ctx, s.composition(m, from, rcpts), teed)
	if err != nil {
		return Accepted{}, err
	}
	var factors map[string]codeFactor
	if rcpts, err = s.finishRecipients(d, rcpts, p.found); err == nil {
		factors, err = s.codeFactors(ctx, from, d, rcpts)
	}
	if err == nil {
		err = g.drain(teed)
	}
	if err != nil {
		p.abort()
		return Accepted{}, err
	}
	m.RequestHash, m.Size, m.DKIMSignature = g.sum(), p.size, p.signature
	if d.Raw != nil && p.found.MessageID != "" { // a submitted message keeps its own
		m.MessageIDHeader = p.found.MessageID
	}
	if err := p.commit(); err != nil {
		return Accepted{}, err
	}
	return s.commitRows(ctx, m, from, d, rcpts, factors)
}

// finishRecipients settles the recipients of a raw message from its header.
func (s *Service) finishRecipients(d Draft, rcpts []recipient, found compose.Recipients) ([]recipient, error) {
	if d.Raw == nil {
		return rcpts, nil
	}
	var err error
	if len(d.EnvelopeRecipients) > 0 {
		rcpts, err = envelopeRecipients(d.EnvelopeRecipients, found)
	} else if rcpts, err = headerRecipients(found); err == nil {
		err = checkCount(rcpts, s.cfg.MaxRecipients)
	}
	if err != nil {
		return nil, err
	}
	return rcpts, route(s.router, rcpts, s.cfg.External != nil)
}

// commitRows inserts the message, deliveries and jobs; on failure the blob goes.
func (s *Service) commitRows(ctx context.Context, m messageRow, from Sender, d Draft, rcpts []recipient,
	factors map[string]codeFactor) (Accepted, error) {
	ds, err := s.deliveryRows(ctx, m, from, d, rcpts)
	var ext []externalRow
	if err == nil {
		ext, err = s.external(ctx, &m, from, d, ds, factors)
	}
	if err == nil {
		err = s.store.insert(ctx, m, ds, ext, s.queue)
	}
	if err != nil {
		return s.insertFailed(ctx, m, ds, from, err)
	}
	s.log.Info("message accepted", "message", m.ID, "sender", from.UserID, "recipients", len(rcpts),
		"deliveries", len(ds), "size", m.Size)
	s.recordSubmitted(ctx, m, from, d, rcpts)
	return accepted(m.ID, ds, false), nil
}

// insertFailed handles a failed insert: a lost race for the Idempotency-Key is
// answered from the winner; a commit whose outcome is unknown (the connection
// broke during COMMIT) is looked up, and the blob is deleted only when the
// message is certainly not stored.
func (s *Service) insertFailed(ctx context.Context, m messageRow, ds []deliveryRow, from Sender, err error) (Accepted, error) {
	if errors.Is(err, gorm.ErrDuplicatedKey) && m.IdempotencyKey != nil {
		s.deleteBlob(ctx, m.BlobKey)
		s.deleteExternalBlobs(ctx, ds)
		return s.replayStored(ctx, from, *m.IdempotencyKey, m.RequestHash)
	}
	stored, lookupErr := s.store.exists(ctx, m.ID)
	switch {
	case lookupErr != nil:
		s.log.Warn("message outcome unknown; its blob is kept for the sweeper", "message", m.ID, "err", lookupErr)
	case stored:
		s.log.Warn("message stored although the commit reported an error", "message", m.ID, "err", err)
		return accepted(m.ID, ds, false), nil
	default:
		s.deleteBlob(ctx, m.BlobKey)
		s.deleteExternalBlobs(ctx, ds)
	}
	return Accepted{}, err
}

func (s *Service) newMessage(from Sender, d Draft, key string) (messageRow, error) {
	id := uuid.NewString()
	now := s.store.clock()
	dk, wrapped, err := s.vault.newKey(id)
	if err != nil {
		return messageRow{}, err
	}
	m := messageRow{ID: id, OrganisationID: from.OrganisationID, SenderUserID: from.UserID,
		SenderEmail: from.Email, SenderName: from.Name, key: dk, wrapped: wrapped, ClientMessageID: d.ClientMessageID,
		MessageIDHeader: "<" + id + "@" + s.cfg.SMTPHostname + ">", BlobKey: "messages/" + id,
		Status: StateSending, ReplyTo: d.replyTo, CreatedAt: now, UpdatedAt: now}
	if key != "" {
		m.IdempotencyKey = &key
	}
	if d.ExpiresInDays > 0 {
		exp := now.Add(time.Duration(d.ExpiresInDays) * 24 * time.Hour)
		m.ExpiresAt = &exp
	}
	return m, nil
}

// composition says how m is written and signed: From is always the sender, the
// DKIM signature is the sender organisation's for the From domain (DMARC
// alignment, RFC 7489 §3.1.1).
func (s *Service) composition(m messageRow, from Sender, rcpts []recipient) composed {
	domain, _, _ := directory.CheckAddress(from.Email)
	return composed{store: s.vault.With(m.key), key: m.BlobKey, messageID: m.MessageIDHeader, date: m.CreatedAt,
		from: compose.Address{Name: from.Name, Addr: from.Email},
		to:   addresses(rcpts, KindTo), cc: addresses(rcpts, KindCc),
		signOrg: from.OrganisationID, signDomain: domain}
}

// deliveryRows makes one delivery per recipient, plus the sender's own copy when
// their organisation wants it and the sender is not a recipient already.
func (s *Service) deliveryRows(ctx context.Context, m messageRow, from Sender, d Draft, rcpts []recipient) ([]deliveryRow, error) {
	ds := make([]deliveryRow, 0, len(rcpts)+1)
	for i, r := range rcpts {
		ds = append(ds, newDelivery(m, i, r))
	}
	self, ok, err := s.selfCopy(ctx, from, d, rcpts)
	if err != nil || !ok {
		return ds, err
	}
	return append(ds, newDelivery(m, len(ds), self)), nil
}

func newDelivery(m messageRow, pos int, r recipient) deliveryRow {
	return deliveryRow{ID: uuid.NewString(), MessageID: m.ID, Position: pos, Address: r.address, Kind: r.kind,
		Route: r.route, Reason: r.reason, Domain: r.domain, OrganisationID: r.orgID, Status: StatusQueued,
		CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt}
}

func (s *Service) selfCopy(ctx context.Context, from Sender, d Draft, rcpts []recipient) (recipient, bool, error) {
	if d.noSelfCopy {
		return recipient{}, false, nil
	}
	set, err := s.store.OrganisationSettings(ctx, from.OrganisationID)
	if err != nil || !set.SelfCopy {
		return recipient{}, false, err
	}
	self, err := parseRecipient("sender", from.Email)
	if err != nil {
		return recipient{}, false, err
	}
	for _, r := range rcpts {
		if strings.EqualFold(r.address, self.address) {
			return recipient{}, false, nil
		}
	}
	self.kind = KindSelfCopy
	list := []recipient{self}
	if err := route(s.router, list, false); err != nil {
		s.log.Warn("no self-copy: the sender's own address is not on the internal route", "sender", from.UserID)
		return recipient{}, false, nil
	}
	return list[0], true, nil
}

// deleteBlob removes a blob no row refers to; a failure leaves an orphan that the
// sweeper removes later.
func (s *Service) deleteBlob(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	if err := s.vault.Blobs().Delete(ctx, key); err != nil {
		s.log.Warn("could not delete an unreferenced blob", "key", key, "err", err)
	}
}

func accepted(id string, ds []deliveryRow, replayed bool) Accepted {
	a := Accepted{ID: id, Recipients: []RecipientStatus{}, Replayed: replayed}
	for _, d := range ds {
		if d.Kind == KindTo || d.Kind == KindCc || d.Kind == KindBcc {
			a.Recipients = append(a.Recipients, d.status())
		}
	}
	return a
}

// replay answers a request whose key is already stored, reading its content to
// compare fingerprints. done is false when the key is new.
func (s *Service) replay(ctx context.Context, from Sender, d Draft, key string) (Accepted, bool, error) {
	m, ok, err := s.store.byIdempotencyKey(ctx, from.UserID, key)
	if err != nil || !ok {
		return Accepted{}, err != nil, err
	}
	g := newDigest(d)
	if err := g.readAll(d); err != nil {
		return Accepted{}, true, err
	}
	acc, err := s.replayed(ctx, m, g.sum())
	return acc, true, err
}

// replayStored answers a request that lost the race for its key to another.
func (s *Service) replayStored(ctx context.Context, from Sender, key, hash string) (Accepted, error) {
	m, ok, err := s.store.byIdempotencyKey(ctx, from.UserID, key)
	if err != nil {
		return Accepted{}, err
	}
	if !ok {
		return Accepted{}, errors.New("message: idempotency key taken but not found")
	}
	return s.replayed(ctx, m, hash)
}

func (s *Service) replayed(ctx context.Context, m messageRow, hash string) (Accepted, error) {
	if m.RequestHash != hash {
		return Accepted{}, ErrIdempotencyConflict
	}
	ds, err := s.store.deliveries(ctx, []string{m.ID}, KindTo, KindCc, KindBcc)
	if err != nil {
		return Accepted{}, err
	}
	return accepted(m.ID, ds, true), nil
}
