// Package auth authenticates Veilig users and issues their tokens.
//
// Passwords are hashed with Argon2id (RFC 9106) and stored in the PHC string
// format; the password rules follow NIST SP 800-63B §3.1.1.2 (length only, no
// composition rules). Access tokens are JWTs (RFC 7519) in the JWT profile for
// OAuth 2.0 access tokens (RFC 9068), signed with Ed25519 (RFC 8037) keys that
// rotate, are identified by their RFC 7638 thumbprint and are published as a JSON
// Web Key Set (RFC 7517). Refresh tokens are opaque, single use and rotate; reuse
// of a spent one revokes its whole family (RFC 9700 §2.2.2, §4.14.2). Failed logins
// are rate limited per account and per client address (OWASP ASVS 5.0 6.3.1).
//
// Machine clients authenticate with API keys: bearer credentials (RFC 6750)
// limited by RFC 6749 §3.3 scopes, shown once, stored as SHA-256 hashes and
// compared in constant time. New users set their first password through a
// one-time invitation token (256 bits, hashed, InvitationTTL). Every verified
// access token or API key is checked against the account's current state, so
// that disabling a user ends their tokens and keys at once in this process and
// within LiveTTL in others (OWASP ASVS 5.0 7.4.2).
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors returned by this package; callers test them with errors.Is.
var (
	// ErrInvalidCredentials is the one error a caller of a grant sees for any
	// authentication failure, so that responses do not reveal which accounts exist.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrUnknownUser is wrapped by a PasswordVerifier that does not know the person.
	ErrUnknownUser = errors.New("auth: unknown user")
	// ErrNoOrganisation is wrapped by an OrganisationFinder when no community
	// organisation holds the address's mail domain.
	ErrNoOrganisation   = errors.New("auth: no community organisation holds the mail domain")
	ErrUserExists       = errors.New("auth: user already exists")
	ErrUserNotFound     = errors.New("auth: user not found")
	ErrUserDisabled     = errors.New("auth: user disabled")
	ErrInvalidEmail     = errors.New("auth: invalid e-mail address")
	ErrInvalidRole      = errors.New("auth: invalid role")
	ErrPasswordTooShort = errors.New("auth: password too short")
	ErrPasswordTooLong  = errors.New("auth: password too long")
	ErrMalformedHash    = errors.New("auth: malformed password hash")
	ErrInvalidToken     = errors.New("auth: invalid token")
	ErrTokenReused      = errors.New("auth: refresh token reused")
	ErrRateLimited      = errors.New("auth: too many attempts")
	ErrNoSigningKey     = errors.New("auth: no signing key")
	ErrInvalidConfig    = errors.New("auth: invalid configuration")
	// ErrNotFound is an API key that does not exist in the organisation asked
	// about (whether or not it exists in another: tenant isolation).
	ErrNotFound = errors.New("auth: not found")
	// ErrInvalidScope is a scope outside KnownScopes, or no scope at all.
	ErrInvalidScope = errors.New("auth: invalid scope")
	// ErrInvalidName is an unusable API key name.
	ErrInvalidName = errors.New("auth: invalid name")
	// ErrForeignDomain is an address whose mail domain does not belong to the
	// organisation it is invited into.
	ErrForeignDomain = errors.New("auth: the address's mail domain does not belong to the organisation")
)

// RateLimitError says an attempt was refused by a rate limit and when to retry; it
// wraps ErrRateLimited. An HTTP layer answers 429 with Retry-After rounded up to
// whole seconds.
type RateLimitError struct {
	RetryAfter time.Duration
	Scope      string // "account" or "client"
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("auth: too many attempts for this %s, retry after %s", e.Scope, e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Role is what a user may do.
type Role string

// Roles.
const (
	RoleSender   Role = "sender"    // sends secure mail for an organisation
	RoleOrgAdmin Role = "org-admin" // administers one organisation
	RoleOperator Role = "operator"  // runs the platform; belongs to no organisation
)

// Valid reports whether r is one of the roles above.
func (r Role) Valid() bool {
	return r == RoleSender || r == RoleOrgAdmin || r == RoleOperator
}

// NeedsOrganisation reports whether users of this role belong to an organisation.
func (r Role) NeedsOrganisation() bool { return r == RoleSender || r == RoleOrgAdmin }

// User is an account.
type User struct {
	ID             string
	Email          string // lower-case addr-spec, domain as IDNA A-label
	Role           Role
	OrganisationID string // empty for operators
	Disabled       bool
	HasPassword    bool // a local Argon2id hash is set
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Principal is who a verified access token or API key speaks for.
type Principal struct {
	UserID         string
	Email          string
	OrganisationID string // empty for operators
	Role           Role
	TokenID        string    // the access token's jti; empty for API keys
	ExpiresAt      time.Time // the access token's expiry; zero for API keys
	// Scopes limit an API key (RFC 6749 §3.3); nil for user tokens, which may do
	// whatever their role allows.
	Scopes   []string
	APIKeyID string // set when an API key authenticated the request
}

// Scopes an API key can be granted (RFC 6749 §3.3 scope tokens).
const (
	ScopeMessagesSend  = "messages:send"
	ScopeMessagesRead  = "messages:read"
	ScopeDirectoryRead = "directory:read"
)

// KnownScopes returns every scope, in a stable order.
func KnownScopes() []string {
	return []string{ScopeDirectoryRead, ScopeMessagesRead, ScopeMessagesSend}
}

func knownScope(s string) bool {
	return s == ScopeMessagesSend || s == ScopeMessagesRead || s == ScopeDirectoryRead
}

// Allows reports whether p may act under scope. A user token allows every scope
// its role needs (senders and organisation administrators: all; operators, who
// send no mail: only directory:read); an API key allows exactly its scopes.
func (p Principal) Allows(scope string) bool {
	if !knownScope(scope) {
		return false
	}
	if p.IsAPIKey() {
		return slices.Contains(p.Scopes, scope)
	}
	if p.Role == RoleOperator {
		return scope == ScopeDirectoryRead
	}
	return p.Role.NeedsOrganisation()
}

// IsAPIKey reports whether a machine client's API key authenticated p; such
// principals never administer anything.
func (p Principal) IsAPIKey() bool { return p.APIKeyID != "" || p.Scopes != nil }

// TokenPair is the result of a grant (RFC 6749 §5.1).
type TokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"` // seconds
	TokenType    string `json:"token_type"` // "Bearer"
}

// OrganisationFinder finds the community organisation that holds an address's
// mail domain. It returns an error wrapping ErrNoOrganisation when none does.
type OrganisationFinder interface {
	OrganisationForAddress(ctx context.Context, email string) (orgID string, err error)
}

// PasswordVerifier checks a password against an external directory (LDAP simple
// bind, RFC 4513 §5.1.3). It returns the person's DN on success, an error wrapping
// ErrUnknownUser when the person is not in the directory, and one wrapping
// ErrInvalidCredentials for a wrong password.
type PasswordVerifier interface {
	VerifyPassword(ctx context.Context, mail, password string) (dn string, err error)
}
