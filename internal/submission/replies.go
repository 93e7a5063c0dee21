package submission

import (
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
)

// The gateway's fixed replies (RFC 5321 §4.2, enhanced codes RFC 3463).
var (
	// RFC 3207 §4: 530 5.7.0 until STARTTLS; RFC 4954 §6: 530 5.7.0 until AUTH.
	errTLSRequired  = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errMayNotSend   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "This account may not send mail"}
	errNotOwner     = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address is not the authenticated user's"}
	// RFC 4954 §6: 454 4.7.0 temporary authentication failure.
	errAuthTemporary = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure; try again later"}
	errTemporary     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure storing the message; try again later"}
	errTooMany       = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 3}, Message: "Too many recipients"}
	errContent       = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message content rejected: not a well-formed RFC 5322 message"}
)

// maxNamed bounds how many addresses one reply names.
const maxNamed = 10

// authReply maps an Authenticator error: bad credentials 535 5.7.8, too many
// attempts or anything else 454 4.7.0 (the client may try again later).
func authReply(err error) *smtp.SMTPError {
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
			Message: "Too many failed attempts; try again in " + strconv.Itoa(int(rl.RetryAfter.Seconds())+1) + " seconds"}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return smtp.ErrAuthFailed
	default:
		return errAuthTemporary
	}
}

// dataReply maps the outcome of spooling and Accept to the reply after DATA.
// Replies never carry internal error text.
func dataReply(err error) *smtp.SMTPError {
	var (
		reply   *smtp.SMTPError
		ext     *message.ExternalRecipientsError
		invalid *message.InvalidError
	)
	switch {
	case errors.As(err, &reply):
		return reply // go-smtp's own, e.g. 552 5.3.4 past MaxMessageBytes
	case errors.As(err, &ext):
		return externalRecipients(ext.Addresses)
	case errors.As(err, &invalid):
		return invalidReply(invalid)
	case errors.Is(err, message.ErrTooManyRecipients):
		return errTooMany
	case errors.Is(err, compose.ErrMalformed), errors.Is(err, compose.ErrHeaderInjection), errors.Is(err, compose.ErrInvalid):
		return errContent
	default:
		return errTemporary
	}
}

// invalidReply: a bad recipient is 550 5.1.3 (at RCPT time the same is 501
// 5.1.3, which RFC 5321 §4.3.2 does not allow after DATA); a bad sender 550
// 5.7.1; anything else in the message 554 5.6.0.
func invalidReply(e *message.InvalidError) *smtp.SMTPError {
	switch e.Field {
	case "recipients", "to", "cc", "bcc":
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address: " + oneLine(e.Reason)}
	case "sender":
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "The sender cannot send: " + oneLine(e.Reason)}
	default:
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message rejected: " + oneLine(e.Field+": "+e.Reason)}
	}
}

func badRecipient(addr, detail string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax <" + oneLine(addr) + ">: " + detail}
}

// externalRecipients is 550 5.7.1 naming the recipients outside the community:
// until the external viewer route exists they cannot be reached, and nothing of
// the message is sent.
func externalRecipients(addrs []string) *smtp.SMTPError {
	named := addrs[:min(len(addrs), maxNamed)]
	msg := "Recipients outside the community cannot be reached yet: " + oneLine(strings.Join(named, ", "))
	if more := len(addrs) - len(named); more > 0 {
		msg += " and " + strconv.Itoa(more) + " more"
	}
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: msg}
}

// oneLine keeps a reply on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
