package e2e

// Issue 5, Thunderbird: the extension's options page and compose_action popup
// rendered in real headless Chromium against the real binary with the dev
// mailbox, for the screenshots of addin/README.md. A test HTTP server on
// 127.0.0.1 serves the extension as `make addins` packs it, loads
// testdata/tb-fake-messenger.js (the WebExtension API) before each page's own
// script, and passes /api/ on to the veilig server. The background logic is
// the extension's own background.js with the real core client.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/veilig/veilig/internal/testenv"
)

const (
	// tbServerAlias is the server address an administrator presets through
	// policies.json (addin/README.md); the fake sends it to the proxy.
	tbServerAlias = "https://veilig.gemeente.example"
	// tbFakeName is the fake's path inside the served extension.
	tbFakeName = "tb-fake-messenger.js"
	// tbPageCSP is the default extension-page policy of Manifest V3, less
	// upgrade-insecure-requests (the test server speaks plain HTTP).
	tbPageCSP = "script-src 'self'; object-src 'none'"
	// Viewports: the options page in the add-on manager, the compose popup.
	tbOptionsWidth, tbOptionsHeight = 640, 480
	tbPopupWidth, tbPopupHeight     = 360, 320
)

// tbComposeTab is a messenger.tabs.Tab of a compose window.
type tbComposeTab struct {
	ID       int    `json:"id"`
	WindowID int    `json:"windowId"`
	Type     string `json:"type"`
	Active   bool   `json:"active"`
}

// tbComposeDetails is a messenger.compose.ComposeDetails.
type tbComposeDetails struct {
	To            []string `json:"to"`
	Cc            []string `json:"cc"`
	Bcc           []string `json:"bcc"`
	Subject       string   `json:"subject"`
	IsPlainText   bool     `json:"isPlainText"`
	Body          string   `json:"body"`
	PlainTextBody string   `json:"plainTextBody"`
}

// tbFakeConfig is globalThis.__tbFakeConfig of the fake.
type tbFakeConfig struct {
	ServerAlias string            `json:"serverAlias"`
	Managed     map[string]string `json:"managed"`
	Messages    json.RawMessage   `json:"messages"`
	UILanguage  string            `json:"uiLanguage"`
	Tab         tbComposeTab      `json:"tab"`
	Details     tbComposeDetails  `json:"details"`
}

// tbUIEnv is one session: the veilig server, the extension's test server
// and the browser.
type tbUIEnv struct {
	srv      *testenv.Serve
	ext      *httptest.Server
	browser  *testenv.Browser
	password string
	tabID    int
}

func TestThunderbirdUI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests of the binary are not short")
	}
	x := newTBUIEnv(t)
	options := x.tab(t, tbOptionsWidth, tbOptionsHeight)
	x.signIn(t, options)
	popup := x.tab(t, tbPopupWidth, tbPopupHeight)
	x.checkPopup(t, popup)
	x.enterPhone(t, popup)
	t.Run("no browser problems", func(t *testing.T) {
		options.AssertClean(t)
		popup.AssertClean(t)
	})
}

func newTBUIEnv(t *testing.T) *tbUIEnv {
	t.Helper()
	browser := testenv.StartChromium(t)
	password := randomPassword(t)
	x := &tbUIEnv{srv: startDevServer(t, password), browser: browser, password: password, tabID: 3}
	dir := assembleExtension(t)
	messages, err := os.ReadFile(filepath.Join(dir, "_locales", "nl", "messages.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := tbFakeConfig{ServerAlias: tbServerAlias, Managed: map[string]string{"serverUrl": tbServerAlias},
		Messages: messages, UILanguage: "nl",
		Tab: tbComposeTab{ID: x.tabID, WindowID: 2, Type: "messageCompose", Active: true},
		Details: tbComposeDetails{
			To: []string{"Johanna Brenninkmeijer <" + tbCommunity + ">"}, Cc: []string{tbExternal},
			Subject: "Dossier Veilig", Body: "<p>Goedemiddag,</p><p>Zie de bijlage.</p>",
		},
	}
	x.ext = extensionServer(t, dir, tbFake(t, cfg), x.srv.URL)
	return x
}

// tbFake is testdata/tb-fake-messenger.js with its configuration prepended.
func tbFake(t *testing.T, cfg tbFakeConfig) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", tbFakeName))
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte("globalThis.__tbFakeConfig = "+string(j)+";\n"), src...)
}

// extensionServer serves the assembled extension under /ext/ (its HTML pages
// with the fake loaded first) and passes /api/ on to the veilig server.
func extensionServer(t *testing.T, dir string, fake []byte, api string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	files := http.StripPrefix("/ext/", http.FileServer(http.Dir(dir)))
	mux := http.NewServeMux()
	mux.Handle("/api/", httputil.NewSingleHostReverseProxy(target))
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/ext/"+tbFakeName, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(fake)
	})
	mux.HandleFunc("/ext/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", tbPageCSP)
		w.Header().Set("Cache-Control", "no-store")
		if !strings.HasSuffix(r.URL.Path, ".html") {
			files.ServeHTTP(w, r)
			return
		}
		serveWithFake(t, w, filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/ext/"))))
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// serveWithFake answers an extension page with the fake's script element
// inserted before the page's first script.
func serveWithFake(t *testing.T, w http.ResponseWriter, path string) {
	page, err := os.ReadFile(path)
	if err != nil {
		http.NotFound(w, nil)
		return
	}
	tag := []byte(`<script type="module" src="` + tbFakeName + `"></script>` + "\n  ")
	i := bytes.Index(page, []byte("<script"))
	if i < 0 {
		t.Errorf("%s has no script element", path)
		http.Error(w, "no script", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(append(append(page[:i:i], tag...), page[i:]...))
}

// tab opens a tab of the given viewport size.
func (x *tbUIEnv) tab(t *testing.T, width, height int64) *testenv.Tab {
	t.Helper()
	tab := x.browser.NewTab(t)
	tab.SetTimeout(paneWait)
	if err := tab.Run(chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatal(err)
	}
	return tab
}

// open loads an extension page.
func (x *tbUIEnv) open(t *testing.T, tab *testenv.Tab, page string) {
	t.Helper()
	if status, err := tab.Navigate(x.ext.URL + "/ext/" + page); err != nil || status != 200 {
		t.Fatalf("%s: status %d, %v", page, status, err)
	}
}

// signIn opens the options page with the preset server address, saves it
// (granting the host permission) and signs in.
func (x *tbUIEnv) signIn(t *testing.T, tab *testenv.Tab) {
	t.Helper()
	x.open(t, tab, "options.html")
	waitJS(t, tab, "the preset server", `document.getElementById("url").value !== "" &&
		document.getElementById("who").textContent !== ""`)
	if got := evalJS[string](t, tab, `document.getElementById("url").value`); got != tbServerAlias {
		t.Errorf("server field %q, want the preset %q", got, tbServerAlias)
	}
	if got, want := text(t, tab, "#who"), tbMessage(t, "optionsSignedOut"); got != want {
		t.Errorf("before sign-in: %q, want %q", got, want)
	}
	if err := tab.Click(`#server button[type=submit]`); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tab, "the server to be saved", `document.getElementById("status").textContent !== ""`)
	if got, want := text(t, tab, "#status"), tbMessage(t, "optionsSaved"); got != want {
		t.Errorf("after save: %q, want %q", got, want)
	}
	want := []map[string][]string{{"origins": {tbServerAlias + "/*"}}}
	if got := evalJS[[]map[string][]string](t, tab, `__tbFake.permissions`); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("permissions.request %v, want %v", got, want)
	}
	for sel, s := range map[string]string{"#username": tbSender, "#password": x.password} {
		if err := tab.SendKeys(sel, s); err != nil {
			t.Fatal(err)
		}
	}
	x.shot(t, tab, "1-options")
	if err := tab.Click(`#login button[type=submit]`); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tab, "the sign-in", `document.getElementById("password").value === "" ||
		document.getElementById("status").className === "error"`)
	if msg := text(t, tab, "#status"); evalJS[string](t, tab, `document.getElementById("status").className`) == "error" {
		t.Fatalf("sign-in failed: %s", msg)
	}
	waitJS(t, tab, "signed in", `document.getElementById("who").textContent === `+jsString(tbMessage(t, "optionsSignedIn")))
	if evalJS[string](t, tab, `localStorage.getItem("tbfake.local") || ""`) == "" ||
		!evalJS[bool](t, tab, `"tokens" in JSON.parse(localStorage.getItem("tbfake.local"))`) {
		t.Errorf("no tokens in storage.local after sign-in")
	}
	x.shot(t, tab, "2-signed-in")
}

// checkPopup opens the popup of the compose tab, checks each recipient's
// route and the phone field of the external one, and switches secure on.
func (x *tbUIEnv) checkPopup(t *testing.T, tab *testenv.Tab) {
	t.Helper()
	x.open(t, tab, "popup.html")
	waitJS(t, tab, "the recipients", `document.querySelectorAll("#recipients li").length === 2 &&
		document.querySelector("#recipients .route").textContent !== ""`)
	rows := evalJS[[]string](t, tab, `[...document.querySelectorAll("#recipients li")].map(li => li.innerText)`)
	cases := []struct{ address, route string }{
		{tbCommunity, tbMessage(t, "routeCommunity")},
		{tbExternal, tbMessage(t, "routeExternal")},
	}
	for i, c := range cases {
		if i >= len(rows) || !strings.Contains(rows[i], c.address) || !strings.Contains(rows[i], c.route) {
			t.Errorf("recipients %q: row %d wants %s and %q", rows, i, c.address, c.route)
		}
	}
	phones := evalJS[int](t, tab, `document.querySelectorAll("#recipients input[type=tel]").length`)
	external := evalJS[bool](t, tab, `!!document.querySelector("#recipients li:nth-child(2) input[type=tel]")`)
	if phones != 1 || !external {
		t.Errorf("%d phone fields (external has one: %v), want exactly one, for %s", phones, external, tbExternal)
	}
	if !evalJS[bool](t, tab, `document.getElementById("signin").hidden && !document.getElementById("send").disabled`) {
		t.Errorf("the popup does not offer Send to a signed-in user")
	}
	if err := tab.Click("#secure"); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("secure:%d", x.tabID)
	waitJS(t, tab, "secure mode on", fmt.Sprintf(`JSON.parse(localStorage.getItem("tbfake.session") || "{}")[%q] === "on"`, key))
	x.shot(t, tab, "3-popup")
}

// enterPhone types a Dutch mobile number, which the background stores in
// E.164 form.
func (x *tbUIEnv) enterPhone(t *testing.T, tab *testenv.Tab) {
	t.Helper()
	if err := tab.SendKeys("#recipients input[type=tel]", "06 12345678"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Run(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tab, "the normalised number", `document.querySelector("#recipients input[type=tel]").value === "+31612345678"`)
	got := evalJS[string](t, tab, fmt.Sprintf(`(JSON.parse(localStorage.getItem("tbfake.local")).phones || {})[%q] || ""`, tbExternal))
	if got != "+31612345678" {
		t.Errorf("stored phone %q, want +31612345678", got)
	}
	x.shot(t, tab, "4-phone")
}

// tbMessage is the Dutch text of a message of the extension's _locales.
func tbMessage(t *testing.T, key string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(addinDir(t), "thunderbird", "_locales", "nl", "messages.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]struct{ Message string }
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	if all[key].Message == "" {
		t.Fatalf("_locales/nl has no message %q", key)
	}
	return all[key].Message
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// shot takes a screenshot; with VEILIG_UPDATE_DOCS=1 it also becomes
// addin/docs/thunderbird-<name>.png.
func (x *tbUIEnv) shot(t *testing.T, tab *testenv.Tab, name string) {
	t.Helper()
	path := tab.Screenshot(t, name)
	if os.Getenv(updateDocsEnv) != "1" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(addinDir(t), "docs", "thunderbird-"+name+".png")
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
