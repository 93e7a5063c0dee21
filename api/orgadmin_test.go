package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// TestOrganisationAdministration: an org-admin manages its own organisation's
// users, API keys and report; every refusal has its status.
func TestOrganisationAdministration(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e, x := issue6Env(t, db, c)
		admin := e.login(adminMail).AccessToken
		org := "/api/v1/organisations/" + x.orgA
		do := func(method, path, body string) request {
			return request{method: method, path: org + path, token: admin, body: body}
		}
		bad := func(method, path, body string) request {
			r := do(method, path, body)
			r.skipRequestCheck = true
			return r
		}
		runSteps(t, e, []step{
			{"list users", do("GET", "/users", ""), 200, []string{`"id":"uA1"`, `"id":"uA2"`}},
			{"invite", do("POST", "/users", `{"email":"nel@ede.example","role":"sender"}`), 201,
				[]string{`"invitation_token":"inv_secret"`, `"has_password":false`}},
			{"invite existing", do("POST", "/users", `{"email":"nel@ede.example","role":"sender"}`), 409, nil},
			{"invite operator", bad("POST", "/users", `{"email":"x@ede.example","role":"operator"}`), 422, []string{`"field":"role"`}},
			{"invite without address", bad("POST", "/users", `{"email":"","role":"sender"}`), 422, []string{`"field":"email"`}},
			{"invite bad address", do("POST", "/users", `{"email":"geen-adres","role":"sender"}`), 422, []string{`"field":"email"`}},
			{"disable", do("POST", "/users/uA2/disable", ""), 204, nil},
			{"disable unknown", do("POST", "/users/nobody/disable", ""), 404, []string{`"detail":"no such user"`}},
			{"disable yourself", do("POST", "/users/"+principalOf(t, e, admin)+"/disable", ""), 409, nil},
			{"list keys", do("GET", "/api-keys", ""), 200, []string{`"id":"kA1"`, `"last_used_at":null`}},
			{"create key", do("POST", "/api-keys", `{"name":"zaaksysteem 2","user_id":"uA1","scopes":["messages:send","directory:read"]}`), 201,
				[]string{`"secret":"vk_secret"`, `"scopes":["messages:send","directory:read"]`}},
			{"key without scopes", bad("POST", "/api-keys", `{"name":"x","user_id":"uA1","scopes":[]}`), 422, []string{`"field":"scopes"`}},
			{"key with unknown scope", bad("POST", "/api-keys", `{"name":"x","user_id":"uA1","scopes":["admin"]}`), 422, []string{`"field":"scopes"`}},
			{"key without name", bad("POST", "/api-keys", `{"name":"","user_id":"uA1","scopes":["messages:read"]}`), 422, []string{`"field":"name"`}},
			{"key for unknown user", do("POST", "/api-keys", `{"name":"x","user_id":"nobody","scopes":["messages:read"]}`), 404, []string{"no such user"}},
			{"key for a disabled user", do("POST", "/api-keys", `{"name":"x","user_id":"uA2","scopes":["messages:read"]}`), 422, []string{`"field":"user_id","detail":"the user is disabled"`}},
			{"revoke key", do("DELETE", "/api-keys/kA1", ""), 204, nil},
			{"revoke unknown key", do("DELETE", "/api-keys/nokey", ""), 404, []string{"no such API key"}},
			{"report", do("GET", "/report", ""), 200, []string{`"domain":"ede.example"`, `"unchecked":[]`, `"name":"Gemeente Ede"`}},
			{"settings", do("GET", "/settings", ""), 200, []string{`"email_code_allowed":false`}},
			{"dns", do("GET", "/dns", ""), 200, []string{`"purpose":"dkim"`}},
		})
		rec := e.do(request{method: "GET", path: org + "/report", token: admin, header: http.Header{"Accept": {"text/html"}}})
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "ede.example") ||
			!strings.Contains(rec.Header().Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("report page: %d %v %.200s", rec.Code, rec.Header(), rec.Body)
		}
		want := []string{"invite " + x.orgA + " nel@ede.example", "disable uA2"}
		if diff := cmp.Diff(want, x.users.log()); diff != "" {
			t.Errorf("user changes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"create " + x.orgA + " uA1", "revoke kA1"}, x.keys.log()); diff != "" {
			t.Errorf("key changes (-want +got):\n%s", diff)
		}
	})
}

// principalOf is the user id behind an access token.
func principalOf(t *testing.T, e *env, token string) string {
	t.Helper()
	p, err := e.auth.Verify(t.Context(), token)
	if err != nil {
		t.Fatal(err)
	}
	return p.UserID
}

// TestAcceptInvitation: the invitee sets a password; unknown tokens are 401,
// short passwords 422.
func TestAcceptInvitation(t *testing.T) {
	c := loadContract(t)
	e, x := issue6Env(t, testenv.DB(t, database.SQLite), c)
	path := "/api/v1/auth/invitations/accept"
	runSteps(t, e, []step{
		{"short password", request{method: "POST", path: path, body: `{"token":"inv_0123456789abcdef","password":"kort"}`}, 422, []string{`"field":"password"`}},
		{"accepted", request{method: "POST", path: path, body: `{"token":"inv_0123456789abcdef","password":"` + password + `"}`}, 204, nil},
		{"used again", request{method: "POST", path: path, body: `{"token":"inv_0123456789abcdef","password":"` + password + `"}`}, 401, []string{"invalid-credentials"}},
		{"missing token", request{method: "POST", path: path, body: `{"token":"","password":"x"}`, skipRequestCheck: true}, 422, []string{`"field":"token"`}},
		{"malformed", request{method: "POST", path: path, body: `{"token":`, skipRequestCheck: true}, 400, nil},
	})
	if diff := cmp.Diff([]string{"accept uA2"}, x.users.log()); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// TestTenantIsolation: the administrator of A (Ede) calls every
// organisation route with B's (Utrecht) organisation id, and with B's user and
// key ids under A's own path; B's administrator does the same with A's ids
// under B's path. Every call is 404 and nothing changes in any service.
func TestTenantIsolation(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e, x := issue6Env(t, db, c)
		tokenA, tokenB := e.login(adminMail).AccessToken, e.login(utrechtAdmin).AccessToken
		sender := e.login(senderMail).AccessToken // a sender of B
		type call struct{ method, path, body string }
		routes := func(org, user, key string) []call {
			p := "/api/v1/organisations/" + org
			return []call{
				{"GET", p + "/users", ""},
				{"POST", p + "/users", `{"email":"indringer@ede.example","role":"org-admin"}`},
				{"POST", p + "/users/" + user + "/disable", ""},
				{"GET", p + "/api-keys", ""},
				{"POST", p + "/api-keys", `{"name":"x","user_id":"` + user + `","scopes":["messages:send"]}`},
				{"DELETE", p + "/api-keys/" + key, ""},
				{"GET", p + "/report", ""},
				{"GET", p + "/dns", ""},
				{"GET", p + "/settings", ""},
				{"PUT", p + "/settings", `{"self_copy":false,"show_subject":true,"expiry_days":1,"notify_first_open":false,"sms_daily_cap":0,"email_code_allowed":true}`},
			}
		}
		var cases []struct {
			who, token string
			c          call
		}
		add := func(who, token string, calls []call) {
			for _, cl := range calls {
				cases = append(cases, struct {
					who, token string
					c          call
				}{who, token, cl})
			}
		}
		add("A on B's organisation", tokenA, routes(x.orgB, "uB1", "kB1"))
		add("A on B's organisation with A's ids", tokenA, routes(x.orgB, "uA1", "kA1"))
		add("A with B's ids under A", tokenA, routes(x.orgA, "uB1", "kB1")[2:3])
		add("A with B's key under A", tokenA, routes(x.orgA, "uB1", "kB1")[4:6])
		add("B on A's organisation", tokenB, routes(x.orgA, "uA1", "kA1"))
		add("B with A's ids under B", tokenB, append(routes(x.orgB, "uA1", "kA1")[2:3], routes(x.orgB, "uA1", "kA1")[4:6]...))
		add("a sender on its own organisation", sender, routes(x.orgB, "uB1", "kB1"))
		for _, tc := range cases {
			rec := e.do(request{method: tc.c.method, path: tc.c.path, token: tc.token, body: tc.c.body})
			if rec.Code != 404 {
				t.Errorf("%s: %s %s = %d %s, want 404", tc.who, tc.c.method, tc.c.path, rec.Code, rec.Body)
			}
		}
		if diff := cmp.Diff([]string(nil), x.users.log()); diff != "" {
			t.Errorf("users changed:\n%s", diff)
		}
		if diff := cmp.Diff([]string(nil), x.keys.log()); diff != "" {
			t.Errorf("keys changed:\n%s", diff)
		}
		for _, s := range []struct{ org, token string }{{x.orgA, tokenA}, {x.orgB, tokenB}} {
			rec := e.do(request{method: "GET", path: "/api/v1/organisations/" + s.org + "/settings", token: s.token})
			if !strings.Contains(rec.Body.String(), `"email_code_allowed":false`) || !strings.Contains(rec.Body.String(), `"self_copy":true`) {
				t.Errorf("settings of %s changed: %s", s.org, rec.Body)
			}
		}
		// The 404s say no more than an unknown id's.
		unknown := e.do(request{method: "GET", path: "/api/v1/organisations/6ba7b810-9dad-11d1-80b4-00c04fd430c8/users", token: tokenA})
		other := e.do(request{method: "GET", path: "/api/v1/organisations/" + x.orgB + "/users", token: tokenA})
		if decode[problem](t, unknown) != decode[problem](t, other) {
			t.Errorf("another organisation's 404 differs from an unknown id's: %s vs %s", other.Body, unknown.Body)
		}
	})
}
