package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// TestPasswordGrant covers the order LDAP → local password, provisioning, and the
// users who must be refused. Every refusal is the one generic error.
func TestPasswordGrant(t *testing.T) {
	ldap := MockLDAP{Passwords: map[string]string{
		"anna@utrecht.example": "anna's LDAP password", // in LDAP, no local user yet
		"bert@utrecht.example": "bert's LDAP password", // in LDAP and local, local password differs
		"cees@elders.example":  "cees's LDAP password", // in LDAP, domain of no member
		"dirk@utrecht.example": "dirk's LDAP password", // in LDAP, disabled locally
		"gijs@gone.example":    "gijs's LDAP password", // organisation left the community
	}}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), ldap)
		down := e.service(t, testConfig(), MockLDAP{Err: errors.New("ldap: connection refused")})
		noLDAP := e.service(t, testConfig(), nil)
		e.createUser(t, "bert@utrecht.example", RoleOrgAdmin, "bert's local password")
		dirk := e.createUser(t, "dirk@utrecht.example", RoleSender, "")
		e.createUser(t, "ops@veilig.example", RoleOperator, "operator's password")
		e.createUser(t, "lies@ede.example", RoleSender, "")
		erik := e.createUser(t, "erik@ede.example", RoleSender, "erik's local password")
		e.createUser(t, "gijs@gone.example", RoleSender, "")
		if err := e.svc.Users().Disable(context.Background(), dirk.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Users().Disable(context.Background(), erik.ID); err != nil {
			t.Fatal(err)
		}
		db.Exec("UPDATE organisations SET status = 'removed' WHERE id = ?", orgGone)

		for i, tc := range []struct {
			name, email, password string
			svc                   *Service
			want                  Principal // zero: refused
		}{
			{"LDAP provisions a sender", "Anna@Utrecht.example", "anna's LDAP password", e.svc,
				Principal{Email: "anna@utrecht.example", OrganisationID: orgUtrecht, Role: RoleSender}},
			{"LDAP again finds the provisioned user", "anna@utrecht.example", "anna's LDAP password", e.svc,
				Principal{Email: "anna@utrecht.example", OrganisationID: orgUtrecht, Role: RoleSender}},
			{"LDAP wrong password", "anna@utrecht.example", "anna's LDAP passwore", e.svc, Principal{}},
			{"LDAP known user keeps role", "bert@utrecht.example", "bert's LDAP password", e.svc,
				Principal{Email: "bert@utrecht.example", OrganisationID: orgUtrecht, Role: RoleOrgAdmin}},
			{"LDAP decides for its people", "bert@utrecht.example", "bert's local password", e.svc, Principal{}},
			{"LDAP person outside the community", "cees@elders.example", "cees's LDAP password", e.svc, Principal{}},
			{"LDAP person disabled locally", "dirk@utrecht.example", "dirk's LDAP password", e.svc, Principal{}},
			{"LDAP person of a removed organisation", "gijs@gone.example", "gijs's LDAP password", e.svc, Principal{}},
			{"not in LDAP: local password", "ops@veilig.example", "operator's password", e.svc,
				Principal{Email: "ops@veilig.example", Role: RoleOperator}},
			{"not in LDAP: wrong local password", "ops@veilig.example", "operator's passworD", e.svc, Principal{}},
			{"not in LDAP: no local password", "lies@ede.example", "", e.svc, Principal{}},
			{"not in LDAP: no local password, any", "lies@ede.example", "whatever it may be", e.svc, Principal{}},
			{"not in LDAP: disabled", "erik@ede.example", "erik's local password", e.svc, Principal{}},
			{"unknown everywhere", "nobody@utrecht.example", "nobody's password", e.svc, Principal{}},
			{"LDAP down: local password", "ops@veilig.example", "operator's password", down,
				Principal{Email: "ops@veilig.example", Role: RoleOperator}},
			{"LDAP down: LDAP-only person refused", "anna@utrecht.example", "anna's LDAP password", down, Principal{}},
			{"no LDAP: local password", "bert@utrecht.example", "bert's local password", noLDAP,
				Principal{Email: "bert@utrecht.example", OrganisationID: orgUtrecht, Role: RoleOrgAdmin}},
			{"malformed address", "Anna <anna@utrecht.example>", "anna's LDAP password", e.svc, Principal{}},
			{"over-long password", "ops@veilig.example", strings.Repeat("x", MaxPasswordBytes+1), e.svc, Principal{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				ip := fmt.Sprintf("192.0.2.%d", i+1) // keep the client limit out of the way
				pair, err := tc.svc.PasswordGrant(ctx, tc.email, tc.password, ip)
				if cmp.Equal(tc.want, Principal{}) {
					if err != ErrInvalidCredentials { // exactly the generic error, nothing wrapped
						t.Fatalf("PasswordGrant = %v, want exactly ErrInvalidCredentials", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("PasswordGrant: %v", err)
				}
				got, err := e.svc.Verify(ctx, pair.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				got.UserID, got.TokenID, got.ExpiresAt = "", "", time.Time{}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
			})
		}
		if _, err := e.svc.Users().GetByEmail(context.Background(), "cees@elders.example"); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("a person outside the community was provisioned: %v", err)
		}
	})
}

func TestPasswordGrantRehashes(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		u := e.createUser(t, "jan@utrecht.example", RoleSender, janPassword)
		cfg := testConfig()
		cfg.Argon2.Iterations = 2
		raised := e.service(t, cfg, nil)
		if _, err := raised.PasswordGrant(context.Background(), u.Email, janPassword, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		var hash string
		db.Raw("SELECT password_hash FROM users WHERE id = ?", u.ID).Scan(&hash)
		if !strings.Contains(hash, "$m=64,t=2,p=1$") {
			t.Errorf("hash after login with raised parameters = %q", hash)
		}
		if _, err := e.svc.PasswordGrant(context.Background(), u.Email, janPassword, "192.0.2.1"); err != nil {
			t.Errorf("login after rehash: %v", err)
		}
	})
}

// TestAccountRateLimit: five failures of an account from one address are free,
// then each attempt from that address waits, even with the right password;
// success clears the count.
func TestAccountRateLimit(t *testing.T) {
	const guesser = "198.51.100.7"
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, janPassword)
		attempt := func(email, ip, password string) error {
			_, err := e.svc.PasswordGrant(ctx, email, password, ip)
			return err
		}
		jan := strings.ToUpper(u.Email)
		for n := range 5 {
			if err := attempt(jan, guesser, "wrong password!"); err != ErrInvalidCredentials {
				t.Fatalf("failure %d: %v", n+1, err)
			}
		}
		for _, step := range []struct {
			wait  time.Duration // clock advance before the attempt
			retry time.Duration // 0: admitted
		}{
			{0, 30 * time.Second},
			{29 * time.Second, time.Second},
			{time.Second, 0}, // admitted; the sixth failure
			{0, time.Minute},
			{time.Minute, 0}, // the seventh
			{0, 2 * time.Minute},
		} {
			e.clock.Advance(step.wait)
			err := attempt(jan, guesser, janPassword+"?")
			var rl *RateLimitError
			switch {
			case step.retry == 0 && err != ErrInvalidCredentials:
				t.Fatalf("after %s: %v, want an admitted failure", step.wait, err)
			case step.retry != 0 && (!errors.As(err, &rl) || rl.RetryAfter != step.retry || rl.Scope != "account" ||
				!errors.Is(err, ErrRateLimited)):
				t.Fatalf("after %s: %v, want RateLimitError retry %s", step.wait, err, step.retry)
			}
		}
		if err := attempt(jan, guesser, janPassword); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("right password from the blocked address: %v, want ErrRateLimited", err)
		}
		e.clock.Advance(2 * time.Minute)
		if err := attempt(jan, guesser, janPassword); err != nil {
			t.Fatalf("right password after the wait: %v", err)
		}
		for n := range 5 {
			if err := attempt(jan, guesser, "wrong password!"); err != ErrInvalidCredentials {
				t.Fatalf("failure %d after success: %v (count not reset)", n+1, err)
			}
		}
		// Unknown accounts are limited alike, so the limit reveals nothing.
		for n := range 5 {
			if err := attempt("nobody@utrecht.example", guesser, "x"); err != ErrInvalidCredentials {
				t.Fatalf("unknown account, failure %d: %v", n+1, err)
			}
		}
		var rl *RateLimitError
		if err := attempt("nobody@utrecht.example", guesser, "x"); !errors.As(err, &rl) || rl.Scope != "account" {
			t.Fatalf("unknown account, sixth failure: %v, want an account RateLimitError", err)
		}
	})
}

// TestStrangerFailuresDoNotBlockUser: anyone can pick a user's address from the
// autocomplete list and fail on purpose; that must not keep the user out.
func TestStrangerFailuresDoNotBlockUser(t *testing.T) {
	const stranger, strangerV6, janIP = "198.51.100.7", "2001:db8:66::1", "192.0.2.1"
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, janPassword)
		for _, ip := range []string{stranger, strangerV6} {
			for range 8 {
				_, _ = e.svc.PasswordGrant(ctx, u.Email, "a stranger's guess", ip)
			}
			if _, err := e.svc.PasswordGrant(ctx, u.Email, janPassword, ip); !errors.Is(err, ErrRateLimited) {
				t.Fatalf("the stranger at %s is not in backoff: %v", ip, err)
			}
		}
		if _, err := e.svc.PasswordGrant(ctx, u.Email, janPassword, janIP); err != nil {
			t.Fatalf("the user's own login while strangers are in backoff: %v", err)
		}
		if _, err := e.svc.Authenticate(ctx, u.Email, janPassword, janIP); err != nil {
			t.Fatalf("the user's SMTP AUTH while strangers are in backoff: %v", err)
		}
	})
}

func TestClientRateLimit(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		cfg.RateLimit = RateLimitConfig{ClientPerMinute: 6, ClientBurst: 3}
		e := newEnv(t, db, cfg, nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, janPassword)
		for n := range 3 {
			_, err := e.svc.PasswordGrant(ctx, fmt.Sprintf("user%d@utrecht.example", n), "password guess", "2001:db8::1")
			if err != ErrInvalidCredentials {
				t.Fatalf("guess %d: %v", n, err)
			}
		}
		var rl *RateLimitError
		_, err := e.svc.PasswordGrant(ctx, u.Email, janPassword, "2001:db8::2") // same /64
		if !errors.As(err, &rl) || rl.Scope != "client" || rl.RetryAfter != 10*time.Second {
			t.Fatalf("fourth attempt from the /64: %v, want client RateLimitError retry 10s", err)
		}
		if _, err := e.svc.RefreshGrant(ctx, "whatever", "2001:db8::3"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("refresh grant from the limited /64: %v", err)
		}
		if _, err := e.svc.PasswordGrant(ctx, u.Email, janPassword, "2001:db8:1::1"); err != nil {
			t.Fatalf("another /64: %v", err)
		}
		e.clock.Advance(10 * time.Second)
		if _, err := e.svc.PasswordGrant(ctx, u.Email, janPassword, "2001:db8::1"); err != nil {
			t.Fatalf("after the refill: %v", err)
		}
		// Successes are forgiven: a busy office behind one address is not limited.
		for n := range 10 {
			if _, err := e.svc.PasswordGrant(ctx, u.Email, janPassword, "203.0.113.5"); err != nil {
				t.Fatalf("success %d from one address: %v", n, err)
			}
		}
	})
}

// TestLogsHoldNoSecrets runs every grant path and searches the log for secrets.
func TestLogsHoldNoSecrets(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ldap := MockLDAP{Passwords: map[string]string{"anna@utrecht.example": "anna's LDAP password"}}
		e := newEnv(t, db, testConfig(), ldap)
		ctx := context.Background()
		u, pair := login(t, e)
		next, err := e.svc.RefreshGrant(ctx, pair.RefreshToken, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = e.svc.RefreshGrant(ctx, pair.RefreshToken, "192.0.2.1") // reuse
		_, _ = e.svc.PasswordGrant(ctx, u.Email, "a wrong password", "192.0.2.1")
		anna, _ := e.svc.PasswordGrant(ctx, "anna@utrecht.example", "anna's LDAP password", "192.0.2.1")
		_ = e.svc.Logout(ctx, anna.RefreshToken) // next's family ended with the reuse above
		logs := e.logs.String()
		for _, secret := range []string{janPassword, "a wrong password", "anna's LDAP password",
			pair.RefreshToken, next.RefreshToken, pair.AccessToken, next.AccessToken, hashToken(pair.RefreshToken),
			anna.RefreshToken, anna.AccessToken} {
			if strings.Contains(logs, secret) {
				t.Errorf("log contains a secret %.8q…", secret)
			}
		}
		for _, want := range []string{"reason=bad_password", "reason=token_reused", "user provisioned from LDAP",
			"msg=logout", "user_id=" + u.ID} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q", want)
			}
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	db := testenv.DB(t, database.SQLite)
	for name, mutate := range map[string]func(*Config){
		"no issuer":       func(c *Config) { c.Issuer = "" },
		"no audience":     func(c *Config) { c.Audience = "" },
		"grace too short": func(c *Config) { c.KeyVerifyGrace = time.Minute },
		"weak argon2":     func(c *Config) { c.Argon2.SaltLength = 4 },
		"negative ttl":    func(c *Config) { c.AccessTokenTTL = -time.Minute },
		"bad limits":      func(c *Config) { c.RateLimit.AccountMaxDelay = time.Second },
	} {
		cfg := testConfig()
		mutate(&cfg)
		_, err := New(context.Background(), cfg, Deps{DB: db.DB, Log: testenv.Discard()})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// TestUnknownUserSpendsAHash shows that a login for an unknown account, or one
// without a local password, waits for the hasher like a real check does.
func TestUnknownUserSpendsAHash(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		cfg := testConfig()
		cfg.MaxConcurrentHashes = 1
		e := newEnv(t, db, cfg, nil)
		e.createUser(t, "lies@ede.example", RoleSender, "")
		e.svc.hasher.sem <- struct{}{} // the hasher is busy
		defer func() { <-e.svc.hasher.sem }()
		for _, email := range []string{"nobody@utrecht.example", "lies@ede.example"} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := e.svc.PasswordGrant(ctx, email, "some password", "192.0.2.1")
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting to hash") {
				t.Errorf("%s: %v, want the grant to wait for the hasher", email, err)
			}
		}
	})
}

// TestAuthenticate: the SMTP gateway's check shares the grant's rules and limits,
// and issues no tokens.
func TestAuthenticate(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, janPassword)
		p, err := e.svc.Authenticate(ctx, "Jan@Utrecht.example", janPassword, "192.0.2.1")
		if err != nil || p.UserID != u.ID || p.OrganisationID != orgUtrecht || p.Role != RoleSender {
			t.Fatalf("Authenticate = %+v, %v", p, err)
		}
		for range 5 {
			if _, err := e.svc.Authenticate(ctx, u.Email, "wrong password!", "192.0.2.1"); err != ErrInvalidCredentials {
				t.Fatalf("wrong password: %v", err)
			}
		}
		if _, err := e.svc.Authenticate(ctx, u.Email, janPassword, "192.0.2.1"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("after five failures: %v, want ErrRateLimited", err)
		}
		var n int64
		db.Raw("SELECT COUNT(*) FROM refresh_tokens").Scan(&n)
		if n != 0 {
			t.Errorf("Authenticate issued %d refresh tokens", n)
		}
	})
}

// TestOperatorsNotViaLDAP: a directory entry with an operator's address, and a
// password its controller knows, must not log anyone in as that operator.
func TestOperatorsNotViaLDAP(t *testing.T) {
	ldap := MockLDAP{Passwords: map[string]string{
		"ops@veilig.example":   "directory password",
		"ops@utrecht.example":  "directory password", // an operator with a member's domain
		"anna@utrecht.example": "anna's LDAP password",
	}}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), ldap)
		ctx := context.Background()
		e.createUser(t, "ops@veilig.example", RoleOperator, "operator's password")
		e.createUser(t, "ops@utrecht.example", RoleOperator, "")
		e.createUser(t, "anna@utrecht.example", RoleSender, "")
		for i, tc := range []struct {
			name, email, password string
			smtp                  bool // Authenticate instead of PasswordGrant
			wantErr               error
		}{
			{"operator verified by LDAP", "ops@veilig.example", "directory password", false, ErrInvalidCredentials},
			{"operator verified by LDAP, SMTP AUTH", "ops@veilig.example", "directory password", true, ErrInvalidCredentials},
			{"operator of a member domain verified by LDAP", "ops@utrecht.example", "directory password", false, ErrInvalidCredentials},
			{"sender verified by LDAP", "anna@utrecht.example", "anna's LDAP password", false, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ip := fmt.Sprintf("192.0.2.%d", i+1)
				var err error
				if tc.smtp {
					_, err = e.svc.Authenticate(ctx, tc.email, tc.password, ip)
				} else {
					_, err = e.svc.PasswordGrant(ctx, tc.email, tc.password, ip)
				}
				if err != tc.wantErr { // exactly the generic error, nothing wrapped
					t.Fatalf("login = %v, want %v", err, tc.wantErr)
				}
			})
		}
		if logs := e.logs.String(); strings.Count(logs, "reason="+reasonOperatorViaLDAP) != 3 {
			t.Errorf("log does not give the reason of each refusal:\n%s", logs)
		}
		var n int64
		err := db.Raw("SELECT COUNT(*) FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id WHERE u.role = ?",
			string(RoleOperator)).Scan(&n).Error
		if err != nil || n != 0 {
			t.Errorf("%d refresh tokens issued to operators (%v)", n, err)
		}
	})
}
