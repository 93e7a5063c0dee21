package security

// The JWT attack set (RFC 8725) against the real auth.Service behind the real
// router, on SQLite and PostgreSQL. Each forged token is signed with the
// server's own Ed25519 key (read from signing_keys) unless the attack is the
// key itself, so a refusal proves the claim or header check, not merely a bad
// signature.

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/metrics"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	jwtIssuer   = "https://veilig.example.test"
	jwtAudience = "veilig-api"
	jwtPassword = "correct horse battery staple"
	jwtOperator = "ops@veilig.example"
)

// jwtEnv is the real router over the real auth service on one database.
type jwtEnv struct {
	handler http.Handler
	db      *database.DB
	key     ed25519.PrivateKey
	kid     string
	valid   string         // an access token the server issued
	claims  map[string]any // the claims of valid
}

func newJWTEnv(t *testing.T, db *database.DB) *jwtEnv {
	t.Helper()
	ctx := context.Background()
	log := testenv.Discard()
	cfg := auth.DefaultConfig()
	cfg.Issuer, cfg.Audience = jwtIssuer, jwtAudience
	cfg.Argon2 = auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	store := directory.NewStore(db.DB, time.Now)
	svc, err := auth.New(ctx, cfg, auth.Deps{DB: db.DB, Organisations: noOrgs{}, Log: log, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Users().Create(ctx, auth.NewUser{Email: jwtOperator, Role: auth.RoleOperator, Password: jwtPassword}); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	h, err := api.New(api.Options{MaxBodyBytes: 64 << 10}, api.Deps{Log: log, Metrics: metrics.New(),
		Directory: directory.NewLive(store, log, time.Now), Status: store, Login: svc, Tokens: svc,
		Ready: func(ctx context.Context) error { return db.CheckMigrated(ctx) }})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := svc.PasswordGrant(ctx, jwtOperator, jwtPassword, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	e := &jwtEnv{handler: h, db: db, valid: pair.AccessToken}
	e.loadKey(t)
	e.claims = segment[map[string]any](t, e.valid, 1)
	return e
}

type noOrgs struct{}

func (noOrgs) OrganisationForAddress(context.Context, string) (string, error) {
	return "", auth.ErrNoOrganisation
}

// loadKey reads the signing key the server uses from its own table.
func (e *jwtEnv) loadKey(t *testing.T) {
	t.Helper()
	var row struct {
		KID        string `gorm:"column:kid"`
		PrivateKey []byte `gorm:"column:private_key"`
	}
	hdr := segment[map[string]any](t, e.valid, 0)
	kid, _ := hdr["kid"].(string)
	if err := e.db.DB.Table("signing_keys").Select("kid, private_key").Where("kid = ?", kid).Take(&row).Error; err != nil {
		t.Fatalf("signing key %q: %v", kid, err)
	}
	e.kid, e.key = row.KID, ed25519.NewKeyFromSeed(row.PrivateKey)
}

func segment[T any](t *testing.T, tok string, i int) T {
	t.Helper()
	var v T
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		t.Fatalf("token segment %d: %v", i, err)
	}
	return v
}

func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// token signs header and claims: EdDSA with key, HS256 with hsKey, or none.
func (e *jwtEnv) token(t *testing.T, header, claims map[string]any, hsKey []byte) string {
	t.Helper()
	in := b64JSON(t, header) + "." + b64JSON(t, claims)
	switch header["alg"] {
	case "none":
		return in + "."
	case "HS256":
		m := hmac.New(sha256.New, hsKey)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	default:
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(e.key, []byte(in)))
	}
}

func (e *jwtEnv) header(extra map[string]any) map[string]any {
	h := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": e.kid}
	for k, v := range extra {
		if v == nil {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return h
}

func (e *jwtEnv) claimsWith(extra map[string]any) map[string]any {
	c := map[string]any{}
	for k, v := range e.claims {
		c[k] = v
	}
	c["jti"] = "forged-" + time.Now().Format(time.RFC3339Nano) // never the cached token
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func (e *jwtEnv) get(bearer string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/api/v1/directory/status", nil)
	req.RemoteAddr = "192.0.2.10:5000"
	req.Header.Set("Authorization", "Bearer "+bearer)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

func TestJWTAttacks(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newJWTEnv(t, db)
		if rec := e.get(e.valid); rec.Code != http.StatusOK {
			t.Fatalf("control: the issued token gets %d, want 200: %s", rec.Code, rec.Body)
		}
		if rec := e.get(e.token(t, e.header(nil), e.claimsWith(nil), nil)); rec.Code != http.StatusOK {
			t.Fatalf("control: a token re-signed with the server key gets %d, want 200: %s", rec.Code, rec.Body)
		}
		before := rowCounts(t, db)
		for _, tc := range jwtCases(t, e) {
			t.Run(tc.name, func(t *testing.T) { expectUnauthorized(t, e.get(tc.token)) })
		}
		if after := rowCounts(t, db); !equalCounts(before, after) {
			t.Errorf("refused tokens changed rows: before %v, after %v", before, after)
		}
	})
}

type jwtCase struct{ name, token string }

func jwtCases(t *testing.T, e *jwtEnv) []jwtCase {
	now := time.Now()
	pub := e.key.Public().(ed25519.PublicKey)
	parts := strings.Split(e.valid, ".")
	altered := e.claimsWith(map[string]any{"role": "operator", "sub": "someone-else"})
	_, otherKey, _ := ed25519.GenerateKey(nil)
	wrongKey := &jwtEnv{key: otherKey}
	return []jwtCase{
		{"alg none", e.token(t, e.header(map[string]any{"alg": "none"}), e.claimsWith(nil), nil)},
		{"alg none, original signature kept", b64JSON(t, e.header(map[string]any{"alg": "none"})) + "." + parts[1] + "." + parts[2]},
		{"HS256 keyed with the public key", e.token(t, e.header(map[string]any{"alg": "HS256"}), e.claimsWith(nil), pub)},
		{"HS256 keyed with the JWKS x value", e.token(t, e.header(map[string]any{"alg": "HS256"}), e.claimsWith(nil),
			[]byte(base64.RawURLEncoding.EncodeToString(pub)))},
		{"wrong key, right kid", wrongKey.token(t, e.header(nil), e.claimsWith(nil), nil)},
		{"unknown kid", e.token(t, e.header(map[string]any{"kid": "nope"}), e.claimsWith(nil), nil)},
		{"no kid", e.token(t, e.header(map[string]any{"kid": nil}), e.claimsWith(nil), nil)},
		{"wrong iss", e.token(t, e.header(nil), e.claimsWith(map[string]any{"iss": "https://evil.example"}), nil)},
		{"no iss", e.token(t, e.header(nil), e.claimsWith(map[string]any{"iss": nil}), nil)},
		{"wrong aud", e.token(t, e.header(nil), e.claimsWith(map[string]any{"aud": []string{"other-api"}}), nil)},
		{"no aud", e.token(t, e.header(nil), e.claimsWith(map[string]any{"aud": nil}), nil)},
		{"missing exp", e.token(t, e.header(nil), e.claimsWith(map[string]any{"exp": nil}), nil)},
		{"expired exp", e.token(t, e.header(nil), e.claimsWith(map[string]any{"exp": now.Add(-time.Hour).Unix(),
			"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}), nil)},
		{"future nbf", e.token(t, e.header(nil), e.claimsWith(map[string]any{"nbf": now.Add(time.Hour).Unix()}), nil)},
		{"future iat", e.token(t, e.header(nil), e.claimsWith(map[string]any{"iat": now.Add(time.Hour).Unix()}), nil)},
		// RFC 7519 §2: a NumericDate is a JSON number, never a quoted one
		// (which golang-jwt's NumericDate would take).
		{"exp as a string", e.token(t, e.header(nil), e.claimsWith(map[string]any{"exp": "9999999999"}), nil)},
		{"exp as a string, in time", e.token(t, e.header(nil), e.claimsWith(map[string]any{"exp": fmt.Sprint(now.Add(10 * time.Minute).Unix())}), nil)},
		{"nbf as a string", e.token(t, e.header(nil), e.claimsWith(map[string]any{"nbf": fmt.Sprint(now.Unix())}), nil)},
		{"iat as a string", e.token(t, e.header(nil), e.claimsWith(map[string]any{"iat": fmt.Sprint(now.Unix())}), nil)},
		{"EXP as a string, no exp", e.token(t, e.header(nil), e.claimsWith(map[string]any{"exp": nil, "EXP": "9999999999"}), nil)},
		{"altered payload, original signature", parts[0] + "." + b64JSON(t, altered) + "." + parts[2]},
		{"truncated signature", e.valid[:len(e.valid)-4]},
		{"oversized header", e.token(t, e.header(map[string]any{"pad": strings.Repeat("A", 9<<10)}), e.claimsWith(nil), nil)},
		{"jku header", e.token(t, e.header(map[string]any{"jku": "https://evil.example/jwks.json"}), e.claimsWith(nil), nil)},
		{"jwk header", e.token(t, e.header(map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519",
			"x": base64.RawURLEncoding.EncodeToString(pub)}}), e.claimsWith(nil), nil)},
		{"x5u header", e.token(t, e.header(map[string]any{"x5u": "https://evil.example/cert.pem"}), e.claimsWith(nil), nil)},
		{"x5c header", e.token(t, e.header(map[string]any{"x5c": []string{"MIIB"}}), e.claimsWith(nil), nil)},
		{"crit header", e.token(t, e.header(map[string]any{"crit": []string{"exp"}}), e.claimsWith(nil), nil)},
		{"typ JWT", e.token(t, e.header(map[string]any{"typ": "JWT"}), e.claimsWith(nil), nil)},
		{"no typ", e.token(t, e.header(map[string]any{"typ": nil}), e.claimsWith(nil), nil)},
		{"unknown role", e.token(t, e.header(nil), e.claimsWith(map[string]any{"role": "root"}), nil)},
		{"no sub", e.token(t, e.header(nil), e.claimsWith(map[string]any{"sub": nil}), nil)},
		{"unknown user", e.token(t, e.header(nil), e.claimsWith(map[string]any{"sub": "00000000-0000-4000-8000-000000000000"}), nil)},
		{"two tokens joined", e.valid + "." + e.valid},
		{"not a JWT", "definitely-not-a-token"},
		{"API key prefix, unknown key", "vk_" + strings.Repeat("A", 40)},
	}
}

// expectUnauthorized: 401, problem+json, a Bearer challenge naming the error.
func expectUnauthorized(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="veilig", error="invalid_token"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	var p struct{ Status int }
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != http.StatusUnauthorized {
		t.Errorf("problem body %s (%v)", rec.Body, err)
	}
}
