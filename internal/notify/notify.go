// Package notify composes the e-mails of Veilig's external route (issue 4):
// the notification that tells a recipient outside the community that a secure
// message waits behind a link, the reminder before that link expires, and the
// notices to the sender (a recipient asks for a new link, opened the message,
// or is locked out after too many wrong codes).
//
// Every mail is bilingual, Dutch first and English second in the same mail,
// because the recipient's language is unknown. It is rendered from embedded
// text/template and html/template files into a multipart/alternative
// message (RFC 2046 §5.1.4) that package compose writes: UTF-8,
// quoted-printable, CRLF, RFC 2047 encoded display names and subjects. The
// HTML has inline styles only, no remote images and no script. No mail carries
// message content; the notification names the subject only when the
// organisation allows it. Sender notices carry Auto-Submitted:
// auto-generated (RFC 3834 §5). DKIM signing (RFC 6376) is the caller's: it
// signs the written message with the key of the sender's organisation.
package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	texttemplate "text/template"
	"time"
	_ "time/tzdata" // Europe/Amsterdam also on hosts without a zoneinfo database

	"github.com/veilig/veilig/internal/message/compose"
)

// Errors. A line break or NUL in any input is compose.ErrHeaderInjection.
var (
	// ErrInvalid reports missing or malformed input.
	ErrInvalid = errors.New("notify: invalid input")
	// ErrLink reports a link that is not https (or http on localhost).
	ErrLink = errors.New("notify: link not allowed")
)

// Product is the name the mails use for the service.
const Product = "Veilig"

//go:embed templates/*.tmpl
var templateFS embed.FS

// Mail is one of the kinds this package renders: Notification, Reminder,
// NewLinkRequest, FirstOpen and Locked.
type Mail interface {
	draft(r *Renderer) (compose.Message, error)
}

// Renderer renders mails. It is immutable and safe for concurrent use.
type Renderer struct {
	loc   *time.Location
	kinds map[string]templates
}

type templates struct {
	html *htmltemplate.Template
	text *texttemplate.Template
}

// kindNames are the template files besides the layouts, one pair per kind.
func kindNames() []string {
	return []string{"notification", "reminder", "newlink", "firstopen", "locked"}
}

// New parses the embedded templates and loads the Europe/Amsterdam zone, in
// which all dates are shown.
func New() (*Renderer, error) {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		return nil, fmt.Errorf("notify: time zone: %w", err)
	}
	r := &Renderer{loc: loc, kinds: make(map[string]templates)}
	for _, k := range kindNames() {
		t, err := parseKind(k)
		if err != nil {
			return nil, err
		}
		r.kinds[k] = t
	}
	return r, nil
}

func parseKind(kind string) (templates, error) {
	h, err := htmltemplate.ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+kind+".html.tmpl")
	if err != nil {
		return templates{}, fmt.Errorf("notify: template %s: %w", kind, err)
	}
	t, err := texttemplate.ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/"+kind+".txt.tmpl")
	if err != nil {
		return templates{}, fmt.Errorf("notify: template %s: %w", kind, err)
	}
	return templates{html: h.Option("missingkey=error"), text: t.Option("missingkey=error")}, nil
}

// Draft returns m as a message for compose.Write, or for the caller to add to
// (attachments are never added: these mails carry no content).
func (r *Renderer) Draft(m Mail) (compose.Message, error) {
	return m.draft(r)
}

// Write writes m as an RFC 5322 message with CRLF line endings, ready to be
// DKIM-signed and sent. Nothing is written when m is invalid.
func (r *Renderer) Write(w io.Writer, m Mail) error {
	msg, err := m.draft(r)
	if err != nil {
		return err
	}
	if err := compose.Write(w, msg); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// render executes the kind's text and HTML templates with v.
func (r *Renderer) render(kind string, v view) (text, html string, err error) {
	t, ok := r.kinds[kind]
	if !ok {
		return "", "", fmt.Errorf("notify: no template %q", kind)
	}
	var tb, hb bytes.Buffer
	if err := t.text.ExecuteTemplate(&tb, "layout", v); err != nil {
		return "", "", fmt.Errorf("notify: render %s text: %w", kind, err)
	}
	if err := t.html.ExecuteTemplate(&hb, "layout", v); err != nil {
		return "", "", fmt.Errorf("notify: render %s html: %w", kind, err)
	}
	return tb.String(), hb.String(), nil
}
