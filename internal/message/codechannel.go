package message

import (
	"bytes"
	"context"
	"fmt"

	"github.com/veilig/veilig/directory"
)

// Code channels: how an external recipient gets their one-time code. E-mail is
// the weaker factor (the link and the code reach the same mailbox), so it is
// used only when the sender's organisation allows it (Settings.EmailCodeAllowed)
// and no phone number was given for the recipient.
const (
	CodeBySMS   = "sms"
	CodeByEmail = "email"
)

// CodeChannel returns how the external recipient of deliveryID gets their
// one-time code: CodeBySMS or CodeByEmail; ErrNotFound when there is no such
// recipient.
func (s *Store) CodeChannel(ctx context.Context, deliveryID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var channels []string
	err := s.db.WithContext(ctx).Model(&externalRow{}).Where("delivery_id = ?", deliveryID).Limit(1).
		Pluck("code_channel", &channels).Error
	if err != nil {
		return "", fmt.Errorf("message: read code channel: %w", err)
	}
	if len(channels) == 0 {
		return "", fmt.Errorf("%w: external recipient %s", ErrNotFound, deliveryID)
	}
	if channels[0] == CodeByEmail {
		return CodeByEmail, nil
	}
	return CodeBySMS, nil
}

// SignAsSender DKIM-signs mail (RFC 5322, CRLF lines) that Veilig writes to
// external recipient l on behalf of l's sender, such as the one-time code by
// e-mail: with the key of the sender's organisation for the sender's domain,
// as the notification is signed, so its From aligns under DMARC (RFC 7489
// §3.1.1). It returns the "DKIM-Signature: …\r\n" header field to put before
// the mail; the mail itself is neither stored nor logged.
func (s *Service) SignAsSender(ctx context.Context, l Link, mail []byte) (string, error) {
	domain, bad, _ := directory.CheckAddress(l.SenderEmail)
	if bad != "" {
		return "", fmt.Errorf("message: sender address of %s unusable: %s", l.MessageID, bad)
	}
	sig, err := s.signer.Sign(ctx, l.OrganisationID, domain, bytes.NewReader(mail))
	if err != nil {
		return "", fmt.Errorf("message: DKIM sign mail to %s: %w", l.DeliveryID, err)
	}
	return sig, nil
}

// codeBy is a stored channel as the sender's status names it.
func codeBy(channel string) string {
	if channel == CodeByEmail {
		return CodeByEmail
	}
	return CodeBySMS
}
