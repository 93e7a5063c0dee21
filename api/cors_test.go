package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/metrics"
	"github.com/veilig/veilig/internal/testenv"
)

const addinOrigin = "https://veilig.example.test"

// corsHeaders are the CORS response headers a test compares.
type corsHeaders struct {
	Status                                int
	AllowOrigin, Methods, Headers, MaxAge string
	Expose, Vary                          string
}

func corsOf(rec *httptest.ResponseRecorder) corsHeaders {
	h := rec.Header()
	return corsHeaders{Status: rec.Code, AllowOrigin: h.Get("Access-Control-Allow-Origin"),
		Methods: h.Get("Access-Control-Allow-Methods"), Headers: h.Get("Access-Control-Allow-Headers"),
		MaxAge: h.Get("Access-Control-Max-Age"), Expose: h.Get("Access-Control-Expose-Headers"),
		Vary: h.Get("Vary")}
}

func TestCORS(t *testing.T) {
	c := loadContract(t)
	e := newEnv(t, testenv.DB(t, database.SQLite), c, func(o *api.Options, _ *api.Deps) {
		o.AddinOrigins = []string{addinOrigin, "https://OWA.Gemeente.example"}
	})
	token := e.login(senderMail).AccessToken
	preflight := corsHeaders{Status: 204, AllowOrigin: addinOrigin, Methods: "GET, POST, PUT, OPTIONS",
		Headers: "Authorization, Content-Type, Idempotency-Key", MaxAge: "7200", Vary: "Origin"}
	tests := []struct {
		name, method, path, origin string
		want                       corsHeaders
	}{
		{"preflight search", "OPTIONS", "/api/v1/directory/search?q=ja", addinOrigin, preflight},
		{"preflight messages", "OPTIONS", "/api/v1/messages", addinOrigin, preflight},
		{"preflight unknown route", "OPTIONS", "/api/v1/nothing", addinOrigin, preflight},
		{"preflight second origin, lower-cased", "OPTIONS", "/api/v1/recipients/resolve", "https://owa.gemeente.example",
			func() corsHeaders { p := preflight; p.AllowOrigin = "https://owa.gemeente.example"; return p }()},
		{"preflight other origin", "OPTIONS", "/api/v1/recipients/resolve", "https://evil.example", corsHeaders{Status: 405, Vary: "Origin"}},
		{"preflight origin with other port", "OPTIONS", "/api/v1/recipients/resolve", addinOrigin + ":8443", corsHeaders{Status: 405, Vary: "Origin"}},
		{"preflight null origin", "OPTIONS", "/api/v1/recipients/resolve", "null", corsHeaders{Status: 405, Vary: "Origin"}},
		{"preflight outside the API", "OPTIONS", "/healthz", addinOrigin, corsHeaders{Status: 405}},
		{"request", "GET", "/api/v1/directory/search?q=ja", addinOrigin,
			corsHeaders{Status: 200, AllowOrigin: addinOrigin, Expose: "Location, Retry-After, X-Request-ID", Vary: "Origin"}},
		{"request other origin", "GET", "/api/v1/directory/search?q=ja", "https://evil.example", corsHeaders{Status: 200, Vary: "Origin"}},
		{"request without origin", "GET", "/api/v1/directory/search?q=ja", "", corsHeaders{Status: 200, Vary: "Origin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := doCORS(t, e, tt.method, tt.path, tt.origin, token)
			if diff := cmp.Diff(tt.want, corsOf(rec)); diff != "" {
				t.Errorf("(-want +got):\n%s\nbody: %s", diff, rec.Body)
			}
		})
	}
}

// doCORS sends one request; preflights are not in openapi.yaml, so only the
// responses of ordinary requests are checked against the contract.
func doCORS(t *testing.T, e *env, method, path, origin, token string) *httptest.ResponseRecorder {
	t.Helper()
	if method != http.MethodOptions {
		r := request{method: method, path: path, token: token, header: http.Header{}}
		if origin != "" {
			r.header.Set("Origin", origin)
		}
		return e.do(r)
	}
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

func TestCORSRejectsBadOrigins(t *testing.T) {
	for _, o := range []string{"*", "https://veilig.example.test/", "https://veilig.example.test/path",
		"veilig.example.test", "ftp://veilig.example.test", "https://u@veilig.example.test"} {
		_, err := api.New(api.Options{MaxBodyBytes: 1024, AddinOrigins: []string{o}},
			api.Deps{Log: testenv.Discard(), Metrics: metrics.New(), Ready: func(context.Context) error { return nil }})
		if err == nil {
			t.Errorf("AddinOrigins %q accepted", o)
		}
	}
}
