package security

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// idor: organisation B's users (and A's sender, on administration routes)
// reach for organisation A's objects. Every object outside the caller's reach
// answers as an unknown id: 404 (api/router.go organisationRoutes; messages
// are the sender's own). Operator-only routes answer 403 to anyone else.
func (x *suite) idor(t *testing.T) {
	s := x.s
	orgA, msg := "/api/v1/organisations/"+s.orgs[domainA], "/api/v1/messages/"+x.msgA.id
	unlock := msg + "/recipients/" + url.PathEscape(x.msgA.rcpt) + "/unlock"
	json := "application/json"
	cases := []struct {
		name, method, path, who, body string
		want                          int
	}{
		{"message read by B's sender", "GET", msg, senderB, "", 404},
		{"message read by B's admin", "GET", msg, adminB, "", 404},
		{"message read by A's admin", "GET", msg, adminA, "", 404},
		{"revoke by B's sender", "POST", msg + "/revoke", senderB, "", 404},
		{"revoke by B's admin", "POST", msg + "/revoke", adminB, "", 404},
		{"unlock by B's sender", "POST", unlock, senderB, "", 404},
		{"unlock by B's admin", "POST", unlock, adminB, "", 404},
		{"settings read by B's admin", "GET", orgA + "/settings", adminB, "", 404},
		{"settings write by B's admin", "PUT", orgA + "/settings", adminB, `{"sms_daily_cap":100000}`, 404},
		{"settings write by A's sender", "PUT", orgA + "/settings", senderA, `{"sms_daily_cap":100000}`, 404},
		{"users listed by B's admin", "GET", orgA + "/users", adminB, "", 404},
		{"user invited by B's admin", "POST", orgA + "/users", adminB, `{"email":"mol@alfa.test","role":"org-admin"}`, 404},
		{"user invited by A's sender", "POST", orgA + "/users", senderA, `{"email":"mol@alfa.test","role":"org-admin"}`, 404},
		{"user disabled by B's admin", "POST", orgA + "/users/" + x.userA + "/disable", adminB, "", 404},
		{"A's user disabled through B's path", "POST", "/api/v1/organisations/" + s.orgs[domainB] + "/users/" + x.userA + "/disable", adminB, "", 404},
		{"api keys listed by B's admin", "GET", orgA + "/api-keys", adminB, "", 404},
		{"api key created by B's admin", "POST", orgA + "/api-keys", adminB, `{"name":"x","user_id":"` + x.userA + `","scopes":["messages:send"]}`, 404},
		{"api key created for A's user in B", "POST", "/api/v1/organisations/" + s.orgs[domainB] + "/api-keys", adminB, `{"name":"x","user_id":"` + x.userA + `","scopes":["messages:send"]}`, 404},
		{"api key revoked by B's admin", "DELETE", orgA + "/api-keys/" + x.keyA, adminB, "", 404},
		{"A's api key revoked through B's path", "DELETE", "/api/v1/organisations/" + s.orgs[domainB] + "/api-keys/" + x.keyA, adminB, "", 404},
		{"dns by B's admin", "GET", orgA + "/dns", adminB, "", 404},
		{"report by B's admin", "GET", orgA + "/report", adminB, "", 404},
		{"admin enrolments by an org admin", "GET", "/api/v1/admin/enrolments", adminA, "", 403},
		{"admin events by a sender", "GET", "/api/v1/admin/events", senderA, "", 403},
		{"admin approve by an org admin", "POST", "/api/v1/admin/enrolments/00000000-0000-4000-8000-000000000000/approve", adminA, "", 403},
	}
	x.unchanged(t, func() {
		for _, tc := range cases {
			c := call{method: tc.method, path: tc.path, token: s.tokens[tc.who]}
			if tc.body != "" {
				c.ctype, c.body = json, []byte(tc.body)
			}
			expect(t, tc.name, s.do(c), tc.want)
		}
		// API keys administer nothing (api/router.go noAPIKeys): 403 on A's own
		// organisation and on B's alike.
		for _, org := range []string{s.orgs[domainA], s.orgs[domainB]} {
			expect(t, "A's api key on settings", s.do(call{method: "GET", path: "/api/v1/organisations/" + org + "/settings", token: x.keySecret}), 403)
		}
	})
	// The objects are as they were: the message is not revoked, the key works.
	r := s.do(call{method: "GET", path: msg, token: s.tokens[senderA]})
	if r.status != 200 || !strings.Contains(string(r.body), `"revoked_at":null`) {
		t.Errorf("the message after the attempts: %s", r)
	}
	if r := s.do(call{method: "GET", path: "/api/v1/organisations/" + s.orgs[domainA] + "/api-keys", token: s.tokens[adminA]}); !strings.Contains(string(r.body), `"revoked_at":null`) {
		t.Errorf("the API key after the attempts: %s", r)
	}
	x.enrolmentIDOR(t)
}

// enrolmentIDOR: one applicant's status token does not open another's
// enrolment (401 with the challenge, as for a wrong token).
func (x *suite) enrolmentIDOR(t *testing.T) {
	s := x.s
	a, b := x.enrol(t, "een"), x.enrol(t, "twee")
	if a.ID == "" || b.ID == "" {
		return
	}
	x.unchanged(t, func() {
		for _, c := range []call{
			{method: "GET", path: "/api/v1/enrolments/" + a.ID, token: b.StatusToken},
			{method: "POST", path: "/api/v1/enrolments/" + a.ID + "/verify", token: b.StatusToken},
			{method: "GET", path: "/api/v1/enrolments/" + a.ID + "/report", token: b.StatusToken},
			{method: "POST", path: "/api/v1/enrolments/" + a.ID + "/activate", token: b.StatusToken, ctype: "application/json", body: []byte(`{"password":"Lang-genoeg-wachtwoord-1"}`)},
		} {
			r := s.do(c)
			expect(t, c.method+" "+c.path+" with another's token", r, http.StatusUnauthorized)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate", c.path)
			}
		}
	})
}

type enrolment struct {
	ID          string `json:"id"`
	StatusToken string `json:"status_token"`
}

func (x *suite) enrol(t *testing.T, label string) enrolment {
	t.Helper()
	kvk := map[string]string{"een": "12345678", "twee": "87654321"}[label]
	body := `{"organisation":{"name":"Stichting ` + label + `","kvk":"` + kvk + `"},"domains":["` + label + `.partner.test"],` +
		`"admin":{"name":"Beheer","email":"beheer@` + label + `.partner.test","phone":"+31612345678"}}`
	r := x.s.do(call{method: "POST", path: "/api/v1/enrolments", ctype: "application/json", body: []byte(body)})
	var e enrolment
	if r.status != http.StatusCreated || decodeInto(r.body, &e) != nil {
		t.Errorf("enrolment %s: %s", label, r)
	}
	return e
}

// massAssignment: every JSON body with an extra privileged field is refused
// with 400 before anything happens.
func (x *suite) massAssignment(t *testing.T) {
	s := x.s
	orgA := "/api/v1/organisations/" + s.orgs[domainA]
	cases := []struct {
		name, method, path, who, body string
	}{
		{"token with role", "POST", "/api/v1/auth/token", "", `{"grant_type":"password","username":"` + senderA + `","password":"` + s.password + `","role":"operator"}`},
		{"revoke with id", "POST", "/api/v1/auth/revoke", "", `{"token":"x","id":"1"}`},
		{"resolve with organisation_id", "POST", "/api/v1/recipients/resolve", senderA, `{"addresses":["` + senderB + `"],"organisation_id":"x"}`},
		{"detect with role", "POST", "/api/v1/detect", senderA, `{"text":"x","role":"operator"}`},
		{"settings with organisation_id", "PUT", orgA + "/settings", adminA, `{"self_copy":true,"organisation_id":"` + s.orgs[domainB] + `"}`},
		{"settings with id", "PUT", orgA + "/settings", adminA, `{"expiry_days":5,"id":"x"}`},
		{"invite with organisation_id", "POST", orgA + "/users", adminA, `{"email":"nieuw@alfa.test","role":"sender","organisation_id":"` + s.orgs[domainB] + `"}`},
		{"invite with status", "POST", orgA + "/users", adminA, `{"email":"nieuw@alfa.test","role":"sender","status":"active"}`},
		{"api key with organisation_id", "POST", orgA + "/api-keys", adminA, `{"name":"x","user_id":"` + x.userA + `","scopes":["messages:send"],"organisation_id":"` + s.orgs[domainB] + `"}`},
		{"api key with role", "POST", orgA + "/api-keys", adminA, `{"name":"x","user_id":"` + x.userA + `","scopes":["messages:send"],"role":"operator"}`},
		{"accept invitation with role", "POST", "/api/v1/auth/invitations/accept", "", `{"token":"x","password":"Lang-genoeg-wachtwoord-1","role":"operator"}`},
		{"enrolment with status", "POST", "/api/v1/enrolments", "", `{"organisation":{"name":"X"},"domains":["x.partner.test"],"admin":{"name":"B","email":"b@x.partner.test","phone":"+31612345678"},"status":"approved"}`},
		{"enrolment with nested id", "POST", "/api/v1/enrolments", "", `{"organisation":{"name":"X","id":"` + s.orgs[domainA] + `"},"domains":["x.partner.test"],"admin":{"name":"B","email":"b@x.partner.test","phone":"+31612345678"}}`},
		{"reject with status", "POST", "/api/v1/admin/enrolments/00000000-0000-4000-8000-000000000000/reject", operatorMail, `{"reason":"x","status":"approved"}`},
	}
	x.unchanged(t, func() {
		for _, tc := range cases {
			r := s.do(call{method: tc.method, path: tc.path, token: s.tokens[tc.who], ctype: "application/json", body: []byte(tc.body)})
			expect(t, tc.name, r, http.StatusBadRequest)
		}
		for _, field := range []string{`"role":"operator"`, `"organisation_id":"x"`, `"status":"sent"`, `"id":"x"`, `"from":"ceo@beta.test"`} {
			msg := `{"to":["` + senderB + `"],"subject":"x","text":"x",` + field + `}`
			expect(t, "message with "+field, x.submit(t, s.tokens[senderA], msg, nil), http.StatusBadRequest)
		}
	})
}
