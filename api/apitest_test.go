package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/metrics"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	issuer       = "https://veilig.example.test"
	audience     = "veilig-api"
	senderMail   = "zoe.jansen@utrecht.example"
	operatorMail = "ops@veilig.example"
	password     = "correct horse battery staple"
)

// contract validates requests and responses against api/openapi.yaml.
type contract struct{ router routers.Router }

func loadContract(t testing.TB) contract {
	t.Helper()
	// The report pages are HTML; the validator checks their status and headers.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return contract{router: r}
}

func (c contract) input(t testing.TB, req *http.Request) *openapi3filter.RequestValidationInput {
	t.Helper()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in openapi.yaml: %v", req.Method, req.URL.Path, err)
	}
	return &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
}

// checkResponse fails the test when a response does not match the contract.
func (c contract) checkResponse(t testing.TB, in *openapi3filter.RequestValidationInput, rec *httptest.ResponseRecorder) {
	t.Helper()
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code,
		Header: rec.Header(), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("response breaks openapi.yaml: %v\nbody: %s", err, rec.Body.String())
	}
}

// env is a full server on one database: real store, index, auth and router.
type env struct {
	t        testing.TB
	db       *database.DB
	handler  http.Handler
	contract contract
	auth     *auth.Service
	store    *directory.Store
	live     *directory.Live
}

// envOption adds optional services (messages, DNS, transport preview) to an env.
type envOption func(*api.Options, *api.Deps)

func newEnv(t testing.TB, db *database.DB, c contract, extra ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	log := testenv.Discard()
	store := directory.NewStore(db.DB, time.Now)
	seedDirectory(t, store)
	live := directory.NewLive(store, log, time.Now)
	if _, err := live.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := auth.DefaultConfig()
	cfg.Issuer, cfg.Audience = issuer, audience
	cfg.Argon2 = auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	cfg.RateLimit.AccountFreeFailures = 3
	svc, err := auth.New(ctx, cfg, auth.Deps{DB: db.DB, Organisations: orgFinder{store}, Log: log, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []auth.NewUser{{Email: senderMail, Role: auth.RoleSender, Password: password},
		{Email: operatorMail, Role: auth.RoleOperator, Password: password}} {
		if _, err := svc.Users().Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	gin.SetMode(gin.TestMode)
	opts := api.Options{MaxBodyBytes: 64 << 10}
	deps := api.Deps{Log: log, Metrics: metrics.New(),
		Directory: live, Status: store, Login: svc, Tokens: svc, Ready: func(ctx context.Context) error {
			return db.CheckMigrated(ctx)
		}}
	for _, o := range extra {
		o(&opts, &deps)
	}
	h, err := api.New(opts, deps)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, handler: h, contract: c, auth: svc, store: store, live: live}
}

type orgFinder struct{ store *directory.Store }

func (f orgFinder) OrganisationForAddress(ctx context.Context, email string) (string, error) {
	domain, reason, _ := directory.CheckAddress(email)
	if reason != "" {
		return "", auth.ErrInvalidEmail
	}
	org, _, err := f.store.OrganisationForDomain(ctx, domain)
	if err != nil {
		return "", auth.ErrNoOrganisation
	}
	return org.ID, nil
}

func seedDirectory(t testing.TB, s *directory.Store) {
	t.Helper()
	orgs := []directory.Organisation{
		{SourceID: "o1", Name: "Gemeente Utrecht", Domains: []string{"utrecht.example"}},
		{SourceID: "o2", Name: "Gemeente Ede", Domains: []string{"ede.example"}},
		{SourceID: "o3", Name: "Zorggroep Zoë", Domains: []string{"zoe.example"}},
		{SourceID: "o4", Name: "Veilig beheer", Domains: []string{"veilig.example"}},
	}
	people := []directory.Person{
		{SourceID: "p1", OrganisationID: directory.OrganisationID("o1"), DisplayName: "Zoë Jansen", Mail: senderMail},
		{SourceID: "p2", OrganisationID: directory.OrganisationID("o2"), DisplayName: "Jan de Vries", Mail: "jan.devries@ede.example"},
		{SourceID: "p3", OrganisationID: directory.OrganisationID("o2"), DisplayName: "Gemma Bakker", Mail: "g.bakker@ede.example"},
	}
	err := s.Write(context.Background(), true, func(w *directory.Writer) error {
		if err := w.PutOrganisations(context.Background(), orgs); err != nil {
			return err
		}
		return w.PutPeople(context.Background(), people)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// request is one call through the real router.
type request struct {
	method, path, token, contentType string
	body                             string
	skipRequestCheck                 bool        // the request is deliberately outside the contract
	header                           http.Header // extra request headers; may be nil
	remote                           string      // client address; default 192.0.2.10 (TEST-NET-1)
}

func (e *env) do(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	req.RemoteAddr = "192.0.2.10:51000"
	if r.remote != "" {
		req.RemoteAddr = r.remote + ":51000"
	}
	if r.body != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	in := e.contract.input(e.t, req)
	if !r.skipRequestCheck && r.body != "" {
		// Validation consumes the body; give both a copy.
		in.Request = req.Clone(context.Background())
		in.Request.Body = io.NopCloser(strings.NewReader(r.body))
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			e.t.Fatalf("test request breaks openapi.yaml: %v", err)
		}
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	e.contract.checkResponse(e.t, in, rec)
	return rec
}

func (e *env) login(mail string) auth.TokenPair {
	e.t.Helper()
	rec := e.do(request{method: "POST", path: "/api/v1/auth/token",
		body: `{"grant_type":"password","username":"` + mail + `","password":"` + password + `"}`})
	if rec.Code != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", mail, rec.Code, rec.Body)
	}
	var p auth.TokenPair
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// forgedToken is well-formed and carries valid claims, but is signed by a key
// the server never issued.
func forgedToken(t *testing.T, kid string) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "x",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "role": "operator"})
	tok.Header["kid"] = kid
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return v
}

func TestContractValidatorCanFail(t *testing.T) {
	c := loadContract(t)
	req := httptest.NewRequest("GET", "/api/v1/directory/search?q=ja", nil)
	in := c.input(t, req)
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	rec.WriteHeader(200)
	_, _ = io.Copy(rec, bytes.NewBufferString(`{"results":[{"kind":"robot"}]}`))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: 200, Header: rec.Header()}
	out.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err == nil {
		t.Fatal("a response outside the contract passed validation")
	}
}
