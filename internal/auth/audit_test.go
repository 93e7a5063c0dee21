package auth

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// auditedService is a service on a seeded database recording into log.
func auditedService(t *testing.T, db *database.DB, log *audit.Memory) *Service {
	t.Helper()
	seedOrganisations(t, db)
	svc, err := New(context.Background(), testConfig(), Deps{DB: db.DB, Organisations: testOrganisations,
		Log: slog.New(slog.DiscardHandler), Now: newClock().Now, Audit: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return svc
}

// brief is what the tests compare of an event.
type brief struct {
	Action, Outcome, Object, Org, ActorUser, IP, UA string
	Detail                                          map[string]string
}

func briefs(events []audit.Event) []brief {
	out := make([]brief, 0, len(events))
	for _, e := range events {
		obj := ""
		if e.Object != (audit.Object{}) {
			obj = e.Object.Type + ":" + e.Object.ID
		}
		out = append(out, brief{e.Action, e.Outcome, obj, e.OrganisationID, e.Actor.UserID, e.Actor.IP,
			e.Actor.UserAgent, e.Detail})
	}
	return out
}

const (
	canaryPassword = "canary-password-Zq8"
	clientIP       = "192.0.2.7"
	clientUA       = "Veilig-Test/1.0"
)

func TestAuditEvents(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		log := &audit.Memory{}
		svc := auditedService(t, db, log)
		var all []audit.Event
		ctx := audit.WithActor(context.Background(), audit.Actor{IP: "198.51.100.1", UserAgent: clientUA})
		step := func(name string, do func() []string, want func() []brief) {
			t.Helper()
			secrets := do()
			got := log.Take()
			all = append(all, got...)
			if d := cmp.Diff(want(), briefs(got)); d != "" {
				t.Errorf("%s: events (-want +got):\n%s", name, d)
			}
			testenv.AssertNoSecrets(t, got, secrets...)
		}
		var anna User
		step("user created", func() []string {
			var err error
			anna, err = svc.Users().Create(ctx, NewUser{Email: "anna@utrecht.example", Role: RoleSender,
				Password: canaryPassword})
			check(t, err)
			return []string{canaryPassword, "anna@"}
		}, func() []brief {
			return []brief{{audit.ActionUserCreated, "success", "user:" + anna.ID, orgUtrecht, "", "198.51.100.1",
				clientUA, map[string]string{"role": "sender"}}}
		})
		var pair TokenPair
		step("sign-in", func() []string {
			var err error
			pair, err = svc.PasswordGrant(ctx, "anna@utrecht.example", canaryPassword, clientIP)
			check(t, err)
			return []string{canaryPassword, pair.AccessToken, pair.RefreshToken}
		}, func() []brief {
			return []brief{{audit.ActionSignIn, "success", "user:" + anna.ID, orgUtrecht, anna.ID, clientIP, clientUA,
				map[string]string{"grant": "password"}}}
		})
		step("wrong password", func() []string {
			_, err := svc.PasswordGrant(ctx, "anna@utrecht.example", canaryPassword+"x", clientIP)
			mustFail(t, err)
			return []string{canaryPassword}
		}, func() []brief {
			return []brief{{audit.ActionSignIn, "failure", "user:" + anna.ID, orgUtrecht, anna.ID, clientIP, clientUA,
				map[string]string{"grant": "password", "reason": reasonBadPassword}}}
		})
		step("unknown user", func() []string {
			_, err := svc.PasswordGrant(ctx, "nobody@utrecht.example", canaryPassword, clientIP)
			mustFail(t, err)
			return []string{canaryPassword, "nobody@"}
		}, func() []brief {
			return []brief{{audit.ActionSignIn, "failure", "", "", "", clientIP, clientUA,
				map[string]string{"grant": "password", "reason": reasonUnknownUser}}}
		})
		var next TokenPair
		step("refresh", func() []string {
			var err error
			next, err = svc.RefreshGrant(ctx, pair.RefreshToken, clientIP)
			check(t, err)
			return []string{pair.RefreshToken, next.RefreshToken, next.AccessToken}
		}, func() []brief {
			return []brief{{audit.ActionTokenRefresh, "success", "user:" + anna.ID, orgUtrecht, anna.ID, clientIP, clientUA,
				map[string]string{"grant": "refresh_token"}}}
		})
		step("refresh token reused", func() []string {
			_, err := svc.RefreshGrant(ctx, pair.RefreshToken, clientIP)
			mustFail(t, err)
			return []string{pair.RefreshToken}
		}, func() []brief {
			return []brief{{audit.ActionTokenReuse, "failure", "user:" + anna.ID, orgUtrecht, anna.ID, clientIP, clientUA,
				map[string]string{"grant": "refresh_token", "reason": reasonTokenReused}}}
		})
		step("refresh unknown token", func() []string {
			_, err := svc.RefreshGrant(ctx, "not-a-token", clientIP)
			mustFail(t, err)
			return []string{"not-a-token"}
		}, func() []brief {
			return []brief{{audit.ActionTokenRefresh, "failure", "", "", "", clientIP, clientUA,
				map[string]string{"grant": "refresh_token", "reason": reasonInvalidToken}}}
		})
		var key APIKey
		step("API key created", func() []string {
			var secret string
			var err error
			key, secret, err = svc.APIKeys().Create(ctx, orgUtrecht, anna.ID, "canary key", []string{ScopeMessagesSend})
			check(t, err)
			return []string{secret}
		}, func() []brief {
			return []brief{{audit.ActionAPIKeyCreated, "success", "api-key:" + key.ID, orgUtrecht, "",
				"198.51.100.1", clientUA, map[string]string{"owner_id": anna.ID, "scopes": ScopeMessagesSend}}}
		})
		step("API key revoked", func() []string {
			check(t, svc.APIKeys().Revoke(ctx, orgUtrecht, key.ID))
			return nil
		}, func() []brief {
			return []brief{{audit.ActionAPIKeyRevoked, "success", "api-key:" + key.ID, orgUtrecht, "", "198.51.100.1",
				clientUA, nil}}
		})
		var fresh TokenPair // the reuse above ended next's family: sign in anew
		step("sign-in and sign-out", func() []string {
			var err error
			fresh, err = svc.PasswordGrant(ctx, "anna@utrecht.example", canaryPassword, clientIP)
			check(t, err)
			check(t, svc.Logout(ctx, fresh.RefreshToken))
			return []string{canaryPassword, fresh.AccessToken, fresh.RefreshToken}
		}, func() []brief {
			return []brief{{audit.ActionSignIn, "success", "user:" + anna.ID, orgUtrecht, anna.ID, clientIP, clientUA,
				map[string]string{"grant": "password"}},
				{audit.ActionSignOut, "success", "user:" + anna.ID, orgUtrecht, anna.ID, "198.51.100.1", clientUA, nil}}
		})
		step("sign-out again with the same token", func() []string {
			check(t, svc.Logout(ctx, fresh.RefreshToken))
			return []string{fresh.RefreshToken}
		}, func() []brief { return []brief{} })
		step("sign-out with a token whose family a reuse ended", func() []string {
			check(t, svc.Logout(ctx, next.RefreshToken))
			return []string{next.RefreshToken}
		}, func() []brief { return []brief{} })
		step("sign-out with an unknown token", func() []string {
			check(t, svc.Logout(ctx, "not-a-token"))
			return []string{"not-a-token"}
		}, func() []brief { return []brief{} })
		step("user disabled", func() []string {
			check(t, svc.Users().Disable(ctx, anna.ID))
			return nil
		}, func() []brief {
			return []brief{{audit.ActionUserDisabled, "success", "user:" + anna.ID, orgUtrecht, "", "198.51.100.1",
				clientUA, map[string]string{"role": "sender"}}}
		})
		testenv.AssertNoSecrets(t, all, canaryPassword, "anna@", "nobody@")
	})
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustFail(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("succeeded; want a refusal")
	}
}
