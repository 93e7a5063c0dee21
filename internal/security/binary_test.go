package security

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// TestBinary runs the attack cases against `veilig serve` on SQLite and on
// PostgreSQL.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("the binary suite is not short")
	}
	bin := testenv.BuildVeilig(t, "")
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			url := ""
			if engine == "postgres" {
				url = testenv.PostgresURL(t)
			}
			s := startServer(t, bin, url)
			x := &suite{s: s, canaries: newCanaries(t)}
			x.fixtures(t)
			for _, sc := range []struct {
				name string
				run  func(*testing.T)
			}{
				{"IDOR across organisations", x.idor},
				{"mass assignment", x.massAssignment},
				{"bodies: size, nesting, media type", x.bodies},
				{"header injection", x.headerInjection},
				{"file names served", x.fileNames},
				{"OTP brute force and SMS pumping", x.otpAbuse},
				{"enrolment spam", x.enrolmentSpam},
				{"security headers on HTML", x.htmlHeaders},
				{"canary search", x.canarySearch}, // last: it reads everything the others left
			} {
				t.Run(sc.name, sc.run)
			}
		})
	}
}

// suite is one server and the objects the cases attack.
type suite struct {
	s         *server
	canaries  *canaries
	msgA      sent   // alice's message (organisation A), external and community recipients
	userA     string // alice's user id
	keyA      string // an API key of organisation A
	keySecret string
}

// sent is a submitted message with an external recipient.
type sent struct {
	id, rcpt, phone, subject string
}

type attachment struct {
	name, ctype string
	data        []byte
}

func multipartBody(t *testing.T, msg any, atts ...attachment) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="message"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err == nil {
		if raw, ok := msg.(string); ok {
			_, err = pw.Write([]byte(raw))
		} else {
			err = json.NewEncoder(pw).Encode(msg)
		}
	}
	for _, a := range atts {
		if err != nil {
			break
		}
		h := textproto.MIMEHeader{}
		// RFC 7578 §4.2 / RFC 2231: the name reaches the server byte for byte,
		// controls included.
		h["Content-Disposition"] = []string{`form-data; name="attachment"; filename*=UTF-8''` + url.PathEscape(a.name)}
		h.Set("Content-Type", a.ctype)
		if pw, err = mw.CreatePart(h); err == nil {
			_, err = pw.Write(a.data)
		}
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), mw.FormDataContentType()
}

// submit posts a message as alice; it returns the reply.
func (x *suite) submit(t *testing.T, token string, msg any, hdr http.Header, atts ...attachment) reply {
	t.Helper()
	body, ct := multipartBody(t, msg, atts...)
	return x.s.do(call{method: "POST", path: "/api/v1/messages", token: token, ctype: ct, body: body, header: hdr})
}

// external submits a message to a new external recipient with a canary in
// every part and returns it.
func (x *suite) external(t *testing.T, label string, atts ...attachment) sent {
	t.Helper()
	m := sent{rcpt: "extern-" + label + "@extern.test", phone: x.canaries.phone(t),
		subject: "Besluit " + x.canaries.add("subject"+label)}
	d := map[string]any{"to": []string{m.rcpt, senderB}, "subject": m.subject,
		"text": "Geachte heer,\n\n" + x.canaries.add("body"+label) + "\n", "phones": map[string]string{m.rcpt: "+31" + m.phone}}
	if len(atts) == 0 {
		atts = []attachment{{"bijlage.pdf", "application/pdf", []byte("%PDF-1.7\n" + x.canaries.add("attachment"+label) + "\n")}}
	}
	r := x.submit(t, x.s.tokens[senderA], d, nil, atts...)
	var acc struct{ ID string }
	if r.status != http.StatusAccepted || json.Unmarshal(r.body, &acc) != nil || acc.ID == "" {
		t.Fatalf("submit %s: %s", label, r)
	}
	m.id = acc.ID
	return m
}

// link waits for the notification to rcpt in the dev mailbox and returns the
// viewer link.
func (x *suite) link(t *testing.T, rcpt string) string {
	t.Helper()
	var link string
	waitFor(t, "notification to "+rcpt, func() bool {
		for _, it := range x.s.mailbox() {
			if it.Kind == "email" && strings.Contains(strings.Join(it.To, ","), rcpt) {
				for _, l := range it.Links {
					if strings.Contains(l, "/v/") {
						link = l
						return true
					}
				}
			}
		}
		return false
	})
	return strings.TrimPrefix(link, x.s.url)
}

func (x *suite) fixtures(t *testing.T) {
	x.msgA = x.external(t, "idor")
	s := x.s
	r := s.do(call{method: "GET", path: "/api/v1/organisations/" + s.orgs[domainA] + "/users", token: s.tokens[adminA]})
	var users struct {
		Users []struct{ ID, Email string }
	}
	if r.status != 200 || json.Unmarshal(r.body, &users) != nil {
		t.Fatalf("users: %s", r)
	}
	for _, u := range users.Users {
		if u.Email == senderA {
			x.userA = u.ID
		}
	}
	body := fmt.Sprintf(`{"name":"koppeling","user_id":%q,"scopes":["messages:send"]}`, x.userA)
	r = s.do(call{method: "POST", path: "/api/v1/organisations/" + s.orgs[domainA] + "/api-keys", token: s.tokens[adminA],
		ctype: "application/json", body: []byte(body)})
	var key struct {
		APIKey struct{ ID string } `json:"api_key"`
		Secret string
	}
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &key) != nil || key.APIKey.ID == "" {
		t.Fatalf("api key: %s", r)
	}
	x.keyA, x.keySecret = key.APIKey.ID, key.Secret
	x.link(t, x.msgA.rcpt) // the notification went out
}

// unchanged runs fn and fails when any domain table's row count changed or
// any SMS or e-mail was captured meanwhile.
func (x *suite) unchanged(t *testing.T, fn func()) {
	t.Helper()
	before, mails := x.quiet(t), len(x.s.mailbox())
	fn()
	if d := diffCounts(before, rowCounts(t, x.s.db)); d != "" {
		t.Errorf("rows changed: %s", d)
	}
	if n := len(x.s.mailbox()); n != mails {
		t.Errorf("%d e-mail/SMS sent", n-mails)
	}
}

// quiet waits until the server's background work for earlier requests is
// done (every delivery final, no claim held, row counts still for a moment)
// and returns the counts, so an unchanged() window sees only what its own
// requests caused.
func (x *suite) quiet(t *testing.T) map[string]int64 {
	t.Helper()
	var counts map[string]int64
	waitFor(t, "background work done", func() bool {
		var busy int64
		err := x.s.db.Raw(`SELECT (SELECT count(*) FROM deliveries WHERE status NOT IN ('delivered', 'failed'))
			+ (SELECT count(*) FROM delivery_claims)`).Scan(&busy).Error
		if err != nil || busy > 0 {
			return false
		}
		counts = rowCounts(t, x.s.db)
		time.Sleep(300 * time.Millisecond)
		return equalCounts(counts, rowCounts(t, x.s.db))
	})
	return counts
}

// expect checks the status and, for errors, the problem+json type.
func expect(t *testing.T, what string, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: %s, want %d", what, r, status)
		return
	}
	if status >= 400 && !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("%s: Content-Type %q, want problem+json", what, r.header.Get("Content-Type"))
	}
}
