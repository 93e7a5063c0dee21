package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// validClaims are the claims Service would issue for u now.
func validClaims(e *env, u User) *accessClaims {
	now := e.clock.Now()
	return &accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: e.svc.cfg.Issuer, Subject: u.ID, Audience: jwt.ClaimStrings{e.svc.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)), NotBefore: jwt.NewNumericDate(now),
			IssuedAt: jwt.NewNumericDate(now), ID: "jti-1",
		},
		Email: u.Email, Org: u.OrganisationID, Role: u.Role,
	}
}

// forge signs claims with method and key under the given header.
func forge(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return s
}

func TestAccessTokenRoundTrip(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		for _, u := range []User{
			e.createUser(t, "jan@utrecht.example", RoleSender, ""),
			e.createUser(t, "beheer@ede.example", RoleOrgAdmin, ""),
			e.createUser(t, "ops@veilig.example", RoleOperator, ""),
		} {
			raw, err := e.svc.access.issue(ctx, u)
			if err != nil {
				t.Fatalf("issue: %v", err)
			}
			got, err := e.svc.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("Verify(%s): %v", u.Role, err)
			}
			want := Principal{UserID: u.ID, Email: u.Email, OrganisationID: u.OrganisationID, Role: u.Role,
				TokenID: got.TokenID, ExpiresAt: e.clock.Now().Add(15 * time.Minute)}
			if diff := cmp.Diff(want, got); diff != "" || got.TokenID == "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
			header, payload := decodeParts(t, raw)
			if header["typ"] != "at+jwt" || header["alg"] != "EdDSA" || header["kid"] == "" {
				t.Errorf("header = %v", header)
			}
			if _, ok := payload["org"]; ok != (u.Role != RoleOperator) {
				t.Errorf("%s token: org claim present = %v", u.Role, ok)
			}
			for _, c := range []string{"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "role"} {
				if _, ok := payload[c]; !ok {
					t.Errorf("claim %s missing", c)
				}
			}
		}
	})
}

func decodeParts(t *testing.T, raw string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, dst) != nil {
			t.Fatalf("decode part %d: %v", i, err)
		}
	}
	return header, payload
}

func TestAccessTokenRejected(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "")
		key, err := e.svc.keys.signer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, strangerKey, _ := ed25519.GenerateKey(rand.Reader)
		hdr := func(extra ...any) map[string]any {
			h := map[string]any{"typ": "at+jwt", "kid": key.kid}
			for i := 0; i < len(extra); i += 2 {
				h[extra[i].(string)] = extra[i+1]
			}
			return h
		}
		claims := func(mutate func(c *accessClaims)) *accessClaims {
			c := validClaims(e, u)
			mutate(c)
			return c
		}
		same := func(*accessClaims) {}
		valid := forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(same))
		if _, err := e.svc.Verify(ctx, valid); err != nil {
			t.Fatalf("the untampered forged token fails: %v", err)
		}
		for _, tc := range []struct {
			name  string
			token string
		}{
			{"alg none", forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hdr(), claims(same))},
			{"HS256 keyed with the public key", forge(t, jwt.SigningMethodHS256, []byte(key.public), hdr(), claims(same))},
			{"HS256 keyed with the JWK x", forge(t, jwt.SigningMethodHS256,
				[]byte(base64.RawURLEncoding.EncodeToString(key.public)), hdr(), claims(same))},
			{"another key under our kid", forge(t, jwt.SigningMethodEdDSA, strangerKey, hdr(), claims(same))},
			{"unknown kid", forge(t, jwt.SigningMethodEdDSA, strangerKey, hdr("kid", thumbprint(strangerKey.Public().(ed25519.PublicKey))), claims(same))},
			{"no kid", forge(t, jwt.SigningMethodEdDSA, key.private, hdr("kid", nil), claims(same))},
			{"jwk header", forge(t, jwt.SigningMethodEdDSA, key.private,
				hdr("jwk", publicJWK(key.public)), claims(same))},
			{"jku header", forge(t, jwt.SigningMethodEdDSA, key.private, hdr("jku", "https://evil.example/jwks"), claims(same))},
			{"x5u header", forge(t, jwt.SigningMethodEdDSA, key.private, hdr("x5u", "https://evil.example/cert"), claims(same))},
			{"crit header", forge(t, jwt.SigningMethodEdDSA, key.private, hdr("crit", []string{"exp"}), claims(same))},
			{"typ JWT", forge(t, jwt.SigningMethodEdDSA, key.private, hdr("typ", "JWT"), claims(same))},
			{"no typ", forge(t, jwt.SigningMethodEdDSA, key.private, hdr("typ", nil), claims(same))},
			{"expired", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) {
				c.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-time.Minute))
			}))},
			{"no exp", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) { c.ExpiresAt = nil }))},
			{"not yet valid", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) {
				c.NotBefore = jwt.NewNumericDate(e.clock.Now().Add(5 * time.Minute))
			}))},
			{"issued in the future", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) {
				c.IssuedAt = jwt.NewNumericDate(e.clock.Now().Add(5 * time.Minute))
			}))},
			{"wrong audience", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) {
				c.Audience = jwt.ClaimStrings{"https://other.example.test"}
			}))},
			{"no audience", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) { c.Audience = nil }))},
			{"wrong issuer", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) {
				c.Issuer = "https://evil.example"
			}))},
			{"no subject", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) { c.Subject = "" }))},
			{"no jti", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) { c.ID = "" }))},
			{"unknown role", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) { c.Role = "root" }))},
			{"sender without org", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) { c.Org = "" }))},
			{"operator with org", forge(t, jwt.SigningMethodEdDSA, key.private, hdr(), claims(func(c *accessClaims) { c.Role = RoleOperator }))},
			{"tampered payload", tamper(t, valid)},
			{"signature of another token", spliceSignature(t, valid, forge(t, jwt.SigningMethodEdDSA, key.private, hdr(),
				claims(func(c *accessClaims) { c.ID = "jti-2" })))},
			{"header of dots", "." + strings.Repeat(".", 1000)},
			{"empty", ""},
			{"oversized", valid + strings.Repeat("A", maxTokenBytes)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := e.svc.Verify(ctx, tc.token)
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", p, err)
				}
			})
		}
	})
}

// tamper raises the role in the payload and keeps the signature.
func tamper(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b = []byte(strings.Replace(string(b), `"role":"sender"`, `"role":"org-admin"`, 1))
	if !strings.Contains(string(b), "org-admin") {
		t.Fatal("tamper: no role to change")
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func spliceSignature(t *testing.T, raw, other string) string {
	t.Helper()
	a, b := strings.Split(raw, "."), strings.Split(other, ".")
	return a[0] + "." + a[1] + "." + b[2]
}

func TestAccessTokenLeeway(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "")
		raw, err := e.svc.access.issue(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(15*time.Minute + 20*time.Second) // within the 30 s leeway
		if _, err := e.svc.Verify(ctx, raw); err != nil {
			t.Errorf("within leeway: %v", err)
		}
		e.clock.Advance(20 * time.Second)
		if _, err := e.svc.Verify(ctx, raw); !errors.Is(err, jwt.ErrTokenExpired) || !errors.Is(err, ErrInvalidToken) {
			t.Errorf("past leeway: %v, want ErrInvalidToken wrapping jwt.ErrTokenExpired", err)
		}
	})
}

// TestAccessTokenNumericDates: RFC 7519 §2 defines exp, nbf and iat as JSON
// numbers. jwt.NumericDate also takes a quoted number, so a token signed
// with our own key whose exp is "9999999999" must still be refused, in any
// letter case encoding/json would match.
func TestAccessTokenNumericDates(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "")
		key, err := e.svc.keys.signer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hdr := map[string]any{"typ": "at+jwt", "kid": key.kid}
		now := e.clock.Now().Unix()
		future, past := strconv.FormatInt(now+3600, 10), strconv.FormatInt(now-60, 10)
		for _, tc := range []struct {
			name string
			set  map[string]any
			ok   bool
		}{
			{"numbers (control)", nil, true},
			{"fractional exp (control)", map[string]any{"exp": float64(now+3600) + 0.5}, true},
			{"exp as a string", map[string]any{"exp": "9999999999"}, false},
			{"exp as a string, in time", map[string]any{"exp": future}, false},
			{"nbf as a string", map[string]any{"nbf": past}, false},
			{"iat as a string", map[string]any{"iat": past}, false},
			{"exp null", map[string]any{"exp": nil}, false},
			{"nbf null", map[string]any{"nbf": nil}, false},
			{"exp as a bool", map[string]any{"exp": true}, false},
			{"exp as an array", map[string]any{"exp": []int64{now + 3600}}, false},
			{"EXP as a string, no exp", map[string]any{"exp": nil, "EXP": "9999999999"}, false},
			{"eXp as a string beside exp", map[string]any{"eXp": "9999999999"}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				raw := forge(t, jwt.SigningMethodEdDSA, key.private, hdr, rawClaims(t, validClaims(e, u), tc.set))
				_, err := e.svc.Verify(ctx, raw)
				if tc.ok && err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !tc.ok && !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify = %v, want ErrInvalidToken", err)
				}
			})
		}
	})
}

// rawClaims is c as a JSON object with set's members added or replaced (a
// nil value is JSON null, except that a nil "exp" beside "EXP" removes it).
func rawClaims(t *testing.T, c *accessClaims, set map[string]any) jwt.MapClaims {
	t.Helper()
	b, err := json.Marshal(c)
	m := jwt.MapClaims{}
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		m[k] = v
	}
	if _, ok := set["EXP"]; ok {
		delete(m, "exp")
	}
	return m
}

func TestKeyRotation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "")
		first, _ := e.svc.keys.signer(ctx)

		e.clock.Advance(30*24*time.Hour - 5*time.Minute)
		oldToken, _ := e.svc.access.issue(ctx, u)
		longLived := forge(t, jwt.SigningMethodEdDSA, first.private, map[string]any{"typ": "at+jwt", "kid": first.kid},
			func() *accessClaims {
				c := validClaims(e, u)
				c.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(365 * 24 * time.Hour))
				return c
			}())

		e.clock.Advance(10 * time.Minute) // the first key stops signing
		newToken, err := e.svc.access.issue(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		second, _ := e.svc.keys.signer(ctx)
		if second.kid == first.kid {
			t.Fatal("no new signing key after sign_until")
		}
		if h, _ := decodeParts(t, newToken); h["kid"] != second.kid {
			t.Errorf("new token kid = %v, want %s", h["kid"], second.kid)
		}
		for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
			if _, err := e.svc.Verify(ctx, tok); err != nil {
				t.Errorf("%s token after rotation: %v", name, err)
			}
		}
		if got := jwksKids(t, e.svc); !cmp.Equal(got, []string{second.kid, first.kid}) {
			t.Errorf("JWKS kids = %v, want [new old]", got)
		}

		e.clock.Advance(24 * time.Hour) // past the first key's verify_until
		if _, err := e.svc.Verify(ctx, longLived); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("token of a retired key: %v, want ErrInvalidToken", err)
		}
		if got := jwksKids(t, e.svc); !cmp.Equal(got, []string{second.kid}) {
			t.Errorf("JWKS kids = %v, want only the new key", got)
		}
	})
}

func jwksKids(t *testing.T, s *Service) []string {
	t.Helper()
	set, err := s.JWKS(context.Background())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func TestJWKS(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "")
		set, err := e.svc.JWKS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(set)
		var doc struct {
			Keys []map[string]string `json:"keys"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || len(doc.Keys) != 1 {
			t.Fatalf("JWKS JSON %s: %v", b, err)
		}
		k := doc.Keys[0]
		x, err := base64.RawURLEncoding.DecodeString(k["x"])
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("x = %q: %v", k["x"], err)
		}
		want := map[string]string{"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
			"x": k["x"], "kid": thumbprint(x)}
		if diff := cmp.Diff(want, k); diff != "" {
			t.Errorf("JWK (-want +got):\n%s", diff)
		}
		if _, ok := k["d"]; ok {
			t.Fatal("JWKS publishes the private key")
		}
		// A relying party with only the JWKS can verify our tokens.
		raw, _ := e.svc.access.issue(ctx, u)
		_, err = jwt.Parse(raw, func(*jwt.Token) (any, error) { return ed25519.PublicKey(x), nil },
			jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(e.clock.Now))
		if err != nil {
			t.Errorf("token does not verify with the published key: %v", err)
		}
	})
}

// TestThumbprint uses the example of RFC 8037 Appendix A.3.
func TestThumbprint(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got, want := thumbprint(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

// TestConcurrentKeyCreation starts several processes on an empty key table at once.
func TestConcurrentKeyCreation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		clock, cfg := newClock(), testConfig().withDefaults()
		const processes = 6
		var wg sync.WaitGroup
		kids := make([]string, processes)
		errs := make([]error, processes)
		for i := range processes {
			wg.Go(func() {
				k, err := newKeyring(context.Background(), db.DB, cfg, clock.Now, testenv.Discard())
				if errs[i] = err; err == nil {
					key, _ := k.signer(context.Background())
					kids[i] = key.kid
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("process %d: %v", i, err)
			}
			if kids[i] != kids[0] {
				t.Errorf("process %d signs with %s, process 0 with %s", i, kids[i], kids[0])
			}
		}
		var n int64
		if err := db.Model(&keyRow{}).Count(&n).Error; err != nil || n != 1 {
			t.Errorf("signing keys = %d (%v), want 1", n, err)
		}
	})
}

// TestUnknownKidReload has another process rotate the key; this one learns the
// new key when a token names it, and reloads at most once per interval.
func TestUnknownKidReload(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "")
		e.clock.Advance(30*24*time.Hour + time.Minute)
		other := e.service(t, testConfig(), nil) // starts with a new key
		raw, err := other.access.issue(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		loads := func() int {
			e.svc.keys.mu.RLock()
			defer e.svc.keys.mu.RUnlock()
			return e.svc.keys.loads
		}
		before := loads()
		if _, err := e.svc.Verify(ctx, raw); err != nil {
			t.Fatalf("token signed by another process's new key: %v", err)
		}
		if loads() != before+1 {
			t.Errorf("reloads = %d, want %d", loads(), before+1)
		}
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		bogus := forge(t, jwt.SigningMethodEdDSA, stranger,
			map[string]any{"typ": "at+jwt", "kid": "bogus"}, validClaims(e, u))
		for range 5 {
			if _, err := e.svc.Verify(ctx, bogus); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("bogus kid: %v", err)
			}
		}
		if loads() != before+1 {
			t.Errorf("unknown kids reloaded the keys %d times within the interval", loads()-before-1)
		}
		e.clock.Advance(11 * time.Second)
		_, _ = e.svc.Verify(ctx, bogus)
		if loads() != before+2 {
			t.Errorf("reloads = %d after the interval, want %d", loads(), before+2)
		}
	})
}

// TestKeyCreationWaitsForOtherProcess holds one process's key creation open while
// another starts: the second must wait and adopt the first's key.
func TestKeyCreationWaitsForOtherProcess(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		clock, cfg := newClock(), testConfig().withDefaults()
		ctx := context.Background()
		first := &keyring{db: db.DB, now: clock.Now, log: testenv.Discard(), signFor: cfg.KeySignPeriod,
			verifyGrace: cfg.KeyVerifyGrace, reloadEvery: cfg.KeyReloadInterval, keys: map[string]signingKey{}}
		tx := db.WithContext(ctx).Begin()
		if err := lockKeys(tx); err != nil {
			t.Fatal(err)
		}
		if err := first.create(tx, dbTime(clock.Now())); err != nil {
			t.Fatal(err)
		}
		second := make(chan error)
		go func() {
			_, err := newKeyring(ctx, db.DB, cfg, clock.Now, testenv.Discard())
			second <- err
		}()
		time.Sleep(200 * time.Millisecond) // let the second reach the lock; arriving later only makes it easier
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := db.Model(&keyRow{}).Count(&n).Error; err != nil || n != 1 {
			t.Errorf("signing keys = %d (%v), want 1", n, err)
		}
	})
}
