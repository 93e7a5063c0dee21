package viewer

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors a Backend returns; the handlers map each to a page.
var (
	ErrUnknownLink = errors.New("viewer: unknown link")      // no such token / session: the "unknown link" page
	ErrNoSession   = errors.New("viewer: no session")        // missing, idle or expired session: start again from the link
	ErrNotVerified = errors.New("viewer: code not verified") // the session has not entered a valid code yet
	ErrWrongCode   = errors.New("viewer: wrong code")        // wrapped in *CodeError
	ErrCodeExpired = errors.New("viewer: code expired or used")
	ErrLimited     = errors.New("viewer: too many attempts") // wrapped in *LimitError
	ErrInvalid     = errors.New("viewer: invalid input")     // reply text empty, attachment too large, …
	ErrNotFound    = errors.New("viewer: not found")         // attachment index out of range
	ErrInactive    = errors.New("viewer: link not active")   // withdrawn, expired or locked: show the state page
	// ErrUnavailable: the code could not be sent now (the SMS provider or the
	// mail route failed temporarily); nothing was used up, try again shortly.
	ErrUnavailable = errors.New("viewer: code could not be sent now")
)

// Link states: anything but StateActive shows its own page and nothing else.
const (
	StateActive    = "active"
	StateWithdrawn = "withdrawn" // the sender revoked the message
	StateExpired   = "expired"
	StateLocked    = "locked" // too many wrong codes; the sender can unlock
)

// LimitError says when another try is allowed (SMS or code limits).
type LimitError struct{ RetryAfter time.Duration }

func (e *LimitError) Error() string { return ErrLimited.Error() }
func (e *LimitError) Unwrap() error { return ErrLimited }

// CodeError is a wrong code with the tries left before the recipient is locked.
type CodeError struct{ Remaining int }

func (e *CodeError) Error() string { return ErrWrongCode.Error() }
func (e *CodeError) Unwrap() error { return ErrWrongCode }

// Visit is what a link or session shows before the message is opened.
type Visit struct {
	State              string // StateActive, StateWithdrawn, StateExpired, StateLocked
	SenderName         string
	SenderOrganisation string
	SenderEmail        string
	ExpiresAt          time.Time
	MaskedPhone        string // e.g. "+31 6 ****** 78"; empty when CodeByEmail
	// CodeByEmail: the code goes to the recipient's e-mail address instead of a
	// phone (the sender's organisation allows it and gave no phone number).
	CodeByEmail bool
	CodeSent    bool // a code was sent in this session and is still valid
	Verified    bool // the session entered a valid code
	Replied     bool
}

// Content is the opened message. HTML is as sent (unsanitised): the viewer
// sanitises it before rendering.
type Content struct {
	Visit
	Subject     string
	Date        time.Time
	Text        string
	HTML        string
	Attachments []Attachment
}

// Attachment describes one attachment; Index addresses it in Attachment.
type Attachment struct {
	Index       int
	Name        string // sanitised file name
	ContentType string
	Size        int64 // decoded size in bytes, -1 when unknown
}

// Upload is one file of a reply.
type Upload struct {
	Name        string
	ContentType string
	Body        io.Reader
}

// Reply is what the recipient sends back to the sender.
type Reply struct {
	Text        string
	Attachments []Upload
}

// Backend is what the viewer needs from the message store. Session tokens are
// opaque secrets (≥128 bits) the viewer keeps only in its cookie.
type Backend interface {
	// Resolve checks a link token (from the URL) and returns its visit; ErrUnknownLink when unknown.
	Resolve(ctx context.Context, linkToken string) (Visit, error)
	// StartSession exchanges a link token for a new, unverified session.
	StartSession(ctx context.Context, linkToken string) (sessionToken string, err error)
	// Session returns the visit of a live session (touching its idle timer); ErrNoSession when gone.
	Session(ctx context.Context, sessionToken string) (Visit, error)
	// EndSession logs out.
	EndSession(ctx context.Context, sessionToken string) error
	// SendCode sends a one-time code by SMS to the recipient's phone, or by
	// e-mail to their address when Visit.CodeByEmail.
	SendCode(ctx context.Context, sessionToken, clientIP string) error
	// VerifyCode checks a code; on success the session is verified.
	VerifyCode(ctx context.Context, sessionToken, code, clientIP string) error
	// Content opens the message of a verified session (ErrNotVerified otherwise).
	Content(ctx context.Context, sessionToken string) (Content, error)
	// Attachment opens attachment index of a verified session's message.
	Attachment(ctx context.Context, sessionToken string, index int) (Attachment, io.ReadCloser, error)
	// SendReply sends a reply to the sender over the internal route.
	SendReply(ctx context.Context, sessionToken string, r Reply) error
	// RequestNewLink asks the sender for a new link (expired messages only).
	RequestNewLink(ctx context.Context, sessionToken string) error
}
