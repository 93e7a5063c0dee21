package e2e

// What the viewer scenarios need beside the mail lab: a fake CM.com SMS
// gateway, the notification mails' links, the sender's notices, and SQL
// against the binary's own PostgreSQL database.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// cmToken is the product token the binary is given; the fake checks it.
const cmToken = "0c9e7a52-e2e-fake-cm-token"

// sms is one text message CM accepted.
type sms struct {
	To, Text string
}

// fakeCM is CM.com's JSON messaging API (POST /v1.0/message, see
// internal/sms/cm.go for the documented shapes), keeping every message.
type fakeCM struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []sms
	bad []string // requests that broke the documented contract
}

func startFakeCM(t *testing.T) *fakeCM {
	t.Helper()
	f := &fakeCM{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

type cmRequestBody struct {
	Messages struct {
		Msg []struct {
			From string `json:"from"`
			To   []struct {
				Number string `json:"number"`
			} `json:"to"`
			Body struct {
				Type    string `json:"type"`
				Content string `json:"content"`
			} `json:"body"`
			Reference       string   `json:"reference"`
			AllowedChannels []string `json:"allowedChannels"`
		} `json:"msg"`
	} `json:"messages"`
}

func (f *fakeCM) serve(w http.ResponseWriter, r *http.Request) {
	var req cmRequestBody
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	err := json.Unmarshal(raw, &req)
	ok := err == nil && r.Method == http.MethodPost && r.URL.Path == "/v1.0/message" &&
		r.Header.Get("X-CM-PRODUCTTOKEN") == cmToken && len(req.Messages.Msg) == 1 &&
		len(req.Messages.Msg[0].To) == 1 && req.Messages.Msg[0].From != ""
	if !ok {
		f.record(sms{}, r.Method+" "+r.URL.Path+": "+string(raw))
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"details":"No account found for the given authentication","errorCode":101,"messages":[]}`))
		return
	}
	m := req.Messages.Msg[0]
	f.record(sms{To: m.To[0].Number, Text: m.Body.Content}, "")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"details": "Created 1 message(s)", "errorCode": 0,
		"messages": []map[string]any{{"to": m.To[0].Number, "status": "Accepted", "reference": m.Reference,
			"parts": 1, "messageDetails": nil, "messageErrorCode": 0}}})
}

func (f *fakeCM) record(m sms, bad string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bad != "" {
		f.bad = append(f.bad, bad)
		return
	}
	f.got = append(f.got, m)
}

// to returns the messages sent to the number (CM's 00-prefixed form).
func (f *fakeCM) to(number string) []sms {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sms
	for _, m := range f.got {
		if m.To == number {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeCM) malformed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bad...)
}

var smsCode = regexp.MustCompile(`\b(\d{6})\b`)

// code waits for the n-th SMS to number and returns its 6-digit code; it
// fails when more than n arrived.
func (f *fakeCM) code(t *testing.T, number string, n int) string {
	t.Helper()
	var got []sms
	testenv.WaitFor(t, time.Minute, "SMS number "+strconv.Itoa(n), func() (bool, string) {
		got = f.to(number)
		return len(got) >= n, strings.Repeat("sms ", len(got))
	})
	if len(got) != n {
		t.Fatalf("%d SMS to the recipient's number, want %d", len(got), n)
	}
	m := smsCode.FindAllStringSubmatch(got[n-1].Text, -1)
	if len(m) == 0 || m[0][1] != m[len(m)-1][1] {
		t.Fatalf("SMS number %d has no single 6-digit code (%d digits groups)", n, len(m))
	}
	return m[0][1]
}

// linkPattern matches a viewer link; the token is group 1.
func linkPattern(base string) *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(base) + `/v/([A-Za-z0-9_.-]{16,256})`)
}

// notificationLink waits for the notification mail to rcpt in the Maildir of
// p and returns the viewer link in it. The link is a secret: never logged.
func notificationLink(t *testing.T, p *testenv.Postfix, rcpt, base string) string {
	t.Helper()
	var link string
	re := linkPattern(base)
	testenv.WaitFor(t, deliveryWait, "notification to "+rcpt, func() (bool, string) {
		for _, m := range delivered(t, p, rcpt, "") {
			for _, text := range textParts(t, m) {
				if found := re.FindString(text); found != "" {
					link = found
					return true, ""
				}
			}
		}
		return false, "no message with a link for " + rcpt
	})
	return link
}

// textParts are the decoded text/* parts of a message (single-part too).
func textParts(t *testing.T, m testenv.Message) []string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	ctype := msg.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ctype); !strings.HasPrefix(mt, "multipart/") {
		return []string{decodeBody(t, mail.Header(msg.Header), msg.Body)}
	}
	var out []string
	walkParts(t, ctype, msg.Body, func(h mail.Header, body io.Reader) {
		if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); strings.HasPrefix(mt, "text/") {
			out = append(out, decodeBody(t, h, body))
		}
	})
	return out
}

func walkParts(t *testing.T, ctype string, body io.Reader, fn func(mail.Header, io.Reader)) {
	t.Helper()
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("MIME: %v", err)
		}
		h := mail.Header(p.Header)
		if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") {
			walkParts(t, h.Get("Content-Type"), p, fn)
			continue
		}
		fn(h, p)
	}
}

func decodeBody(t *testing.T, h mail.Header, body io.Reader) string {
	t.Helper()
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return string(b)
}

// senderNotice waits for the notice in the sender's Maildir about the original
// message (References) whose decoded subject contains want. A second copy of
// the original itself in her mailbox (beside her self-copy) means the notice
// went out with the message's content instead: that fails at once.
func senderNotice(t *testing.T, p *testenv.Postfix, rcpt, original, want string) {
	t.Helper()
	var resent bool
	testenv.WaitFor(t, deliveryWait, "notice "+want, func() (bool, string) {
		var subjects []string
		copies := 0
		for _, m := range delivered(t, p, rcpt, "") {
			s, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if strings.Contains(m.Header.Get("References"), original) && strings.Contains(s, want) {
				return true, ""
			}
			if strings.TrimSpace(m.Header.Get("Message-Id")) == original {
				copies++
			}
			subjects = append(subjects, s)
		}
		resent = copies > 1
		return resent, strings.Join(subjects, " | ")
	})
	if resent {
		t.Errorf("notice %q: the sender got her original message again instead of the notice", want)
	}
}

// psql runs SQL against the binary's database and returns its unaligned output.
// Values in sql must be literals the test made (ids from the API), quoted.
func psql(t *testing.T, dbURL, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgBin(t, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-d", dbURL, "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// pgBin finds a PostgreSQL client program, preferring Debian's version 15.
func pgBin(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{"/usr/lib/postgresql/15/bin/" + name} {
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, name+" (postgresql-client)")
	}
	return p
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
