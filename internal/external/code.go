package external

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/otp"
	"github.com/veilig/veilig/internal/sms"
	"github.com/veilig/veilig/internal/viewer"
)

// amsterdam is the time zone of the daily SMS cap.
var amsterdam = mustZone("Europe/Amsterdam")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// SendCode sends a one-time code to the recipient: by SMS to their phone, or
// by e-mail when that is their channel (message.CodeByEmail). Limits, in
// order: the client address, the code issue limit of the recipient
// (internal/otp), and — for SMS only — the organisation's daily SMS cap.
func (s *Service) SendCode(ctx context.Context, sessionToken, clientIP string) error {
	sess, l, err := s.session(ctx, sessionToken)
	if err != nil {
		return err
	}
	if err := s.active(ctx, l, sess); err != nil {
		return err
	}
	if wait, err := s.ips.Take(ctx, s.now(), clientIP); err != nil || wait > 0 {
		return cmp.Or(err, error(&viewer.LimitError{RetryAfter: wait}))
	}
	channel, err := s.store.CodeChannel(ctx, l.DeliveryID)
	if err != nil {
		return err
	}
	if channel == message.CodeByEmail {
		err = s.sendByEmail(ctx, sess, l)
	} else {
		channel, err = "sms", s.sendBySMS(ctx, sess, l)
	}
	s.recordCodeRequest(ctx, l, channel, clientIP, err)
	return err
}

// sendBySMS counts the SMS against the daily cap, issues a code and sends it.
func (s *Service) sendBySMS(ctx context.Context, sess sessionRow, l message.Link) error {
	phone, err := s.phone(ctx, l)
	if err != nil {
		return err
	}
	// The cap is counted before a code is issued: issuing voids the code the
	// recipient already has, which must not happen for an SMS never sent.
	day, err := s.spend(ctx, l.OrganisationID)
	if err != nil {
		return err
	}
	code, err := s.otp.Issue(ctx, l.DeliveryID)
	if err == nil {
		err = s.sendSMS(ctx, sess, l, phone, code)
	}
	if err != nil {
		s.refund(ctx, l.OrganisationID, day)
		return codeError(err)
	}
	return nil
}

func (s *Service) phone(ctx context.Context, l message.Link) (sms.Number, error) {
	raw, err := s.store.Phone(ctx, l)
	if err != nil {
		return sms.Number{}, err
	}
	return sms.Normalize(raw, "NL")
}

func (s *Service) sendSMS(ctx context.Context, sess sessionRow, l message.Link, to sms.Number, code string) error {
	text := fmt.Sprintf("Veilig: uw code is %s (10 min). Your code is %s. %s", code, code, s.cfg.PublicHost)
	receipt, err := s.sms.Send(ctx, sms.Message{To: to, Text: text, Reference: refOf(l.DeliveryID)})
	if err != nil {
		s.log.Warn("one-time code SMS failed", "delivery", l.DeliveryID, "phone", to, "err", err)
		_ = s.store.RecordSMSStatus(ctx, l.DeliveryID, "failed: "+smsFailure(err))
		return fmt.Errorf("external: send code: %w", err)
	}
	if err := s.store.RecordSMSStatus(ctx, l.DeliveryID, strings.TrimSpace(receipt.Status+" "+receipt.ProviderID)); err != nil {
		return err
	}
	if err := s.setSession(ctx, sess, "code_sent_at"); err != nil {
		return err
	}
	_, err = s.store.RecordEvent(ctx, l.DeliveryID, message.EventCodeSent)
	s.log.Info("one-time code sent", "delivery", l.DeliveryID, "phone", to)
	return err
}

// smsFailure names a provider failure without its detail.
func smsFailure(err error) string {
	if sms.IsTemporary(err) {
		return "temporary provider error"
	}
	return "refused by the provider"
}

// refOf is the SMS reference: the delivery id without dashes (no personal data).
func refOf(id string) string {
	out := make([]byte, 0, 32)
	for i := 0; i < len(id) && len(out) < 32; i++ {
		if id[i] != '-' {
			out = append(out, id[i])
		}
	}
	return string(out)
}

// codeError maps internal/otp's errors to the viewer's.
func codeError(err error) error {
	var le *otp.LimitError
	var we *otp.WrongCodeError
	switch {
	case errors.As(err, &le):
		return &viewer.LimitError{RetryAfter: le.RetryAfter}
	case errors.Is(err, otp.ErrLocked):
		return &viewer.CodeError{Remaining: 0} // the viewer shows the locked page
	case errors.Is(err, otp.ErrExpired), errors.Is(err, otp.ErrUsed), errors.Is(err, otp.ErrNoCode),
		errors.Is(err, otp.ErrCodeExhausted):
		return viewer.ErrCodeExpired // this code is done; a new one can be requested
	case errors.As(err, &we):
		return &viewer.CodeError{Remaining: we.Remaining}
	case errors.Is(err, otp.ErrWrongCode):
		return &viewer.CodeError{Remaining: 1}
	case sms.IsTemporary(err), errors.Is(err, errCodeMailLater):
		return fmt.Errorf("%w: %w", viewer.ErrUnavailable, err) // nothing used up: try again shortly
	}
	return err
}

// spendRow counts SMS per organisation and day.
type spendRow struct {
	OrganisationID string `gorm:"primaryKey"`
	Day            string `gorm:"primaryKey"`
	Sent           int
}

func (spendRow) TableName() string { return "sms_spend" }

// spend counts one SMS against the organisation's daily cap, or refuses it
// until the next day (Europe/Amsterdam). It returns the day counted.
func (s *Service) spend(ctx context.Context, orgID string) (string, error) {
	limit, err := s.dailyCap(ctx, orgID)
	if err != nil {
		return "", err
	}
	now := s.now().In(amsterdam)
	day := now.Format(time.DateOnly)
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	refused := false
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var refusedTx bool
		refusedTx, err := countSMS(tx, orgID, day, limit)
		refused = refusedTx
		return err
	})
	if err != nil {
		return "", fmt.Errorf("external: count SMS: %w", err)
	}
	if refused {
		s.log.Warn("daily SMS cap reached", "organisation", orgID, "cap", limit)
		next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, amsterdam)
		return "", &viewer.LimitError{RetryAfter: next.Sub(now)}
	}
	return day, nil
}

// refund gives back an SMS counted for a code that was not sent.
func (s *Service) refund(ctx context.Context, orgID, day string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	err := s.db.WithContext(ctx).Model(&spendRow{}).Where("organisation_id = ? AND day = ? AND sent > 0", orgID, day).
		Update("sent", gorm.Expr("sent - 1")).Error
	if err != nil {
		s.log.Error("could not give back an unsent SMS", "organisation", orgID, "err", err)
	}
}

// countSMS increments the day's count if under limit; it reports a refusal.
func countSMS(tx *gorm.DB, orgID, day string, limit int) (bool, error) {
	res := tx.Exec(`INSERT INTO sms_spend (organisation_id, day, sent) VALUES (?, ?, 0)
		ON CONFLICT (organisation_id, day) DO NOTHING`, orgID, day)
	if res.Error != nil {
		return false, res.Error
	}
	res = tx.Model(&spendRow{}).Where("organisation_id = ? AND day = ? AND sent < ?", orgID, day, limit).
		Update("sent", gorm.Expr("sent + 1"))
	return res.RowsAffected == 0, res.Error
}

func (s *Service) dailyCap(ctx context.Context, orgID string) (int, error) {
	set, err := s.store.OrganisationSettings(ctx, orgID)
	if err != nil {
		return 0, err
	}
	if set.SMSDailyCap >= 0 {
		return set.SMSDailyCap, nil
	}
	return s.cfg.DailySMSCap, nil
}

// VerifyCode checks a code; on success the session is verified. A recipient
// locked by this try has the sender told.
func (s *Service) VerifyCode(ctx context.Context, sessionToken, code, clientIP string) error {
	sess, l, err := s.session(ctx, sessionToken)
	if err != nil {
		return err
	}
	if err := s.active(ctx, l, sess); err != nil {
		return err
	}
	if err := s.otp.Verify(ctx, l.DeliveryID, code, clientIP); err != nil {
		if errors.Is(err, otp.ErrLocked) {
			s.notifySender(ctx, l, message.NoticeLocked)
		}
		err = codeError(err)
		s.recordVerify(ctx, l, clientIP, err)
		return err
	}
	err = s.setSession(ctx, sess, "verified_at")
	if err == nil {
		s.recordVerify(ctx, l, clientIP, nil)
	}
	return err
}

// notifySender queues a notice to the sender; a failure is logged, not shown.
func (s *Service) notifySender(ctx context.Context, l message.Link, kind string) {
	if err := s.store.AddSenderNotice(ctx, l, kind, s.queue); err != nil {
		s.log.Error("could not queue a notice to the sender", "delivery", l.DeliveryID, "kind", kind, "err", err)
	}
}
