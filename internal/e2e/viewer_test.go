package e2e

// Issue 4 end to end: recipients outside the community read a message in the
// web viewer of the real binary, driven in a real headless Chromium. The
// notification mail goes over PKIX-verified SMTP (RFC 3207, RFC 5280) to the lab
// Postfix of extern.test; one-time codes go by SMS to a fake CM.com gateway;
// replies and the sender's notices arrive in the sender's lab Maildir.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/veilig/veilig/internal/testenv"
)

// viewerEnv is what the viewer scenarios share.
type viewerEnv struct {
	*env
	cm      *fakeCM
	browser *testenv.Browser
	dbURL   string
	tmpDir  string   // the binary's TMPDIR
	needles []string // canaries: content and phone numbers
	run     string   // random part of this run's canaries
	msgs    map[string]sent
	// problems already reported, without their URL
	problems map[string]bool
}

// sent is one message submitted for a scenario.
type sent struct {
	id, messageID, rcpt, phone string // phone: the NSN, e.g. 612345678
	subject, body              string
	att                        testenv.Attachment
}

// Page titles (h1) of the viewer, in Dutch and English (internal/viewer/i18n.go).
var viewerTitles = map[string][2]string{
	"request":   {"Beveiligd bericht", "Secure message"},
	"verify":    {"Code invoeren", "Enter code"},
	"withdrawn": {"Bericht ingetrokken", "Message withdrawn"},
	"expired":   {"Link verlopen", "Link expired"},
	"locked":    {"Toegang geblokkeerd", "Access locked"},
	"unknown":   {"Link niet gevonden", "Link not found"},
}

const (
	maxCodeTries      = 5  // wrong tries per code (internal/otp)
	maxRecipientTries = 20 // wrong tries per recipient before the lock
)

func TestViewer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests of the binary are not short")
	}
	begin := time.Now()
	x := &viewerEnv{browser: testenv.StartChromium(t), cm: startFakeCM(t), run: randomHexString(t, 6),
		msgs: map[string]sent{}, problems: map[string]bool{}}
	x.env = &env{lab: startLab(t), password: randomPassword(t)}
	x.v = prepare(t, x.lab)
	x.addUsers(t)
	x.dbURL = x.v.Vars["VEILIG_DATABASE_URL"]
	x.tmpDir = filepath.Join(x.v.Dir, "tmp")
	if err := os.Mkdir(x.tmpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	x.srv = x.v.Start(t, "viewer", map[string]string{"TMPDIR": x.tmpDir, "VEILIG_SMS_PROVIDER": "cm",
		"VEILIG_SMS_CM_TOKEN": cmToken, "VEILIG_SMS_CM_URL": x.cm.srv.URL})
	x.alice = testenv.Login(t, x.srv.URL, alice, x.password)
	for _, name := range []string{"read", "lock", "revoke", "expire"} {
		x.msgs[name] = x.submit(t, name)
	}
	t.Logf("lab, build, start and submit: %s", time.Since(begin).Round(time.Millisecond))
	for _, sc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"read, download and reply", x.readAndReply},
		{"wrong codes lock, unlock", x.lockAndUnlock},
		{"revoked", x.revoked},
		{"expired, new link", x.expired},
		{"unknown link", x.unknown},
	} {
		start := time.Now()
		t.Run(sc.name, sc.run)
		t.Logf("scenario %q: %s", sc.name, time.Since(start).Round(time.Millisecond))
	}
	if bad := x.cm.malformed(); len(bad) > 0 {
		t.Errorf("%d SMS request(s) broke CM's documented API", len(bad))
	}
	t.Run("canaries", x.canaries)
	t.Logf("total: %s", time.Since(begin).Round(time.Millisecond))
}

func randomHexString(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// canary returns this run's canary for label and remembers it as a needle.
func (x *viewerEnv) canary(label string) string {
	c := "KANARIE" + x.run + label
	x.needles = append(x.needles, c)
	return c
}

// phone returns a random Dutch mobile number's NSN (61–65 and seven digits) and
// remembers it as a needle.
func (x *viewerEnv) phone(t *testing.T) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(50000000))
	if err != nil {
		t.Fatal(err)
	}
	nsn := fmt.Sprintf("6%08d", n.Int64()+10000000) // 06-1… to 06-5…: mobile ranges
	x.needles = append(x.needles, nsn)
	return nsn
}

// submit sends scenario name's message: to an external address (with its
// phone number) and, for "read", also to a community recipient, with an
// attachment; every part carries a canary.
func (x *viewerEnv) submit(t *testing.T, name string) sent {
	t.Helper()
	s := sent{rcpt: "extern-" + name + "@" + domainExtern, phone: x.phone(t),
		subject: "Besluit " + x.canary(name+"subject"), body: "Geachte heer,\n\n" + x.canary(name+"body") + "\n"}
	s.att = testenv.Attachment{Name: "bijlage-" + name + ".pdf", ContentType: "application/pdf",
		Data: append([]byte("%PDF-1.7\n"), []byte(x.canary(name+"attachment")+"\n\x00\xff")...)}
	to := []string{s.rcpt}
	if name == "read" {
		to = append(to, "jan@"+domainDANE)
	}
	d := testenv.Draft{To: to, Subject: s.subject, Text: s.body, Phones: map[string]string{s.rcpt: "+31" + s.phone}}
	body, ctype, err := testenv.MultipartMessage(d, s.att)
	if err != nil {
		t.Fatal(err)
	}
	status, raw := x.alice.Do(t, http.MethodPost, "/api/v1/messages", ctype, bytes.NewReader(body), nil)
	var acc testenv.Accepted
	if status != http.StatusAccepted || json.Unmarshal(raw, &acc) != nil || acc.ID == "" {
		t.Fatalf("POST /api/v1/messages (%s): %d %s", name, status, raw)
	}
	for _, r := range acc.Recipients {
		if want := map[bool]string{true: "external", false: "internal"}[r.Address == s.rcpt]; r.Route != want {
			t.Errorf("%s: route %q, want %q", r.Address, r.Route, want)
		}
	}
	s.id, s.messageID = acc.ID, x.alice.Message(t, acc.ID).MessageID
	return s
}

// cmNumber is the number as CM is sent it (00 + country code + NSN).
func cmNumber(nsn string) string { return "0031" + nsn }

// --- the browser side --------------------------------------------------------

// newTab opens a tab with generous time limits for a loaded machine.
func (x *viewerEnv) newTab(t *testing.T) *testenv.Tab {
	t.Helper()
	tab := x.browser.NewTab(t)
	tab.SetTimeout(time.Minute)
	return tab
}

// page records the page: a screenshot, and no console, CSP or network problem.
// Each distinct problem fails the test once, not again on every later page.
func (x *viewerEnv) page(t *testing.T, tab *testenv.Tab, name string) {
	t.Helper()
	tab.Screenshot(t, name)
	var fresh []string
	for _, p := range tab.Problems() {
		key, _, _ := strings.Cut(p, " (http")
		if !x.problems[key] {
			x.problems[key] = true
			fresh = append(fresh, p)
		}
	}
	if len(fresh) > 0 {
		t.Errorf("page %s: browser problem(s):\n  %s", name, strings.Join(fresh, "\n  "))
	}
}

// openLink opens a viewer link the way a person does and follows the continue
// page to /v/; it returns the status of /v/. The link is never logged.
func (x *viewerEnv) openLink(t *testing.T, tab *testenv.Tab, link, name string) int {
	t.Helper()
	status, err := tab.Navigate(link)
	if err != nil || status != http.StatusOK {
		t.Fatalf("open the link: status %d, %v", status, err)
	}
	want := x.srv.URL + "/v/"
	testenv.WaitFor(t, time.Minute, "the continue page moving on to /v/", func() (bool, string) {
		loc, err := tab.Location()
		if err != nil {
			return false, err.Error()
		}
		return loc == want, "still at the link or elsewhere"
	})
	if err := tab.Run(chromedp.WaitReady(chromedp.CSS("main h1"))); err != nil {
		t.Fatalf("page after the link: %v", err)
	}
	x.page(t, tab, name)
	return tab.Status()
}

// h1 is the page's heading.
func h1(t *testing.T, tab *testenv.Tab) string {
	t.Helper()
	s, err := tab.Text("main h1")
	if err != nil {
		t.Fatalf("page heading: %v", err)
	}
	return strings.TrimSpace(s)
}

// checkPage requires the status and the heading of a viewer page kind.
func checkPage(t *testing.T, tab *testenv.Tab, status int, wantStatus int, kind string) {
	t.Helper()
	got := h1(t, tab)
	titles := viewerTitles[kind]
	if status != wantStatus || (got != titles[0] && got != titles[1]) {
		t.Errorf("page: %d %q, want %d and the %s page (%q)", status, got, wantStatus, kind, titles)
	}
}

// click presses the submit button of the form with action and returns the
// status of the page it leads to.
func click(t *testing.T, tab *testenv.Tab, action string) int {
	t.Helper()
	status, err := tab.ClickNavigate(`form[action="` + action + `"] button[type=submit]`)
	if err != nil {
		t.Fatalf("submit %s: %v", action, err)
	}
	return status
}

// enterCode types code and submits it.
func enterCode(t *testing.T, tab *testenv.Tab, code string) int {
	t.Helper()
	if err := tab.SendKeys("#code", code); err != nil {
		t.Fatalf("type the code: %v", err)
	}
	return click(t, tab, "/v/verify")
}

// wrongCode is a 6-digit code other than code.
func wrongCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1)%1000000)
}

// sessionCookie returns the viewer's session cookie and checks its flags.
func (x *viewerEnv) sessionCookie(t *testing.T, tab *testenv.Tab) *network.Cookie {
	t.Helper()
	cookies, err := tab.Cookies(x.srv.URL + "/v/")
	if err != nil {
		t.Fatalf("cookies: %v", err)
	}
	for _, c := range cookies {
		if c.Name == "veilig_viewer" || c.Name == "__Host-veilig_viewer" {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("session cookie: HttpOnly %v, SameSite %q; want HttpOnly and Strict", c.HTTPOnly, c.SameSite)
			}
			return c
		}
	}
	t.Fatalf("no viewer session cookie among %d cookies", len(cookies))
	return nil
}

// download fetches a viewer URL with the tab's session cookie.
func (x *viewerEnv) download(t *testing.T, tab *testenv.Tab, path string) (*http.Response, []byte) {
	t.Helper()
	ck := x.sessionCookie(t, tab)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, x.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	resp, err := testenv.NewHTTPClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, b
}

// attribute reads an attribute of the first element matching sel.
func attribute(t *testing.T, tab *testenv.Tab, sel, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Context(), time.Minute)
	defer cancel()
	js := fmt.Sprintf(`(document.querySelector(%q) || {getAttribute: () => ""}).getAttribute(%q) || ""`, sel, name)
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v
}

// --- scenarios ----------------------------------------------------------------

// readAndReply: link → code by SMS → message → attachment → reply with a file,
// which reaches the sender; the API shows the recipient's progress.
func (x *viewerEnv) readAndReply(t *testing.T) {
	s := x.msgs["read"]
	link := notificationLink(t, x.lab.pkix, s.rcpt, x.srv.URL)
	tab := x.newTab(t)
	checkPage(t, tab, x.openLink(t, tab, link, "request"), http.StatusOK, "request")
	if loc, _ := tab.Location(); loc != x.srv.URL+"/v/" {
		t.Errorf("the link token is still in the address bar")
	}
	x.sessionCookie(t, tab)
	if masked, _ := tab.Text("main"); strings.Contains(masked, s.phone) || !strings.Contains(masked, s.phone[len(s.phone)-2:]) {
		t.Errorf("the request page should show the number masked with its last digits only")
	}
	checkPage(t, tab, click(t, tab, "/v/code"), http.StatusOK, "verify")
	x.page(t, tab, "verify")
	code := x.cm.code(t, cmNumber(s.phone), 1)
	if status := enterCode(t, tab, code); status != http.StatusOK || h1(t, tab) != s.subject {
		t.Fatalf("after the right code: %d, heading %q; want 200 and the subject", status, h1(t, tab))
	}
	x.page(t, tab, "message")
	if body, _ := tab.Text("main .body"); !strings.Contains(body, x.run+"readbody") {
		t.Errorf("message body %q lacks the text sent", body)
	}
	x.checkDownload(t, tab, s.att)
	x.reply(t, tab, s)
	if got := x.cm.to(cmNumber(s.phone)); len(got) != 1 {
		t.Errorf("%d SMS to the number, want exactly 1", len(got))
	}
	x.checkProgress(t, s)
}

// checkDownload fetches the attachment linked from the message page.
func (x *viewerEnv) checkDownload(t *testing.T, tab *testenv.Tab, want testenv.Attachment) {
	t.Helper()
	href := attribute(t, tab, "ul.files a", "href")
	if !strings.HasPrefix(href, "/v/attachments/") {
		t.Fatalf("attachment link %q", href)
	}
	resp, data := x.download(t, tab, href)
	disp, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(data, want.Data) || disp != "attachment" ||
		params["filename"] != want.Name {
		t.Errorf("download: %d, %d bytes (want %d), disposition %q %q", resp.StatusCode, len(data),
			len(want.Data), disp, params["filename"])
	}
}

// reply writes a reply with a file in the browser and finds it in the sender's
// mailbox: From the sender's own domain, Reply-To the recipient, threaded.
func (x *viewerEnv) reply(t *testing.T, tab *testenv.Tab, s sent) {
	t.Helper()
	text := "Dank u. " + x.canary("replytext")
	file := filepath.Join(t.TempDir(), "antwoord.txt")
	content := []byte("Antwoord " + x.canary("replyfile") + "\n")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tab.SendKeys("#reply-text", text); err != nil {
		t.Fatal(err)
	}
	if err := tab.Run(chromedp.SetUploadFiles(chromedp.CSS("#reply-files"), []string{file})); err != nil {
		t.Fatalf("choose the reply file: %v", err)
	}
	if status := click(t, tab, "/v/reply"); status != http.StatusOK {
		t.Errorf("reply: status %d", status)
	}
	if loc, _ := tab.Location(); loc != x.srv.URL+"/v/?done=reply" {
		t.Errorf("after the reply the page is %q", loc)
	}
	x.page(t, tab, "replied")
	var got testenv.Message
	testenv.WaitFor(t, deliveryWait, "the reply in the sender's mailbox", func() (bool, string) {
		for _, m := range delivered(t, x.lab.sender, alice, "") {
			if strings.TrimSpace(m.Header.Get("In-Reply-To")) == s.messageID {
				got = m
				return true, ""
			}
		}
		return false, "no message In-Reply-To the original"
	})
	checkReply(t, got, s, content)
}

func checkReply(t *testing.T, m testenv.Message, s sent, file []byte) {
	t.Helper()
	from, err := mail.ParseAddress(m.Header.Get("From"))
	replyTo, err2 := mail.ParseAddress(m.Header.Get("Reply-To"))
	if err != nil || err2 != nil || from.Address != "noreply@"+domainSender || !strings.EqualFold(replyTo.Address, s.rcpt) {
		t.Errorf("reply From %q, Reply-To %q; want noreply@%s and %s", m.Header.Get("From"),
			m.Header.Get("Reply-To"), domainSender, s.rcpt)
	}
	if rcv := m.Header.Get("Received"); !strings.Contains(rcv, "using TLSv1.") {
		t.Errorf("reply was not received over TLS: %s", rcv)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := leafParts(msg.Header.Get("Content-Type"), msg.Body)
	if err != nil {
		t.Fatalf("reply MIME: %v", err)
	}
	for _, p := range parts {
		if disp, params, _ := mime.ParseMediaType(p.header.Get("Content-Disposition")); disp == "attachment" &&
			params["filename"] == "antwoord.txt" && bytes.Equal(p.body, file) {
			return
		}
	}
	t.Errorf("the reply lacks the file antwoord.txt with its content (%d parts)", len(parts))
}

// externalView is the progress the API shows of an external recipient.
type externalView struct {
	Phone        string     `json:"phone"`
	Locked       bool       `json:"locked"`
	NotifiedAt   *time.Time `json:"notified_at"`
	CodeSentAt   *time.Time `json:"code_sent_at"`
	OpenedAt     *time.Time `json:"opened_at"`
	DownloadedAt *time.Time `json:"downloaded_at"`
	RepliedAt    *time.Time `json:"replied_at"`
	NewLinkAt    *time.Time `json:"new_link_requested_at"`
}

// external reads the external view of s's recipient from the API.
func (x *viewerEnv) external(t *testing.T, s sent) externalView {
	t.Helper()
	status, raw := x.alice.Do(t, http.MethodGet, "/api/v1/messages/"+url.PathEscape(s.id), "", nil, nil)
	var m struct {
		Recipients []struct {
			Address  string        `json:"address"`
			External *externalView `json:"external"`
		} `json:"recipients"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("GET message: %d", status)
	}
	for _, r := range m.Recipients {
		if strings.EqualFold(r.Address, s.rcpt) && r.External != nil {
			return *r.External
		}
	}
	t.Fatalf("the message view has no external progress for %s", s.rcpt)
	return externalView{}
}

func (x *viewerEnv) checkProgress(t *testing.T, s sent) {
	t.Helper()
	e := x.external(t, s)
	if e.NotifiedAt == nil || e.CodeSentAt == nil || e.OpenedAt == nil || e.DownloadedAt == nil || e.RepliedAt == nil {
		js, _ := json.Marshal(e)
		t.Errorf("external progress %s: want notified, code sent, opened, downloaded and replied set", js)
	}
	if strings.Contains(e.Phone, s.phone) {
		t.Errorf("the API shows the whole phone number")
	}
}

// lockAndUnlock: five wrong tries use a code up; twenty lock the recipient and
// tell the sender; the sender's unlock lets the recipient in again.
func (x *viewerEnv) lockAndUnlock(t *testing.T) {
	s := x.msgs["lock"]
	link := notificationLink(t, x.lab.pkix, s.rcpt, x.srv.URL)
	tab := x.newTab(t)
	checkPage(t, tab, x.openLink(t, tab, link, "request"), http.StatusOK, "request")
	tries := 0
	for n := 1; tries < maxRecipientTries; n++ {
		if n == 4 {
			// The issue limit is 3 codes in 15 minutes: age the first three.
			psql(t, x.dbURL, `UPDATE otp_codes SET created_at = created_at - interval '20 minutes'
				WHERE subject IN (SELECT delivery_id FROM external_recipients WHERE message_id = `+sqlString(s.id)+`)`)
		}
		x.requestCode(t, tab, n)
		code := x.cm.code(t, cmNumber(s.phone), n)
		tries += x.useUpCode(t, tab, n, wrongCode(code), maxRecipientTries-tries)
	}
	senderNotice(t, x.lab.sender, alice, s.messageID, "Recipient locked out")
	checkPage(t, tab, x.openLink(t, tab, link, "locked-reopened"), http.StatusLocked, "locked")
	if e := x.external(t, s); !e.Locked {
		t.Errorf("the API does not show the recipient locked")
	}
	path := "/api/v1/messages/" + url.PathEscape(s.id) + "/recipients/" + url.PathEscape(s.rcpt) + "/unlock"
	if status, raw := x.alice.Do(t, http.MethodPost, path, "", nil, nil); status != http.StatusOK {
		t.Fatalf("unlock: %d %s", status, raw)
	}
	checkPage(t, tab, x.openLink(t, tab, link, "unlocked"), http.StatusOK, "request")
	x.requestCode(t, tab, 5)
	if status := enterCode(t, tab, x.cm.code(t, cmNumber(s.phone), 5)); status != http.StatusOK || h1(t, tab) != s.subject {
		t.Errorf("after unlock and the right code: %d %q", status, h1(t, tab))
	}
	x.page(t, tab, "message-after-unlock")
}

// requestCode asks for code number n from the current page of the tab (the
// request page, or the verify page's resend form).
func (x *viewerEnv) requestCode(t *testing.T, tab *testenv.Tab, n int) {
	t.Helper()
	if n > 1 {
		if status, err := tab.Navigate(x.srv.URL + "/v/"); err != nil {
			t.Fatalf("back to /v/: %d %v", status, err)
		}
	}
	checkPage(t, tab, click(t, tab, "/v/code"), http.StatusOK, "verify")
	x.page(t, tab, "verify-"+strconv.Itoa(n))
}

// useUpCode enters wrong codes until code number nth is used up (5) or left tries run
// out; it returns the number of tries. Every try but the last shows the verify
// page again (422); the last says a new code is needed, or, at the recipient's
// limit, that access is locked (423).
func (x *viewerEnv) useUpCode(t *testing.T, tab *testenv.Tab, nth int, wrong string, left int) int {
	t.Helper()
	n := min(maxCodeTries, left)
	for i := 1; i <= n; i++ {
		status := enterCode(t, tab, wrong)
		name := fmt.Sprintf("code%d-wrong-%d-of-%d", nth, i, n)
		x.page(t, tab, name)
		switch {
		case i < n:
			checkPage(t, tab, status, http.StatusUnprocessableEntity, "verify")
		case n == left:
			checkPage(t, tab, status, http.StatusLocked, "locked")
		default:
			x.checkCodeUsedUp(t, tab, status)
		}
	}
	return n
}

// checkCodeUsedUp: after a code's last wrong try the page asks for a new code;
// the recipient is not locked.
func (x *viewerEnv) checkCodeUsedUp(t *testing.T, tab *testenv.Tab, status int) {
	t.Helper()
	title := h1(t, tab)
	if status == http.StatusLocked || title == viewerTitles["locked"][0] || title == viewerTitles["locked"][1] {
		t.Errorf("code used up after %d wrong tries: the page says %d %q (locked), want a page asking for a new code",
			maxCodeTries, status, title)
		return
	}
	if attribute(t, tab, `form[action="/v/code"]`, "method") != "post" {
		t.Errorf("code used up: %d %q offers no way to request a new code", status, title)
	}
}

// revoked: after the sender withdraws the message, the link shows it withdrawn.
func (x *viewerEnv) revoked(t *testing.T) {
	s := x.msgs["revoke"]
	link := notificationLink(t, x.lab.pkix, s.rcpt, x.srv.URL)
	path := "/api/v1/messages/" + url.PathEscape(s.id) + "/revoke"
	if status, raw := x.alice.Do(t, http.MethodPost, path, "", nil, nil); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	tab := x.newTab(t)
	checkPage(t, tab, x.openLink(t, tab, link, "withdrawn"), http.StatusGone, "withdrawn")
	if attribute(t, tab, `form[action="/v/new-link"]`, "method") != "" {
		t.Errorf("a withdrawn message offers to ask for a new link")
	}
}

// expired: past its expiry the link offers to ask for a new one, which tells
// the sender.
func (x *viewerEnv) expired(t *testing.T) {
	s := x.msgs["expire"]
	link := notificationLink(t, x.lab.pkix, s.rcpt, x.srv.URL)
	psql(t, x.dbURL, `UPDATE messages SET expires_at = now() - interval '1 minute' WHERE id = `+sqlString(s.id))
	tab := x.newTab(t)
	checkPage(t, tab, x.openLink(t, tab, link, "expired"), http.StatusGone, "expired")
	status := click(t, tab, "/v/new-link")
	x.page(t, tab, "new-link-requested")
	checkPage(t, tab, status, http.StatusGone, "expired")
	if loc, _ := tab.Location(); loc != x.srv.URL+"/v/?done=newlink" {
		t.Errorf("after asking for a new link the page is %q", loc)
	}
	if notice, err := tab.Text("main .notice"); err != nil || notice == "" {
		t.Errorf("no confirmation that the sender was asked: %v", err)
	}
	senderNotice(t, x.lab.sender, alice, s.messageID, "New link requested")
	if e := x.external(t, s); e.NewLinkAt == nil {
		t.Errorf("the API does not show the new-link request")
	}
}

// unknown: a link that was never issued answers 404, cleanly, without a session.
func (x *viewerEnv) unknown(t *testing.T) {
	tab := x.newTab(t)
	status, err := tab.Navigate(x.srv.URL + "/v/" + randomHexString(t, 24))
	if err != nil {
		t.Fatal(err)
	}
	x.page(t, tab, "unknown")
	checkPage(t, tab, status, http.StatusNotFound, "unknown")
	if cookies, _ := tab.Cookies(x.srv.URL + "/v/"); len(cookies) != 0 {
		for _, c := range cookies {
			if strings.Contains(c.Name, "veilig_viewer") {
				t.Errorf("an unknown link set a session cookie")
			}
		}
	}
}

// canaries: stop the binary, then look for every canary in its database, log,
// TMPDIR and data directory.
func (x *viewerEnv) canaries(t *testing.T) {
	x.srv.Stop()
	checkCanaries(t, canaryPlaces{dbURL: x.dbURL, logs: []string{x.srv.LogFile},
		dirs: []string{x.tmpDir, x.v.Vars["VEILIG_DATA_DIR"]}, scratch: t.TempDir()}, x.needles)
}
