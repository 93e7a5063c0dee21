package audit

import (
	"context"
	"time"
)

// Actor is who caused an event. A zero Actor is Veilig itself (a
// background job: delivery, expiry, sync, monitoring).
type Actor struct {
	UserID         string `json:"user_id,omitempty"`
	APIKeyID       string `json:"api_key_id,omitempty"`
	OrganisationID string `json:"organisation_id,omitempty"`
	Role           string `json:"role,omitempty"`
	IP             string `json:"ip,omitempty"`
	UserAgent      string `json:"user_agent,omitempty"` // cut to 256 bytes
}

// Object is what an event is about, e.g. {"message", id}.
type Object struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Event is one thing that happened. Detail holds facts only — never a
// secret, code, token, password or message content; values are cut to 1 KiB.
// Keys are 1–30 of [a-z0-9_.-]; secret-looking keys (a segment password,
// token, code, secret, otp, pin …) are dropped, except the facts smtp_code,
// reply_code, status_code, code_channel and email_code_allowed. An event about a message that is
// not itself the object (a delivery, a code, a download) carries
// Detail["message_id"] ("message" is accepted too), which lets the
// message's sender see it.
type Event struct {
	Action         string            `json:"action"` // one of the Action constants
	Outcome        string            `json:"outcome,omitempty"`
	Actor          Actor             `json:"actor"`
	Object         Object            `json:"object"`
	OrganisationID string            `json:"organisation_id,omitempty"` // whose trail it belongs to (retention, visibility)
	Detail         map[string]string `json:"detail,omitempty"`
	At             time.Time         `json:"at"` // set by the recorder (UTC) when zero
}

// Recorder appends events to the trail. Record never fails its caller's
// operation: a trail that cannot be written is logged loudly and counted.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Actions.
const (
	ActionSignIn          = "auth.sign-in"       // Outcome success | failure
	ActionTokenRefresh    = "auth.token-refresh" // Outcome success | failure
	ActionTokenReuse      = "auth.token-reuse"   // a spent refresh token was presented: family revoked
	ActionSignOut         = "auth.sign-out"      // Object user; a refresh token's family revoked (RFC 7009)
	ActionMessageSubmit   = "message.submitted"  // Object message
	ActionDeliveryAttempt = "delivery.attempt"   // Object delivery; Detail message_id, mx, ip, policy, tls, tlsa, smtp_code, outcome
	ActionNotification    = "notification.sent"  // Object delivery
	ActionCodeRequested   = "code.requested"     // Object delivery; Detail channel
	ActionCodeFailed      = "code.failed"        // Object delivery
	ActionCodeVerified    = "code.verified"      // Object delivery
	ActionMessageOpened   = "message.opened"     // Object delivery
	ActionDownload        = "attachment.downloaded"
	ActionReply           = "reply.sent"
	ActionRevoked         = "message.revoked"
	ActionExpired         = "message.expired"
	ActionShredded        = "message.shredded" // data key destroyed
	ActionUserCreated     = "user.created"
	ActionUserDisabled    = "user.disabled"
	ActionAPIKeyCreated   = "api-key.created"
	ActionAPIKeyRevoked   = "api-key.revoked"
	ActionEnrolment       = "enrolment."       // + created | verified | approved | rejected | activated | expired
	ActionSettings        = "settings.changed" // Object organisation
	ActionSyncRun         = "directory.sync"   // Detail kind, outcome, counts
	ActionMonitor         = "monitor."         // + suspended | recovered
	ActionKeysRotated     = "keys.rotated"     // Detail master_key, version, rewrapped
	ActionKeysRewrapped   = "keys.rewrapped"   // Detail master_key, version, rewrapped
	ActionAuditPurged     = "audit.purged"     // Detail events
	ActionAuditExported   = "audit.exported"   // Detail format, since, events
)

// Discard records nothing (tests, tools).
type Discard struct{}

// Record implements Recorder.
func (Discard) Record(context.Context, Event) {}

type actorKey struct{}

// WithActor returns ctx carrying who is acting (set by the HTTP layer once
// it knows the caller), so services record events without new parameters.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, or the zero Actor (Veilig itself).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}
