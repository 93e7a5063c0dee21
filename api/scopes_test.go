package api_test

import (
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// TestAPIKeyScopes: an API-key principal reaches exactly the routes its scopes
// allow (403 elsewhere, before any service runs) and never administration; a
// user token is not limited by scopes.
func TestAPIKeyScopes(t *testing.T) {
	c := loadContract(t)
	db := testenv.DB(t, database.SQLite)
	x := newIssue6()
	msgs := &fakeMessages{}
	e := newEnv(t, db, c, withMessages(msgs, t.TempDir(), 1<<20), withDetector(t), x.option(db))
	org := "/api/v1/organisations/" + x.orgA
	type route struct {
		method, path, body, scope string // scope "" = administration
	}
	routes := []route{
		{"GET", "/api/v1/directory/search?q=ja", "", auth.ScopeDirectoryRead},
		{"GET", "/api/v1/directory/status", "", auth.ScopeDirectoryRead},
		{"POST", "/api/v1/recipients/resolve", `{"addresses":["jan.devries@ede.example"]}`, auth.ScopeDirectoryRead},
		{"POST", "/api/v1/messages", "", auth.ScopeMessagesSend},
		{"GET", "/api/v1/messages", "", auth.ScopeMessagesRead},
		{"GET", "/api/v1/messages/m1", "", auth.ScopeMessagesRead},
		{"POST", "/api/v1/messages/m1/revoke", "", auth.ScopeMessagesSend},
		{"POST", "/api/v1/messages/m1/recipients/jan@example.org/unlock", "", auth.ScopeMessagesSend},
		{"POST", "/api/v1/detect", `{"text":"x"}`, auth.ScopeMessagesSend},
		{"GET", "/api/v1/detect/patterns", "", auth.ScopeMessagesSend},
		{"GET", org + "/users", "", ""},
		{"POST", org + "/users", `{"email":"nel@ede.example","role":"sender"}`, ""},
		{"POST", org + "/users/uA2/disable", "", ""},
		{"GET", org + "/api-keys", "", ""},
		{"POST", org + "/api-keys", `{"name":"x","user_id":"uA1","scopes":["messages:send"]}`, ""},
		{"DELETE", org + "/api-keys/kA1", "", ""},
		{"GET", org + "/report", "", ""},
		{"GET", org + "/dns", "", ""},
		{"GET", org + "/settings", "", ""},
		{"GET", "/api/v1/admin/enrolments", "", ""},
		{"POST", "/api/v1/admin/enrolments/" + enrolID + "/approve", "", ""},
		{"GET", "/api/v1/admin/events", "", ""},
	}
	for key, p := range x.apiKeys {
		for _, r := range routes {
			allowed := r.scope != "" && p.Allows(r.scope)
			req := request{method: r.method, path: r.path, token: key, body: r.body}
			if allowed {
				// Past the scope gate; what the route answers next is its own business.
				if rec := e.raw(req); rec.Code == 403 {
					t.Errorf("%s: %s %s = 403 %s, want allowed", key, r.method, r.path, rec.Body)
				}
				continue
			}
			rec := e.do(req)
			if rec.Code != 403 || !strings.Contains(rec.Body.String(), "urn:veilig:problem:forbidden") {
				t.Errorf("%s: %s %s = %d %s, want 403", key, r.method, r.path, rec.Code, rec.Body)
			}
		}
	}
	if len(x.users.log()) != 0 || len(x.keys.log()) != 0 || len(x.enrol.log()) != 0 {
		t.Errorf("an API key changed something: %v %v %v", x.users.log(), x.keys.log(), x.enrol.log())
	}
	sender := e.login(senderMail).AccessToken
	for _, r := range routes[:10] {
		if rec := e.raw(request{method: r.method, path: r.path, token: sender, body: r.body}); rec.Code == 403 {
			t.Errorf("user token: %s %s = 403 %s", r.method, r.path, rec.Body)
		}
	}
}
