package external

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/message/mimeread"
	"github.com/veilig/veilig/internal/viewer"
)

// Content opens the message of a verified session. The first open is recorded
// and, when the organisation asks for it, the sender told.
func (s *Service) Content(ctx context.Context, sessionToken string) (viewer.Content, error) {
	sess, l, err := s.verified(ctx, sessionToken)
	if err != nil {
		return viewer.Content{}, err
	}
	rc, err := s.store.OpenContent(ctx, l.MessageID)
	if err != nil {
		return viewer.Content{}, contentError(err)
	}
	defer rc.Close()
	mc, err := mimeread.Read(rc, mimeread.Limits{})
	if err != nil {
		return viewer.Content{}, fmt.Errorf("external: read message %s: %w", l.MessageID, err)
	}
	v, err := s.visit(ctx, l, sess)
	if err != nil {
		return viewer.Content{}, err
	}
	s.opened(ctx, l)
	return contentOf(v, mc), nil
}

// contentError: content destroyed under a live session means withdrawn or
// expired; the state page says which.
func contentError(err error) error {
	if errors.Is(err, message.ErrPurged) {
		return viewer.ErrInactive
	}
	return err
}

func contentOf(v viewer.Visit, mc mimeread.Content) viewer.Content {
	c := viewer.Content{Visit: v, Subject: mc.Subject, Date: mc.Date, Text: mc.Text, HTML: mc.HTML}
	for _, a := range mc.Attachments {
		c.Attachments = append(c.Attachments, viewer.Attachment{Index: a.Index, Name: a.Name,
			ContentType: a.ContentType, Size: a.Size})
	}
	return c
}

// opened records the first open and tells the sender when asked to.
func (s *Service) opened(ctx context.Context, l message.Link) {
	first, err := s.store.RecordEvent(ctx, l.DeliveryID, message.EventOpened)
	s.record(ctx, audit.ActionMessageOpened, outcomeSuccess, "", l, map[string]string{"first": strconv.FormatBool(first)})
	if err != nil {
		s.log.Error("could not record an open", "delivery", l.DeliveryID, "err", err)
		return
	}
	if !first {
		return
	}
	s.log.Info("external recipient opened the message", "delivery", l.DeliveryID, "message", l.MessageID)
	set, err := s.store.OrganisationSettings(ctx, l.OrganisationID)
	if err == nil && set.NotifyFirstOpen {
		s.notifySender(ctx, l, message.NoticeFirstOpen)
	}
}

// Attachment opens attachment index of a verified session's message.
func (s *Service) Attachment(ctx context.Context, sessionToken string, index int) (viewer.Attachment, io.ReadCloser, error) {
	_, l, err := s.verified(ctx, sessionToken)
	if err != nil {
		return viewer.Attachment{}, nil, err
	}
	rc, err := s.store.OpenContent(ctx, l.MessageID)
	if err != nil {
		return viewer.Attachment{}, nil, contentError(err)
	}
	a, body, err := mimeread.OpenAttachment(rc, index, mimeread.Limits{})
	if err != nil {
		rc.Close()
		if errors.Is(err, mimeread.ErrNotFound) {
			return viewer.Attachment{}, nil, viewer.ErrNotFound
		}
		return viewer.Attachment{}, nil, fmt.Errorf("external: open attachment: %w", err)
	}
	if _, err := s.store.RecordEvent(ctx, l.DeliveryID, message.EventDownloaded); err != nil {
		s.log.Error("could not record a download", "delivery", l.DeliveryID, "err", err)
	}
	return viewer.Attachment{Index: a.Index, Name: a.Name, ContentType: a.ContentType, Size: a.Size},
		s.auditedDownload(ctx, l, a.Index, readCloser{Reader: body, Closer: rc}), nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// SendReply sends the recipient's reply to the sender over the internal route.
func (s *Service) SendReply(ctx context.Context, sessionToken string, r viewer.Reply) error {
	_, l, err := s.verified(ctx, sessionToken)
	if err != nil {
		return err
	}
	subject, err := s.subject(ctx, l)
	if err != nil {
		return err
	}
	d := message.ReplyDraft{Subject: subject, Text: r.Text}
	for _, u := range r.Attachments {
		body := u.Body
		d.Attachments = append(d.Attachments, compose.Attachment{Name: u.Name, ContentType: u.ContentType,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(body), nil }})
	}
	acc, err := s.msgs.Reply(ctx, l, d)
	if err != nil {
		return replyError(err)
	}
	if _, err := s.store.RecordEvent(ctx, l.DeliveryID, message.EventReplied); err != nil {
		s.log.Error("could not record a reply", "delivery", l.DeliveryID, "err", err)
	}
	s.log.Info("external recipient replied", "delivery", l.DeliveryID, "reply", acc.ID)
	s.record(ctx, audit.ActionReply, outcomeSuccess, "", l, map[string]string{
		"reply": acc.ID, "attachments": strconv.Itoa(len(r.Attachments))})
	return nil
}

func replyError(err error) error {
	var ie *message.InvalidError
	if errors.As(err, &ie) || errors.Is(err, compose.ErrHeaderInjection) || errors.Is(err, compose.ErrInvalid) {
		return fmt.Errorf("%w: %v", viewer.ErrInvalid, err)
	}
	return err
}

// subject reads the original message's subject for the reply.
func (s *Service) subject(ctx context.Context, l message.Link) (string, error) {
	rc, err := s.store.OpenContent(ctx, l.MessageID)
	if err != nil {
		return "", contentError(err)
	}
	defer rc.Close()
	mc, err := mimeread.Read(rc, mimeread.Limits{MaxBody: 1})
	if err != nil {
		return "", fmt.Errorf("external: read subject: %w", err)
	}
	return mc.Subject, nil
}

// RequestNewLink asks the sender for a new link; only an expired link can, once.
func (s *Service) RequestNewLink(ctx context.Context, sessionToken string) error {
	sess, l, err := s.session(ctx, sessionToken)
	if err != nil {
		return err
	}
	v, err := s.visit(ctx, l, sess)
	if err != nil {
		return err
	}
	if v.State != viewer.StateExpired {
		return viewer.ErrInvalid
	}
	first, err := s.store.RecordEvent(ctx, l.DeliveryID, message.EventNewLinkRequested)
	if err != nil || !first {
		return err
	}
	s.notifySender(ctx, l, message.NoticeNewLink)
	return nil
}
