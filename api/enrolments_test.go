package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const validEnrolment = `{"organisation":{"name":"Waterschap Vallei","kvk":"12345678"},"domains":["vallei.example","Vallei-2.example"],` +
	`"admin":{"name":"Ada de Wit","email":"ada@vallei.example","phone":"+31612345678"}}`

// enrolmentWith replaces one fragment of the valid request.
func enrolmentWith(old, new string) string { return strings.Replace(validEnrolment, old, new, 1) }

type step struct {
	name string
	req  request
	code int
	want []string // substrings of the body
}

func runSteps(t *testing.T, e *env, steps []step) {
	t.Helper()
	for _, s := range steps {
		rec := e.do(s.req)
		if rec.Code != s.code {
			t.Errorf("%s: %d %s, want %d", s.name, rec.Code, rec.Body, s.code)
			continue
		}
		for _, w := range s.want {
			if !strings.Contains(rec.Body.String(), w) {
				t.Errorf("%s: body lacks %q: %s", s.name, w, rec.Body)
			}
		}
	}
}

// TestCreateEnrolment: validation (422 with the fields), malformed JSON (400),
// the service's refusals mapped once (409 domain-taken without a holder, 429
// with Retry-After), and the 201 with challenges and the status token.
func TestCreateEnrolment(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		x := newIssue6()
		e := newEnv(t, db, c, x.option(db))
		post := func(body string, bad bool) request {
			return request{method: "POST", path: "/api/v1/enrolments", body: body, skipRequestCheck: bad}
		}
		steps := []step{
			{"created", post(validEnrolment, false), 201, []string{`"status_token":"` + enrolToken + `"`,
				`"name":"_veilig-challenge.vallei-2.example"`, `"id":"` + enrolID + `"`}},
			{"malformed JSON", post(`{"organisation":`, true), 400, []string{"urn:veilig:problem:bad-request"}},
			{"unknown field", post(enrolmentWith(`"domains"`, `"role":"operator","domains"`), true), 400, nil},
			{"kvk and oin", post(enrolmentWith(`"kvk":"12345678"`, `"kvk":"12345678","oin":"00000001234567890000"`), false),
				422, []string{`"field":"organisation"`, "validation-failed"}},
			{"neither kvk nor oin", post(enrolmentWith(`,"kvk":"12345678"`, ``), false), 422, []string{`"field":"organisation"`}},
			{"kvk 7 digits", post(enrolmentWith(`"12345678"`, `"1234567"`), true), 422, []string{`"field":"organisation.kvk"`}},
			{"oin 19 digits", post(enrolmentWith(`"kvk":"12345678"`, `"oin":"0000000123456789000"`), true), 422, []string{`"field":"organisation.oin"`}},
			{"no domains", post(enrolmentWith(`["vallei.example","Vallei-2.example"]`, `[]`), true), 422, []string{`"field":"domains"`}},
			{"21 domains", post(enrolmentWith(`"Vallei-2.example"`, strings.Repeat(`"x.example",`, 20)+`"y.example"`), true), 422, []string{`"detail":"1 to 20 domains"`}},
			{"bad domain", post(enrolmentWith(`"Vallei-2.example"`, `"-bad-.example"`), false), 422, []string{`not a domain name`}},
			{"duplicate domain", post(enrolmentWith(`"Vallei-2.example"`, `"VALLEI.example"`), false), 422, []string{`listed twice`}},
			{"phone not E.164", post(enrolmentWith(`"+31612345678"`, `"0612345678"`), true), 422, []string{`"field":"admin.phone"`}},
			{"admin elsewhere", post(enrolmentWith(`ada@vallei.example`, `ada@gmail.com`), false), 422, []string{`at one of the claimed domains`}},
			{"no name", post(enrolmentWith(`"Waterschap Vallei"`, `" "`), false), 422, []string{`"field":"organisation.name"`}},
			{"taken", post(enrolmentWith(`"vallei.example","Vallei-2.example"`, `"taken.example","vallei.example"`), false), 409,
				[]string{`"type":"urn:veilig:problem:domain-taken"`, `"detail":"domain is already part of the community"`}},
			{"rate limited", post(enrolmentWith(`"vallei.example","Vallei-2.example"`, `"busy.example","vallei.example"`), false), 429, []string{"rate-limited"}},
			{"refused by the service", post(enrolmentWith(`"vallei.example","Vallei-2.example"`, `"refused.example","vallei.example"`), false), 422,
				[]string{`"field":"domains","detail":"reserved"`}},
			{"wrong media type", request{method: "POST", path: "/api/v1/enrolments", body: "a=b",
				contentType: "application/x-www-form-urlencoded", skipRequestCheck: true}, 415, nil},
		}
		runSteps(t, e, steps)
		rec := e.do(post(enrolmentWith(`"vallei.example","Vallei-2.example"`, `"busy.example","vallei.example"`), false))
		if rec.Header().Get("Retry-After") != "90" {
			t.Errorf("Retry-After = %q, want 90", rec.Header().Get("Retry-After"))
		}
		rec = e.do(post(enrolmentWith(`"vallei.example","Vallei-2.example"`, `"taken.example","vallei.example"`), false))
		if strings.Contains(rec.Body.String(), "Geheim") {
			t.Errorf("409 leaks the holder: %s", rec.Body)
		}
		want := []string{"create vallei.example,vallei-2.example 192.0.2.10", "create taken.example,vallei.example 192.0.2.10",
			"create busy.example,vallei.example 192.0.2.10", "create refused.example,vallei.example 192.0.2.10",
			"create busy.example,vallei.example 192.0.2.10", "create taken.example,vallei.example 192.0.2.10"}
		if diff := cmp.Diff(want, x.enrol.log()); diff != "" {
			t.Errorf("service calls (-want +got): only valid requests reach it\n%s", diff)
		}
	})
}

// TestEnrolmentStatusToken: the public routes need the status token (401 with
// WWW-Authenticate without it or with a wrong one), unknown ids are 404, and
// the applicant follows verify → report → (after approval) activate.
func TestEnrolmentStatusToken(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		x := newIssue6()
		e := newEnv(t, db, c, x.option(db))
		base := "/api/v1/enrolments/" + enrolID
		unknown := "/api/v1/enrolments/6ba7b810-9dad-11d1-80b4-00c04fd430c8"
		wrong := "st_wrongwrongwrongwrongwrong"
		pw := `{"password":"` + password + `"}`
		type route struct{ method, suffix, body string }
		routes := []route{{"GET", "", ""}, {"POST", "/verify", ""}, {"POST", "/activate", pw}, {"GET", "/report", ""}}
		for _, r := range routes {
			for _, tc := range []struct {
				name, path, token string
				code              int
			}{
				{"no token", base, "", 401}, {"wrong token", base, wrong, 401}, {"short token", base, "abc", 401},
				{"a JWT-ish token of 300 bytes", base, strings.Repeat("a", 300), 401}, {"unknown id", unknown, enrolToken, 404},
			} {
				rec := e.do(request{method: r.method, path: tc.path + r.suffix, token: tc.token, body: r.body})
				if rec.Code != tc.code {
					t.Errorf("%s %s, %s: %d %s, want %d", r.method, r.suffix, tc.name, rec.Code, rec.Body, tc.code)
				}
				if tc.code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("%s %s, %s: no WWW-Authenticate challenge", r.method, r.suffix, tc.name)
				}
			}
		}
		auth := func(method, suffix, body string) request {
			return request{method: method, path: base + suffix, token: enrolToken, body: body}
		}
		runSteps(t, e, []step{
			{"progress", auth("GET", "", ""), 200, []string{`"status":"pending"`, `"report":null`, `"organisation_id":null`}},
			{"no phone for the applicant", auth("GET", "", ""), 200, nil},
			{"report before the check", auth("GET", "/report", ""), 200, []string{`"reports":[]`}},
			{"activate before approval", auth("POST", "/activate", pw), 409, []string{"urn:veilig:problem:conflict"}},
			{"verify", auth("POST", "/verify", ""), 200, []string{`"status":"verified"`, `"mx_hosts":["mx1.vallei.example"]`}},
			{"verify again", auth("POST", "/verify", ""), 409, nil},
			{"report", auth("GET", "/report", ""), 200, []string{`"domain":"vallei.example"`, `"policy":"dane"`}},
			{"empty password", request{method: "POST", path: base + "/activate", token: enrolToken, body: `{"password":""}`, skipRequestCheck: true}, 422, nil},
		})
		if rec := e.do(auth("GET", "", "")); strings.Contains(rec.Body.String(), "+31612345678") {
			t.Errorf("the public view shows the phone number: %s", rec.Body)
		}
	})
}

// TestEnrolmentReportHTML: Accept: text/html gets the report page in the
// Accept-Language, with a CSP that admits only its own style and no script.
func TestEnrolmentReportHTML(t *testing.T) {
	c := loadContract(t)
	x := newIssue6()
	db := testenv.DB(t, database.SQLite)
	e := newEnv(t, db, c, x.option(db))
	path := "/api/v1/enrolments/" + enrolID + "/report"
	if rec := e.do(request{method: "GET", path: path, token: enrolToken, header: http.Header{"Accept": {"text/html"}}}); rec.Code != 404 {
		t.Errorf("page before any check: %d %s, want 404", rec.Code, rec.Body)
	}
	e.do(request{method: "POST", path: "/api/v1/enrolments/" + enrolID + "/verify", token: enrolToken})
	tests := []struct {
		name, accept, lang, domain string
		code                       int
		want                       string
	}{
		{"Dutch by default", "text/html,application/xhtml+xml;q=0.9", "", "", 200, "Controle van de mailinstellingen"},
		{"English", "text/html", "en-GB,en;q=0.8", "", 200, "Mail settings check"},
		{"Dutch preferred", "text/html", "nl,en;q=0.5", "", 200, "Controle van de mailinstellingen"},
		{"named domain", "text/html", "en", "vallei.example", 200, "vallei.example"},
		{"unknown domain", "text/html", "", "other.example", 404, ""},
		{"JSON for others", "application/json", "", "", 200, `"reports":[`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := path
			if tc.domain != "" {
				p += "?domain=" + tc.domain
			}
			h := http.Header{"Accept": {tc.accept}}
			if tc.lang != "" {
				h.Set("Accept-Language", tc.lang)
			}
			rec := e.do(request{method: "GET", path: p, token: enrolToken, header: h})
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("%d %.300s, want %d with %q", rec.Code, rec.Body, tc.code, tc.want)
			}
			if tc.code != 200 || !strings.HasPrefix(tc.accept, "text/html") {
				return
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, w := range []string{"default-src 'none'", "style-src 'sha256-", "sandbox", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, w) {
					t.Errorf("CSP %q lacks %q", csp, w)
				}
			}
			if strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
				t.Errorf("CSP too loose: %q", csp)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers: %v", rec.Header())
			}
		})
	}
}
