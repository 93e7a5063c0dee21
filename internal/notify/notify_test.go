package notify

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/message/compose"
)

var (
	_ Mail = Notification{}
	_ Mail = Reminder{}
	_ Mail = NewLinkRequest{}
	_ Mail = FirstOpen{}
	_ Mail = Locked{}
)

const (
	testToken   = "Qm9va2VuIHZvb3Igd2F0IGhldCBrb3N0"
	testLink    = "https://veilig.example/v/" + testToken
	testSubject = "Besluit bezwaar 2026-0042"
)

// testDate is 09:26 UTC; in Amsterdam 10:26 CET.
var testDate = time.Date(2026, 3, 14, 9, 26, 0, 0, time.UTC)

func newRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func baseNotification() Notification {
	return Notification{
		SenderName: "Jörg Müller", SenderEmail: "jorg@utrecht.example", OrganisationName: "Gemeente Utrecht",
		RecipientAddress: "piet@ede.example", Link: testLink, ExpiresAt: testDate.Add(14 * 24 * time.Hour),
		Subject: testSubject, MessageID: "<n1@veilig.example>", Date: testDate,
	}
}

func baseNotice() Notice {
	return Notice{
		From:             compose.Address{Name: "Veilig", Addr: "postmaster@veilig.example"},
		To:               compose.Address{Name: "Jörg Müller", Addr: "jorg@utrecht.example"},
		RecipientAddress: "piet@ede.example", Subject: testSubject, OriginalMessageID: "<orig@utrecht.example>",
		SentAt: testDate, MessageID: "<n2@veilig.example>", Date: testDate.Add(15 * 24 * time.Hour),
	}
}

// rendered is a written mail as net/mail and mime/multipart read it back.
type rendered struct {
	Header     mail.Header
	Subject    string
	From, To   *mail.Address
	Text, HTML string
}

func render(t *testing.T, r *Renderer, m Mail) rendered {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf, m); err != nil {
		t.Fatalf("Write: %v", err)
	}
	checkLines(t, buf.Bytes())
	msg, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	var out rendered
	out.Header = msg.Header
	if out.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject: %v", err)
	}
	if out.From, err = mail.ParseAddress(msg.Header.Get("From")); err != nil {
		t.Fatalf("From: %v", err)
	}
	if out.To, err = mail.ParseAddress(msg.Header.Get("To")); err != nil {
		t.Fatalf("To: %v", err)
	}
	out.Text, out.HTML = alternatives(t, msg)
	return out
}

// alternatives returns the decoded text/plain and text/html parts of a
// multipart/alternative body, in that order.
func alternatives(t *testing.T, msg *mail.Message) (string, string) {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var bodies []string
	for _, want := range []string{"text/plain", "text/html"} {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("part %s: %v", want, err)
		}
		ct, ctParams, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if ct != want || ctParams["charset"] != "utf-8" || p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Fatalf("part header %v, want %s; charset=utf-8, quoted-printable", p.Header, want)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatalf("decode %s: %v", want, err)
		}
		bodies = append(bodies, string(b))
	}
	if _, err := mr.NextRawPart(); err != io.EOF {
		t.Fatalf("more than two parts: %v", err)
	}
	return bodies[0], bodies[1]
}

// checkLines asserts CRLF only, RFC 5322 line limits and an ASCII header.
func checkLines(t *testing.T, raw []byte) {
	t.Helper()
	for i, b := range raw {
		if b == '\n' && (i == 0 || raw[i-1] != '\r') || b == '\r' && (i+1 == len(raw) || raw[i+1] != '\n') {
			t.Fatalf("bare CR or LF at byte %d", i)
		}
		if b >= 0x80 {
			t.Fatalf("8-bit byte at %d: the mail must be 7bit", i)
		}
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d octets", len(line))
		}
	}
}

// containsAll reports the first of want missing from s.
func missing(s string, want ...string) string {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return w
		}
	}
	return ""
}

func TestNotification(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		name        string
		show        bool
		wantSubject string
	}{
		{"subject hidden", false, "Beveiligd bericht van Gemeente Utrecht / Secure message from Gemeente Utrecht"},
		{"subject shown", true, testSubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := baseNotification()
			n.ShowSubject = tt.show
			got := render(t, r, n)
			if got.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", got.Subject, tt.wantSubject)
			}
			if got.From.Name != "Jörg Müller (via Veilig)" || got.From.Address != "jorg@utrecht.example" {
				t.Errorf("From = %v", got.From)
			}
			if got.To.Address != "piet@ede.example" {
				t.Errorf("To = %v", got.To)
			}
			if v := got.Header.Get("Auto-Submitted"); v != "" {
				t.Errorf("Auto-Submitted = %q on a mail a person sent", v)
			}
			for part, body := range map[string]string{"text": got.Text, "html": got.HTML} {
				if w := missing(body, testLink, "Jörg Müller", "jorg@utrecht.example", "Gemeente Utrecht",
					"zaterdag 28 maart 2026 om 10:26 (CET)", "Saturday 28 March 2026 at 10:26 (CET)",
					"per sms", "by text message (SMS)", "nooit om uw wachtwoord", "never asks for your password",
					"https://veilig.example/"); w != "" {
					t.Errorf("%s part lacks %q", part, w)
				}
				if strings.Contains(body, testSubject) != tt.show {
					t.Errorf("%s part: subject shown = %v, want %v", part, !tt.show, tt.show)
				}
				checkOrder(t, part, body, "Beveiligd bericht van", "Secure message from")
			}
			checkToken(t, got, 2, 4)
		})
	}
}

// checkOrder asserts that Dutch comes before English.
func checkOrder(t *testing.T, part, body, nl, en string) {
	t.Helper()
	i, j := strings.Index(body, nl), strings.Index(body, en)
	if i < 0 || j < 0 || i > j {
		t.Errorf("%s part: Dutch %q at %d, English %q at %d", part, nl, i, en, j)
	}
}

// checkToken asserts that the token appears only in the link: never in the
// header, text times in the text part, html times in the HTML part (the link
// is in Dutch and in English, and in HTML as href and as visible text).
func checkToken(t *testing.T, got rendered, text, html int) {
	t.Helper()
	for k, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, testToken) {
				t.Errorf("token in header field %s", k)
			}
		}
	}
	if n, l := strings.Count(got.Text, testToken), strings.Count(got.Text, testLink); n != text || l != text {
		t.Errorf("text part: token %d times, link %d times, want %d", n, l, text)
	}
	if n, l := strings.Count(got.HTML, testToken), strings.Count(got.HTML, testLink); n != html || l != html {
		t.Errorf("html part: token %d times, link %d times, want %d", n, l, html)
	}
}

func TestReminder(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		days   int
		nl, en string
	}{
		{0, "De link verloopt vandaag", "The link expires today"},
		{1, "De link verloopt over 1 dag", "The link expires in 1 day"},
		{3, "De link verloopt over 3 dagen", "The link expires in 3 days"},
	}
	for _, tt := range tests {
		got := render(t, r, Reminder{Notification: baseNotification(), DaysLeft: tt.days})
		if want := "Herinnering: beveiligd bericht van Gemeente Utrecht / Reminder: secure message from Gemeente Utrecht"; got.Subject != want {
			t.Errorf("Subject = %q, want %q", got.Subject, want)
		}
		if v := got.Header.Get("Auto-Submitted"); v != "auto-generated" {
			t.Errorf("Auto-Submitted = %q", v)
		}
		for part, body := range map[string]string{"text": got.Text, "html": got.HTML} {
			body = strings.NewReplacer("<strong>", "", "</strong>", "").Replace(body)
			if w := missing(body, tt.nl, tt.en, "28 maart 2026", "28 March 2026"); w != "" {
				t.Errorf("days %d: %s part lacks %q", tt.days, part, w)
			}
			if strings.Contains(body, testSubject) {
				t.Errorf("%s part shows the hidden subject", part)
			}
		}
		checkToken(t, got, 2, 4)
	}
	n := baseNotification()
	n.ShowSubject = true
	if got := render(t, r, Reminder{Notification: n, DaysLeft: 2}); got.Subject != "Herinnering / Reminder: "+testSubject {
		t.Errorf("shown Subject = %q", got.Subject)
	}
}

func TestNotices(t *testing.T) {
	r := newRenderer(t)
	opened := time.Date(2026, 7, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		mail        Mail
		wantSubject string
		want        []string
	}{
		{"new link", NewLinkRequest{baseNotice()}, "Nieuwe link gevraagd / New link requested: " + testSubject,
			[]string{"vraagt om een nieuwe link", "asks for a new link", "zondag 29 maart 2026 om 11:26 (CEST)",
				"Sunday 29 March 2026 at 11:26 (CEST)"}},
		{"first open", FirstOpen{Notice: baseNotice(), OpenedAt: opened}, "Bericht geopend / Message opened: " + testSubject,
			[]string{"geopend op zondag 5 juli 2026 om 14:00 (CEST)", "opened your secure message",
				"on Sunday 5 July 2026 at 14:00 (CEST)"}},
		{"locked", Locked{Notice: baseNotice(), MessageRef: "0c4a-1f", APIBaseURL: "https://veilig.example/", LockedAt: opened},
			"Ontvanger geblokkeerd / Recipient locked out: " + testSubject,
			[]string{"te vaak een verkeerde code", "wrong code too many times",
				"POST https://veilig.example/api/v1/messages/0c4a-1f/recipients/piet@ede.example/unlock"}},
		{"locked without base URL", Locked{Notice: baseNotice(), MessageRef: "a/b", LockedAt: opened},
			"Ontvanger geblokkeerd / Recipient locked out: " + testSubject,
			[]string{"POST /api/v1/messages/a%2Fb/recipients/piet@ede.example/unlock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, r, tt.mail)
			if got.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", got.Subject, tt.wantSubject)
			}
			if got.From.Address != "postmaster@veilig.example" || got.To.Address != "jorg@utrecht.example" {
				t.Errorf("From %v, To %v", got.From, got.To)
			}
			for k, want := range map[string]string{"Auto-Submitted": "auto-generated",
				"X-Auto-Response-Suppress": "All", "References": "<orig@utrecht.example>"} {
				if v := got.Header.Get(k); v != want {
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
			want := append(tt.want, "piet@ede.example", testSubject, "zaterdag 14 maart 2026 om 10:26 (CET)",
				"Saturday 14 March 2026 at 10:26 (CET)", "automatisch bericht", "automatic message")
			for part, body := range map[string]string{"text": got.Text, "html": got.HTML} {
				if w := missing(body, want...); w != "" {
					t.Errorf("%s part lacks %q", part, w)
				}
			}
		})
	}
}

// TestSafeHTML renders every kind with hostile names and subjects: they are
// escaped, and no mail loads anything or runs anything.
func TestSafeHTML(t *testing.T) {
	r := newRenderer(t)
	n := baseNotification()
	n.SenderName = `<script>alert(1)</script>`
	n.OrganisationName = `"><img src=x onerror=alert(1)>`
	n.Subject, n.ShowSubject = `<b onmouseover=alert(1)>x</b>`, true
	notice := baseNotice()
	notice.Subject = n.Subject
	notice.RecipientAddress = `<script>@ede.example`
	for _, m := range []Mail{n, Reminder{n, 2}, NewLinkRequest{notice}, FirstOpen{notice, testDate},
		Locked{notice, "m1", "", testDate}} {
		got := render(t, r, m)
		lower := strings.ToLower(got.HTML)
		for _, bad := range []string{"<script", "<img", "<b ", "<link", "<style", "<iframe", "<form", "<object"} {
			if strings.Contains(lower, bad) {
				t.Errorf("%T: HTML contains %q", m, bad)
			}
		}
		if tag := remoteTag.FindString(lower); tag != "" {
			t.Errorf("%T: HTML loads or runs something: %q", m, tag)
		}
		if w := missing(got.HTML, "&lt;", `<div lang="nl">`, `<div lang="en">`); w != "" {
			t.Errorf("%T: HTML lacks %q", m, w)
		}
	}
}

// remoteTag matches a tag with an attribute that loads or runs something.
var remoteTag = regexp.MustCompile(`<[^>]*\b(src|srcset|background|on[a-z]+)\s*=|url\(`)

func TestNonASCIIName(t *testing.T) {
	r := newRenderer(t)
	n := baseNotification()
	n.SenderName, n.OrganisationName = "Ærøskøbing Ünïcode 🙂", "Gemeente ’s-Hertogenbosch"
	got := render(t, r, n) // render asserts a 7-bit mail
	if got.From.Name != "Ærøskøbing Ünïcode 🙂 (via Veilig)" {
		t.Errorf("From name = %q", got.From.Name)
	}
	if !strings.Contains(got.Subject, "Gemeente ’s-Hertogenbosch") {
		t.Errorf("Subject = %q", got.Subject)
	}
}

func TestRejects(t *testing.T) {
	r := newRenderer(t)
	note := func(edit func(n *Notification)) Mail { n := baseNotification(); edit(&n); return n }
	notice := func(edit func(n *Notice)) Mail { n := baseNotice(); edit(&n); return NewLinkRequest{n} }
	inj, inv, link := compose.ErrHeaderInjection, ErrInvalid, ErrLink
	tests := []struct {
		name string
		mail Mail
		want error
	}{
		{"CRLF in sender name", note(func(n *Notification) { n.SenderName = "Jörg\r\nBcc: x@evil.example" }), inj},
		{"LF in hidden subject", note(func(n *Notification) { n.Subject = "a\nb" }), inj},
		{"NUL in organisation", note(func(n *Notification) { n.OrganisationName = "a\x00" }), inj},
		{"CR in recipient", note(func(n *Notification) { n.RecipientAddress = "piet@ede.example\r" }), inj},
		{"LF in link", note(func(n *Notification) { n.Link = testLink + "\n" }), inj},
		{"LF in message id", note(func(n *Notification) { n.MessageID = "<a@b>\n" }), inj},
		{"LF in notice from name", notice(func(n *Notice) { n.From.Name = "Veilig\nX: y" }), inj},
		{"CR in notice recipient", notice(func(n *Notice) { n.RecipientAddress = "a@b\r" }), inj},
		{"LF in notice subject", notice(func(n *Notice) { n.Subject = "x\ny" }), inj},
		{"LF in original id", notice(func(n *Notice) { n.OriginalMessageID = "<a@b>\n" }), inj},
		{"LF in message ref", Locked{baseNotice(), "m\n1", "", testDate}, inj},
		{"http link", note(func(n *Notification) { n.Link = "http://veilig.example/v/" + testToken }), link},
		{"javascript link", note(func(n *Notification) { n.Link = "javascript:alert(1)//v/" + testToken }), link},
		{"ftp link", note(func(n *Notification) { n.Link = "ftp://veilig.example/v/" + testToken }), link},
		{"user in link", note(func(n *Notification) { n.Link = "https://gemeente.example@evil.example/v/" + testToken }), link},
		{"relative link", note(func(n *Notification) { n.Link = "/v/" + testToken }), link},
		{"short token", note(func(n *Notification) { n.Link = "https://veilig.example/v/abc" }), link},
		{"not a viewer link", note(func(n *Notification) { n.Link = "https://veilig.example/x/" + testToken }), link},
		{"query in link", note(func(n *Notification) { n.Link = testLink + "?a=b" }), link},
		{"space in link", note(func(n *Notification) { n.Link = "https://veilig.example/v/ " + testToken }), link},
		{"http API base", Locked{baseNotice(), "m1", "http://veilig.example", testDate}, link},
		{"token in message id", note(func(n *Notification) { n.MessageID = "<" + testToken + "@veilig.example>" }), inv},
		{"token in subject", note(func(n *Notification) { n.Subject = "see " + testToken }), inv},
		{"no expiry", note(func(n *Notification) { n.ExpiresAt = time.Time{} }), inv},
		{"no date", note(func(n *Notification) { n.Date = time.Time{} }), inv},
		{"no organisation", note(func(n *Notification) { n.OrganisationName = " " }), inv},
		{"bad recipient", note(func(n *Notification) { n.RecipientAddress = "piet@" }), inv},
		{"bad sender", note(func(n *Notification) { n.SenderEmail = "jorg" }), inv},
		{"negative days", Reminder{baseNotification(), -1}, inv},
		{"bad original id", notice(func(n *Notice) { n.OriginalMessageID = "orig@x" }), inv},
		{"no sent time", notice(func(n *Notice) { n.SentAt = time.Time{} }), inv},
		{"no system address", notice(func(n *Notice) { n.From.Addr = "" }), inv},
		{"no opened time", FirstOpen{baseNotice(), time.Time{}}, inv},
		{"no message ref", Locked{baseNotice(), "", "", testDate}, inv},
		{"no locked time", Locked{baseNotice(), "m1", "", time.Time{}}, inv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := r.Write(&buf, tt.mail); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes of an invalid mail", buf.Len())
			}
		})
	}
}

func TestLocalhostLink(t *testing.T) {
	r := newRenderer(t)
	for _, l := range []string{"http://localhost:8080/v/", "http://127.0.0.1/v/", "http://[::1]:8080/v/",
		"https://veilig.example/prefix/v/"} {
		n := baseNotification()
		n.Link = l + testToken
		if _, err := r.Draft(n); err != nil {
			t.Errorf("%s: %v", n.Link, err)
		}
	}
}

func TestDeterministic(t *testing.T) {
	r := newRenderer(t)
	var a, b bytes.Buffer
	if err := r.Write(&a, baseNotification()); err != nil {
		t.Fatal(err)
	}
	if err := r.Write(&b, baseNotification()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same notification rendered twice differs")
	}
}

// TestCodeChannelWording: the notification names the channel the one-time
// code comes by, in both languages and both parts.
func TestCodeChannelWording(t *testing.T) {
	r := newRenderer(t)
	for _, tc := range []struct {
		byEmail   bool
		want, not []string
	}{
		{false, []string{"per sms", "by text message (SMS)"}, []string{"per e-mail, op dit e-mailadres", "by e-mail, at this address"}},
		{true, []string{"per e-mail, op dit e-mailadres", "by e-mail, at this address"}, []string{"per sms", "by text message"}},
	} {
		n := baseNotification()
		n.CodeByEmail = tc.byEmail
		for _, m := range []Mail{n, Reminder{Notification: n, DaysLeft: 3}} {
			got := render(t, r, m)
			for _, part := range []string{got.Text, got.HTML} {
				for _, w := range tc.want {
					if !strings.Contains(part, w) {
						t.Errorf("byEmail=%v %T: missing %q", tc.byEmail, m, w)
					}
				}
				for _, w := range tc.not {
					if strings.Contains(part, w) {
						t.Errorf("byEmail=%v %T: has %q", tc.byEmail, m, w)
					}
				}
			}
		}
	}
}
