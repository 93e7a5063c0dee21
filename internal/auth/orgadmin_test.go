package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestInvite(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		for _, tc := range []struct {
			name, org, email string
			role             Role
			want             User // without ID and times
			wantErr          error
		}{
			{"sender", orgUtrecht, "Anna@Utrecht.example", RoleSender,
				User{Email: "anna@utrecht.example", Role: RoleSender, OrganisationID: orgUtrecht}, nil},
			{"administrator", orgEde, "beheer@ede.example", RoleOrgAdmin,
				User{Email: "beheer@ede.example", Role: RoleOrgAdmin, OrganisationID: orgEde}, nil},
			{"again before accepting", orgUtrecht, "anna@utrecht.example", RoleSender,
				User{Email: "anna@utrecht.example", Role: RoleSender, OrganisationID: orgUtrecht}, nil},
			{"again with another role", orgUtrecht, "anna@utrecht.example", RoleOrgAdmin, User{}, ErrUserExists},
			{"existing user with a password", orgUtrecht, "jan@utrecht.example", RoleSender, User{}, ErrUserExists},
			{"another organisation's domain", orgUtrecht, "kees@ede.example", RoleSender, User{}, ErrForeignDomain},
			{"domain outside the community", orgUtrecht, "kees@elders.example", RoleSender, User{}, ErrForeignDomain},
			{"no organisation", "", "kees@utrecht.example", RoleSender, User{}, ErrForeignDomain},
			{"operator", orgUtrecht, "kees@utrecht.example", RoleOperator, User{}, ErrInvalidRole},
			{"bad address", orgUtrecht, "Kees <kees@utrecht.example>", RoleSender, User{}, ErrInvalidEmail},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, token, err := e.svc.Users().Invite(ctx, tc.org, tc.email, tc.role)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Invite = %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr != nil {
					return
				}
				if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(User{}, "ID", "CreatedAt", "UpdatedAt")); diff != "" {
					t.Errorf("user (-want +got):\n%s", diff)
				}
				if _, ok := parseSecret(token); !ok {
					t.Errorf("token %q is not 256 bits base64url", token)
				}
				var stored int64
				db.Raw("SELECT COUNT(*) FROM invitations WHERE token_hash = ?", token).Scan(&stored)
				if stored != 0 {
					t.Error("the invitation token is stored in the clear")
				}
			})
		}
	})
}

func TestAcceptInvitation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		users := e.svc.Users()
		invite := func(email string) (User, string) {
			t.Helper()
			u, token, err := users.Invite(ctx, orgUtrecht, email, RoleSender)
			if err != nil {
				t.Fatal(err)
			}
			return u, token
		}
		_, anna := invite("anna@utrecht.example")
		e.clock.Advance(InvitationTTL - time.Second)
		_, late := invite("late@utrecht.example")
		_, bert := invite("bert@utrecht.example")
		_, bertAgain := invite("bert@utrecht.example") // voids the first
		dirk, dirkToken := invite("dirk@utrecht.example")
		if err := users.Disable(ctx, dirk.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second) // anna's invitation expires now

		const password = "a good long password"
		for _, tc := range []struct {
			name, token, password string
			wantErr               error
		}{
			{"expired", anna, password, ErrInvalidToken},
			{"voided by a new invitation", bert, password, ErrInvalidToken},
			{"the new invitation", bertAgain, password, nil},
			{"disabled invitee", dirkToken, password, ErrInvalidToken},
			{"malformed", "not-a-token", password, ErrInvalidToken},
			{"unknown", strings.Repeat("A", 43), password, ErrInvalidToken},
			{"password too short", late, "short", ErrPasswordTooShort},
			{"accepted", late, password, nil},
			{"reused", late, "another good password", ErrInvalidToken},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := users.AcceptInvitation(ctx, tc.token, tc.password); !errors.Is(err, tc.wantErr) {
					t.Fatalf("AcceptInvitation = %v, want %v", err, tc.wantErr)
				}
			})
		}
		if _, err := e.svc.PasswordGrant(ctx, "late@utrecht.example", password, "192.0.2.1"); err != nil {
			t.Errorf("login after accepting: %v", err)
		}
		if _, err := e.svc.PasswordGrant(ctx, "late@utrecht.example", "another good password", "192.0.2.2"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("the reused invitation changed the password: %v", err)
		}
	})
}

// TestAcceptInvitationOnce: a user who already has a password (set by an
// operator meanwhile) cannot have it replaced through an invitation.
func TestAcceptInvitationOnce(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		u, token, err := e.svc.Users().Invite(ctx, orgUtrecht, "anna@utrecht.example", RoleSender)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Users().SetPassword(ctx, u.ID, "the first password"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Users().AcceptInvitation(ctx, token, "the second password"); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("AcceptInvitation = %v, want ErrInvalidToken", err)
		}
		if _, err := e.svc.PasswordGrant(ctx, u.Email, "the first password", "192.0.2.1"); err != nil {
			t.Errorf("the first password no longer works: %v", err)
		}
	})
}

func TestCreateOrgAdmin(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		for _, tc := range []struct {
			name, org, email string
			wantErr          error
		}{
			{"new", orgEde, "Beheer@Ede.example", nil},
			{"taken", orgEde, "piet@ede.example", ErrUserExists},
			{"another organisation's domain", orgEde, "anna@utrecht.example", ErrForeignDomain},
			{"unknown organisation", "no-such-org", "anna@utrecht.example", ErrForeignDomain},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id, err := e.svc.Users().CreateOrgAdmin(ctx, tc.org, tc.email)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("CreateOrgAdmin = %v, want %v", err, tc.wantErr)
				}
				if err != nil {
					return
				}
				u, err := e.svc.Users().Get(ctx, id)
				want := User{ID: id, Email: "beheer@ede.example", Role: RoleOrgAdmin, OrganisationID: orgEde}
				if diff := cmp.Diff(want, u, cmpopts.IgnoreFields(User{}, "CreatedAt", "UpdatedAt")); err != nil || diff != "" {
					t.Errorf("Get = %v (-want +got):\n%s", err, diff)
				}
			})
		}
	})
}

func TestListOrganisation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		e.createUser(t, "ops@utrecht.example", RoleOperator, "") // an operator belongs to no organisation
		for _, tc := range []struct {
			org  string
			want []string
		}{
			{orgUtrecht, []string{"beheer@utrecht.example", "jan@utrecht.example"}},
			{orgEde, []string{"piet@ede.example"}},
			{"no-such-org", []string{}},
			{"", []string{}},
		} {
			users, err := e.svc.Users().ListOrganisation(ctx, tc.org)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, u := range users {
				got = append(got, u.Email)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ListOrganisation(%q) (-want +got):\n%s", tc.org, diff)
			}
		}
	})
}

// TestDisableInOrganisation: an administrator cannot reach another
// organisation's users; disabling one of their own stops that user's access
// tokens in this process at once (though verified and cached before) and in
// other processes within LiveTTL.
func TestDisableInOrganisation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		other := e.service(t, testConfig(), nil)
		pair, err := e.svc.PasswordGrant(ctx, e.jan.Email, "jan's password", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*Service{e.svc, other} {
			if _, err := s.Verify(ctx, pair.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct{ name, org, user string }{
			{"another organisation's user", orgEde, e.jan.ID},
			{"no organisation", "", e.jan.ID},
			{"unknown user", orgUtrecht, "no-such-id"},
		} {
			if err := e.svc.Users().DisableInOrganisation(ctx, tc.org, tc.user); !errors.Is(err, ErrUserNotFound) {
				t.Errorf("%s: DisableInOrganisation = %v, want ErrUserNotFound", tc.name, err)
			}
		}
		if _, err := e.svc.Verify(ctx, pair.AccessToken); err != nil {
			t.Fatalf("token after refused attempts: %v", err)
		}
		if err := e.svc.Users().DisableInOrganisation(ctx, orgUtrecht, e.jan.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Verify(ctx, pair.AccessToken); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrUserDisabled) {
			t.Errorf("this process, at once: Verify = %v, want ErrInvalidToken wrapping ErrUserDisabled", err)
		}
		e.clock.Advance(LiveTTL)
		if _, err := other.Verify(ctx, pair.AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("other process after LiveTTL: Verify = %v, want ErrInvalidToken", err)
		}
		if _, err := e.svc.RefreshGrant(ctx, pair.RefreshToken, "192.0.2.1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("RefreshGrant after disable = %v", err)
		}
	})
}

// TestVerifyChecksAccount: an access token stops working when the account no
// longer matches it, and a token issued after a change works at once although
// the old state is cached.
func TestVerifyChecksAccount(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		old, err := e.svc.access.issue(ctx, e.jan)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Verify(ctx, old); err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("UPDATE users SET role = 'org-admin' WHERE id = ?", e.jan.ID).Error; err != nil {
			t.Fatal(err)
		}
		promoted := e.jan
		promoted.Role = RoleOrgAdmin
		fresh, err := e.svc.access.issue(ctx, promoted)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := e.svc.Verify(ctx, fresh); err != nil || p.Role != RoleOrgAdmin {
			t.Errorf("token with the new role = %+v, %v", p, err)
		}
		if _, err := e.svc.Verify(ctx, old); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("token with the old role = %v, want ErrInvalidToken", err)
		}
		if err := db.Exec("UPDATE organisations SET status = 'removed' WHERE id = ?", orgUtrecht).Error; err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(LiveTTL)
		if _, err := e.svc.Verify(ctx, fresh); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrNoOrganisation) {
			t.Errorf("token of a removed organisation = %v, want ErrInvalidToken wrapping ErrNoOrganisation", err)
		}
		db.Exec("DELETE FROM refresh_tokens")
		if err := db.Exec("DELETE FROM users WHERE id = ?", e.beheer.ID).Error; err != nil {
			t.Fatal(err)
		}
		gone, _ := e.svc.access.issue(ctx, e.beheer)
		if _, err := e.svc.Verify(ctx, gone); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("token of a deleted user = %v, want ErrInvalidToken", err)
		}
	})
}
