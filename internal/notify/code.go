package notify

import (
	"bytes"
	"fmt"
	"time"

	"github.com/veilig/veilig/internal/message/compose"
)

// codeKind names the templates of Code.
const codeKind = "code"

// Code digit limits: internal/otp issues 6 digits; the viewer accepts 4–12.
const (
	minCodeDigits = 4
	maxCodeDigits = 12
)

// Code carries a one-time code to an external recipient whose sender's
// organisation allows the code by e-mail (NIST SP 800-63B §5.1.3 calls the
// mailbox a weaker out-of-band channel: the link and the code reach the same
// place, which is why it is an explicit policy). The recipient asked for it in
// the viewer, but no person wrote it, so it is Auto-Submitted: auto-generated
// (RFC 3834 §5). Like the notification it comes from the sender's address,
// "Name (via Veilig)", and the caller DKIM-signs it with the key of the
// sender's organisation. It carries no message content and no link; the code
// is in the body only, never in a header field.
type Code struct {
	SenderName, SenderEmail string
	OrganisationName        string
	RecipientAddress        string
	Code                    string        // digits only
	ValidFor                time.Duration // how long the code can be used, at least a minute
	Host                    string        // the viewer's host name, where the code is entered
	MessageID               string        // of this mail, "<id@host>"
	Date                    time.Time
}

// codeView is what the code templates see; like view, display-ready.
type codeView struct {
	Title                   string
	SenderName, SenderEmail string
	Organisation            string
	Code                    string
	Minutes                 int
	Host                    string
}

func (m Code) draft(r *Renderer) (compose.Message, error) {
	v, err := m.view()
	if err != nil {
		return compose.Message{}, err
	}
	text, html, err := r.renderCode(v)
	if err != nil {
		return compose.Message{}, err
	}
	return compose.Message{
		From:    compose.Address{Name: v.SenderName + " (via " + Product + ")", Addr: m.SenderEmail},
		To:      []compose.Address{{Addr: m.RecipientAddress}},
		Subject: v.Title, Text: text, HTML: html,
		MessageID: m.MessageID, Date: m.Date, ExtraHeaders: autoFields(""),
	}, nil
}

// view checks m and returns its display values.
func (m Code) view() (codeView, error) {
	if err := m.check(); err != nil {
		return codeView{}, err
	}
	name := display(m.SenderName, maxName)
	if name == "" {
		name = display(m.OrganisationName, maxName)
	}
	return codeView{Title: "Uw code / Your code", SenderName: name, SenderEmail: m.SenderEmail,
		Organisation: display(m.OrganisationName, maxOrg), Code: m.Code,
		Minutes: int(m.ValidFor / time.Minute), Host: display(m.Host, maxOrg)}, nil
}

func (m Code) check() error {
	fields := []field{{"SenderName", m.SenderName}, {"SenderEmail", m.SenderEmail},
		{"OrganisationName", m.OrganisationName}, {"RecipientAddress", m.RecipientAddress},
		{"Code", m.Code}, {"Host", m.Host}, {"MessageID", m.MessageID}}
	if err := checkFields(fields); err != nil {
		return err
	}
	err := required([]field{{"SenderEmail", m.SenderEmail}, {"OrganisationName", m.OrganisationName},
		{"RecipientAddress", m.RecipientAddress}, {"Host", m.Host}}, []when{{"Date", m.Date}})
	if err != nil {
		return err
	}
	if !digits(m.Code) || len(m.Code) < minCodeDigits || len(m.Code) > maxCodeDigits {
		return fmt.Errorf("%w: Code must be %d to %d digits", ErrInvalid, minCodeDigits, maxCodeDigits)
	}
	if m.ValidFor < time.Minute {
		return fmt.Errorf("%w: ValidFor is under a minute", ErrInvalid)
	}
	if err := checkAddress("SenderEmail", m.SenderEmail); err != nil {
		return err
	}
	if err := checkAddress("RecipientAddress", m.RecipientAddress); err != nil {
		return err
	}
	return checkMessageID("MessageID", m.MessageID)
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// renderCode executes the code templates: those New parsed when it knows the
// kind, else parsed now (they are small, and codes are rate-limited).
func (r *Renderer) renderCode(v codeView) (text, html string, err error) {
	t, ok := r.kinds[codeKind]
	if !ok {
		if t, err = parseKind(codeKind); err != nil {
			return "", "", err
		}
	}
	var tb, hb bytes.Buffer
	if err := t.text.ExecuteTemplate(&tb, "layout", v); err != nil {
		return "", "", fmt.Errorf("notify: render code text: %w", err)
	}
	if err := t.html.ExecuteTemplate(&hb, "layout", v); err != nil {
		return "", "", fmt.Errorf("notify: render code html: %w", err)
	}
	return tb.String(), hb.String(), nil
}
