package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/veilig/veilig/internal/message/compose"
)

// view is what the templates see. Values are display-ready; html/template
// escapes them for HTML.
type view struct {
	Title                      string // the Subject header, also the HTML title
	SenderName, SenderEmail    string
	Organisation               string
	Link, LinkPrefix           string
	ExpiresNL, ExpiresEN       string
	Subject                    string // empty when it may not be shown
	DaysLeft                   int
	Recipient                  string
	SentNL, SentEN, AtNL, AtEN string
	OriginalMessageID          string
	Unlock                     string // the URL or path of the unlock request
	CodeByEmail                bool   // the recipient gets the one-time code by e-mail, not SMS
}

// Notification tells an external recipient that a secure message waits behind
// Link. It comes from the sender's own address, "Name (via Veilig)", so the
// caller DKIM-signs it with the key of the sender's organisation. It has no
// Auto-Submitted field: a person sent the message and the notification is
// its direct, one-time delivery; RFC 3834 §5 keeps auto-generated for mail
// no person caused, and leaving it out lets an out-of-office reply tell the
// sender that the recipient is away.
type Notification struct {
	SenderName, SenderEmail string
	OrganisationName        string
	RecipientAddress        string
	Link                    string // PUBLIC_URL/v/<token>, https (http only on localhost)
	ExpiresAt               time.Time
	Subject                 string // shown only when ShowSubject
	ShowSubject             bool   // the organisation allows the subject outside the message
	CodeByEmail             bool   // the one-time code comes by e-mail (organisation policy), not SMS
	MessageID               string // of this mail, "<id@host>"
	Date                    time.Time
}

// Reminder is a Notification sent again to a recipient who has not opened
// the message, DaysLeft days before the link expires. A scheduler sends it,
// not a person, so it is Auto-Submitted: auto-generated (RFC 3834 §5).
type Reminder struct {
	Notification
	DaysLeft int
}

func (n Notification) draft(r *Renderer) (compose.Message, error) {
	subject := "Beveiligd bericht van %[1]s / Secure message from %[1]s"
	return n.message(r, "notification", subject, "", 0, nil)
}

func (m Reminder) draft(r *Renderer) (compose.Message, error) {
	if m.DaysLeft < 0 {
		return compose.Message{}, fmt.Errorf("%w: DaysLeft is negative", ErrInvalid)
	}
	subject := "Herinnering: beveiligd bericht van %[1]s / Reminder: secure message from %[1]s"
	return m.message(r, "reminder", subject, "Herinnering / Reminder: ", m.DaysLeft, autoFields(""))
}

// message checks n and renders kind. hidden is the Subject header's format
// (with the organisation) when the subject is not shown, shownPrefix goes
// before the subject when it is.
func (n Notification) message(r *Renderer, kind, hidden, shownPrefix string, days int, extra [][2]string) (compose.Message, error) {
	v, err := n.view(r)
	if err != nil {
		return compose.Message{}, err
	}
	v.DaysLeft = days
	v.Title = fmt.Sprintf(hidden, v.Organisation)
	if v.Subject != "" {
		v.Title = shownPrefix + v.Subject
	}
	text, html, err := r.render(kind, v)
	if err != nil {
		return compose.Message{}, err
	}
	return compose.Message{
		From:    compose.Address{Name: v.SenderName + " (via " + Product + ")", Addr: n.SenderEmail},
		To:      []compose.Address{{Addr: n.RecipientAddress}},
		Subject: v.Title, Text: text, HTML: html,
		MessageID: n.MessageID, Date: n.Date, ExtraHeaders: extra,
	}, nil
}

// view checks n and returns its display values.
func (n Notification) view(r *Renderer) (view, error) {
	u, prefix, err := n.check()
	if err != nil {
		return view{}, err
	}
	name := display(n.SenderName, maxName)
	if name == "" {
		name = display(n.OrganisationName, maxName)
	}
	v := view{
		SenderName: name, SenderEmail: n.SenderEmail, Organisation: display(n.OrganisationName, maxOrg),
		Link: u.String(), LinkPrefix: prefix,
		ExpiresNL: formatNL(n.ExpiresAt, r.loc), ExpiresEN: formatEN(n.ExpiresAt, r.loc),
		CodeByEmail: n.CodeByEmail,
	}
	if n.ShowSubject {
		v.Subject = display(n.Subject, maxSubject)
	}
	return v, nil
}

// check validates n and returns its link and the link's prefix.
func (n Notification) check() (*url.URL, string, error) {
	fields := []field{{"SenderName", n.SenderName}, {"SenderEmail", n.SenderEmail},
		{"OrganisationName", n.OrganisationName}, {"RecipientAddress", n.RecipientAddress},
		{"Subject", n.Subject}, {"MessageID", n.MessageID}}
	if err := checkFields(append(fields, field{"Link", n.Link})); err != nil {
		return nil, "", err
	}
	if err := n.checkValues(); err != nil {
		return nil, "", err
	}
	u, prefix, err := parseLink("Link", n.Link)
	if err != nil {
		return nil, "", err
	}
	token, err := linkToken(u)
	if err != nil {
		return nil, "", err
	}
	return u, prefix, tokenFree(token, fields)
}

func (n Notification) checkValues() error {
	err := required([]field{{"SenderEmail", n.SenderEmail}, {"OrganisationName", n.OrganisationName},
		{"RecipientAddress", n.RecipientAddress}, {"Link", n.Link}},
		[]when{{"ExpiresAt", n.ExpiresAt}, {"Date", n.Date}})
	if err != nil {
		return err
	}
	if err := checkAddress("SenderEmail", n.SenderEmail); err != nil {
		return err
	}
	return checkAddress("RecipientAddress", n.RecipientAddress)
}

// Notice is what the notices to a sender share. They come from a system
// address and are Auto-Submitted: auto-generated (RFC 3834 §5), with
// X-Auto-Response-Suppress: All for Exchange ([MS-OXCMAIL] §2.2.3.2.14). They
// go to the sender, so they may name the subject.
type Notice struct {
	From              compose.Address // the system address, e.g. {"Veilig", "postmaster@veilig.example"}
	To                compose.Address // the sender of the original message
	RecipientAddress  string          // the external recipient the notice is about
	Subject           string          // of the original message; may be empty
	OriginalMessageID string          // of the original message, optional; threads the notice
	SentAt            time.Time       // when the original message was sent
	MessageID         string          // of this mail, "<id@host>"
	Date              time.Time       // of this mail; also when the event happened unless the kind says otherwise
}

// NewLinkRequest tells the sender that a recipient whose link has expired
// asks for a new one (at Date).
type NewLinkRequest struct{ Notice }

// FirstOpen tells the sender that a recipient opened the message for the
// first time, at OpenedAt.
type FirstOpen struct {
	Notice
	OpenedAt time.Time
}

// Locked tells the sender that a recipient entered too many wrong codes (at
// LockedAt) and how to unlock them: POST
// /api/v1/messages/{MessageRef}/recipients/{RecipientAddress}/unlock.
type Locked struct {
	Notice
	MessageRef string // the message's id in the API
	APIBaseURL string // optional, e.g. "https://veilig.example"; without it the path alone is shown
	LockedAt   time.Time
}

func (m NewLinkRequest) draft(r *Renderer) (compose.Message, error) {
	return m.message(r, "newlink", "Nieuwe link gevraagd / New link requested", m.Date, "")
}

func (m FirstOpen) draft(r *Renderer) (compose.Message, error) {
	if m.OpenedAt.IsZero() {
		return compose.Message{}, fmt.Errorf("%w: OpenedAt is not set", ErrInvalid)
	}
	return m.message(r, "firstopen", "Bericht geopend / Message opened", m.OpenedAt, "")
}

func (m Locked) draft(r *Renderer) (compose.Message, error) {
	unlock, err := m.unlock()
	if err != nil {
		return compose.Message{}, err
	}
	if m.LockedAt.IsZero() {
		return compose.Message{}, fmt.Errorf("%w: LockedAt is not set", ErrInvalid)
	}
	return m.message(r, "locked", "Ontvanger geblokkeerd / Recipient locked out", m.LockedAt, unlock)
}

// unlock returns the unlock request's URL, or its path without APIBaseURL.
func (m Locked) unlock() (string, error) {
	if err := checkFields([]field{{"MessageRef", m.MessageRef}, {"APIBaseURL", m.APIBaseURL}}); err != nil {
		return "", err
	}
	if strings.TrimSpace(m.MessageRef) == "" {
		return "", fmt.Errorf("%w: MessageRef is empty", ErrInvalid)
	}
	p := "/api/v1/messages/" + url.PathEscape(m.MessageRef) + "/recipients/" +
		url.PathEscape(m.RecipientAddress) + "/unlock"
	if m.APIBaseURL == "" {
		return p, nil
	}
	u, _, err := parseLink("APIBaseURL", m.APIBaseURL)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: APIBaseURL has a query or fragment", ErrLink)
	}
	return strings.TrimSuffix(u.String(), "/") + p, nil
}

// message checks n and renders kind with the event at `at`.
func (n Notice) message(r *Renderer, kind, title string, at time.Time, unlock string) (compose.Message, error) {
	if err := n.check(); err != nil {
		return compose.Message{}, err
	}
	v := view{
		Recipient: n.RecipientAddress, Subject: display(n.Subject, maxSubject),
		SentNL: formatNL(n.SentAt, r.loc), SentEN: formatEN(n.SentAt, r.loc),
		AtNL: formatNL(at, r.loc), AtEN: formatEN(at, r.loc),
		OriginalMessageID: n.OriginalMessageID, Unlock: unlock, Title: title,
	}
	if v.Subject != "" {
		v.Title += ": " + v.Subject
	}
	text, html, err := r.render(kind, v)
	if err != nil {
		return compose.Message{}, err
	}
	return compose.Message{
		From: n.From, To: []compose.Address{n.To}, Subject: v.Title, Text: text, HTML: html,
		MessageID: n.MessageID, Date: n.Date, ExtraHeaders: autoFields(n.OriginalMessageID),
	}, nil
}

func (n Notice) check() error {
	fields := []field{{"From.Name", n.From.Name}, {"From.Addr", n.From.Addr}, {"To.Name", n.To.Name},
		{"To.Addr", n.To.Addr}, {"RecipientAddress", n.RecipientAddress}, {"Subject", n.Subject},
		{"OriginalMessageID", n.OriginalMessageID}, {"MessageID", n.MessageID}}
	if err := checkFields(fields); err != nil {
		return err
	}
	err := required([]field{{"From.Addr", n.From.Addr}, {"To.Addr", n.To.Addr},
		{"RecipientAddress", n.RecipientAddress}}, []when{{"SentAt", n.SentAt}, {"Date", n.Date}})
	if err != nil {
		return err
	}
	if err := checkAddress("RecipientAddress", n.RecipientAddress); err != nil {
		return err
	}
	return checkMessageID("OriginalMessageID", n.OriginalMessageID)
}

// autoFields are the header fields of mail no person sent, threaded to the
// original message when its Message-ID is known (RFC 5322 §3.6.4).
func autoFields(original string) [][2]string {
	f := [][2]string{{"Auto-Submitted", "auto-generated"}, {"X-Auto-Response-Suppress", "All"}}
	if original != "" {
		f = append(f, [2]string{"References", original})
	}
	return f
}
