package viewer

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

const publicURL = "https://veilig.example"

// browser drives a real gin engine like a user agent: it keeps cookies and
// checks on every response the security headers and that no link token leaks.
type browser struct {
	t       *testing.T
	engine  *gin.Engine
	fake    *fakeBackend
	v       *Viewer
	cookies map[string]*http.Cookie
	header  http.Header // sent with every request
}

func newBrowser(t *testing.T, mod func(*Config)) *browser {
	t.Helper()
	u, _ := url.Parse(publicURL)
	cfg := Config{PublicURL: u, SecureCookies: true, MaxReplyBytes: 64 << 10, CSRFKey: bytes.Repeat([]byte{7}, 32)}
	if mod != nil {
		mod(&cfg)
	}
	f := newFake()
	v, err := New(cfg, f)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := gin.New()
	v.Register(e)
	return &browser{t: t, engine: e, fake: f, v: v, cookies: map[string]*http.Cookie{}, header: http.Header{}}
}

func (b *browser) do(method, path string, body io.Reader, contentType string) *httptest.ResponseRecorder {
	b.t.Helper()
	req := httptest.NewRequest(method, "https://veilig.example"+path, body)
	for k, vs := range b.header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.engine.ServeHTTP(rec, req)
	b.keepCookies(rec)
	b.checkResponse(method+" "+redact(path), rec)
	return rec
}

func (b *browser) keepCookies(rec *httptest.ResponseRecorder) {
	for _, c := range (&http.Response{Header: rec.Header()}).Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
}

// checkResponse asserts what must hold for every viewer response.
func (b *browser) checkResponse(what string, rec *httptest.ResponseRecorder) {
	b.t.Helper()
	h := rec.Header()
	want := map[string]string{
		"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			b.t.Errorf("%s: header %s = %q, want %q", what, k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	if !contains(csp, "default-src 'none'") || !contains(csp, "frame-ancestors 'none'") && !contains(csp, "sandbox") || contains(csp, "unsafe") {
		b.t.Errorf("%s: weak CSP %q", what, csp)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		b.t.Errorf("%s: Cache-Control = %q", what, cc)
	}
	for _, s := range []string{rec.Body.String(), h.Get("Location")} {
		if contains(s, linkToken) || contains(s, "SessionToken") {
			b.t.Errorf("%s: response carries a token", what)
		}
	}
	if contains(strings.ToLower(rec.Body.String()), "<script") {
		b.t.Errorf("%s: page contains a script element", what)
	}
}

func redact(path string) string { return strings.ReplaceAll(path, linkToken, "<token>") }

func (b *browser) get(path string) *httptest.ResponseRecorder {
	return b.do(http.MethodGet, path, nil, "")
}

// post sends a urlencoded form with the page's CSRF token unless form has one.
func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form[csrfField]; !ok {
		form.Set(csrfField, b.csrf())
	}
	return b.do(http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// csrf is the token the current session's forms carry.
func (b *browser) csrf() string {
	c, ok := b.cookies[cookieSecure]
	if !ok {
		c, ok = b.cookies[cookieInsecure]
	}
	if !ok {
		return ""
	}
	return b.v.csrfToken(c.Value)
}

// open follows the link like a recipient: GET /v/<token> then /v/.
func (b *browser) open(token string) *httptest.ResponseRecorder {
	b.t.Helper()
	rec := b.get("/v/" + token)
	if rec.Code != http.StatusOK || !contains(rec.Body.String(), `content="0;url=/v/"`) {
		return rec
	}
	return b.get("/v/")
}

// verified opens the link, requests and enters the code.
func (b *browser) verified() {
	b.t.Helper()
	b.fake.add(linkToken, StateActive)
	b.open(linkToken)
	b.post("/v/code", nil)
	if rec := b.post("/v/verify", url.Values{"code": {goodCode}}); rec.Code != http.StatusSeeOther {
		b.t.Fatalf("verify: status %d", rec.Code)
	}
}

func TestOpenLink(t *testing.T) {
	tests := []struct {
		name, state, token string
		status             int
		want               []string
	}{
		{"active", StateActive, linkToken, 200, []string{"Beveiligd bericht", "6 ****** 78", `action="/v/code"`, "Anna de Vries"}},
		{"withdrawn", StateWithdrawn, linkToken, 410, []string{"Bericht ingetrokken"}},
		{"expired", StateExpired, linkToken, 410, []string{"Link verlopen", `action="/v/new-link"`}},
		{"locked", StateLocked, linkToken, 423, []string{"Toegang geblokkeerd", "vrijgeven"}},
		{"unknown", "", "UnknownTokenBBBBBBBBBBBBBBBBBBBBBB", 404, []string{"Link niet gevonden"}},
		{"malformed", "", "a<b>", 404, []string{"Link niet gevonden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, nil)
			if tt.state != "" {
				b.fake.add(tt.token, tt.state)
			}
			rec := b.open(tt.token)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			for _, w := range tt.want {
				if !contains(rec.Body.String(), w) {
					t.Errorf("body lacks %q", w)
				}
			}
		})
	}
}

func TestContinuePageNeverShowsContent(t *testing.T) {
	b := newBrowser(t, nil)
	b.fake.add(linkToken, StateActive)
	rec := b.get("/v/" + linkToken)
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Location") != "" {
		t.Fatalf("status %d location %q", rec.Code, rec.Header().Get("Location"))
	}
	for _, w := range []string{`<meta http-equiv="refresh" content="0;url=/v/">`, `href="/v/"`, "Doorgaan"} {
		if !contains(body, w) {
			t.Errorf("continue page lacks %q", w)
		}
	}
	if contains(body, "Anna") || contains(body, "+31") {
		t.Error("continue page shows visit details")
	}
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name   string
		secure bool
		want   string
	}{
		{"secure", true, "__Host-veilig_viewer=SessionToken00000000000000000000000000000001; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"},
		{"dev", false, "veilig_viewer=SessionToken00000000000000000000000000000001; Path=/v; Max-Age=3600; HttpOnly; SameSite=Strict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, func(c *Config) { c.SecureCookies = tt.secure })
			b.fake.add(linkToken, StateActive)
			rec := b.get("/v/" + linkToken)
			if got := rec.Header().Get("Set-Cookie"); got != tt.want {
				t.Errorf("Set-Cookie\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestFullFlow(t *testing.T) {
	b := newBrowser(t, nil)
	m := b.fake.add(linkToken, StateActive)
	m.content.HTML = `<p>Zie <a href="https://evil.example/x">https://gemeente.example</a></p><img src="https://tracker.example/p.gif">`
	steps := []struct {
		name   string
		run    func() *httptest.ResponseRecorder
		status int
		want   []string
		loc    string
	}{
		{"open", func() *httptest.ResponseRecorder { return b.open(linkToken) }, 200, []string{`action="/v/code"`}, ""},
		{"send code", func() *httptest.ResponseRecorder { return b.post("/v/code", nil) }, 303, nil, "/v/"},
		{"code form", func() *httptest.ResponseRecorder { return b.get("/v/") }, 200,
			[]string{`<label for="code">`, `inputmode="numeric"`, `autocomplete="one-time-code"`, "6 ****** 78"}, ""},
		{"letters", func() *httptest.ResponseRecorder { return b.post("/v/verify", url.Values{"code": {"abc"}}) }, 422,
			[]string{"alleen uit cijfers", `aria-invalid="true"`}, ""},
		{"wrong code", func() *httptest.ResponseRecorder { return b.post("/v/verify", url.Values{"code": {"000000"}}) }, 422,
			[]string{"nog 2 keer"}, ""},
		{"attachment before code", func() *httptest.ResponseRecorder { return b.get("/v/attachments/0") }, 303, nil, "/v/"},
		{"right code", func() *httptest.ResponseRecorder { return b.post("/v/verify", url.Values{"code": {"123 456"}}) }, 303, nil, "/v/"},
		{"message", func() *httptest.ResponseRecorder { return b.get("/v/") }, 200,
			[]string{"<h1>Uw aanvraag</h1>", "Externe afbeeldingen", "(https://evil.example/x)", `rel="nofollow noreferrer noopener"`,
				`href="/v/attachments/0"`, "besluit.pdf", `action="/v/reply"`, `enctype="multipart/form-data"`, `<label for="reply-text">`}, ""},
		{"missing attachment", func() *httptest.ResponseRecorder { return b.get("/v/attachments/7") }, 404, []string{"Niet gevonden"}, ""},
		{"bad index", func() *httptest.ResponseRecorder { return b.get("/v/attachments/-1") }, 404, nil, ""},
		{"logout", func() *httptest.ResponseRecorder { return b.post("/v/logout", nil) }, 200, []string{"Uitgelogd"}, ""},
		{"after logout", func() *httptest.ResponseRecorder { return b.get("/v/") }, 403, []string{"Sessie beëindigd"}, ""},
	}
	for _, s := range steps {
		rec := s.run()
		if rec.Code != s.status {
			t.Fatalf("%s: status %d, want %d\n%s", s.name, rec.Code, s.status, rec.Body.String())
		}
		if got := rec.Header().Get("Location"); got != s.loc {
			t.Errorf("%s: Location %q, want %q", s.name, got, s.loc)
		}
		for _, w := range s.want {
			if !contains(rec.Body.String(), w) {
				t.Errorf("%s: body lacks %q", s.name, w)
			}
		}
	}
	if b.fake.codesSent != 1 || b.fake.endSessions != 1 {
		t.Errorf("codes sent %d, sessions ended %d", b.fake.codesSent, b.fake.endSessions)
	}
	if contains(b.get("/v/").Body.String(), "tracker.example") {
		t.Error("remote image URL in page")
	}
}

func TestPlainTextMessageEscaped(t *testing.T) {
	b := newBrowser(t, nil)
	b.verified()
	b.fake.links[linkToken].content.HTML = ""
	b.fake.links[linkToken].content.Text = "<script>alert(1)</script>\nregel twee"
	body := b.get("/v/").Body.String()
	if !contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;\nregel twee") {
		t.Errorf("text body not escaped with line breaks:\n%s", body)
	}
}

func TestAttachmentDownload(t *testing.T) {
	nasty := "..\\../\"évil\"\r\nSet-Cookie: x=1;%20.html"
	tests := []struct {
		name, file, ctype, wantType, wantDisp string
	}{
		{"pdf", "besluit.pdf", "application/pdf", "application/pdf",
			`attachment; filename="besluit.pdf"; filename*=UTF-8''besluit.pdf`},
		{"html is octet-stream", "a.html", "text/html; charset=utf-8", "application/octet-stream",
			`attachment; filename="a.html"; filename*=UTF-8''a.html`},
		{"svg is octet-stream", "a.svg", "image/svg+xml", "application/octet-stream",
			`attachment; filename="a.svg"; filename*=UTF-8''a.svg`},
		{"nasty name", nasty, "bogus", "application/octet-stream",
			`attachment; filename="__vil_Set-Cookie: x=1;_20.html"; filename*=UTF-8''%22%C3%A9vil%22Set-Cookie%3A%20x%3D1%3B%2520.html`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, nil)
			b.verified()
			m := b.fake.links[linkToken]
			m.content.Attachments[0].Name, m.content.Attachments[0].ContentType = tt.file, tt.ctype
			rec := b.get("/v/attachments/0")
			h := rec.Header()
			if rec.Code != 200 || h.Get("Content-Type") != tt.wantType || h.Get("Content-Disposition") != tt.wantDisp {
				t.Errorf("got %d %q\n%q", rec.Code, h.Get("Content-Type"), h.Get("Content-Disposition"))
			}
			if h.Get("Content-Length") != "13" || rec.Body.String() != "%PDF-1.7 test" {
				t.Errorf("body %q length %q", rec.Body.String(), h.Get("Content-Length"))
			}
			if !contains(h.Get("Content-Security-Policy"), "sandbox") {
				t.Errorf("download CSP %q", h.Get("Content-Security-Policy"))
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		token  func(b *browser) string
		status int
	}{
		{"good", nil, (*browser).csrf, 303},
		{"origin null is allowed", map[string]string{"Origin": "null"}, (*browser).csrf, 303},
		{"same origin", map[string]string{"Origin": publicURL, "Sec-Fetch-Site": "same-origin"}, (*browser).csrf, 303},
		{"missing token", nil, func(*browser) string { return "" }, 403},
		{"wrong token", nil, func(*browser) string { return "AAAA" }, 403},
		{"other session's token", nil, func(b *browser) string { return b.v.csrfToken("SessionToken99999999999999999999") }, 403},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, (*browser).csrf, 403},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, (*browser).csrf, 403},
		{"same-site sibling", map[string]string{"Sec-Fetch-Site": "same-site"}, (*browser).csrf, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, nil)
			b.fake.add(linkToken, StateActive)
			b.open(linkToken)
			for k, v := range tt.header {
				b.header.Set(k, v)
			}
			rec := b.post("/v/code", url.Values{csrfField: {tt.token(b)}})
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if sent := b.fake.codesSent == 1; sent != (tt.status == 303) {
				t.Errorf("codes sent: %d", b.fake.codesSent)
			}
		})
	}
}

func TestPostWithoutSession(t *testing.T) {
	for _, path := range []string{"/v/code", "/v/verify", "/v/new-link", "/v/logout"} {
		b := newBrowser(t, nil)
		if rec := b.post(path, url.Values{csrfField: {"x"}}); rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d", path, rec.Code)
		}
	}
}

// multipartReply builds a reply form with text and named files.
func multipartReply(t *testing.T, csrf, text string, files map[string]string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField(csrfField, csrf)
	_ = w.WriteField("text", text)
	for name, body := range files {
		fw, err := w.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(body))
	}
	_ = w.Close()
	return &buf, w.FormDataContentType()
}

func TestReply(t *testing.T) {
	big := strings.Repeat("x", 70<<10)
	tests := []struct {
		name    string
		csrf    bool
		text    string
		files   map[string]string
		chunked bool
		status  int
		want    string
		replies int
	}{
		{"text and file", true, "Dank u", map[string]string{"bijlage.txt": "inhoud"}, false, 303, "", 1},
		{"empty text", true, "  ", nil, false, 422, "niet verstuurd", 0},
		{"no csrf", false, "Dank u", nil, false, 403, "Verzoek geweigerd", 0},
		{"too large", true, "Dank u", map[string]string{"groot.bin": big}, false, 413, "Antwoord te groot", 0},
		{"too large, no length", true, "Dank u", map[string]string{"groot.bin": big}, true, 413, "Antwoord te groot", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, nil)
			b.verified()
			csrf := ""
			if tt.csrf {
				csrf = b.csrf()
			}
			body, ct := multipartReply(t, csrf, tt.text, tt.files)
			var r io.Reader = body
			if tt.chunked {
				r = io.MultiReader(body) // hides the length: httptest sends no Content-Length
			}
			rec := b.do(http.MethodPost, "/v/reply", r, ct)
			if rec.Code != tt.status || !contains(rec.Body.String(), tt.want) {
				t.Errorf("status %d, want %d, body has %q: %v", rec.Code, tt.status, tt.want, contains(rec.Body.String(), tt.want))
			}
			if len(b.fake.replies) != tt.replies {
				t.Fatalf("replies %d, want %d", len(b.fake.replies), tt.replies)
			}
		})
	}
}

func TestReplyRecorded(t *testing.T) {
	b := newBrowser(t, nil)
	b.verified()
	body, ct := multipartReply(t, b.csrf(), " Dank u \n", map[string]string{"../../etc/passwd": "root"})
	if rec := b.do(http.MethodPost, "/v/reply", body, ct); rec.Code != 303 || rec.Header().Get("Location") != "/v/?done=reply" {
		t.Fatalf("status %d location %q", rec.Code, rec.Header().Get("Location"))
	}
	got := b.fake.replies[0]
	if got.Text != "Dank u" || len(got.Files) != 1 || got.Files[0].Name != "passwd" || got.Files[0].Body != "root" {
		t.Errorf("recorded %+v", got)
	}
	if !contains(b.get("/v/?done=reply").Body.String(), "beveiligd verstuurd") {
		t.Error("no reply-sent notice")
	}
}

func TestExpiredAskNewLink(t *testing.T) {
	b := newBrowser(t, nil)
	b.fake.add(linkToken, StateExpired)
	if rec := b.open(linkToken); rec.Code != 410 || !contains(rec.Body.String(), "Vraag de afzender om een nieuwe link") {
		t.Fatalf("expired page: %d", rec.Code)
	}
	rec := b.post("/v/new-link", nil)
	if rec.Code != 303 || rec.Header().Get("Location") != "/v/?done=newlink" || b.fake.newLinks != 1 {
		t.Fatalf("new-link: %d %q %d", rec.Code, rec.Header().Get("Location"), b.fake.newLinks)
	}
	body := b.get("/v/?done=newlink").Body.String()
	if !contains(body, "gevraagd u een nieuwe link") || contains(body, `action="/v/new-link"`) {
		t.Error("new-link confirmation missing or button still shown")
	}
}

func TestBackendErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		want   string
	}{
		{"limited", &LimitError{RetryAfter: 90e9}, 429, "over 2 minuten"},
		{"no session", ErrNoSession, 403, "Sessie beëindigd"},
		{"link became inactive", ErrInactive, 303, ""},
		{"internal", io.ErrUnexpectedEOF, 500, "Er ging iets mis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, nil)
			b.fake.add(linkToken, StateActive)
			b.open(linkToken)
			b.fake.sendErr = tt.err
			rec := b.post("/v/code", nil)
			if rec.Code != tt.status || !contains(rec.Body.String(), tt.want) {
				t.Errorf("status %d, want %d %q", rec.Code, tt.status, tt.want)
			}
			if contains(rec.Body.String(), tt.err.Error()) {
				t.Error("error text leaked")
			}
			if tt.status == 303 && rec.Header().Get("Location") != "/v/" {
				t.Errorf("Location %q, want /v/ (the state page)", rec.Header().Get("Location"))
			}
			if tt.status == 429 && rec.Header().Get("Retry-After") != "120" {
				t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
		})
	}
}

func TestVerifyOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		want   string
	}{
		{"last try used", &CodeError{Remaining: 0}, 423, "Toegang geblokkeerd"},
		{"code expired", ErrCodeExpired, 422, "verlopen of al gebruikt"},
		{"limited", &LimitError{RetryAfter: 5 * 60e9}, 429, "over 5 minuten"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, nil)
			b.fake.add(linkToken, StateActive)
			b.open(linkToken)
			b.post("/v/code", nil)
			b.fake.verifyErr = tt.err
			rec := b.post("/v/verify", url.Values{"code": {"111111"}})
			if rec.Code != tt.status || !contains(rec.Body.String(), tt.want) {
				t.Errorf("status %d, want %d %q", rec.Code, tt.status, tt.want)
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	tests := []struct {
		name, accept, query, want string
	}{
		{"default dutch", "", "", `lang="nl"`},
		{"english browser", "en-GB,en;q=0.9", "", `lang="en"`},
		{"dutch browser", "nl-BE,nl;q=0.9,en;q=0.5", "", `lang="nl"`},
		{"german falls back to dutch", "de-DE", "", `lang="nl"`},
		{"prefers english over french", "fr;q=1,en;q=0.5", "", `lang="en"`},
		{"switch link", "nl", "?lang=en", `lang="en"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, nil)
			if tt.accept != "" {
				b.header.Set("Accept-Language", tt.accept)
			}
			body := b.get("/v/" + tt.query).Body.String()
			if !contains(body, "<html "+tt.want+">") {
				t.Errorf("want %s in %.200s", tt.want, body)
			}
			if tt.query != "" && !contains(b.get("/v/").Body.String(), "<html "+tt.want+">") {
				t.Error("language choice not remembered")
			}
		})
	}
}

func TestTranslationsComplete(t *testing.T) {
	for key := range nl {
		if _, ok := en[key]; !ok {
			t.Errorf("en lacks %q", key)
		}
	}
	for key := range en {
		if _, ok := nl[key]; !ok {
			t.Errorf("nl lacks %q", key)
		}
	}
}

func TestStaticCSS(t *testing.T) {
	b := newBrowser(t, nil)
	page := b.get("/v/").Body.String()
	m := regexp.MustCompile(`href="(/v/static/viewer\.[0-9a-f]{12}\.css)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no stylesheet link")
	}
	rec := b.get(m[1])
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || !contains(rec.Body.String(), ":focus-visible") {
		t.Errorf("css: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if rec := b.get("/v/static/other.css"); rec.Code != 404 {
		t.Errorf("unknown static: %d", rec.Code)
	}
}

func TestNoHSTSOverHTTP(t *testing.T) {
	u, _ := url.Parse("http://localhost:8080")
	v, err := New(Config{PublicURL: u}, newFake())
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	v.Register(e)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v/", nil))
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over http")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	u, _ := url.Parse("https://veilig.example")
	tests := []struct {
		name string
		cfg  Config
		b    Backend
	}{
		{"no url", Config{}, newFake()},
		{"relative url", Config{PublicURL: &url.URL{Path: "/x"}}, newFake()},
		{"short key", Config{PublicURL: u, CSRFKey: []byte("short")}, newFake()},
		{"no backend", Config{PublicURL: u}, nil},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg, tt.b); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
