package faults

// Scenario 5: the SMS provider timing out. A recipient outside the community
// opens the viewer link from her notification and asks for a one-time code
// while CM.com accepts the connection and never answers.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// domainExtern is outside the community (not in the directory): its recipients
// get a notification with a viewer link. Its zone is signed and its MX is
// mx.faults.test, so the notification goes over DANE to the lab Postfix (an
// insecure MX would need a PKIX certificate, which the lab Postfix lacks).
const domainExtern = "extern.test"

const (
	smsToken = "x"                      // VEILIG_SMS_CM_TOKEN; the fake checks it
	smsPhone = "+31612345678"           // the recipient's mobile number (E.164)
	cmPhone  = "0031612345678"          // the same as CM is sent it
	smsRcpt  = "lezer@" + domainExtern  // the external recipient
	smsSubj  = "sms-timeout Besluit 17" // the message's subject
	// smsClientTimeout is the SMS client's overall bound (internal/sms: the CM
	// client's http.Client timeout, which is also the viewer's deadline of one
	// backend call). A code request must be answered within it plus slack for
	// a loaded machine: a request still open then hangs.
	smsClientTimeout = 15 * time.Second
	smsAnswerBound   = smsClientTimeout + 30*time.Second
	notificationWait = 3 * time.Minute
)

// Viewer page headings in English (internal/viewer/i18n.go); the client asks
// for English with Accept-Language.
const (
	titleRequest     = "Secure message"
	titleVerify      = "Enter code"
	titleUnavailable = "Code not sent yet"
)

// smsLeak matches what the error page must not reveal: the provider's error,
// its address, the number or the token.
var smsLeak = regexp.MustCompile(`(?i)sms:|provider|deadline|context|transport|timeout|time-out|` +
	`127\.0\.0\.1|cm\.com|0031|612345678|productoken`)

// smsTimeout: with CM hanging, the code request is answered with the viewer's
// "code not sent yet" page (503, Retry-After) once the SMS client gives up (not a hang, no detail); the
// organisation's daily SMS count is given back and the recipient is neither
// locked nor limited. Once CM answers again, a new request sends the code and
// the code opens the message.
func (e *env) smsTimeout(t *testing.T) {
	cm := startFakeCM(t)
	v := prepareWith(t, e.lab, e.v.Bin, e.newDatabase(t, "smstimeout"), e.password)
	srv := v.Start(t, "serve-sms", map[string]string{"VEILIG_SMS_PROVIDER": "cm",
		"VEILIG_SMS_CM_TOKEN": smsToken, "VEILIG_SMS_CM_URL": cm.srv.URL})
	submitExternal(t, testenv.Login(t, srv.URL, sender, e.password))
	db := openURL(t, v.Vars["VEILIG_DATABASE_URL"])
	vc := openViewer(t, srv.URL, e.lab.viewerLink(t, smsRcpt, srv.URL))

	cm.hang.Store(true)
	before := smsSpent(t, db)
	start := time.Now()
	status, page, _ := vc.requestCode(t)
	took := time.Since(start)
	checkErrorPage(t, status, page)
	refunded := smsSpent(t, db)
	if refunded != before {
		t.Errorf("daily SMS count %d after the failed send, want %d (given back)", refunded, before)
	}
	if got := len(cm.sent()); got != 0 {
		t.Errorf("%d SMS accepted while the provider hung", got)
	}
	vc.checkTitle(t, "after the failed request", titleRequest)

	cm.hang.Store(false)
	if status, page, loc := vc.requestCode(t); status != http.StatusSeeOther || loc != "/v/" {
		t.Fatalf("code request once the provider answers: %d (Location %q): %s", status, loc, heading(page))
	}
	code := cm.code(t)
	spent := smsSpent(t, db)
	if spent != before+1 {
		t.Errorf("daily SMS count %d after one SMS sent, want %d", spent, before+1)
	}
	vc.checkTitle(t, "after the code was sent", titleVerify)
	vc.verify(t, code)
	t.Logf("sms provider timing out: accepted 1; code request answered %d %q after %s (%d provider request(s) held open); "+
		"daily SMS count %d before, %d after the failed request (refunded %v); provider back: sent %d, count %d, code verified",
		status, heading(page), took.Round(100*time.Millisecond), cm.held.Load(), before, refunded, refunded == before,
		len(cm.sent()), spent)
}

// submitExternal sends one message to the external recipient with her number.
func submitExternal(t *testing.T, c *testenv.APIClient) {
	t.Helper()
	body, ctype, err := testenv.MultipartMessage(testenv.Draft{To: []string{smsRcpt}, Subject: smsSubj, Text: "Bericht over de storing.\n",
		Phones: map[string]string{smsRcpt: smsPhone}})
	if err != nil {
		t.Fatal(err)
	}
	status, raw := c.Do(t, http.MethodPost, "/api/v1/messages", ctype, strings.NewReader(string(body)), nil)
	var acc testenv.Accepted
	if status != http.StatusAccepted || json.Unmarshal(raw, &acc) != nil {
		t.Fatalf("submit to %s: %d %s", smsRcpt, status, raw)
	}
	for _, r := range acc.Recipients {
		if r.Route != "external" {
			t.Fatalf("%s: route %q, want external", r.Address, r.Route)
		}
	}
}

// smsSpent is the sum of the daily SMS counts of every organisation.
func smsSpent(t *testing.T, db *database.DB) int64 {
	t.Helper()
	var n int64
	if err := db.WithContext(t.Context()).Raw("SELECT coalesce(sum(sent), 0) FROM sms_spend").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// checkErrorPage: the viewer's "code not sent yet" page with 503,
// revealing nothing of the provider.
func checkErrorPage(t *testing.T, status int, page string) {
	t.Helper()
	if status != 503 || heading(page) != titleUnavailable {
		t.Errorf("code request while the provider hangs: %d %q, want 503 and the page %q", status, heading(page), titleUnavailable)
	}
	if m := smsLeak.FindString(page); m != "" {
		t.Errorf("the error page reveals %q", m)
	}
}

// --- a fake CM.com ------------------------------------------------------------

// fakeCM is CM.com's JSON messaging API (POST /v1.0/message, internal/sms/cm.go)
// that either holds every request without an answer (hang) or accepts it.
type fakeCM struct {
	srv  *httptest.Server
	hang atomic.Bool
	held atomic.Int32  // requests held without an answer
	stop chan struct{} // closed at the end: held requests return
	mu   sync.Mutex
	got  []string // texts of the SMS accepted for cmPhone
	bad  []string // requests that broke the documented contract
}

func startFakeCM(t *testing.T) *fakeCM {
	t.Helper()
	f := &fakeCM{stop: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.stop) }) // runs first: releases held requests
	t.Cleanup(func() {
		if bad := f.malformed(); len(bad) > 0 {
			t.Errorf("%d SMS request(s) broke CM's documented API: %s", len(bad), bad[0])
		}
	})
	return f
}

// cmRequest is the part of CM's request body the fake reads.
type cmRequest struct {
	Messages struct {
		Msg []struct {
			From string `json:"from"`
			To   []struct {
				Number string `json:"number"`
			} `json:"to"`
			Body struct {
				Content string `json:"content"`
			} `json:"body"`
			Reference string `json:"reference"`
		} `json:"msg"`
	} `json:"messages"`
}

func (f *fakeCM) serve(w http.ResponseWriter, r *http.Request) {
	if f.hang.Load() {
		f.held.Add(1)
		select { // the connection is open and the request read; no answer comes
		case <-r.Context().Done():
		case <-f.stop:
		}
		return
	}
	var req cmRequest
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	ok := json.Unmarshal(raw, &req) == nil && r.Method == http.MethodPost && r.URL.Path == "/v1.0/message" &&
		r.Header.Get("X-CM-PRODUCTTOKEN") == smsToken && len(req.Messages.Msg) == 1 &&
		len(req.Messages.Msg[0].To) == 1 && req.Messages.Msg[0].From != ""
	if !ok {
		f.record("", r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"details":"No account found for the given authentication","errorCode":101,"messages":[]}`))
		return
	}
	m := req.Messages.Msg[0]
	if m.To[0].Number == cmPhone {
		f.record(m.Body.Content, "")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"details": "Created 1 message(s)", "errorCode": 0,
		"messages": []map[string]any{{"to": m.To[0].Number, "status": "Accepted", "reference": m.Reference,
			"parts": 1, "messageDetails": nil, "messageErrorCode": 0}}})
}

func (f *fakeCM) record(text, bad string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bad != "" {
		f.bad = append(f.bad, bad)
		return
	}
	f.got = append(f.got, text)
}

func (f *fakeCM) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *fakeCM) malformed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bad...)
}

var smsCode = regexp.MustCompile(`\b(\d{6})\b`)

// code is the 6-digit code of the one SMS accepted; it fails on any other count.
func (f *fakeCM) code(t *testing.T) string {
	t.Helper()
	got := f.sent()
	if len(got) != 1 {
		t.Fatalf("%d SMS accepted for the recipient, want 1", len(got))
	}
	m := smsCode.FindAllStringSubmatch(got[0], -1)
	if len(m) == 0 || m[0][1] != m[len(m)-1][1] {
		t.Fatalf("the SMS has no single 6-digit code (%d digit groups)", len(m))
	}
	return m[0][1]
}

// --- the viewer, as a browser without script uses it ---------------------------

// viewerClient keeps the viewer's session cookie and the form token; it never
// follows redirects, so their status and Location can be checked.
type viewerClient struct {
	base string
	hc   *http.Client
	csrf string
}

var (
	h1Text    = regexp.MustCompile(`(?s)<h1>(.*?)</h1>`)
	csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	refreshTo = regexp.MustCompile(`http-equiv="refresh" content="0;\s*url=([^"]+)"`)
)

func heading(page string) string {
	if m := h1Text.FindStringSubmatch(page); m != nil {
		return strings.TrimSpace(m[1])
	}
	return ""
}

// openViewer opens the link, follows the continue page's meta refresh to the
// code request page and keeps its form token. The link is never logged.
func openViewer(t *testing.T, base, link string) *viewerClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	vc := &viewerClient{base: base, hc: &http.Client{Jar: jar, Timeout: smsAnswerBound,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	status, page, _ := vc.do(t, http.MethodGet, link, "")
	m := refreshTo.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		t.Fatalf("open the link: %d %q, want 200 and a meta refresh", status, heading(page))
	}
	vc.checkTitle(t, "after the link ("+m[1]+")", titleRequest)
	return vc
}

// checkTitle loads /v/, requires heading want and keeps the form token.
func (vc *viewerClient) checkTitle(t *testing.T, when, want string) {
	t.Helper()
	status, page, _ := vc.do(t, http.MethodGet, vc.base+"/v/", "")
	if status != http.StatusOK || heading(page) != want {
		t.Fatalf("/v/ %s: %d %q, want 200 %q", when, status, heading(page), want)
	}
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("/v/ %s: no form token", when)
	}
	vc.csrf = m[1]
}

// requestCode submits the request-code form.
func (vc *viewerClient) requestCode(t *testing.T) (status int, page, location string) {
	t.Helper()
	return vc.do(t, http.MethodPost, vc.base+"/v/code", "csrf="+vc.csrf)
}

// verify enters code and requires the message page (its subject as heading).
func (vc *viewerClient) verify(t *testing.T, code string) {
	t.Helper()
	if status, page, loc := vc.do(t, http.MethodPost, vc.base+"/v/verify", "csrf="+vc.csrf+"&code="+code); status != http.StatusSeeOther || loc != "/v/" {
		t.Fatalf("verify the code: %d (Location %q): %s", status, loc, heading(page))
	}
	status, page, _ := vc.do(t, http.MethodGet, vc.base+"/v/", "")
	if status != http.StatusOK || heading(page) != smsSubj {
		t.Fatalf("/v/ after the code: %d %q, want 200 and the subject", status, heading(page))
	}
}

// do sends one request (form: an urlencoded body for POST); an answer not
// within smsAnswerBound fails the test.
func (vc *viewerClient) do(t *testing.T, method, url, form string) (status int, page, location string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", "en")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := vc.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer within %s: %v", method, strings.TrimPrefix(url, vc.base), smsAnswerBound, scrubLink(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// scrubLink keeps a link token out of an error that quotes the URL.
func scrubLink(err error) string {
	return regexp.MustCompile(`/v/[A-Za-z0-9_.-]{16,}`).ReplaceAllString(err.Error(), "/v/…")
}

// viewerLink waits for the notification to rcpt in the Maildir and returns the
// viewer link (base/v/<token>) in it.
func (l *lab) viewerLink(t *testing.T, rcpt, base string) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(base) + `/v/[A-Za-z0-9_.-]{16,256}`)
	var link string
	testenv.WaitFor(t, notificationWait, "the notification to "+rcpt, func() (bool, string) {
		n := 0
		for _, m := range l.mx.Messages(t) {
			if !strings.EqualFold(m.Recipient, rcpt) {
				continue
			}
			n++
			for _, text := range textParts(t, m.Raw) {
				if link = re.FindString(text); link != "" {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%d message(s) for %s, none with a link", n, rcpt)
	})
	return link
}
