package security

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

// visitor is one browser at the viewer: a cookie jar, the address it
// connects from, and an optional X-Forwarded-For it claims.
type visitor struct {
	x    *suite
	jar  http.CookieJar
	from string
	xff  string
}

func (x *suite) visitor(t *testing.T, link, from string) *visitor {
	t.Helper()
	v := &visitor{x: x, jar: newJar(t), from: from}
	if r := v.get(t, link); r.status != http.StatusOK {
		t.Fatalf("open link: %s", r)
	}
	return v
}

func (v *visitor) get(t *testing.T, path string) reply {
	t.Helper()
	return v.x.s.do(call{method: "GET", path: path, jar: v.jar, from: v.from, header: v.hdr(), noRedirect: true})
}

func (v *visitor) hdr() http.Header {
	h := http.Header{"Origin": {v.x.s.url}}
	if v.xff != "" {
		h.Set("X-Forwarded-For", v.xff)
	}
	return h
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post sends a viewer form with the page's CSRF token.
func (v *visitor) post(t *testing.T, path string, form url.Values) reply {
	t.Helper()
	page := v.get(t, "/v/")
	m := csrfField.FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("no form token on /v/: %s", page)
	}
	form.Set("csrf", string(m[1]))
	return v.x.s.do(call{method: "POST", path: path, jar: v.jar, from: v.from, header: v.hdr(), noRedirect: true,
		ctype: "application/x-www-form-urlencoded", body: []byte(form.Encode())})
}

func (v *visitor) requestCode(t *testing.T) int { return v.post(t, "/v/code", url.Values{}).status }

func (v *visitor) verify(t *testing.T, code string) int {
	return v.post(t, "/v/verify", url.Values{"code": {code}}).status
}

var codeInSMS = regexp.MustCompile(`code is (\d{4,12})`)

// lastCode is the newest code sent to the number.
func (x *suite) lastCode(t *testing.T, nsn string) string {
	t.Helper()
	texts := x.s.sms(nsn)
	if len(texts) == 0 {
		t.Fatalf("no SMS to %s", nsn)
	}
	m := codeInSMS.FindStringSubmatch(texts[0]) // the dev mailbox lists the newest first
	if m == nil {
		t.Fatalf("no code in SMS %q", texts[0])
	}
	return m[1]
}

func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// fileNames: traversal, absolute paths, NUL, bidi overrides and control
// characters in attachment names are neutralised where the name is served:
// the viewer's download Content-Disposition.
func (x *suite) fileNames(t *testing.T) {
	names := []struct{ sent, want string }{
		{"../../etc/passwd", `attachment; filename="passwd"; filename*=UTF-8''passwd`},
		{"/etc/shadow", `attachment; filename="shadow"; filename*=UTF-8''shadow`},
		{`..\..\windows\win.ini`, `attachment; filename="win.ini"; filename*=UTF-8''win.ini`},
		{"factuur\u202Efdp.exe", `attachment; filename="factuurfdp.exe"; filename*=UTF-8''factuurfdp.exe`},
		{"rap\x01port\x7f.pdf", `attachment; filename="rapport.pdf"; filename*=UTF-8''rapport.pdf`},
		{"...verborgen", `attachment; filename="verborgen"; filename*=UTF-8''verborgen`},
		{"tab\tname.pdf", `attachment; filename="tabname.pdf"; filename*=UTF-8''tabname.pdf`},
	}
	for _, bad := range []string{"nul\x00byte.pdf", "regel\r\nX-Injected: ja.pdf", "lf\n.pdf"} {
		x.unchanged(t, func() {
			r := x.submit(t, x.s.tokens[senderA], map[string]any{"to": []string{senderB}, "text": "x"}, nil,
				attachment{bad, "application/pdf", []byte("%PDF-1.7")})
			expect(t, fmt.Sprintf("attachment name %q", bad), r, http.StatusBadRequest)
		})
	}
	var atts []attachment
	for i, n := range names {
		atts = append(atts, attachment{n.sent, "application/pdf", []byte(fmt.Sprintf("%%PDF-1.7 %d %s", i, x.canaries.add(fmt.Sprintf("file%d", i))))})
	}
	r := x.submit(t, x.s.tokens[senderA], map[string]any{"to": []string{"namen@extern.test"}, "subject": "Namen",
		"text": "x", "phones": map[string]string{"namen@extern.test": "+31" + x.canaries.phone(t)}}, nil, atts...)
	if r.status != http.StatusAccepted {
		// Refusing such names outright is also safe; say which.
		t.Fatalf("submit with hostile names: %s", r)
	}
	phone := x.canaries.phones[len(x.canaries.phones)-1]
	v := x.visitor(t, x.link(t, "namen@extern.test"), "127.0.0.3") // its own client: the per-IP budget of 127.0.0.1 is otpAbuse's
	if st := v.requestCode(t); st != http.StatusSeeOther {
		t.Fatalf("request code: %d", st)
	}
	if st := v.verify(t, x.lastCode(t, phone)); st != http.StatusSeeOther {
		t.Fatalf("verify: %d", st)
	}
	page := v.get(t, "/v/")
	for i, n := range names {
		d := v.get(t, fmt.Sprintf("/v/attachments/%d", i))
		if d.status != http.StatusOK {
			t.Errorf("download %d: %s", i, d)
			continue
		}
		if got := d.header.Get("Content-Disposition"); got != n.want {
			t.Errorf("%q served as %q, want %q", n.sent, got, n.want)
		}
		if d.header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(d.header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("download %d headers: %v", i, d.header)
		}
	}
	for _, bad := range []string{"\u202E", "../", "/etc/", "\x00", "\x01"} {
		if strings.Contains(string(page.body), bad) {
			t.Errorf("the message page shows %q", bad)
		}
	}
}

// otpAbuse: SMS pumping and code guessing, with X-Forwarded-For believed only
// from the trusted proxy (127.0.0.2/32).
func (x *suite) otpAbuse(t *testing.T) {
	start := x.s.countSMS()
	r1, r2, r3 := x.external(t, "r1"), x.external(t, "r2"), x.external(t, "r3")
	// 1. From an untrusted address, a rotating X-Forwarded-For is ignored: the
	// per-recipient issue limit (3 per 15 min) and then the per-IP limit (10
	// code requests per hour) apply to 127.0.0.1.
	n := 0
	step := func(v *visitor, want int) {
		t.Helper()
		n++
		v.xff = fmt.Sprintf("198.51.100.%d", n)
		if st := v.requestCode(t); st != want {
			t.Errorf("code request %d: %d, want %d", n, st, want)
		}
	}
	for _, m := range []sent{r1, r2} {
		v := x.visitor(t, x.link(t, m.rcpt), "127.0.0.1")
		step(v, 303)
		step(v, 303)
		step(v, 303)
		step(v, 429) // the recipient's issue limit
	}
	v3 := x.visitor(t, x.link(t, r3.rcpt), "127.0.0.1")
	step(v3, 303)
	step(v3, 303)
	step(v3, 429) // the client's limit: r3 has had only two codes
	if got := x.s.countSMS() - start; got != 8 {
		t.Errorf("SMS sent from the untrusted client: %d, want 8", got)
	}
	// From the trusted proxy, the forwarded address is the client: r3's third
	// code goes out to a "new" client.
	v3.from, v3.xff = trustedProxy, "203.0.113.1"
	if st := v3.requestCode(t); st != 303 {
		t.Errorf("code via the trusted proxy: %d, want 303", st)
	}
	x.bruteForce(t)
	x.smsCap(t)
}

// bruteForce: via the trusted proxy with a new client address per guess, each
// code dies after 5 wrong guesses (the right code then fails too), and after
// 3 codes (15 guesses) no further code is issued.
func (x *suite) bruteForce(t *testing.T) {
	m := x.external(t, "brute")
	v := x.visitor(t, x.link(t, m.rcpt), trustedProxy)
	ip := 0
	for round := 1; round <= 3; round++ {
		ip++
		v.xff = fmt.Sprintf("203.0.113.%d", 10+ip)
		if st := v.requestCode(t); st != http.StatusSeeOther {
			t.Fatalf("round %d: code request %d", round, st)
		}
		code := x.lastCode(t, m.phone)
		for guess := 1; guess <= 5; guess++ {
			ip++
			v.xff = fmt.Sprintf("203.0.113.%d", 10+ip)
			if st := v.verify(t, wrongCode(code)); st != http.StatusUnprocessableEntity && st != http.StatusLocked {
				t.Errorf("round %d guess %d: %d, want 422", round, guess, st)
			}
		}
		ip++
		v.xff = fmt.Sprintf("203.0.113.%d", 10+ip)
		if st := v.verify(t, code); st == http.StatusSeeOther {
			t.Fatalf("round %d: the right code after 5 wrong guesses was accepted", round)
		}
	}
	v.xff = "203.0.113.250"
	if st := v.requestCode(t); st != http.StatusTooManyRequests {
		t.Errorf("a fourth code within the window: %d, want 429", st)
	}
	if r := v.get(t, "/v/"); strings.Contains(string(r.body), m.subject) {
		t.Errorf("the message was shown after the brute force")
	}
}

// smsCap: the organisation's daily cap (VEILIG_SMS_DAILY_CAP) stops the
// pumping across recipients and client addresses; refused requests send
// nothing.
func (x *suite) smsCap(t *testing.T) {
	// spent is re-read before every request: a run crossing midnight in
	// Amsterdam starts the new day's count, as the server does.
	for i := 0; x.spent(t) < orgSMSCap; i++ {
		m := x.external(t, fmt.Sprintf("cap%d", i))
		v := x.visitor(t, x.link(t, m.rcpt), trustedProxy)
		for j := 0; j < 3; j++ {
			sentSoFar := x.spent(t)
			if sentSoFar >= orgSMSCap {
				break
			}
			v.xff = fmt.Sprintf("192.0.2.%d", 10*i+j+1)
			if st := v.requestCode(t); st != http.StatusSeeOther {
				t.Fatalf("code under the cap (%d sent): %d", sentSoFar, st)
			}
		}
	}
	before := x.s.countSMS()
	m := x.external(t, "overcap")
	v := x.visitor(t, x.link(t, m.rcpt), trustedProxy)
	for i := 0; i < 3; i++ {
		v.xff = fmt.Sprintf("192.0.2.%d", 200+i)
		if st := v.requestCode(t); st != http.StatusTooManyRequests {
			t.Errorf("code over the daily cap: %d, want 429", st)
		}
	}
	if got := x.s.countSMS(); got != before {
		t.Errorf("%d SMS sent over the cap", got-before)
	}
	if got := x.spent(t); got != orgSMSCap {
		t.Errorf("sms_spend for the organisation: %d, want %d", got, orgSMSCap)
	}
}

// spent is organisation A's SMS count today, as the cap counts it.
func (x *suite) spent(t *testing.T) int {
	t.Helper()
	var n int
	ams, err := time.LoadLocation("Europe/Amsterdam") // the cap's day (internal/external)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(ams).Format(time.DateOnly)
	if err := x.s.db.Table("sms_spend").Select("COALESCE(SUM(sent), 0)").
		Where("organisation_id = ? AND day = ?", x.s.orgs[domainA], day).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
