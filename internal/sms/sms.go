// Package sms validates phone numbers and sends text messages for the external
// viewer's one-time codes (NIST SP 800-63B §5.1.3 out-of-band authenticators,
// OWASP ASVS 6.6).
//
// Numbers are parsed with github.com/nyaruka/phonenumbers (a port of Google's
// libphonenumber) and normalised to E.164 (ITU-T Recommendation E.164). Only
// valid mobile numbers in allowed countries may receive a code. A Number never
// prints in full: its String and LogValue are masked.
//
// Providers sit behind the small Sender interface; CM is the HTTP provider
// (see cm.go for the API it speaks and why it was chosen).
package sms

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is.
var (
	ErrInvalidNumber     = errors.New("sms: invalid phone number")
	ErrNotMobile         = errors.New("sms: phone number is not a mobile number")
	ErrCountryNotAllowed = errors.New("sms: country not allowed")
	ErrInvalidMessage    = errors.New("sms: invalid message")
	ErrConfig            = errors.New("sms: invalid configuration")
)

// Message is one text message to one recipient.
type Message struct {
	To   Number
	Text string
	// Reference is echoed back in delivery reports so the caller can match them;
	// at most 32 characters of [A-Za-z0-9_-]. It must not contain personal data.
	Reference string
}

// Receipt is the provider's acceptance of a message. Acceptance is not delivery:
// delivery status arrives later through the provider's status reports.
type Receipt struct {
	ProviderID string
	Status     string
}

// Sender sends a text message. Implementations return a *ProviderError for
// failures that the provider reported or that happened on the way to it.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// ProviderError is a failed send. Temporary errors (5xx, time-outs, connection
// errors) may succeed when retried later; permanent ones (4xx, rejected
// recipient, bad token) will not. It never holds the phone number or the text.
type ProviderError struct {
	Status    int    // HTTP status, 0 when no response was received
	Code      string // provider error code, or a short local code such as "transport"
	Temporary bool
	Err       error // cause, if any (for example context.DeadlineExceeded)
}

func (e *ProviderError) Error() string {
	kind := "permanent"
	if e.Temporary {
		kind = "temporary"
	}
	s := fmt.Sprintf("sms: provider error (%s): status %d, code %s", kind, e.Status, e.Code)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ProviderError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is a provider error worth retrying later.
func IsTemporary(err error) bool {
	var pe *ProviderError
	return errors.As(err, &pe) && pe.Temporary
}

// validate checks a message before it is handed to a provider.
func (m Message) validate() error {
	switch {
	case m.To.IsZero():
		return fmt.Errorf("%w: no recipient", ErrInvalidMessage)
	case m.Text == "":
		return fmt.Errorf("%w: empty text", ErrInvalidMessage)
	case len(m.Text) > maxTextBytes:
		return fmt.Errorf("%w: text longer than %d bytes", ErrInvalidMessage, maxTextBytes)
	case !validReference(m.Reference):
		return fmt.Errorf("%w: reference must be 1-32 characters of [A-Za-z0-9_-]", ErrInvalidMessage)
	}
	return nil
}

// maxTextBytes bounds a message to a few SMS parts; one-time-code texts are short.
const maxTextBytes = 640

func validReference(ref string) bool {
	if len(ref) == 0 || len(ref) > 32 {
		return false
	}
	for _, r := range ref {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}
