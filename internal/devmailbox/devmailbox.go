// Package devmailbox is the development mailbox: with VEILIG_DEV_MAILBOX=1 every
// e-mail and SMS the instance would send is captured in memory instead and shown
// at /dev/mailbox, so the whole external-recipient flow can be walked on one
// machine. It stands in for the outbox's transport (internal/delivery) and for
// the SMS provider (internal/sms), records the delivery as accepted, and renders
// what it captured: RFC 5322 header fields with RFC 2047 encoded-words decoded,
// the text/plain part of an RFC 2045/2046 MIME body with its quoted-printable or
// base64 transfer encoding undone, and the raw source.
//
// It must never run on a public instance: Allowed refuses a public URL that is
// https and not a loopback host.
package devmailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/sms"
)

// Errors.
var (
	// ErrNotAllowed reports a public URL on which the dev mailbox is refused.
	ErrNotAllowed = errors.New("devmailbox: refused on a public https instance")
	// ErrCapture reports a message that could not be captured.
	ErrCapture = errors.New("devmailbox: capture failed")
)

// Limits.
const (
	// MaxMessageBytes caps one captured e-mail; the rest is dropped and the
	// item marked truncated.
	MaxMessageBytes = 10 << 20
	// maxTotalBytes caps the raw sources held at once; the oldest items go first.
	maxTotalBytes = 128 << 20
	// DefaultMax is the number of items kept when New is given max < 1.
	DefaultMax = 200
)

// Policy is the evidence policy recorded for a captured delivery.
const Policy delivery.Policy = "dev-mailbox"

// Kinds of item.
const (
	KindEmail = "email"
	KindSMS   = "sms"
)

// Header is one header field, in message order, its value decoded.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Item is one captured e-mail or SMS.
type Item struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"` // KindEmail or KindSMS
	From      string    `json:"from"`
	To        []string  `json:"to"`
	Subject   string    `json:"subject,omitempty"`
	Text      string    `json:"text"`  // the decoded text/plain part, or the SMS text
	Links     []string  `json:"links"` // every http(s) URL in Text, in order
	Headers   []Header  `json:"-"`
	Raw       string    `json:"-"`
	Truncated bool      `json:"truncated,omitempty"`
	// Problem says why the body could not be decoded, if it could not.
	Problem string `json:"problem,omitempty"`
}

// Mailbox keeps the newest captured items in memory. It is safe for concurrent use.
type Mailbox struct {
	max int
	log *slog.Logger
	now func() time.Time

	mu     sync.Mutex
	next   uint64
	items  []Item // newest first
	rawLen int
}

var (
	_ sms.Sender = (*Mailbox)(nil)
	_ interface {
		Deliver(context.Context, string, delivery.Envelope) delivery.Result
	} = (*Mailbox)(nil)
)

// New returns an empty mailbox keeping the last max items (DefaultMax if max < 1).
func New(max int, log *slog.Logger) *Mailbox {
	if max < 1 {
		max = DefaultMax
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mailbox{max: max, log: log, now: time.Now}
}

// Allowed reports whether the dev mailbox may run for an instance reached at
// publicURL: any http URL, or https on a loopback host (localhost, *.localhost,
// 127.0.0.0/8, ::1). Anything else is refused with ErrNotAllowed.
func Allowed(publicURL string) error {
	u, err := url.Parse(publicURL)
	if err != nil {
		return fmt.Errorf("%w: public URL: %w", ErrNotAllowed, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return nil
	case "https":
		if loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %s is not localhost", ErrNotAllowed, u.Host)
	}
	return fmt.Errorf("%w: public URL %q is neither http nor https", ErrNotAllowed, publicURL)
}

func loopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Deliver captures the message instead of sending it and reports it delivered,
// with one attempt whose policy is "dev-mailbox". A message that cannot be read
// is a temporary failure, so the outbox retries it.
func (m *Mailbox) Deliver(ctx context.Context, domain string, env delivery.Envelope) delivery.Result {
	started := m.now()
	raw, truncated, err := readCapped(ctx, env)
	if err != nil {
		m.log.WarnContext(ctx, "dev mailbox: message not captured", "domain", domain, "err", err)
		return delivery.Result{Outcome: delivery.Temporary, Reason: err.Error(),
			Attempts: []delivery.Attempt{m.attempt(started, 0, "", err.Error())}}
	}
	it := parseEmail(raw)
	it.Kind, it.From, it.To, it.Truncated = KindEmail, env.From, append([]string(nil), env.To...), truncated
	id := m.add(it)
	m.log.InfoContext(ctx, "dev mailbox: e-mail captured", "id", id, "domain", domain,
		"recipients", len(env.To), "bytes", len(raw))
	reply := "2.0.0 captured by the dev mailbox as " + id
	return delivery.Result{Outcome: delivery.Delivered,
		Attempts: []delivery.Attempt{m.attempt(started, 250, reply, "")}}
}

func (m *Mailbox) attempt(started time.Time, code int, reply, errText string) delivery.Attempt {
	a := delivery.Attempt{StartedAt: started, FinishedAt: m.now(), MX: "dev-mailbox", Policy: Policy,
		Code: code, Reply: reply, Error: errText}
	if code == 250 {
		a.Enhanced = "2.0.0"
	}
	return a
}

// readCapped reads the envelope's message, at most MaxMessageBytes of it.
func readCapped(ctx context.Context, env delivery.Envelope) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrCapture, err)
	}
	if env.Open == nil {
		return nil, false, fmt.Errorf("%w: envelope has no message", ErrCapture)
	}
	rc, err := env.Open()
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrCapture, err)
	}
	defer func() { _ = rc.Close() }()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(rc, MaxMessageBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("%w: read message: %w", ErrCapture, err)
	}
	if n > MaxMessageBytes {
		return buf.Bytes()[:MaxMessageBytes], true, nil
	}
	return buf.Bytes(), false, nil
}

// Send captures a text message instead of sending it. The full number is shown
// in the mailbox (it is for development); the log gets the masked one.
func (m *Mailbox) Send(ctx context.Context, msg sms.Message) (sms.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return sms.Receipt{}, &sms.ProviderError{Code: "transport", Temporary: true, Err: err}
	}
	if msg.To.IsZero() || msg.Text == "" {
		return sms.Receipt{}, &sms.ProviderError{Code: "invalid", Err: sms.ErrInvalidMessage}
	}
	it := Item{Kind: KindSMS, From: "Veilig", To: []string{msg.To.E164()}, Text: msg.Text,
		Links: findLinks(msg.Text)}
	id := m.add(it)
	m.log.InfoContext(ctx, "dev mailbox: SMS captured", "id", id, "to", msg.To)
	return sms.Receipt{ProviderID: "dev-" + id, Status: "accepted"}, nil
}

// add stores it as the newest item and returns its ID.
func (m *Mailbox) add(it Item) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	it.ID = strconv.FormatUint(m.next, 10)
	it.Time = m.now()
	if it.Links == nil {
		it.Links = []string{}
	}
	m.items = append([]Item{it}, m.items...)
	m.rawLen += len(it.Raw)
	for len(m.items) > m.max || (m.rawLen > maxTotalBytes && len(m.items) > 1) {
		last := len(m.items) - 1
		m.rawLen -= len(m.items[last].Raw)
		m.items[last] = Item{}
		m.items = m.items[:last]
	}
	return it.ID
}

// Items returns the captured items, newest first.
func (m *Mailbox) Items() []Item {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Item(nil), m.items...)
}

// Get returns the item with the given ID.
func (m *Mailbox) Get(id string) (Item, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range m.items {
		if it.ID == id {
			return it, true
		}
	}
	return Item{}, false
}
