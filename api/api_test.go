package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

type problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

const typePrefix = "urn:veilig:problem:"

func TestAPI(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, c)
		sender := e.login(senderMail).AccessToken
		t.Run("errors", func(t *testing.T) { testErrors(t, e, sender) })
		t.Run("token from another service instance", func(t *testing.T) {
			// Control for the expired/audience/issuer cases: same keys, same claims → accepted.
			rec := e.do(request{method: "GET", path: "/api/v1/directory/search?q=ja", token: e.tokenFrom(t, issuer, audience, 0)})
			if rec.Code != http.StatusOK {
				t.Fatalf("valid token from a second instance: %d %s", rec.Code, rec.Body)
			}
		})
		t.Run("search", func(t *testing.T) { testSearch(t, e, sender) })
		t.Run("resolve", func(t *testing.T) { testResolve(t, e, sender) })
		t.Run("status", func(t *testing.T) { testStatus(t, e, sender) })
		t.Run("tokens", func(t *testing.T) { testTokens(t, e) })
		t.Run("operations", func(t *testing.T) { testOperations(t, e) })
	})
}

// testErrors: every bad request gets the right status and a stable problem type.
func testErrors(t *testing.T, e *env, token string) {
	big := `{"addresses":["` + strings.Repeat("a", 70<<10) + `"]}`
	tooMany := `{"addresses":[` + strings.Repeat(`"a@b.nl",`, 500) + `"a@b.nl"]}`
	tests := []struct {
		name string
		req  request
		code int
		typ  string
	}{
		{"no token", request{method: "GET", path: "/api/v1/directory/search?q=ja"}, 401, "unauthorized"},
		{"garbage token", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: "abc.def.ghi"}, 401, "unauthorized"},
		{"alg none", request{method: "GET", path: "/api/v1/directory/search?q=ja",
			token: "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4Iiwicm9sZSI6Im9wZXJhdG9yIn0."}, 401, "unauthorized"},
		{"forged signature", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: forgedToken(t, "unknown")}, 401, "unauthorized"},
		{"expired token", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: e.tokenFrom(t, issuer, audience, -time.Hour)}, 401, "unauthorized"},
		{"wrong audience", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: e.tokenFrom(t, issuer, "other-api", 0)}, 401, "unauthorized"},
		{"wrong issuer", request{method: "GET", path: "/api/v1/directory/search?q=ja", token: e.tokenFrom(t, "https://evil.example", audience, 0)}, 401, "unauthorized"},
		{"token in query string", request{method: "GET", path: "/api/v1/directory/search?q=ja&access_token=" + token, skipRequestCheck: true}, 401, "unauthorized"},
		{"q too short", request{method: "GET", path: "/api/v1/directory/search?q=j", token: token, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"q missing", request{method: "GET", path: "/api/v1/directory/search", token: token, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"q too long", request{method: "GET", path: "/api/v1/directory/search?q=" + strings.Repeat("a", 101), token: token, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"limit zero", request{method: "GET", path: "/api/v1/directory/search?q=ja&limit=0", token: token, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"limit 51", request{method: "GET", path: "/api/v1/directory/search?q=ja&limit=51", token: token, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"limit text", request{method: "GET", path: "/api/v1/directory/search?q=ja&limit=ten", token: token, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"resolve wrong media type", request{method: "POST", path: "/api/v1/recipients/resolve", token: token,
			body: `addresses=a@b.nl`, contentType: "application/x-www-form-urlencoded", skipRequestCheck: true}, 415, "unsupported-media-type"},
		{"resolve bad json", request{method: "POST", path: "/api/v1/recipients/resolve", token: token, body: `{"addresses":[`, skipRequestCheck: true}, 400, "bad-request"},
		{"resolve unknown field", request{method: "POST", path: "/api/v1/recipients/resolve", token: token,
			body: `{"addresses":["a@b.nl"],"admin":true}`, skipRequestCheck: true}, 400, "bad-request"},
		{"resolve two objects", request{method: "POST", path: "/api/v1/recipients/resolve", token: token,
			body: `{"addresses":["a@b.nl"]}{}`, skipRequestCheck: true}, 400, "bad-request"},
		{"resolve wrong type", request{method: "POST", path: "/api/v1/recipients/resolve", token: token,
			body: `{"addresses":"a@b.nl"}`, skipRequestCheck: true}, 400, "bad-request"},
		{"resolve empty", request{method: "POST", path: "/api/v1/recipients/resolve", token: token, body: `{"addresses":[]}`, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"resolve 501", request{method: "POST", path: "/api/v1/recipients/resolve", token: token, body: tooMany, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"resolve too large", request{method: "POST", path: "/api/v1/recipients/resolve", token: token, body: big}, 413, "payload-too-large"},
		{"unknown grant", request{method: "POST", path: "/api/v1/auth/token", body: `{"grant_type":"client_credentials"}`, skipRequestCheck: true}, 400, "invalid-parameter"},
		{"wrong password", request{method: "POST", path: "/api/v1/auth/token",
			body: `{"grant_type":"password","username":"` + operatorMail + `","password":"wrong wrong wrong"}`}, 401, "invalid-credentials"},
		{"unknown user", request{method: "POST", path: "/api/v1/auth/token",
			body: `{"grant_type":"password","username":"nobody@utrecht.example","password":"wrong wrong wrong"}`}, 401, "invalid-credentials"},
		{"bad refresh token", request{method: "POST", path: "/api/v1/auth/token", body: `{"grant_type":"refresh_token","refresh_token":"nope"}`}, 401, "invalid-credentials"},
		{"no route", request{method: "GET", path: "/api/v1/nope", skipRequestCheck: true}, 404, "not-found"},
		{"wrong method", request{method: "DELETE", path: "/api/v1/directory/search", token: token, skipRequestCheck: true}, 405, "method-not-allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.doUnchecked(tc.req)
			p := decode[problem](t, rec)
			if rec.Code != tc.code || p.Type != typePrefix+tc.typ || p.Status != tc.code {
				t.Errorf("got %d %+v; want %d %s", rec.Code, p, tc.code, tc.typ)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("Content-Type = %q", ct)
			}
			for _, leak := range []string{"gorm", "sql", "goroutine", ".go:", "panic"} {
				if strings.Contains(strings.ToLower(rec.Body.String()), leak) {
					t.Errorf("problem leaks internals (%q): %s", leak, rec.Body)
				}
			}
		})
	}
}

// doUnchecked runs a request; the contract is checked only for routes it knows.
func (e *env) doUnchecked(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	if r.path == "/api/v1/nope" || r.method == "DELETE" {
		return e.raw(r)
	}
	return e.do(r)
}

type searchResponse struct {
	Results []struct {
		Kind         string           `json:"kind"`
		Name         string           `json:"name"`
		Email        string           `json:"email"`
		Organisation directory.OrgRef `json:"organisation"`
		Domains      []string         `json:"domains"`
	} `json:"results"`
}

func testSearch(t *testing.T, e *env, token string) {
	tests := []struct {
		q     string
		limit int
		want  []string // "kind:name", in order
	}{
		{q: "zoe", want: []string{"organisation:Zorggroep Zoë", "person:Zoë Jansen"}},
		{q: "ZOË", want: []string{"organisation:Zorggroep Zoë", "person:Zoë Jansen"}},
		{q: "gem", want: []string{"organisation:Gemeente Ede", "organisation:Gemeente Utrecht", "person:Gemma Bakker"}},
		{q: "gem", limit: 1, want: []string{"organisation:Gemeente Ede"}},
		{q: "vries", want: []string{"person:Jan de Vries"}},
		{q: "jan de", want: []string{"person:Jan de Vries"}},
		{q: "g.bakker", want: []string{"person:Gemma Bakker"}},
		{q: "ede.example", want: []string{"organisation:Gemeente Ede"}},
		{q: "xyz", want: nil},
		{q: "*)(objectClass=*", want: nil},
	}
	for _, tc := range tests {
		path := "/api/v1/directory/search?q=" + urlQuery(tc.q)
		if tc.limit > 0 {
			path += "&limit=" + strconv.Itoa(tc.limit)
		}
		rec := e.do(request{method: "GET", path: path, token: token})
		if rec.Code != http.StatusOK {
			t.Fatalf("search %q: %d %s", tc.q, rec.Code, rec.Body)
		}
		var got []string
		for _, r := range decode[searchResponse](t, rec).Results {
			got = append(got, r.Kind+":"+r.Name)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("search %q (-want +got):\n%s", tc.q, diff)
		}
	}
}

type resolveResponse struct {
	Recipients []directory.Resolution `json:"recipients"`
}

func testResolve(t *testing.T, e *env, token string) {
	rec := e.do(request{method: "POST", path: "/api/v1/recipients/resolve", token: token,
		body: `{"addresses":["jan.devries@ede.example","x@sub.utrecht.example","iemand@gmail.com","kapot@@adres","a@b.nl\r\nBcc: c@d.nl"]}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("resolve: %d %s", rec.Code, rec.Body)
	}
	var got []string
	for _, r := range decode[resolveResponse](t, rec).Recipients {
		org := ""
		if r.Organisation != nil {
			org = r.Organisation.Name
		}
		got = append(got, r.Route+"/"+r.Reason+"/"+org)
	}
	want := []string{"internal/community-domain/Gemeente Ede", "internal/community-subdomain/Gemeente Utrecht",
		"external/not-in-community/", "invalid/invalid-syntax/", "invalid/control-characters/"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolve (-want +got):\n%s", diff)
	}
}

// tokenFrom issues a real token for the sender from an auth service that shares
// the server's keys but has another issuer, audience or clock.
func (e *env) tokenFrom(t *testing.T, iss, aud string, clockSkew time.Duration) string {
	t.Helper()
	cfg := auth.DefaultConfig()
	cfg.Issuer, cfg.Audience = iss, aud
	cfg.Argon2 = auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	now := func() time.Time { return time.Now().Add(clockSkew) }
	svc, err := auth.New(context.Background(), cfg, auth.Deps{DB: e.db.DB, Organisations: orgFinder{e.store},
		Log: testenv.Discard(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := svc.PasswordGrant(context.Background(), senderMail, password, "198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	return pair.AccessToken
}
