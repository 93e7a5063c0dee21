package e2e

// Issue 5, Outlook: the task pane of addin/outlook driven in real headless
// Chromium against the real binary with the dev mailbox. Office.js cannot be
// loaded here, so the browser gets testdata/office-fake.js in its place (the
// DevTools Fetch domain answers the request for appsforoffice.microsoft.com):
// the page, its CSP and its scripts are the ones Outlook loads. The sign-in
// dialog is login.html in a second tab; its messageParent reaches the pane as
// DialogMessageReceived (see the fake).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/veilig/veilig/internal/testenv"
)

const (
	// officeJSPattern matches every Office.js URL (DevTools Fetch wildcards).
	officeJSPattern = "*://appsforoffice.microsoft.com/*"
	// paneWait bounds each wait for the pane on a loaded machine.
	paneWait = time.Minute
	// updateDocsEnv, set to 1, copies the screenshots into addin/docs/.
	updateDocsEnv = "VEILIG_UPDATE_DOCS"
	// paneWidth and paneHeight are a task pane's size in Outlook on the web.
	paneWidth, paneHeight = 380, 760
)

// paneRecipient is an Office.EmailAddressDetails.
type paneRecipient struct {
	EmailAddress string `json:"emailAddress"`
	DisplayName  string `json:"displayName,omitempty"`
}

// paneAttachment is one file attachment of the draft.
type paneAttachment struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int    `json:"size"`
	Base64      string `json:"base64"`
}

// paneDraft is the draft the fake Office.js shows (globalThis.__officeFakeDraft).
type paneDraft struct {
	Language    string            `json:"language"`
	To          []paneRecipient   `json:"to"`
	Cc          []paneRecipient   `json:"cc"`
	Bcc         []paneRecipient   `json:"bcc"`
	Subject     string            `json:"subject"`
	HTML        string            `json:"html"`
	Attachments []paneAttachment  `json:"attachments"`
	Sets        map[string]string `json:"sets"`
}

// paneEnv is one task pane session: the server, the browser and the draft.
type paneEnv struct {
	srv      *testenv.Serve
	browser  *testenv.Browser
	fake     []byte
	draft    paneDraft
	password string
	canary   string
	file     []byte
}

func TestTaskpane(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests of the binary are not short")
	}
	x := newPaneEnv(t)
	pane := x.tab(t)
	x.open(t, pane)
	login := x.signIn(t, pane)
	x.checkRoutes(t, pane)
	x.send(t, pane)
	t.Run("community copy arrives intact", func(t *testing.T) { x.checkInternal(t) })
	t.Run("external recipient is notified", func(t *testing.T) { x.checkExternal(t) })
	t.Run("no browser problems", func(t *testing.T) {
		pane.AssertClean(t)
		login.AssertClean(t)
	})
}

func newPaneEnv(t *testing.T) *paneEnv {
	t.Helper()
	browser := testenv.StartChromium(t)
	password := randomPassword(t)
	run := randomHexString(t, 6)
	x := &paneEnv{srv: startDevServer(t, password), browser: browser, password: password,
		canary: "canary-" + run, file: []byte("Bijlage " + run + " \x00\x01\x02\xff binair")}
	x.draft = paneDraft{Language: "nl-NL",
		To:          []paneRecipient{{EmailAddress: tbCommunity, DisplayName: "Johanna Brenninkmeijer"}},
		Cc:          []paneRecipient{{EmailAddress: tbExternal}},
		Subject:     "Dossier " + run,
		HTML:        "<p>Goedemiddag,</p><p>Zie de bijlage. Kenmerk <b>" + x.canary + "</b>.</p>",
		Attachments: []paneAttachment{{ID: "att-1", Name: "dossier-" + run + ".bin", ContentType: "application/octet-stream", Size: len(x.file), Base64: base64.StdEncoding.EncodeToString(x.file)}},
		Sets:        map[string]string{"Mailbox": "1.14", "DialogApi": "1.1"},
	}
	x.fake = officeFake(t, x.draft)
	return x
}

// officeFake is testdata/office-fake.js with the draft prepended.
func officeFake(t *testing.T, d paneDraft) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "office-fake.js"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte("globalThis.__officeFakeDraft = "+string(j)+";\n"), src...)
}

// tab opens a task-pane-sized tab that gets the fake for Office.js.
func (x *paneEnv) tab(t *testing.T) *testenv.Tab {
	t.Helper()
	tab := x.browser.NewTab(t)
	tab.SetTimeout(paneWait)
	// A top-level tab asks for /favicon.ico, which Veilig does not serve;
	// Outlook frames the pane and asks for no favicon.
	tab.Ignore(`Failed to load resource: .* 404 .*\(https?://[^/]+/favicon\.ico\)$`)
	if err := tab.Fulfill(officeJSPattern, "application/javascript", x.fake); err != nil {
		t.Fatal(err)
	}
	if err := tab.Run(chromedp.EmulateViewport(paneWidth, paneHeight)); err != nil {
		t.Fatal(err)
	}
	return tab
}

// open loads the task pane, which asks to sign in.
func (x *paneEnv) open(t *testing.T, pane *testenv.Tab) {
	t.Helper()
	status, err := pane.Navigate(x.srv.URL + "/addin/outlook/taskpane.html")
	if err != nil || status != 200 {
		t.Fatalf("task pane: status %d, %v", status, err)
	}
	waitJS(t, pane, "the sign-in prompt", `!document.getElementById("signin").hidden &&
		document.getElementById("signin-button").textContent.trim() !== ""`)
	x.shot(t, pane, "1-signin")
}

// signIn presses the sign-in button, signs in on login.html in a second
// tab and waits for the pane to list the recipients. It returns the login tab.
func (x *paneEnv) signIn(t *testing.T, pane *testenv.Tab) *testenv.Tab {
	t.Helper()
	if err := pane.Click("#signin-button"); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pane, "displayDialogAsync", `__officeFake.dialogUrl !== ""`)
	url := evalJS[string](t, pane, `__officeFake.dialogUrl`)
	if want := x.srv.URL + "/addin/outlook/login.html"; url != want {
		t.Errorf("sign-in dialog URL %q, want %q", url, want)
	}
	login := x.tab(t)
	if status, err := login.Navigate(url); err != nil || status != 200 {
		t.Fatalf("login page: status %d, %v", status, err)
	}
	waitJS(t, login, "the login form", `document.getElementById("submit").textContent.trim() !== ""`)
	for sel, text := range map[string]string{"#username": tbSender, "#password": x.password} {
		if err := login.SendKeys(sel, text); err != nil {
			t.Fatal(err)
		}
	}
	x.shot(t, login, "2-login")
	if err := login.Click("#submit"); err != nil {
		t.Fatal(err)
	}
	waitJS(t, login, "messageParent", `__officeFake.messages.length > 0 || document.getElementById("error").textContent !== ""`)
	if msg := text(t, login, "#error"); msg != "" {
		t.Fatalf("login failed: %s", msg)
	}
	waitJS(t, pane, "the recipients", `document.querySelectorAll("#recipients li").length === 2 &&
		document.querySelector("input[data-address]") !== null`)
	if !evalJS[bool](t, pane, `__officeFake.dialogClosed`) {
		t.Errorf("the sign-in dialog was not closed")
	}
	if evalJS[string](t, pane, `localStorage.getItem("veilig.outlook.tokens") || ""`) == "" {
		t.Errorf("no tokens stored after sign-in")
	}
	return login
}

// checkRoutes checks that the pane shows each recipient's route and asks a
// phone number for the external one only.
func (x *paneEnv) checkRoutes(t *testing.T, pane *testenv.Tab) {
	t.Helper()
	x.shot(t, pane, "3-routes")
	cases := []struct{ sel, address, route string }{
		{"#recipients li.route-internal", tbCommunity, "Binnen de community"},
		{"#recipients li.route-external", tbExternal, "Buiten de community"},
	}
	for _, c := range cases {
		got := evalJS[string](t, pane, fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, c.sel))
		if !strings.Contains(got, c.address) || !strings.Contains(got, c.route) {
			t.Errorf("%s: %q; want %s and %q", c.sel, got, c.address, c.route)
		}
	}
	inputs := evalJS[[]string](t, pane, `[...document.querySelectorAll("input[data-address]")].map(i => i.dataset.address)`)
	if len(inputs) != 1 || inputs[0] != tbExternal {
		t.Errorf("phone fields for %v, want only %s", inputs, tbExternal)
	}
}

// send enters the external recipient's number, sends and waits for success.
func (x *paneEnv) send(t *testing.T, pane *testenv.Tab) {
	t.Helper()
	if err := pane.SendKeys(fmt.Sprintf("input[data-address=%q]", tbExternal), "06 12345678"); err != nil {
		t.Fatal(err)
	}
	x.shot(t, pane, "4-phone")
	if err := pane.Click("#send"); err != nil {
		t.Fatal(err)
	}
	waitJS(t, pane, "the send to finish", `__officeFake.closed !== null || document.getElementById("error").textContent !== ""`)
	x.shot(t, pane, "5-sent")
	if msg := text(t, pane, "#error"); msg != "" {
		t.Fatalf("send failed: %s", msg)
	}
	if got, want := text(t, pane, "#status"), "Het bericht is veilig verzonden."; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if !evalJS[bool](t, pane, `__officeFake.closed.discardItem === true`) {
		t.Errorf("closeAsync was not called with discardItem: true")
	}
	calls := evalJS[[]string](t, pane, `__officeFake.calls.map(c => c.name)`)
	for _, want := range []string{"addHandlerAsync", "subject.getAsync", "body.getAsync",
		"getAttachmentsAsync", "getAttachmentContentAsync", "sessionData.setAsync", "closeAsync"} {
		if !contains(calls, want) {
			t.Errorf("the pane never called Office.js %s; calls: %v", want, calls)
		}
	}
	if got := evalJS[string](t, pane, `localStorage.getItem("veilig.outlook.phone:`+tbExternal+`") || ""`); got != "+31612345678" {
		t.Errorf("remembered phone %q, want +31612345678", got)
	}
}

func (x *paneEnv) checkInternal(t *testing.T) {
	item := mailboxItem(t, x.srv.URL, tbCommunity)
	if item.Subject != x.draft.Subject {
		t.Errorf("community mail: subject %q, want %q", item.Subject, x.draft.Subject)
	}
	page := getText(t, x.srv.URL+"/dev/mailbox/"+item.ID)
	source := strings.NewReplacer("\r", "", "\n", "").Replace(html.UnescapeString(page))
	for what, want := range map[string]string{
		"the body's canary":       x.canary,
		"the attachment's name":   x.draft.Attachments[0].Name,
		"the attachment's bytes":  x.draft.Attachments[0].Base64,
		"the HTML body's markup":  "<b>" + x.canary + "</b>",
		"the sender as From":      tbSender,
		"the external Cc address": tbExternal,
	} {
		if !strings.Contains(source, want) {
			t.Errorf("community mail: the raw source lacks %s (%q)", what, want)
		}
	}
}

func (x *paneEnv) checkExternal(t *testing.T) {
	item := mailboxItem(t, x.srv.URL, tbExternal)
	if len(item.Links) == 0 {
		t.Errorf("external notification has no link to the viewer")
	}
	if strings.Contains(item.Text, x.canary) {
		t.Errorf("external notification holds the message body")
	}
}

// shot takes a screenshot; with VEILIG_UPDATE_DOCS=1 it also becomes
// addin/docs/taskpane-<name>.png.
func (x *paneEnv) shot(t *testing.T, tab *testenv.Tab, name string) {
	t.Helper()
	path := tab.Screenshot(t, name)
	if os.Getenv(updateDocsEnv) != "1" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "addin", "docs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "taskpane-"+name+".png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitJS waits until the JavaScript expression is true in the tab.
func waitJS(t *testing.T, tab *testenv.Tab, what, expr string) {
	t.Helper()
	testenv.WaitFor(t, paneWait, what, func() (bool, string) {
		ok, err := tryJS[bool](tab, expr)
		if err != nil {
			return false, err.Error()
		}
		return ok, "false"
	})
}

// evalJS evaluates the expression in the tab and decodes its value.
func evalJS[T any](t *testing.T, tab *testenv.Tab, expr string) T {
	t.Helper()
	v, err := tryJS[T](tab, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func tryJS[T any](tab *testenv.Tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tab.Context(), 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// text is the trimmed text content of the element, "" when there is none.
func text(t *testing.T, tab *testenv.Tab, sel string) string {
	t.Helper()
	return strings.TrimSpace(evalJS[string](t, tab, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
}
