package message

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/message/compose"
)

// Limits on fields that are stored or become header fields.
const (
	maxClientMessageID = 255
	maxExpiresInDays   = 365
)

// e164 is "+", a non-zero country digit and 7–14 more digits (ITU-T E.164 allows
// at most 15 digits in all).
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// recipient is one merged, validated recipient.
type recipient struct {
	address string // local part as given, domain normalised (IDNA A-label, lower case)
	kind    string
	domain  string
	route   string
	reason  string
	orgID   string
}

// checkSender refuses a Sender the service cannot send as.
func checkSender(from Sender) error {
	if from.UserID == "" || from.OrganisationID == "" {
		return &InvalidError{Field: "sender", Reason: "the sender has no user or organisation"}
	}
	if _, reason, detail := directory.CheckAddress(from.Email); reason != "" {
		return &InvalidError{Field: "sender", Reason: detail}
	}
	return compose.CheckHeaderValue("From", from.Name)
}

// checkDraft validates everything of d except its recipients.
func checkDraft(d Draft) error {
	if err := checkPhones(d.Phones); err != nil {
		return err
	}
	if d.ExpiresInDays < 0 || d.ExpiresInDays > maxExpiresInDays {
		return &InvalidError{Field: "expires_in_days", Reason: "must be between 1 and 365"}
	}
	if err := checkClientMessageID(d.ClientMessageID); err != nil {
		return err
	}
	if d.Raw != nil {
		return nil
	}
	return compose.CheckHeaderValue("Subject", d.Subject)
}

func checkPhones(phones map[string]string) error {
	for addr, number := range phones {
		if _, reason, _ := directory.CheckAddress(addr); reason != "" {
			return &InvalidError{Field: "phones", Reason: fmt.Sprintf("%q is not an e-mail address", addr)}
		}
		if !e164.MatchString(number) {
			return &InvalidError{Field: "phones", Reason: "the number for " + addr + " is not in E.164 form (+31612345678)"}
		}
	}
	return nil
}

func checkClientMessageID(id string) error {
	if len(id) > maxClientMessageID || !utf8.ValidString(id) {
		return &InvalidError{Field: "client_message_id", Reason: "at most 255 octets of UTF-8"}
	}
	if strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return &InvalidError{Field: "client_message_id", Reason: "contains control characters"}
	}
	return nil
}

// merger collects recipients in order, merging duplicates (case-insensitively,
// after the domain is normalised); the first kind seen wins, so an address in To
// and Bcc is delivered once, as To.
type merger struct {
	seen map[string]bool
	list []recipient
}

func (m *merger) add(field, kind string, addresses []string) error {
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	for _, a := range addresses {
		r, err := parseRecipient(field, strings.TrimSpace(a))
		if err != nil {
			return err
		}
		if key := strings.ToLower(r.address); !m.seen[key] {
			m.seen[key] = true
			r.kind = kind
			m.list = append(m.list, r)
		}
	}
	return nil
}

func parseRecipient(field, address string) (recipient, error) {
	domain, reason, detail := directory.CheckAddress(address)
	if reason != "" {
		return recipient{}, &InvalidError{Field: field, Reason: fmt.Sprintf("%q: %s", address, detail)}
	}
	local := address[:strings.LastIndexByte(address, '@')]
	return recipient{address: local + "@" + domain, domain: domain}, nil
}

// fieldRecipients merges To, Cc and Bcc of d.
func fieldRecipients(d Draft) ([]recipient, error) {
	var m merger
	for _, f := range []struct {
		kind string
		list []string
	}{{KindTo, d.To}, {KindCc, d.Cc}, {KindBcc, d.Bcc}} {
		if err := m.add(f.kind, f.kind, f.list); err != nil {
			return nil, err
		}
	}
	return m.list, nil
}

// envelopeRecipients merges the SMTP envelope recipients; each is To or Cc when
// the message's header names it there, else Bcc.
func envelopeRecipients(addresses []string, headers compose.Recipients) ([]recipient, error) {
	var m merger
	if err := m.add("recipients", KindBcc, addresses); err != nil {
		return nil, err
	}
	kinds := map[string]string{}
	for _, h := range []struct {
		kind string
		list []string
	}{{KindCc, headers.Cc}, {KindTo, headers.To}} {
		for _, a := range h.list {
			if r, err := parseRecipient("", strings.TrimSpace(a)); err == nil {
				kinds[strings.ToLower(r.address)] = h.kind
			}
		}
	}
	for i := range m.list {
		if k, ok := kinds[strings.ToLower(m.list[i].address)]; ok {
			m.list[i].kind = k
		}
	}
	return m.list, nil
}

// headerRecipients merges the recipients named in a raw message's header.
func headerRecipients(h compose.Recipients) ([]recipient, error) {
	return fieldRecipients(Draft{To: h.To, Cc: h.Cc, Bcc: h.Bcc})
}

// checkCount enforces at least one and at most max recipients.
func checkCount(rcpts []recipient, max int) error {
	if len(rcpts) == 0 {
		return &InvalidError{Field: "to", Reason: "at least one recipient is required"}
	}
	if len(rcpts) > max {
		return fmt.Errorf("%w: %d, at most %d", ErrTooManyRecipients, len(rcpts), max)
	}
	return nil
}

// route resolves every recipient; invalid ones are an InvalidError, external ones
// an ExternalRecipientsError naming them all.
func route(router Router, rcpts []recipient, allowExternal bool) error {
	addrs := make([]string, len(rcpts))
	for i, r := range rcpts {
		addrs[i] = r.address
	}
	results := router.Resolve(addrs)
	if len(results) != len(rcpts) {
		return fmt.Errorf("message: router answered %d of %d addresses", len(results), len(rcpts))
	}
	var external []string
	for i, res := range results {
		switch res.Route {
		case directory.RouteInternal:
			rcpts[i].route, rcpts[i].reason = res.Route, res.Reason
			if res.Organisation != nil {
				rcpts[i].orgID = res.Organisation.ID
			}
		case directory.RouteExternal:
			rcpts[i].route, rcpts[i].reason = res.Route, res.Reason
			if !allowExternal {
				external = append(external, res.Address)
			}
		default:
			return &InvalidError{Field: rcpts[i].kind, Reason: fmt.Sprintf("%q: %s", res.Address, res.Detail)}
		}
	}
	if len(external) > 0 {
		return &ExternalRecipientsError{Addresses: external}
	}
	return nil
}
