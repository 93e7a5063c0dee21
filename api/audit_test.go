package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	auditAdminUtrecht = "audit.admin@utrecht.example"
	auditAdminEde     = "audit.admin@ede.example"
	auditSender2      = "piet.sender@utrecht.example"
	auditAPIKey       = "vk_audit"
)

// auditEnv is an env with a real trail, three more users and an API key.
func auditEnv(t *testing.T, db *database.DB, c contract) (*env, *audit.Trail) {
	t.Helper()
	trail, err := audit.New(db, audit.Config{Seed: make([]byte, 32)}, testenv.Discard(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db, c, func(_ *api.Options, d *api.Deps) {
		d.Tokens = keyVerifier{TokenVerifier: d.Tokens, keys: map[string]auth.Principal{auditAPIKey: {UserID: "u-key",
			OrganisationID: directory.OrganisationID("o1"), Role: auth.RoleSender, APIKeyID: "k1",
			Scopes: auth.KnownScopes()}}}
		d.Audit = trail
	})
	for _, u := range []auth.NewUser{{Email: auditAdminUtrecht, Role: auth.RoleOrgAdmin, Password: password},
		{Email: auditAdminEde, Role: auth.RoleOrgAdmin, Password: password},
		{Email: auditSender2, Role: auth.RoleSender, Password: password}} {
		if _, err := e.auth.Users().Create(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	return e, trail
}

// TestAuditVisibility: who sees which events, through the real router.
func TestAuditVisibility(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e, trail := auditEnv(t, db, c)
		tok := map[string]string{}
		for _, m := range []string{senderMail, auditSender2, operatorMail, auditAdminUtrecht, auditAdminEde} {
			tok[m] = e.login(m).AccessToken
		}
		utrecht, ede := directory.OrganisationID("o1"), directory.OrganisationID("o2")
		sender, sender2 := principalOf(t, e, tok[senderMail]), principalOf(t, e, tok[auditSender2])
		adminEde := principalOf(t, e, tok[auditAdminEde])
		for _, ev := range []audit.Event{
			{Action: audit.ActionMessageSubmit, Actor: audit.Actor{UserID: sender, OrganisationID: utrecht}, Object: audit.Object{Type: "message", ID: "m1"}},
			{Action: audit.ActionDeliveryAttempt, Outcome: "delivered", OrganisationID: utrecht, Object: audit.Object{Type: "delivery", ID: "d1"}, Detail: map[string]string{"message_id": "m1"}},
			{Action: audit.ActionMessageSubmit, Actor: audit.Actor{UserID: sender2, OrganisationID: utrecht}, Object: audit.Object{Type: "message", ID: "m2"}},
			{Action: audit.ActionSignIn, Outcome: "success", Actor: audit.Actor{UserID: sender, OrganisationID: utrecht}},
			{Action: audit.ActionSignIn, Outcome: "success", Actor: audit.Actor{UserID: adminEde, OrganisationID: ede}},
			{Action: audit.ActionSyncRun, Outcome: "success"},
		} {
			if _, err := trail.Append(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name, who, query string
			code             int
			want             []int64
		}{
			{"operator sees all", operatorMail, "", 200, []int64{1, 2, 3, 4, 5, 6}},
			{"operator filters", operatorMail, "?organisation=" + ede, 200, []int64{5}},
			{"org-admin sees their organisation", auditAdminUtrecht, "", 200, []int64{1, 2, 3, 4}},
			{"org-admin filters a message", auditAdminUtrecht, "?message=m1", 200, []int64{1, 2}},
			{"org-admin of another organisation", auditAdminEde, "", 200, []int64{5}},
			{"org-admin asks for another organisation", auditAdminEde, "?organisation=" + utrecht, 404, nil},
			{"sender sees their own actions", senderMail, "", 200, []int64{1, 4}},
			{"sender sees their message", senderMail, "?message=m1", 200, []int64{1, 2}},
			{"sender asks for a colleague's message", senderMail, "?message=m2", 404, nil},
			{"sender asks for an unknown message", senderMail, "?message=nope", 404, nil},
			{"sender asks for a colleague's actions", senderMail, "?actor=" + sender2, 403, nil},
			{"sender asks for another organisation", senderMail, "?organisation=" + ede, 404, nil},
			{"colleague sees their own message", auditSender2, "?message=m2", 200, []int64{3}},
			{"API key", "key", "", 403, nil},
			{"no token", "", "", 401, nil},
			{"bad since", operatorMail, "?since=yesterday", 400, nil},
			{"limit too large", operatorMail, "?limit=501", 400, nil},
			{"negative cursor", operatorMail, "?after=-1", 400, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				token := tok[tc.who]
				if tc.who == "key" {
					token = auditAPIKey
				}
				rec := e.do(request{method: "GET", path: "/api/v1/audit/events" + tc.query, token: token,
					skipRequestCheck: tc.code == 400})
				if rec.Code != tc.code {
					t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
				}
				if tc.code != http.StatusOK {
					if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
						t.Errorf("content type %q", ct)
					}
					return
				}
				if diff := cmp.Diff(tc.want, seqs(t, rec.Body.Bytes())); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestAuditPaging(t *testing.T) {
	c := loadContract(t)
	e, trail := auditEnv(t, testenv.DB(t, database.SQLite), c)
	for range 5 {
		if _, err := trail.Append(context.Background(), audit.Event{Action: audit.ActionSyncRun}); err != nil {
			t.Fatal(err)
		}
	}
	token := e.login(operatorMail).AccessToken
	var got []int64
	path := "/api/v1/audit/events?limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		rec := e.do(request{method: "GET", path: path, token: token})
		p := decode[struct {
			Events []struct {
				Seq int64 `json:"seq"`
			} `json:"events"`
			NextAfter *int64 `json:"next_after"`
		}](t, rec)
		for _, ev := range p.Events {
			got = append(got, ev.Seq)
		}
		path = ""
		if p.NextAfter != nil {
			path = "/api/v1/audit/events?limit=2&after=" + strconv.FormatInt(*p.NextAfter, 10)
		}
	}
	if diff := cmp.Diff([]int64{1, 2, 3, 4, 5}, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

func seqs(t *testing.T, body []byte) []int64 {
	t.Helper()
	var p struct {
		Events []struct {
			Seq int64 `json:"seq"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	out := []int64{}
	for _, e := range p.Events {
		out = append(out, e.Seq)
	}
	return out
}
