package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const utrechtAdmin = "beheer@utrecht.example" // org-admin of Gemeente Utrecht

// issue6Env is an env with the issue-6 fakes and an administrator for each of
// Ede (adminMail) and Utrecht.
func issue6Env(t *testing.T, db *database.DB, c contract) (*env, *issue6) {
	t.Helper()
	x := newIssue6()
	e := newEnv(t, db, c, x.option(db))
	for _, m := range []string{adminMail, utrechtAdmin} {
		if _, err := e.auth.Users().Create(context.Background(), auth.NewUser{Email: m, Role: auth.RoleOrgAdmin, Password: password}); err != nil {
			t.Fatal(err)
		}
	}
	return e, x
}

// TestAdminEnrolments: the operator lists, inspects, approves and rejects;
// approval of an unverified enrolment is 409; everyone else is 403.
func TestAdminEnrolments(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e, x := issue6Env(t, db, c)
		op := e.login(operatorMail).AccessToken
		base := "/api/v1/admin/enrolments/" + enrolID
		unknown := "/api/v1/admin/enrolments/6ba7b810-9dad-11d1-80b4-00c04fd430c8"
		get := func(path string) request { return request{method: "GET", path: path, token: op} }
		post := func(path, body string) request { return request{method: "POST", path: path, token: op, body: body} }
		reason := `{"reason":"KvK-nummer hoort niet bij het domein"}`
		runSteps(t, e, []step{
			{"list", get("/api/v1/admin/enrolments"), 200, []string{`"phone":"+31612345678"`, `"status":"pending"`}},
			{"list by status", get("/api/v1/admin/enrolments?status=approved&limit=10&offset=5"), 200, []string{`"enrolments":[]`}},
			{"bad status", request{method: "GET", path: "/api/v1/admin/enrolments?status=weird", token: op}, 400, []string{`"field":"status"`}},
			{"limit 0", request{method: "GET", path: "/api/v1/admin/enrolments?limit=0", token: op}, 400, []string{`"field":"limit"`}},
			{"inspect", get(base), 200, []string{`"kvk":"12345678"`}},
			{"inspect unknown", get(unknown), 404, []string{"no such enrolment"}},
			{"approve unverified", post(base+"/approve", ""), 409, []string{"urn:veilig:problem:conflict"}},
			{"reject without reason", request{method: "POST", path: base + "/reject", token: op, body: `{"reason":""}`, skipRequestCheck: true}, 422, []string{`"field":"reason"`}},
			{"reject unknown", post(unknown+"/reject", reason), 404, nil},
			{"approve unknown", post(unknown+"/approve", ""), 404, nil},
		})
		if rec := e.do(request{method: "POST", path: "/api/v1/enrolments/" + enrolID + "/verify", token: enrolToken}); rec.Code != 200 {
			t.Fatalf("verify: %d %s", rec.Code, rec.Body)
		}
		runSteps(t, e, []step{
			{"approve", post(base+"/approve", ""), 200, []string{`"status":"approved"`, `"organisation_id":"org-vallei"`, `"decided_by":"`}},
			{"reject after approval", post(base+"/reject", reason), 409, nil},
			{"activate", request{method: "POST", path: "/api/v1/enrolments/" + enrolID + "/activate", token: enrolToken,
				body: `{"password":"` + password + `"}`}, 204, nil},
		})
		log := x.enrol.log()
		if len(log) < 4 || !strings.HasPrefix(log[3], "approved by ") || strings.TrimPrefix(log[3], "approved by ") == "" {
			t.Errorf("service calls: %q", log)
		}
	})
}

// TestAdminEvents: monitoring events for operators, with since and limit checked.
func TestAdminEvents(t *testing.T) {
	c := loadContract(t)
	e, x := issue6Env(t, testenv.DB(t, database.SQLite), c)
	op := e.login(operatorMail).AccessToken
	runSteps(t, e, []step{
		{"events", request{method: "GET", path: "/api/v1/admin/events", token: op}, 200, []string{`"kind":"suspended"`, `"id":7`}},
		{"since", request{method: "GET", path: "/api/v1/admin/events?since=2026-05-01T00:00:00Z&limit=5", token: op}, 200, nil},
		{"bad since", request{method: "GET", path: "/api/v1/admin/events?since=yesterday", token: op, skipRequestCheck: true}, 400, []string{`"field":"since"`}},
		{"limit too large", request{method: "GET", path: "/api/v1/admin/events?limit=501", token: op, skipRequestCheck: true}, 400, nil},
	})
	if got := len(x.events.since); got != 2 || x.events.since[1].Day() != 1 {
		t.Errorf("Events calls: %v", x.events.since)
	}
}

// TestAdminRepin: operators pin a domain anew; each refusal has its own
// problem type and changes nothing, and no internal detail leaks.
func TestAdminRepin(t *testing.T) {
	c := loadContract(t)
	e, x := issue6Env(t, testenv.DB(t, database.SQLite), c)
	op := e.login(operatorMail).AccessToken
	pin := func(domain, body string) request {
		return request{method: "POST", path: "/api/v1/admin/domains/" + domain + "/pin", token: op, body: body}
	}
	runSteps(t, e, []step{
		{"repin", pin("vallei.example", ""), 200, []string{`"policy":"mta-sts"`, `"mx_hosts":["mx3.vallei.example"]`,
			`"state":"trusted"`, `"report":{`}},
		{"upper case is the same domain", pin("VALLEI.example", `{"accept_weaker":false}`), 200, nil},
		{"no pin", pin("weg.example", ""), 404, []string{"urn:veilig:problem:not-found"}},
		{"weaker", pin("zwak.example", ""), 409, []string{"urn:veilig:problem:pin-weaker", "offers mta-sts and is pinned to dane"}},
		{"weaker accepted", pin("zwak.example", `{"accept_weaker":true}`), 200, []string{`"policy":"mta-sts"`}},
		{"check incomplete", pin("stuk.example", ""), 503, []string{"urn:veilig:problem:check-incomplete"}},
		{"not a domain", request{method: "POST", path: "/api/v1/admin/domains/-x_/pin", token: op, skipRequestCheck: true},
			400, []string{`"field":"domain"`}},
		{"unknown field", request{method: "POST", path: "/api/v1/admin/domains/vallei.example/pin", token: op,
			body: `{"accept_weaker":true,"policy":"dane"}`, skipRequestCheck: true}, 400, nil},
	})
	want := []string{"vallei.example false", "vallei.example false", "weg.example false", "zwak.example false",
		"zwak.example true", "stuk.example false"}
	if diff := cmp.Diff(want, x.pins.calls); diff != "" {
		t.Errorf("Repin calls (-want +got):\n%s", diff)
	}
	rec := e.do(pin("stuk.example", ""))
	if rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), "10.0.0.53") {
		t.Errorf("check incomplete: Retry-After %q, body %s", rec.Header().Get("Retry-After"), rec.Body)
	}
}

// TestOperatorRoutesRefuseOthers: senders, org-admins and API keys get 403 on
// every operator route, and no service is called; without a token 401.
func TestOperatorRoutesRefuseOthers(t *testing.T) {
	c := loadContract(t)
	e, x := issue6Env(t, testenv.DB(t, database.SQLite), c)
	base := "/api/v1/admin/enrolments/" + enrolID
	routes := []request{
		{method: "GET", path: "/api/v1/admin/enrolments"},
		{method: "GET", path: base},
		{method: "POST", path: base + "/approve"},
		{method: "POST", path: base + "/reject", body: `{"reason":"nee"}`},
		{method: "GET", path: "/api/v1/admin/events"},
		{method: "POST", path: "/api/v1/admin/domains/vallei.example/pin"},
	}
	callers := map[string]string{"sender": e.login(senderMail).AccessToken, "org-admin": e.login(adminMail).AccessToken,
		"API key with every scope": "vk_messages:send+messages:read+directory:read", "no token": ""}
	for who, token := range callers {
		for _, r := range routes {
			r.token = token
			want := 403
			if token == "" {
				want = 401
			}
			if rec := e.do(r); rec.Code != want {
				t.Errorf("%s: %s %s = %d %s, want %d", who, r.method, r.path, rec.Code, rec.Body, want)
			}
		}
	}
	if diff := cmp.Diff([]string(nil), x.enrol.log()); diff != "" {
		t.Errorf("refused callers reached the service:\n%s", diff)
	}
	if len(x.events.since) != 0 || len(x.pins.calls) != 0 {
		t.Errorf("refused callers read events or re-pinned: %v", x.pins.calls)
	}
}
