package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/ratelimit"
)

// Deps are the Service's collaborators.
type Deps struct {
	DB            *gorm.DB           // required; migrated
	Organisations OrganisationFinder // required to create senders and organisation administrators
	LDAP          PasswordVerifier   // optional: checked before the local password
	Log           *slog.Logger       // required
	Now           func() time.Time   // the clock; default time.Now
	Audit         audit.Recorder     // optional: the audit trail; nil records nothing
}

// verifiedCacheSize bounds the verified-token cache (about 200 bytes an entry).
const verifiedCacheSize = 50_000

// Service runs the OAuth 2.0 password and refresh-token grants (RFC 6749 §4.3,
// §6) for Veilig's own clients, verifies access tokens and publishes their keys.
type Service struct {
	cfg     Config
	db      *gorm.DB
	log     *slog.Logger
	now     func() time.Time
	ldap    PasswordVerifier
	hasher  *Hasher
	users   *Users
	keys    *keyring
	access  *accessTokens
	refresh *refreshTokens
	limits  *limiter
	apiKeys *APIKeys
	audit   audit.Recorder

	verified *verifiedCache
	live     *liveUsers
}

// New checks cfg (zero fields take DefaultConfig's values), makes sure a signing
// key exists and returns the service.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.DB == nil || deps.Log == nil {
		return nil, fmt.Errorf("%w: DB and Log are required", ErrInvalidConfig)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	hasher, err := NewHasher(cfg.Argon2, cfg.MaxConcurrentHashes)
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring(ctx, deps.DB, cfg, deps.Now, deps.Log)
	if err != nil {
		return nil, err
	}
	live := newLiveUsers(deps.DB, deps.Now)
	users := NewUsers(deps.DB, deps.Organisations, hasher, deps.Now)
	users.live, users.audit = live, deps.Audit
	apiKeys := newAPIKeys(deps.DB, live, deps.Log, deps.Now)
	apiKeys.audit = deps.Audit
	return &Service{
		cfg: cfg, db: deps.DB, log: deps.Log, now: deps.Now, ldap: deps.LDAP, hasher: hasher,
		users:   users,
		keys:    keys,
		access:  newAccessTokens(keys, cfg, deps.Now),
		refresh: &refreshTokens{db: deps.DB, ttl: cfg.RefreshTokenTTL, now: deps.Now},
		limits:  newLimiter(cfg.RateLimit, ratelimit.New(deps.DB)),
		apiKeys: apiKeys,
		audit:   deps.Audit,

		verified: newVerifiedCache(verifiedCacheSize),
		live:     live,
	}, nil
}

// Users returns the user store (for administration).
func (s *Service) Users() *Users { return s.users }

// APIKeys returns the API key store (for organisation administration).
func (s *Service) APIKeys() *APIKeys { return s.apiKeys }

// Verify checks a bearer credential: an access token, or an API key (prefix
// "vk_"). Either way the account must still be active, with its organisation
// (see LiveTTL). Every refusal wraps ErrInvalidToken; any other error is
// internal (the database could not answer). Verified access tokens are
// remembered until they expire (see verifiedCache).
func (s *Service) Verify(ctx context.Context, token string) (Principal, error) {
	if isAPIKey(token) {
		return s.apiKeys.verify(ctx, token)
	}
	p, err := s.verifyAccess(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	if err := s.live.checkPrincipal(ctx, p); err != nil {
		return Principal{}, err
	}
	return p, nil
}

// verifyAccess checks an access token's signature and claims, or finds it in
// the cache of tokens already checked.
func (s *Service) verifyAccess(ctx context.Context, accessToken string) (Principal, error) {
	if p, ok := s.verified.get(accessToken, s.now()); ok {
		return p, nil
	}
	p, err := s.access.verify(ctx, accessToken)
	if err == nil {
		s.verified.put(accessToken, p)
	}
	return p, err
}

// JWKS returns the public keys that verify access tokens.
func (s *Service) JWKS(ctx context.Context) (JWKS, error) { return s.keys.jwks(ctx) }

// Prune deletes refresh tokens whose family has ended; run it now and then.
func (s *Service) Prune(ctx context.Context) (int64, error) { return s.refresh.prune(ctx) }

// Reasons a grant failed, for logs only.
const (
	reasonMalformed      = "malformed_request"
	reasonUnknownUser    = "unknown_user"
	reasonNoPassword     = "no_local_password"
	reasonBadPassword    = "bad_password"
	reasonDisabled       = "disabled"
	reasonNoOrganisation = "no_organisation"
	reasonBadHash        = "unusable_stored_hash"
	reasonRateLimited    = "rate_limited"
	reasonInvalidToken   = "invalid_token"
	reasonTokenReused    = "token_reused"
	reasonInternal       = "internal_error"
)

// outcome is the result of checking credentials.
type outcome struct {
	user   User   // set on success, and on failure where the user is known
	reason string // why it failed
	err    error  // nil on success
}

func refuse(u User, reason string) outcome {
	return outcome{user: u, reason: reason, err: ErrInvalidCredentials}
}

func internal(u User, err error) outcome {
	return outcome{user: u, reason: reasonInternal, err: err}
}

// PasswordGrant logs a user in with address and password (RFC 6749 §4.3). Any
// authentication failure is ErrInvalidCredentials; a refused attempt is a
// *RateLimitError; other errors are internal.
func (s *Service) PasswordGrant(ctx context.Context, email, password, clientIP string) (TokenPair, error) {
	const grant = "password"
	o, err := s.checkPassword(ctx, grant, email, password, clientIP)
	if err != nil {
		return TokenPair{}, err
	}
	pair, err := s.issuePair(ctx, o.user)
	if err != nil {
		s.logFailure(ctx, grant, internal(o.user, err), clientIP)
		return TokenPair{}, err
	}
	s.log.InfoContext(ctx, "login succeeded", "grant", grant, "user_id", o.user.ID, "client", clientIP)
	s.recordGrant(ctx, grant, o, clientIP)
	return pair, nil
}

// Authenticate checks address and password under the same rules and rate limits
// as PasswordGrant, without issuing tokens: for the SMTP submission gateway's
// AUTH PLAIN (RFC 4954).
func (s *Service) Authenticate(ctx context.Context, email, password, clientIP string) (Principal, error) {
	o, err := s.checkPassword(ctx, "smtp-auth", email, password, clientIP)
	if err != nil {
		return Principal{}, err
	}
	s.log.InfoContext(ctx, "login succeeded", "grant", "smtp-auth", "user_id", o.user.ID, "client", clientIP)
	s.recordGrant(ctx, "smtp-auth", o, clientIP)
	return Principal{UserID: o.user.ID, Email: o.user.Email, OrganisationID: o.user.OrganisationID, Role: o.user.Role}, nil
}

// checkPassword applies the rate limits, then authenticate, and logs a failure.
func (s *Service) checkPassword(ctx context.Context, grant, email, password, clientIP string) (outcome, error) {
	if err := s.limits.begin(ctx, s.now(), clientIP, email); err != nil {
		s.logFailure(ctx, grant, limitOutcome(err), clientIP)
		return outcome{}, err
	}
	o := s.authenticate(ctx, email, password)
	if o.err != nil {
		s.logFailure(ctx, grant, o, clientIP)
		return o, o.err
	}
	s.forgive(ctx, clientIP, email)
	return o, nil
}

// authenticate checks LDAP first when configured, then the local password.
func (s *Service) authenticate(ctx context.Context, email, password string) outcome {
	addr, err := NormalizeEmail(email)
	if err != nil || password == "" || len(password) > MaxPasswordBytes {
		return refuse(User{}, reasonMalformed)
	}
	if s.ldap != nil {
		if o, done := s.ldapLogin(ctx, addr, password); done {
			return o
		}
	}
	return s.localLogin(ctx, addr, password)
}

// ldapLogin asks the directory. done is false when the local password decides:
// the person is not in LDAP, or LDAP could not answer.
func (s *Service) ldapLogin(ctx context.Context, addr, password string) (o outcome, done bool) {
	lctx, cancel := context.WithTimeout(ctx, s.cfg.LDAPTimeout)
	dn, err := s.ldap.VerifyPassword(lctx, addr, password)
	cancel()
	switch {
	case err == nil:
		return s.ldapUser(ctx, addr, dn), true
	case errors.Is(err, ErrInvalidCredentials):
		return refuse(User{}, reasonBadPassword), true
	case errors.Is(err, ErrUnknownUser):
		return outcome{}, false
	}
	s.log.WarnContext(ctx, "LDAP password check failed; trying the local password", "err", err)
	return outcome{}, false
}

// reasonOperatorViaLDAP: LDAP vouched for an operator's address. Operators log
// in only with their local Argon2id password: whoever controls an entry in a
// member's directory must not gain the platform's highest role.
const reasonOperatorViaLDAP = "operator_via_ldap"

// ldapUser finds, or provisions as a sender, the local user of an LDAP-verified
// person. Operators are refused.
func (s *Service) ldapUser(ctx context.Context, addr, dn string) outcome {
	u, err := s.users.GetByEmail(ctx, addr)
	if errors.Is(err, ErrUserNotFound) {
		return s.provision(ctx, addr, dn)
	}
	if err != nil {
		return internal(User{}, err)
	}
	return s.admitLDAP(ctx, u, dn)
}

// admitLDAP admits the local user of an LDAP-verified person, unless an operator.
func (s *Service) admitLDAP(ctx context.Context, u User, dn string) outcome {
	if u.Role == RoleOperator {
		s.log.WarnContext(ctx, "LDAP verified an operator's address; operators log in only with their local password",
			"user_id", u.ID, "dn", dn)
		return refuse(u, reasonOperatorViaLDAP)
	}
	return s.admit(ctx, u)
}

func (s *Service) provision(ctx context.Context, addr, dn string) outcome {
	u, err := s.users.Create(ctx, NewUser{Email: addr, Role: RoleSender})
	switch {
	case errors.Is(err, ErrUserExists): // provisioned by a concurrent login
		if u, err = s.users.GetByEmail(ctx, addr); err != nil {
			return internal(User{}, err)
		}
	case errors.Is(err, ErrNoOrganisation):
		return refuse(User{}, reasonNoOrganisation)
	case err != nil:
		return internal(User{}, err)
	default:
		s.log.InfoContext(ctx, "user provisioned from LDAP", "user_id", u.ID,
			"organisation_id", u.OrganisationID, "dn", dn)
	}
	return s.admitLDAP(ctx, u, dn)
}

// localLogin checks the Argon2id hash, spending one hash even when there is none.
func (s *Service) localLogin(ctx context.Context, addr, password string) outcome {
	row, err := s.users.byEmail(ctx, addr)
	if errors.Is(err, ErrUserNotFound) {
		return s.dummy(ctx, password, User{}, reasonUnknownUser)
	}
	if err != nil {
		return internal(User{}, err)
	}
	u := row.user()
	if row.PasswordHash == "" {
		return s.dummy(ctx, password, u, reasonNoPassword)
	}
	ok, err := s.hasher.Verify(ctx, password, row.PasswordHash)
	switch {
	case errors.Is(err, ErrMalformedHash):
		s.log.ErrorContext(ctx, "stored password hash unusable", "user_id", u.ID, "err", err)
		return refuse(u, reasonBadHash)
	case err != nil:
		return internal(u, err)
	case !ok:
		return refuse(u, reasonBadPassword)
	}
	o := s.admit(ctx, u)
	if o.err == nil {
		s.rehash(ctx, row, password)
	}
	return o
}

func (s *Service) dummy(ctx context.Context, password string, u User, reason string) outcome {
	if err := s.hasher.VerifyDummy(ctx, password); err != nil {
		return internal(u, err)
	}
	return refuse(u, reason)
}

// admit refuses disabled users and users whose organisation left the community.
func (s *Service) admit(ctx context.Context, u User) outcome {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	err := checkActive(ctx, s.db, u)
	switch {
	case errors.Is(err, ErrUserDisabled):
		return refuse(u, reasonDisabled)
	case errors.Is(err, ErrNoOrganisation):
		return refuse(u, reasonNoOrganisation)
	case err != nil:
		return internal(u, err)
	}
	return outcome{user: u}
}

// rehash replaces a hash made with older parameters; failure only costs a retry
// at the next login.
func (s *Service) rehash(ctx context.Context, row userRow, password string) {
	if !s.hasher.NeedsRehash(row.PasswordHash) {
		return
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err == nil {
		err = s.users.updateHash(ctx, row.ID, row.PasswordHash, hash, true)
	}
	if err != nil && !errors.Is(err, ErrPasswordTooShort) {
		s.log.WarnContext(ctx, "password rehash failed", "user_id", row.ID, "err", err)
	}
}

// RefreshGrant spends a refresh token for a new token pair (RFC 6749 §6) after
// checking the user may still log in, with their current organisation and role.
// Failures are ErrInvalidCredentials (also wrapping ErrTokenReused when a spent
// token came back and its family was revoked), a *RateLimitError, or internal.
func (s *Service) RefreshGrant(ctx context.Context, refreshToken, clientIP string) (TokenPair, error) {
	const grant = "refresh_token"
	if err := s.limits.begin(ctx, s.now(), clientIP, ""); err != nil {
		s.logFailure(ctx, grant, limitOutcome(err), clientIP)
		return TokenPair{}, err
	}
	// Take the key first, so that signing after the commit needs no I/O.
	key, err := s.keys.signer(ctx)
	if err != nil {
		s.logFailure(ctx, grant, internal(User{}, err), clientIP)
		return TokenPair{}, err
	}
	red, err := s.refresh.redeem(ctx, refreshToken)
	if err != nil {
		return TokenPair{}, s.refreshFailure(ctx, red, err, clientIP)
	}
	s.forgive(ctx, clientIP, "")
	access, err := s.access.sign(key, red.user)
	if err != nil {
		s.logFailure(ctx, grant, internal(red.user, err), clientIP)
		return TokenPair{}, err
	}
	s.log.InfoContext(ctx, "token refreshed", "grant", grant, "user_id", red.user.ID, "client", clientIP)
	s.recordGrant(ctx, grant, outcome{user: red.user}, clientIP)
	return s.pair(access, red.next), nil
}

func (s *Service) refreshFailure(ctx context.Context, red redemption, err error, clientIP string) error {
	u := s.knownUser(ctx, User{ID: red.userID})
	o := internal(u, err)
	switch {
	case errors.Is(err, ErrTokenReused):
		o = outcome{user: u, reason: reasonTokenReused,
			err: fmt.Errorf("%w: %w", ErrInvalidCredentials, ErrTokenReused)}
	case errors.Is(err, ErrUserDisabled):
		o = refuse(u, reasonDisabled)
	case errors.Is(err, ErrNoOrganisation):
		o = refuse(u, reasonNoOrganisation)
	case errors.Is(err, ErrInvalidToken):
		o = refuse(u, reasonInvalidToken)
	}
	s.logFailure(ctx, "refresh_token", o, clientIP)
	return o.err
}

// Logout revokes the family of a refresh token (RFC 7009). Unknown tokens are
// ignored, as RFC 7009 §2.2 asks.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	userID, err := s.refresh.revoke(ctx, refreshToken)
	if err != nil {
		return err
	}
	if userID != "" {
		s.log.InfoContext(ctx, "logout", "user_id", userID)
		s.recordSignOut(ctx, s.knownUser(ctx, User{ID: userID}))
	}
	return nil
}

func (s *Service) issuePair(ctx context.Context, u User) (TokenPair, error) {
	access, err := s.access.issue(ctx, u)
	if err != nil {
		return TokenPair{}, err
	}
	refresh, err := s.refresh.start(ctx, u.ID)
	if err != nil {
		return TokenPair{}, err
	}
	return s.pair(access, refresh), nil
}

func (s *Service) pair(access, refresh string) TokenPair {
	return TokenPair{AccessToken: access, RefreshToken: refresh,
		ExpiresIn: int(s.cfg.AccessTokenTTL / time.Second), TokenType: "Bearer"}
}

// logFailure logs one failed grant: never the password, token or address typed.
func (s *Service) logFailure(ctx context.Context, grant string, o outcome, clientIP string) {
	attrs := []any{"grant", grant, "reason", o.reason, "client", clientIP}
	if o.user.ID != "" {
		attrs = append(attrs, "user_id", o.user.ID)
	}
	switch o.reason {
	case reasonInternal:
		s.log.ErrorContext(ctx, "login error", append(attrs, "err", o.err)...)
	case reasonTokenReused:
		s.log.WarnContext(ctx, "refresh token reused; family revoked", attrs...)
	default:
		s.log.InfoContext(ctx, "login failed", attrs...)
	}
	s.recordGrant(ctx, grant, o, clientIP)
}
