// Package external is the external route's back end behind the web viewer
// (internal/viewer): it turns a link token into a session, sends one-time codes
// by SMS (NIST SP 800-63B §5.1.3, OWASP ASVS 5.0 6.5/6.6) within the
// organisation's daily spend cap — or by e-mail where the sender's organisation
// allows that weaker factor (RFC 3834 auto-generated mail, DKIM-signed as the
// notification) — opens the decrypted message for a verified
// session, sends the recipient's reply to the sender, and renders the notices
// the sender gets about their external recipients.
package external

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/notify"
	"github.com/veilig/veilig/internal/otp"
	"github.com/veilig/veilig/internal/ratelimit"
	"github.com/veilig/veilig/internal/sms"
	"github.com/veilig/veilig/internal/viewer"
)

// ErrConfig reports an unusable configuration.
var ErrConfig = errors.New("external: invalid configuration")

// dbTimeout bounds each database statement of this package.
const dbTimeout = 10 * time.Second

// Config holds the rules of the external route.
type Config struct {
	IdleTimeout     time.Duration // viewer session idle time-out (VEILIG_VIEWER_IDLE_TIMEOUT)
	AbsoluteTimeout time.Duration // viewer session absolute time-out (VEILIG_VIEWER_ABSOLUTE_TIMEOUT)
	DailySMSCap     int           // SMS per organisation per day unless its settings say otherwise
	CodeTTL         time.Duration // validity of a code, for "code sent" [10m]
	SMSPerIP        int           // SMS a client address may trigger per hour [10]
	PublicHost      string        // shown in the SMS and the code e-mail so the recipient can check the site
	// SMTPHostname is the right-hand side of the code e-mail's Message-ID
	// (VEILIG_SMTP_HOSTNAME); PublicHost when empty.
	SMTPHostname string
}

// Deps are the collaborators.
type Deps struct {
	DB       *database.DB
	Messages *message.Service
	OTP      *otp.Service
	SMS      sms.Sender
	Queue    message.Enqueuer
	Log      *slog.Logger
	Now      func() time.Time
	// Mail delivers one-time codes by e-mail (the delivery route, or the dev
	// mailbox). Without it recipients who get their code by e-mail cannot get one.
	Mail CodeMailer
	// Notify renders the code e-mail; New makes one when it is nil.
	Notify *notify.Renderer
	// Audit is the audit trail (optional; nil records nothing).
	Audit audit.Recorder
}

// Service implements viewer.Backend.
type Service struct {
	cfg   Config
	db    *database.DB
	msgs  *message.Service
	store *message.Store
	otp   *otp.Service
	sms   sms.Sender
	queue message.Enqueuer
	log   *slog.Logger
	now   func() time.Time
	ips   *ratelimit.Limiter // codes (SMS or e-mail) a client address can trigger, shared by all processes
	mail  CodeMailer
	notes *notify.Renderer
	audit audit.Recorder
}

var _ viewer.Backend = (*Service)(nil)

// New returns the back end.
func New(cfg Config, deps Deps) (*Service, error) {
	if cfg.CodeTTL == 0 {
		cfg.CodeTTL = 10 * time.Minute
	}
	if cfg.SMSPerIP == 0 {
		cfg.SMSPerIP = 10
	}
	switch {
	case cfg.IdleTimeout <= 0 || cfg.AbsoluteTimeout < cfg.IdleTimeout || cfg.DailySMSCap < 0:
		return nil, fmt.Errorf("%w: time-outs must be positive, absolute ≥ idle, cap ≥ 0", ErrConfig)
	case deps.DB == nil || deps.Messages == nil || deps.OTP == nil || deps.SMS == nil || deps.Queue == nil:
		return nil, fmt.Errorf("%w: DB, Messages, OTP, SMS and Queue are required", ErrConfig)
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.SMTPHostname == "" {
		cfg.SMTPHostname = cfg.PublicHost
	}
	if deps.Notify == nil {
		r, err := notify.New()
		if err != nil {
			return nil, err
		}
		deps.Notify = r
	}
	return &Service{cfg: cfg, db: deps.DB, msgs: deps.Messages, store: deps.Messages.Store(), otp: deps.OTP,
		sms: deps.SMS, queue: deps.Queue, log: deps.Log, now: deps.Now,
		ips: ratelimit.NewLimiter(ratelimit.New(deps.DB.DB), "external:code", cfg.SMSPerIP, time.Hour), mail: deps.Mail, notes: deps.Notify,
		audit: deps.Audit}, nil
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Resolve checks a link token.
func (s *Service) Resolve(ctx context.Context, linkToken string) (viewer.Visit, error) {
	l, err := s.store.LinkByToken(ctx, linkToken)
	if err != nil {
		return viewer.Visit{}, linkError(err)
	}
	return s.visit(ctx, l, sessionRow{})
}

// linkError maps a missing link to the viewer's unknown-link page.
func linkError(err error) error {
	if errors.Is(err, message.ErrNotFound) {
		return viewer.ErrUnknownLink
	}
	return err
}

// visit is what l shows; sess adds the session's own progress.
func (s *Service) visit(ctx context.Context, l message.Link, sess sessionRow) (viewer.Visit, error) {
	v := viewer.Visit{State: viewer.StateActive, SenderName: l.SenderName,
		SenderOrganisation: s.msgs.OrganisationName(l.SenderEmail), SenderEmail: l.SenderEmail,
		ExpiresAt: l.ExpiresAt, MaskedPhone: l.PhoneMasked, Replied: l.RepliedAt != nil,
		Verified: sess.VerifiedAt != nil,
		CodeSent: sess.CodeSentAt != nil && s.clock().Sub(*sess.CodeSentAt) < s.cfg.CodeTTL}
	channel, err := s.store.CodeChannel(ctx, l.DeliveryID)
	if err != nil {
		return viewer.Visit{}, err
	}
	v.CodeByEmail = channel == message.CodeByEmail
	switch {
	case l.Revoked:
		v.State = viewer.StateWithdrawn
	case l.Purged || !s.clock().Before(l.ExpiresAt):
		v.State = viewer.StateExpired
	default:
		locked, err := s.otp.Locked(ctx, l.DeliveryID)
		if err != nil {
			return viewer.Visit{}, err
		}
		if locked {
			v.State = viewer.StateLocked
		}
	}
	return v, nil
}
