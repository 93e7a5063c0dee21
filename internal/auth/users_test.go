package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"jan@utrecht.example", "jan@utrecht.example"},
		{" Jan.de.Vries@Utrecht.EXAMPLE ", "jan.de.vries@utrecht.example"},
		{"jan+tag@utrecht.example", "jan+tag@utrecht.example"},
		{"piet@gemeente-ĳsselstein.example", "piet@gemeente-ijsselstein.example"},
		{"Anna@Bücherei.example", "anna@xn--bcherei-n2a.example"},
		{"jan@under_score.example", ""},
		{"", ""},
		{"jan", ""},
		{"jan@", ""},
		{"@utrecht.example", ""},
		{"Jan <jan@utrecht.example>", ""},
		{"<jan@utrecht.example>", ""},
		{"jan@utrecht.example (Jan)", ""},
		{`"jan"@utrecht.example`, ""},
		{"jan@[192.0.2.1]", ""},
		{"jan@localhost", ""},
		{"jan@utrecht.example.", ""},
		{"jan@utrecht..example", ""},
		{"jan@utrecht.example\r\nBcc: x@y.example", ""},
		{"a@b.example, c@d.example", ""},
	} {
		got, err := NormalizeEmail(tc.in)
		if got != tc.want || (tc.want == "") != errors.Is(err, ErrInvalidEmail) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCreateUser(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		users := e.svc.Users()
		ctx := context.Background()
		for _, tc := range []struct {
			name    string
			in      NewUser
			want    User // compared without ID and times
			wantErr error
		}{
			{"sender", NewUser{Email: "Jan@Utrecht.example", Role: RoleSender, Password: "twelve chars"},
				User{Email: "jan@utrecht.example", Role: RoleSender, OrganisationID: orgUtrecht, HasPassword: true}, nil},
			{"org admin without password", NewUser{Email: "beheer@ede.example", Role: RoleOrgAdmin},
				User{Email: "beheer@ede.example", Role: RoleOrgAdmin, OrganisationID: orgEde}, nil},
			{"operator outside the community", NewUser{Email: "ops@veilig.example", Role: RoleOperator, Password: "operator password"},
				User{Email: "ops@veilig.example", Role: RoleOperator, HasPassword: true}, nil},
			{"operator at a member domain has no organisation", NewUser{Email: "ops@utrecht.example", Role: RoleOperator},
				User{Email: "ops@utrecht.example", Role: RoleOperator}, nil},
			{"sender outside the community", NewUser{Email: "jan@elders.example", Role: RoleSender}, User{}, ErrNoOrganisation},
			{"org admin outside the community", NewUser{Email: "jan@elders.example", Role: RoleOrgAdmin}, User{}, ErrNoOrganisation},
			{"duplicate", NewUser{Email: "JAN@utrecht.example", Role: RoleSender}, User{}, ErrUserExists},
			{"bad role", NewUser{Email: "kees@utrecht.example", Role: "admin"}, User{}, ErrInvalidRole},
			{"empty role", NewUser{Email: "kees@utrecht.example"}, User{}, ErrInvalidRole},
			{"bad address", NewUser{Email: "Kees <kees@utrecht.example>", Role: RoleSender}, User{}, ErrInvalidEmail},
			{"short password", NewUser{Email: "kees@utrecht.example", Role: RoleSender, Password: "elevenchars"}, User{}, ErrPasswordTooShort},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := users.Create(ctx, tc.in)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Create = %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr != nil {
					return
				}
				if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(User{}, "ID", "CreatedAt", "UpdatedAt")); diff != "" {
					t.Errorf("Create (-want +got):\n%s", diff)
				}
				stored, err := users.Get(ctx, got.ID)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if diff := cmp.Diff(got, stored, cmpopts.EquateApproxTime(0)); diff != "" {
					t.Errorf("Get (-created +stored):\n%s", diff)
				}
			})
		}
	})
}

func TestGetUser(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		users, ctx := e.svc.Users(), context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "")
		for _, email := range []string{"jan@utrecht.example", "JAN@utrecht.EXAMPLE"} {
			got, err := users.GetByEmail(ctx, email)
			if err != nil || got.ID != u.ID {
				t.Errorf("GetByEmail(%q) = %v, %v; want %s", email, got.ID, err, u.ID)
			}
		}
		for _, email := range []string{"piet@utrecht.example", "not an address"} {
			if _, err := users.GetByEmail(ctx, email); !errors.Is(err, ErrUserNotFound) {
				t.Errorf("GetByEmail(%q) = %v, want ErrUserNotFound", email, err)
			}
		}
		if _, err := users.Get(ctx, "no-such-id"); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("Get(unknown) = %v, want ErrUserNotFound", err)
		}
	})
}

func TestDisableRevokesRefreshTokens(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "jan's password")
		other := e.createUser(t, "piet@utrecht.example", RoleSender, "piet's password")
		var tokens []string
		for range 2 {
			pair, err := e.svc.PasswordGrant(ctx, u.Email, "jan's password", "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, pair.RefreshToken)
		}
		otherPair, err := e.svc.PasswordGrant(ctx, other.Email, "piet's password", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Users().Disable(ctx, u.ID); err != nil {
			t.Fatalf("Disable: %v", err)
		}
		got, _ := e.svc.Users().Get(ctx, u.ID)
		if !got.Disabled {
			t.Error("user not disabled")
		}
		for _, tok := range tokens {
			if _, err := e.svc.RefreshGrant(ctx, tok, "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("RefreshGrant after Disable = %v, want ErrInvalidCredentials", err)
			}
		}
		if _, err := e.svc.RefreshGrant(ctx, otherPair.RefreshToken, "192.0.2.1"); err != nil {
			t.Errorf("another user's refresh token: %v", err)
		}
		if _, err := e.svc.PasswordGrant(ctx, u.Email, "jan's password", "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("PasswordGrant after Disable = %v, want ErrInvalidCredentials", err)
		}
		if err := e.svc.Users().Disable(ctx, "no-such-id"); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("Disable(unknown) = %v, want ErrUserNotFound", err)
		}
	})
}

func TestSetPassword(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		u := e.createUser(t, "jan@utrecht.example", RoleSender, "")
		if err := e.svc.Users().SetPassword(ctx, u.ID, "short"); !errors.Is(err, ErrPasswordTooShort) {
			t.Errorf("SetPassword(short) = %v", err)
		}
		if err := e.svc.Users().SetPassword(ctx, u.ID, "a brand new password"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.PasswordGrant(ctx, u.Email, "a brand new password", "192.0.2.1"); err != nil {
			t.Errorf("login with the new password: %v", err)
		}
		if err := e.svc.Users().SetPassword(ctx, "no-such-id", "a brand new password"); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("SetPassword(unknown) = %v, want ErrUserNotFound", err)
		}
	})
}
