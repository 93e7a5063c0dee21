package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestPrincipalAllows(t *testing.T) {
	all := []string{ScopeMessagesSend, ScopeMessagesRead, ScopeDirectoryRead}
	for _, tc := range []struct {
		name string
		p    Principal
		want []string // the scopes allowed, of all
	}{
		{"sender token", Principal{Role: RoleSender}, all},
		{"org-admin token", Principal{Role: RoleOrgAdmin}, all},
		{"operator token", Principal{Role: RoleOperator}, []string{ScopeDirectoryRead}},
		{"send-only key", Principal{Role: RoleSender, APIKeyID: "k", Scopes: []string{ScopeMessagesSend}},
			[]string{ScopeMessagesSend}},
		{"read key", Principal{Role: RoleSender, APIKeyID: "k", Scopes: []string{ScopeDirectoryRead, ScopeMessagesRead}},
			[]string{ScopeMessagesRead, ScopeDirectoryRead}},
		{"key without scopes", Principal{Role: RoleSender, APIKeyID: "k"}, nil},
		{"empty scopes are not all scopes", Principal{Role: RoleOrgAdmin, Scopes: []string{}}, nil},
		{"no role", Principal{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range append(all, "admin", "") {
				if tc.p.Allows(s) {
					got = append(got, s)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("allowed scopes (-want +got):\n%s", diff)
			}
		})
	}
}

// keyEnv is a service with a sender and an administrator in Utrecht and a
// sender in Ede.
type keyEnv struct {
	*env
	jan, beheer, piet User
}

func newKeyEnv(t *testing.T, db *database.DB) keyEnv {
	t.Helper()
	e := newEnv(t, db, testConfig(), nil)
	return keyEnv{env: e,
		jan:    e.createUser(t, "jan@utrecht.example", RoleSender, "jan's password"),
		beheer: e.createUser(t, "beheer@utrecht.example", RoleOrgAdmin, ""),
		piet:   e.createUser(t, "piet@ede.example", RoleSender, ""),
	}
}

func TestAPIKeyCreate(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		ops := e.createUser(t, "ops@veilig.example", RoleOperator, "")
		gone := e.createUser(t, "kees@utrecht.example", RoleSender, "")
		if err := e.svc.Users().Disable(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, org, user, keyName string
			scopes                   []string
			wantScopes               []string
			wantErr                  error
		}{
			{"sender", orgUtrecht, e.jan.ID, " Zaaksysteem ", []string{ScopeMessagesSend, ScopeDirectoryRead, ScopeMessagesSend},
				[]string{ScopeDirectoryRead, ScopeMessagesSend}, nil},
			{"administrator's own key", orgUtrecht, e.beheer.ID, "beheer", []string{ScopeMessagesRead},
				[]string{ScopeMessagesRead}, nil},
			{"user of another organisation", orgUtrecht, e.piet.ID, "x", []string{ScopeMessagesSend}, nil, ErrUserNotFound},
			{"unknown user", orgUtrecht, "no-such-id", "x", []string{ScopeMessagesSend}, nil, ErrUserNotFound},
			{"operator", orgUtrecht, ops.ID, "x", []string{ScopeMessagesSend}, nil, ErrUserNotFound},
			{"no organisation", "", ops.ID, "x", []string{ScopeMessagesSend}, nil, ErrUserNotFound},
			{"disabled user", orgUtrecht, gone.ID, "x", []string{ScopeMessagesSend}, nil, ErrUserDisabled},
			{"unknown scope", orgUtrecht, e.jan.ID, "x", []string{ScopeMessagesSend, "admin"}, nil, ErrInvalidScope},
			{"no scope", orgUtrecht, e.jan.ID, "x", nil, nil, ErrInvalidScope},
			{"empty name", orgUtrecht, e.jan.ID, "  ", []string{ScopeMessagesSend}, nil, ErrInvalidName},
			{"control character", orgUtrecht, e.jan.ID, "a\nb", []string{ScopeMessagesSend}, nil, ErrInvalidName},
			{"long name", orgUtrecht, e.jan.ID, strings.Repeat("é", maxKeyName+1), []string{ScopeMessagesSend}, nil, ErrInvalidName},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key, secret, err := e.svc.APIKeys().Create(ctx, tc.org, tc.user, tc.keyName, tc.scopes)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Create = %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr != nil {
					return
				}
				want := APIKey{ID: key.ID, OrganisationID: tc.org, UserID: tc.user, Name: strings.TrimSpace(tc.keyName),
					Scopes: tc.wantScopes, CreatedAt: e.clock.Now()}
				if diff := cmp.Diff(want, key); diff != "" {
					t.Errorf("key (-want +got):\n%s", diff)
				}
				if !strings.HasPrefix(secret, "vk_"+key.ID+"_") || len(secret) != apiKeyLen {
					t.Errorf("secret %q has the wrong form", secret)
				}
			})
		}
	})
}

func TestAPIKeyVerify(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		keys := e.svc.APIKeys()
		key, secret, err := keys.Create(ctx, orgUtrecht, e.jan.ID, "zaaksysteem", []string{ScopeMessagesSend})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.Verify(ctx, secret)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		want := Principal{UserID: e.jan.ID, Email: e.jan.Email, OrganisationID: orgUtrecht, Role: RoleSender,
			Scopes: []string{ScopeMessagesSend}, APIKeyID: key.ID}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("principal (-want +got):\n%s", diff)
		}
		if !got.Allows(ScopeMessagesSend) || got.Allows(ScopeMessagesRead) || !got.IsAPIKey() {
			t.Errorf("key principal scopes wrong: %+v", got)
		}
		// The administrator's key acts as a sender, never as an administrator.
		_, adminSecret, err := keys.Create(ctx, orgUtrecht, e.beheer.ID, "beheer", []string{ScopeMessagesRead})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := e.svc.Verify(ctx, adminSecret); err != nil || p.Role != RoleSender {
			t.Errorf("administrator's key = %+v, %v; want role sender", p, err)
		}
		id := key.ID
		otherSecret := strings.Repeat("A", 43)
		for _, tc := range []struct{ name, token string }{
			{"wrong secret", "vk_" + id + "_" + otherSecret},
			{"unknown id", "vk_99999999-9999-4999-8999-999999999999_" + secret[len(secret)-43:]},
			{"truncated", secret[:len(secret)-1]},
			{"extended", secret + "A"},
			{"no id", "vk__" + otherSecret},
			{"not a uuid", "vk_" + strings.Repeat("x", 36) + "_" + otherSecret},
			{"prefix only", "vk_"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if p, err := e.svc.Verify(ctx, tc.token); !errors.Is(err, ErrInvalidToken) {
					t.Errorf("Verify = %+v, %v; want ErrInvalidToken", p, err)
				}
			})
		}
	})
}

// TestAPIKeyRefused: a revoked key, a disabled user's key and a removed
// organisation's key stop working; this process sees revocation and disabling
// at once (the key was verified, so cached, before), other processes within
// LiveTTL.
func TestAPIKeyRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		end   func(t *testing.T, e keyEnv, keyID string) error
		local bool // this process refuses at once
	}{
		{"revoked", func(t *testing.T, e keyEnv, keyID string) error {
			return e.svc.APIKeys().Revoke(context.Background(), orgUtrecht, keyID)
		}, true},
		{"user disabled", func(t *testing.T, e keyEnv, _ string) error {
			return e.svc.Users().DisableInOrganisation(context.Background(), orgUtrecht, e.jan.ID)
		}, true},
		{"organisation removed", func(t *testing.T, e keyEnv, _ string) error {
			return e.db.Exec("UPDATE organisations SET status = 'removed' WHERE id = ?", orgUtrecht).Error
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
				e := newKeyEnv(t, db)
				ctx := context.Background()
				other := e.service(t, testConfig(), nil)
				key, secret, err := e.svc.APIKeys().Create(ctx, orgUtrecht, e.jan.ID, "k", []string{ScopeMessagesSend})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []*Service{e.svc, other} {
					if _, err := s.Verify(ctx, secret); err != nil {
						t.Fatalf("Verify before: %v", err)
					}
				}
				if err := tc.end(t, e, key.ID); err != nil {
					t.Fatal(err)
				}
				_, err = e.svc.Verify(ctx, secret)
				if tc.local && !errors.Is(err, ErrInvalidToken) {
					t.Errorf("this process, at once: Verify = %v, want ErrInvalidToken", err)
				}
				e.clock.Advance(LiveTTL)
				for i, s := range []*Service{e.svc, other} {
					if _, err := s.Verify(ctx, secret); !errors.Is(err, ErrInvalidToken) {
						t.Errorf("process %d after LiveTTL: Verify = %v, want ErrInvalidToken", i, err)
					}
				}
			})
		})
	}
}

func TestAPIKeyListAndRevoke(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		keys := e.svc.APIKeys()
		a, _, err := keys.Create(ctx, orgUtrecht, e.jan.ID, "a", []string{ScopeMessagesSend})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		b, _, _ := keys.Create(ctx, orgUtrecht, e.beheer.ID, "b", []string{ScopeDirectoryRead})
		ede, edeSecret, _ := keys.Create(ctx, orgEde, e.piet.ID, "ede", []string{ScopeMessagesRead})

		// Tenant isolation: Utrecht can neither see nor revoke Ede's key.
		if err := keys.Revoke(ctx, orgUtrecht, ede.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Revoke of another organisation's key = %v, want ErrNotFound", err)
		}
		if _, err := e.svc.Verify(ctx, edeSecret); err != nil {
			t.Errorf("Ede's key after Utrecht's attempt: %v", err)
		}
		if err := keys.Revoke(ctx, orgUtrecht, "no-such-key"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Revoke(unknown) = %v, want ErrNotFound", err)
		}
		if err := keys.Revoke(ctx, orgUtrecht, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := keys.Revoke(ctx, orgUtrecht, a.ID); err != nil {
			t.Errorf("second Revoke = %v, want nil", err)
		}
		got, err := keys.List(ctx, orgUtrecht)
		if err != nil {
			t.Fatal(err)
		}
		revoked := e.clock.Now()
		a.RevokedAt = &revoked
		if diff := cmp.Diff([]APIKey{a, b}, got); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
		if got, _ := keys.List(ctx, "no-such-org"); len(got) != 0 {
			t.Errorf("List(unknown org) = %v", got)
		}
	})
}

// TestAPIKeySecretNotStored scans every column of every api_keys row for the
// secret or any part of it that would let someone rebuild the key.
func TestAPIKeySecretNotStored(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		_, secret, err := e.svc.APIKeys().Create(ctx, orgUtrecht, e.jan.ID, "k", []string{ScopeMessagesSend})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
		random := secret[len(secret)-43:]
		rows, err := db.Raw("SELECT * FROM api_keys").Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for ; rows.Next(); n++ {
			row := map[string]any{}
			if err := db.ScanRows(rows, &row); err != nil {
				t.Fatal(err)
			}
			for col, v := range row {
				if s, ok := v.(string); ok && (strings.Contains(s, random) || strings.Contains(s, secret)) {
					t.Errorf("column %s holds the secret", col)
				}
			}
		}
		if n != 1 {
			t.Errorf("scanned %d rows, want 1", n)
		}
	})
}

func TestAPIKeyLastUsed(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		keys := e.svc.APIKeys()
		key, secret, err := keys.Create(ctx, orgUtrecht, e.jan.ID, "k", []string{ScopeMessagesSend})
		if err != nil {
			t.Fatal(err)
		}
		lastUsed := func() *time.Time {
			t.Helper()
			got, err := keys.List(ctx, orgUtrecht)
			if err != nil || len(got) != 1 || got[0].ID != key.ID {
				t.Fatalf("List = %v, %v", got, err)
			}
			return got[0].LastUsedAt
		}
		if lastUsed() != nil {
			t.Error("a new key has been used")
		}
		first := e.clock.Now()
		for _, step := range []struct {
			advance time.Duration
			want    time.Time
		}{
			{0, first},
			{30 * time.Second, first}, // cache expired, but within a minute: no write
			{31 * time.Second, first.Add(61 * time.Second)},
		} {
			e.clock.Advance(step.advance)
			if _, err := e.svc.Verify(ctx, secret); err != nil {
				t.Fatal(err)
			}
			if got := lastUsed(); got == nil || !got.Equal(step.want) {
				t.Errorf("after %s: last used %v, want %v", step.advance, got, step.want)
			}
		}
	})
}
