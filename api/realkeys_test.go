package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// withRealAccounts serves the user and API-key routes with the env's own auth
// service (auth.Users, auth.APIKeys).
func withRealAccounts(db *database.DB) envOption {
	return func(o *api.Options, d *api.Deps) {
		svc := d.Tokens.(*auth.Service)
		d.Organisations, d.DKIM = directory.NewStore(db.DB, time.Now), &fakeDKIM{}
		d.Users, d.APIKeys = svc.Users(), svc.APIKeys()
	}
}

// TestRealAPIKeyLifecycle: an administrator creates a scoped key through the
// API; the key reaches its scope's routes only, never administration; revoking
// it, or disabling its user, stops it at once.
func TestRealAPIKeyLifecycle(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, c, withRealAccounts(db))
		ctx := context.Background()
		ede := directory.OrganisationID("o2")
		if _, err := e.auth.Users().Create(ctx, auth.NewUser{Email: adminMail, Role: auth.RoleOrgAdmin, Password: password}); err != nil {
			t.Fatal(err)
		}
		piet, err := e.auth.Users().Create(ctx, auth.NewUser{Email: "piet@ede.example", Role: auth.RoleSender, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		admin := e.login(adminMail).AccessToken
		org := "/api/v1/organisations/" + ede
		mint := func() (id, secret string) {
			rec := e.do(request{method: "POST", path: org + "/api-keys", token: admin,
				body: `{"name":"zaaksysteem","user_id":"` + piet.ID + `","scopes":["directory:read"]}`})
			if rec.Code != 201 {
				t.Fatalf("create key: %d %s", rec.Code, rec.Body)
			}
			got := decode[struct {
				APIKey struct{ ID string } `json:"api_key"`
				Secret string
			}](t, rec)
			return got.APIKey.ID, got.Secret
		}
		id, key := mint()
		runSteps(t, e, []step{
			{"in scope", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: key}, 200, nil},
			{"administration", request{method: "GET", path: org + "/users", token: key}, 403, nil},
			{"dns", request{method: "GET", path: org + "/dns", token: key}, 403, nil},
			{"listed without secret", request{method: "GET", path: org + "/api-keys", token: admin}, 200, []string{`"id":"` + id + `"`}},
			{"revoke", request{method: "DELETE", path: org + "/api-keys/" + id, token: admin}, 204, nil},
			{"revoked key", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: key}, 401, nil},
		})
		_, key = mint()
		runSteps(t, e, []step{
			{"second key", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: key}, 200, nil},
			{"disable its user", request{method: "POST", path: org + "/users/" + piet.ID + "/disable", token: admin}, 204, nil},
			{"key of a disabled user", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: key}, 401, nil},
		})
	})
}
