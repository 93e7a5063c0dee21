package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
)

func urlQuery(s string) string { return url.QueryEscape(s) }

// raw runs a request on a route the contract does not describe (404/405 probes).
func (e *env) raw(r request) *httptest.ResponseRecorder {
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

type statusResponse struct {
	Organisations int64 `json:"organisations"`
	People        int64 `json:"people"`
	LastSync      *struct {
		Outcome string                `json:"outcome"`
		Error   string                `json:"error"`
		Issues  []directory.SyncIssue `json:"issues"`
	} `json:"last_sync"`
}

func testStatus(t *testing.T, e *env, sender string) {
	ctx := context.Background()
	id, err := e.store.StartRun(ctx, directory.RunFull, "ldap://ldap.test")
	if err != nil {
		t.Fatal(err)
	}
	secret := "ldap: bind cn=reader,dc=veilig,dc=test failed"
	if err := e.store.FinishRun(ctx, directory.SyncRun{ID: id, Outcome: directory.OutcomeFailed, Error: secret,
		Skipped: 1, Issues: []directory.SyncIssue{{DN: "cn=x", Reason: "no organisation"}}}); err != nil {
		t.Fatal(err)
	}
	operator := e.login(operatorMail).AccessToken
	for _, tc := range []struct {
		who, token string
		seesError  bool
	}{{"sender", sender, false}, {"operator", operator, true}} {
		rec := e.do(request{method: "GET", path: "/api/v1/directory/status", token: tc.token})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.who, rec.Code, rec.Body)
		}
		st := decode[statusResponse](t, rec)
		if st.Organisations != 4 || st.People != 3 || st.LastSync == nil || st.LastSync.Outcome != "failed" {
			t.Errorf("%s: status = %s", tc.who, rec.Body)
		}
		if got := st.LastSync != nil && st.LastSync.Error == secret && len(st.LastSync.Issues) == 1; got != tc.seesError {
			t.Errorf("%s sees sync error and issues = %v, want %v (%s)", tc.who, got, tc.seesError, rec.Body)
		}
	}
}

func testTokens(t *testing.T, e *env) {
	first := e.login(senderMail)
	refresh := func(tok string) *httptest.ResponseRecorder {
		return e.do(request{method: "POST", path: "/api/v1/auth/token", body: `{"grant_type":"refresh_token","refresh_token":"` + tok + `"}`})
	}
	rec := refresh(first.RefreshToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	second := decode[auth.TokenPair](t, rec)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
		t.Fatal("refresh did not rotate the token")
	}
	if rec := refresh(first.RefreshToken); rec.Code != http.StatusUnauthorized {
		t.Fatalf("reused refresh token: %d, want 401", rec.Code)
	}
	if rec := refresh(second.RefreshToken); rec.Code != http.StatusUnauthorized {
		t.Errorf("after reuse the family must be revoked; rotated token got %d", rec.Code)
	}

	// JWKS publishes the key that signed the access token.
	rec = e.do(request{method: "GET", path: "/.well-known/jwks.json"})
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &set)
	kid := tokenKid(t, first.AccessToken)
	found := false
	for _, k := range set.Keys {
		found = found || k.Kid == kid
	}
	if !found {
		t.Errorf("kid %q of an issued token is not in the JWKS %s", kid, rec.Body)
	}

	// Failed logins for one account are limited: 429 with Retry-After.
	var last *httptest.ResponseRecorder
	for range 6 {
		last = e.do(request{method: "POST", path: "/api/v1/auth/token",
			body: `{"grant_type":"password","username":"jan.devries@ede.example","password":"not the password"}`})
	}
	if last.Code != http.StatusTooManyRequests || last.Header().Get("Retry-After") == "" {
		t.Errorf("after repeated failures: %d Retry-After=%q, want 429 with Retry-After", last.Code, last.Header().Get("Retry-After"))
	}
}

func tokenKid(t *testing.T, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

func testOperations(t *testing.T, e *env) {
	for _, tc := range []struct{ path, contains, remote string }{
		{"/healthz", `"ok"`, ""},
		{"/readyz", `"ready"`, ""},
		{"/api/v1/openapi.yaml", "openapi: 3.1.0", ""},
		{"/metrics", "veilig_http_request_duration_seconds", "127.0.0.1"},
	} {
		rec := e.do(request{method: "GET", path: tc.path, remote: tc.remote})
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("GET %s: %d, body lacks %q", tc.path, rec.Code, tc.contains)
		}
	}
	// Metrics are for the operator's network only.
	if rec := e.do(request{method: "GET", path: "/metrics"}); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics from outside the allow-list: %d, want 404", rec.Code)
	}
}
