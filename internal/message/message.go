// Package message accepts a sender's message and keeps its record: it validates
// and routes the recipients, writes the outgoing RFC 5322 message (RFC 5322,
// RFC 2045–2049) to the blob store while it is DKIM-signed in the same pass
// (RFC 6376), and then stores the message, one delivery per recipient and one
// outbox job per delivery in a single transaction, so that a message is either
// wholly accepted or not at all (RFC 5321 §6.1: an accepted message is not lost).
//
// Retried submissions carrying the same Idempotency-Key are answered from the
// stored message (draft-ietf-httpapi-idempotency-key-header). Message content —
// subject and body included — never enters the database; only the blob holds it.
package message

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message/compose"
)

// Errors returned by this package; callers test them with errors.Is or errors.As.
var (
	ErrNotFound            = errors.New("message: not found")
	ErrIdempotencyConflict = errors.New("message: idempotency key reused for a different request")
	ErrTooManyRecipients   = errors.New("message: too many recipients")
	ErrInvalidConfig       = errors.New("message: invalid configuration")
)

// InvalidError reports a field of the draft that cannot be used.
type InvalidError struct {
	Field  string // "to", "cc", "bcc", "phones", "expires_in_days", "client_message_id", "cursor", …
	Reason string // English, names the offending value where it is an address
}

func (e *InvalidError) Error() string { return "message: invalid " + e.Field + ": " + e.Reason }

// ExternalRecipientsError refuses a message with recipients outside the
// community: until the external viewer route exists nothing is sent to anyone.
type ExternalRecipientsError struct {
	Addresses []string
}

func (e *ExternalRecipientsError) Error() string {
	return "message: recipients outside the community are not supported yet: " + strings.Join(e.Addresses, ", ")
}

// Delivery kinds.
const (
	KindTo       = "to"
	KindCc       = "cc"
	KindBcc      = "bcc"
	KindSelfCopy = "self-copy" // the sender's own copy, over the same route
	KindNotice   = "notice"    // a bounce notice to the sender; never bounced itself
)

// Delivery states.
const (
	StatusQueued    = "queued"
	StatusDeferred  = "deferred"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// Message states, summarising its recipients' deliveries (self-copy and notices
// excluded).
const (
	StateSending   = "sending"
	StateDelivered = "delivered"
	StatePartial   = "partial" // all final, some failed, some delivered
	StateFailed    = "failed"
)

// Attempt outcomes stored with the evidence.
const (
	OutcomeDelivered = "delivered"
	OutcomeTemporary = "temporary"
	OutcomePermanent = "permanent"
)

// Sender is the authenticated sender; From is always theirs.
type Sender struct {
	UserID, Email, Name, OrganisationID string
}

// Draft is what a sender submits: either the fields or Raw.
type Draft struct {
	To, Cc, Bcc         []string
	Subject, Text, HTML string
	Phones              map[string]string // external recipient → E.164 number (validated, not used yet)
	ExpiresInDays       int               // 0 = none, else 1–365 (validated, not used yet)
	ClientMessageID     string
	Attachments         []compose.Attachment
	// Raw is a whole RFC 5322 message (message/rfc822) used instead of the fields
	// above; its recipients come from its headers unless EnvelopeRecipients is set.
	Raw io.Reader
	// EnvelopeRecipients are the SMTP submission's RCPT TO addresses; they win over
	// the headers of Raw.
	EnvelopeRecipients []string

	// Set only by Reply (never from a request): extra header fields of the
	// composed message, no self-copy, and the external recipient replying.
	headers    [][2]string
	noSelfCopy bool
	replyTo    string
}

// Accepted answers a submission.
type Accepted struct {
	ID         string            `json:"id"`
	Recipients []RecipientStatus `json:"recipients"`
	Replayed   bool              `json:"-"`
}

// RecipientStatus says how one recipient is reached and where that stands.
type RecipientStatus struct {
	Address string `json:"address"`
	Route   string `json:"route"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
}

// Status is one message as its sender sees it, with per-recipient evidence.
type Status struct {
	ID              string      `json:"id"`
	MessageID       string      `json:"message_id"` // the Message-ID header field
	ClientMessageID string      `json:"client_message_id,omitempty"`
	State           string      `json:"state"`
	Size            int64       `json:"size"`
	CreatedAt       time.Time   `json:"created_at"`
	ExpiresAt       *time.Time  `json:"expires_at,omitempty"`
	RevokedAt       *time.Time  `json:"revoked_at,omitempty"` // withdrawn by the sender
	PurgedAt        *time.Time  `json:"purged_at,omitempty"`  // content destroyed; status and evidence remain
	Recipients      []Recipient `json:"recipients"`
}

// Recipient is one delivery of a message with its attempts.
type Recipient struct {
	Address       string     `json:"address"`
	Kind          string     `json:"kind"`
	Route         string     `json:"route"`
	Reason        string     `json:"reason"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	Suspicious    bool       `json:"suspicious"`
	UpdatedAt     time.Time  `json:"updated_at"`
	Evidence      []Attempt  `json:"evidence"`
	// External is what an external recipient did; absent on the internal route.
	External *ExternalStatus `json:"external,omitempty"`
}

// ExternalStatus is an external recipient's progress through the viewer.
type ExternalStatus struct {
	CodeBy             string     `json:"code_by"`    // CodeBySMS or CodeByEmail
	Phone              string     `json:"phone"`      // masked; empty when the code comes by e-mail
	SMSStatus          string     `json:"sms_status"` // the provider's answer to the latest code SMS, or "e-mail: …"
	NotifiedAt         *time.Time `json:"notified_at"`
	CodeSentAt         *time.Time `json:"code_sent_at"`
	OpenedAt           *time.Time `json:"opened_at"`
	DownloadedAt       *time.Time `json:"downloaded_at"`
	RepliedAt          *time.Time `json:"replied_at"`
	RemindedAt         *time.Time `json:"reminded_at"`
	NewLinkRequestedAt *time.Time `json:"new_link_requested_at"`
	Locked             bool       `json:"locked"` // too many wrong codes; the sender can unlock
}

// Attempt is the evidence of one connection attempt: which server, which
// transport policy and TLS parameters, and what the server answered.
type Attempt struct {
	Run        int       `json:"run"` // the delivery run (1 = first) this attempt belongs to
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	MX         string    `json:"mx"`
	IP         string    `json:"ip"`
	Policy     string    `json:"policy"` // dane-ee, dane-ta, mta-sts, pkix, relay
	TLSVersion string    `json:"tls_version"`
	Cipher     string    `json:"cipher"`
	TLSAMatch  string    `json:"tlsa_match"`
	Code       int       `json:"code"`
	Enhanced   string    `json:"enhanced"`
	Reply      string    `json:"reply"`
	Error      string    `json:"error"`
	Outcome    string    `json:"outcome"` // delivered, temporary, permanent
}

// Summary is one message in the sender's listing.
type Summary struct {
	ID              string            `json:"id"`
	MessageID       string            `json:"message_id"`
	ClientMessageID string            `json:"client_message_id,omitempty"`
	State           string            `json:"state"`
	Size            int64             `json:"size"`
	CreatedAt       time.Time         `json:"created_at"`
	Recipients      []RecipientStatus `json:"recipients"`
}

// Router decides how addresses are reached (directory.Snapshot.Resolve).
type Router interface {
	Resolve(addresses []string) []directory.Resolution
}

// RouterFunc adapts a function to Router.
type RouterFunc func(addresses []string) []directory.Resolution

// Resolve calls f.
func (f RouterFunc) Resolve(addresses []string) []directory.Resolution { return f(addresses) }

// LiveRouter resolves against the directory's current snapshot at each call.
func LiveRouter(l interface{ Snapshot() *directory.Snapshot }) Router {
	return RouterFunc(func(a []string) []directory.Resolution { return l.Snapshot().Resolve(a) })
}

// Signer DKIM-signs a message stream for an organisation's domain, reading r
// once to its end, and returns the "DKIM-Signature: …\r\n" header field.
type Signer interface {
	Sign(ctx context.Context, organisationID, domain string, r io.Reader) (header string, err error)
}

// Enqueuer inserts one outbox job per delivery inside the caller's transaction
// (outbox.Outbox).
type Enqueuer interface {
	EnqueueTx(ctx context.Context, tx *sql.Tx, deliveryIDs []string) error
}

// Config holds the settings of the Service.
type Config struct {
	MaxRecipients int    // to + cc + bcc after duplicates are merged (VEILIG_MAX_RECIPIENTS)
	SMTPHostname  string // right-hand side of Message-IDs (VEILIG_SMTP_HOSTNAME)
	// External turns on the external route; nil refuses external recipients
	// with ExternalRecipientsError.
	External *ExternalConfig
}

// Deps are the collaborators of the Service.
type Deps struct {
	DB     *database.DB
	Vault  *Vault
	Signer Signer
	Router Router
	Queue  Enqueuer
	// Notifier writes the notification e-mails of the external route (required
	// with Config.External).
	Notifier Notifier
	Log      *slog.Logger
	Now      func() time.Time
	Audit    audit.Recorder // the audit trail (optional; nil records nothing)
}

// Service accepts messages and reports on them.
type Service struct {
	cfg      Config
	store    *Store
	vault    *Vault
	signer   Signer
	router   Router
	queue    Enqueuer
	notifier Notifier
	log      *slog.Logger
	now      func() time.Time
	audit    audit.Recorder
}

// New returns a Service.
func New(cfg Config, deps Deps) (*Service, error) {
	switch {
	case cfg.MaxRecipients < 1:
		return nil, fmt.Errorf("%w: MaxRecipients must be positive", ErrInvalidConfig)
	case cfg.SMTPHostname == "" || strings.ContainsAny(cfg.SMTPHostname, "<>@ \r\n"):
		return nil, fmt.Errorf("%w: SMTPHostname must be a host name", ErrInvalidConfig)
	case deps.DB == nil || deps.Vault == nil || deps.Signer == nil || deps.Router == nil || deps.Queue == nil:
		return nil, fmt.Errorf("%w: DB, Vault, Signer, Router and Queue are required", ErrInvalidConfig)
	case cfg.External != nil && (deps.Notifier == nil || cfg.External.PublicURL == "" || cfg.External.ExpiryDays < 1):
		return nil, fmt.Errorf("%w: the external route needs a Notifier, PublicURL and ExpiryDays", ErrInvalidConfig)
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Audit == nil {
		deps.Audit = audit.Discard{}
	}
	store := NewStore(deps.DB, deps.Now, deps.Vault)
	store.SetAudit(deps.Audit)
	return &Service{cfg: cfg, store: store, vault: deps.Vault, signer: deps.Signer,
		router: deps.Router, queue: deps.Queue, notifier: deps.Notifier, log: deps.Log, now: deps.Now,
		audit: deps.Audit}, nil
}

// Store returns the service's store (organisation settings, the outbox's view).
func (s *Service) Store() *Store { return s.store }

// SignerFunc adapts a function to Signer.
type SignerFunc func(ctx context.Context, organisationID, domain string, r io.Reader) (string, error)

// Sign calls f.
func (f SignerFunc) Sign(ctx context.Context, organisationID, domain string, r io.Reader) (string, error) {
	return f(ctx, organisationID, domain, r)
}
