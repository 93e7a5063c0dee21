package external

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/notify"
)

// ErrCodeMail reports a code e-mail that was not delivered (or could not be
// sent at all); the recipient can ask again.
var ErrCodeMail = errors.New("external: code e-mail not delivered")

// CodeMailer delivers one mail to recipients at one domain, synchronously.
// internal/delivery's Deliverer and the dev mailbox implement it.
type CodeMailer interface {
	Deliver(ctx context.Context, domain string, env delivery.Envelope) delivery.Result
}

// sendByEmail issues a code and mails it to the recipient's own address. The
// code exists only in this call: otp keeps its HMAC, the mail is built in
// memory, handed to the mailer and then wiped; neither is stored or logged.
// There is no spend cap: e-mail costs nothing per message.
func (s *Service) sendByEmail(ctx context.Context, sess sessionRow, l message.Link) error {
	if s.mail == nil {
		return fmt.Errorf("%w: no mailer configured for codes by e-mail", ErrConfig)
	}
	code, err := s.otp.Issue(ctx, l.DeliveryID)
	if err != nil {
		return codeError(err)
	}
	res, err := s.mailCode(ctx, l, code)
	if err != nil {
		s.log.Error("one-time code e-mail not composed", "delivery", l.DeliveryID, "err", err)
		return err
	}
	if res.Outcome != delivery.Delivered {
		return s.codeMailFailed(ctx, l, res)
	}
	if err := s.store.RecordSMSStatus(ctx, l.DeliveryID, "e-mail: delivered"); err != nil {
		return err
	}
	if err := s.setSession(ctx, sess, "code_sent_at"); err != nil {
		return err
	}
	_, err = s.store.RecordEvent(ctx, l.DeliveryID, message.EventCodeSent)
	s.log.Info("one-time code sent", "delivery", l.DeliveryID, "channel", message.CodeByEmail)
	return err
}

// codeMailFailed records and reports an undelivered code e-mail.
func (s *Service) codeMailFailed(ctx context.Context, l message.Link, res delivery.Result) error {
	s.log.Warn("one-time code e-mail not delivered", "delivery", l.DeliveryID, "outcome", res.Outcome.String(),
		"reason", res.Reason)
	_ = s.store.RecordSMSStatus(ctx, l.DeliveryID, "e-mail: failed: "+res.Outcome.String())
	if res.Outcome == delivery.Temporary {
		return fmt.Errorf("%w: %w: %s", ErrCodeMail, errCodeMailLater, res.Outcome)
	}
	return fmt.Errorf("%w: %s", ErrCodeMail, res.Outcome)
}

// errCodeMailLater marks a code e-mail the recipient's server deferred: the
// viewer says to try again shortly.
var errCodeMailLater = errors.New("external: code e-mail deferred")

// mailCode composes, signs and delivers the code e-mail to l's recipient, from
// the null reverse-path: a bounce would carry the code back to someone else
// (RFC 5321 §4.5.5, RFC 3834 §3.3).
func (s *Service) mailCode(ctx context.Context, l message.Link, code string) (delivery.Result, error) {
	domain, bad, _ := directory.CheckAddress(l.Address)
	if bad != "" {
		return delivery.Result{}, fmt.Errorf("%w: recipient address: %s", ErrCodeMail, bad)
	}
	raw, err := s.codeMail(ctx, l, code)
	if err != nil {
		return delivery.Result{}, err
	}
	defer clear(raw)
	res := s.mail.Deliver(ctx, domain, delivery.Envelope{To: []string{l.Address}, Size: int64(len(raw)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }})
	return res, nil
}

// codeMail renders the code e-mail and puts the sender organisation's DKIM
// signature before it.
func (s *Service) codeMail(ctx context.Context, l message.Link, code string) ([]byte, error) {
	var body bytes.Buffer
	err := s.notes.Write(&body, notify.Code{SenderName: l.SenderName, SenderEmail: l.SenderEmail,
		OrganisationName: s.organisation(l), RecipientAddress: l.Address, Code: code, ValidFor: s.cfg.CodeTTL,
		Host: s.cfg.PublicHost, MessageID: "<" + uuid.NewString() + "@" + s.cfg.SMTPHostname + ">",
		Date: s.now()})
	if err != nil {
		return nil, fmt.Errorf("external: compose code e-mail: %w", err)
	}
	defer clear(body.Bytes())
	sig, err := s.msgs.SignAsSender(ctx, l, body.Bytes())
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(sig)+body.Len())
	return append(append(out, sig...), body.Bytes()...), nil
}

// organisation names l's sender organisation, or its domain when the
// directory no longer knows it.
func (s *Service) organisation(l message.Link) string {
	if name := s.msgs.OrganisationName(l.SenderEmail); name != "" {
		return name
	}
	domain, _, _ := directory.CheckAddress(l.SenderEmail)
	return domain
}
