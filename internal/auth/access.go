package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// accessTokenType is the JOSE "typ" of access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// maxTokenBytes bounds the size of a token this package parses.
const maxTokenBytes = 8 << 10

// forbiddenHeaders are header parameters that would let a token choose its own key
// or demand extensions; tokens carrying any of them are refused outright.
var forbiddenHeaders = [...]string{"jku", "jwk", "x5u", "x5c", "crit"}

// numericDateClaims are the registered claims RFC 7519 §2 and §4.1.4–§4.1.6
// define as a NumericDate, that is a JSON number. jwt.NumericDate also takes
// a quoted number ("9999999999"), so checkNumericDates refuses those first.
var numericDateClaims = [...]string{"exp", "nbf", "iat"}

// accessClaims are the claims of an access token (RFC 9068 §2.2).
type accessClaims struct {
	jwt.RegisteredClaims
	Email string `json:"email,omitempty"`
	Org   string `json:"org,omitempty"`
	Role  Role   `json:"role"`
}

// Validate is called by the parser after the registered claims pass.
func (c *accessClaims) Validate() error {
	switch {
	case c.Subject == "" || c.ID == "":
		return errors.New("sub and jti are required")
	case !c.Role.Valid():
		return fmt.Errorf("role %q is not a role", c.Role)
	case c.Role.NeedsOrganisation() != (c.Org != ""):
		return fmt.Errorf("org does not fit role %q", c.Role)
	}
	return nil
}

// accessTokens issues and verifies access tokens.
type accessTokens struct {
	keys     *keyring
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

func newAccessTokens(keys *keyring, cfg Config, now func() time.Time) *accessTokens {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	return &accessTokens{keys: keys, issuer: cfg.Issuer, audience: cfg.Audience, ttl: cfg.AccessTokenTTL,
		now: now, parser: parser}
}

// issue signs an access token for u with the current signing key.
func (a *accessTokens) issue(ctx context.Context, u User) (string, error) {
	key, err := a.keys.signer(ctx)
	if err != nil {
		return "", err
	}
	return a.sign(key, u)
}

// sign makes the token with key; it does no I/O.
func (a *accessTokens) sign(key signingKey, u User) (string, error) {
	now := a.now().UTC().Truncate(time.Second)
	claims := &accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   u.ID,
			Audience:  jwt.ClaimStrings{a.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(a.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		Email: u.Email, Org: u.OrganisationID, Role: u.Role,
	}
	if !u.Role.NeedsOrganisation() {
		claims.Org = ""
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["typ"] = accessTokenType
	tok.Header["kid"] = key.kid
	s, err := tok.SignedString(key.private)
	if err != nil {
		return "", fmt.Errorf("auth: sign access token: %w", err)
	}
	return s, nil
}

// verify checks an access token and returns whom it speaks for. Every refusal
// wraps ErrInvalidToken (and the jwt package's error, for logs); a key that
// could not be looked up (the database did not answer) is an internal error.
func (a *accessTokens) verify(ctx context.Context, raw string) (Principal, error) {
	if raw == "" || len(raw) > maxTokenBytes {
		return Principal{}, fmt.Errorf("%w: empty or oversized", ErrInvalidToken)
	}
	if err := checkNumericDates(raw); err != nil {
		return Principal{}, err
	}
	claims := &accessClaims{}
	var internal error // the key could not be looked up: not the token's fault
	_, err := a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		key, err := a.keyFor(ctx, t)
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			internal = err
		}
		return key, err
	})
	if err != nil {
		if internal != nil {
			return Principal{}, fmt.Errorf("auth: signing key: %w", internal)
		}
		if errors.Is(err, ErrInvalidToken) {
			return Principal{}, err
		}
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return Principal{UserID: claims.Subject, Email: claims.Email, OrganisationID: claims.Org,
		Role: claims.Role, TokenID: claims.ID, ExpiresAt: claims.ExpiresAt.Time}, nil
}

// checkNumericDates refuses a token whose payload has exp, nbf or iat with a
// value that is not a JSON number (a string, null, ...). Member names are
// compared without case, as encoding/json matches them to the claim fields.
// It only reads the payload; the parser checks the signature afterwards.
func checkNumericDates(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: not three segments", ErrInvalidToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("%w: payload: %w", ErrInvalidToken, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(payload, &members); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrInvalidToken, err)
	}
	for name, value := range members {
		if isNumericDateClaim(name) && !isJSONNumber(value) {
			return fmt.Errorf("%w: claim %q is not a JSON number", ErrInvalidToken, name)
		}
	}
	return nil
}

func isNumericDateClaim(name string) bool {
	for _, c := range numericDateClaims {
		if strings.EqualFold(name, c) {
			return true
		}
	}
	return false
}

// isJSONNumber reports whether v, valid JSON, is a number: the only JSON
// values that start with '-' or a digit.
func isJSONNumber(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))
}

// keyFor checks the header and finds the key by kid in our own keyring only.
func (a *accessTokens) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
		return nil, fmt.Errorf("%w: typ %q", ErrInvalidToken, typ)
	}
	for _, h := range forbiddenHeaders {
		if _, ok := t.Header[h]; ok {
			return nil, fmt.Errorf("%w: header %q not allowed", ErrInvalidToken, h)
		}
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, fmt.Errorf("%w: no kid", ErrInvalidToken)
	}
	return a.keys.verifier(ctx, kid)
}
