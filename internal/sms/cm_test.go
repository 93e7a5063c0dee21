package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testToken = "00000000-1111-2222-3333-444444444444"

// reply is one scripted answer of the fake CM gateway.
type reply struct {
	status int
	body   string
	hang   bool // block until the client gives up
}

// fakeCM speaks CM's documented JSON API: it checks the token header and the
// request shape and answers from a script, then accepts by default.
type fakeCM struct {
	mu     sync.Mutex
	script []reply
	hits   int // every HTTP request, valid or not
	got    []cmRequest
}

func (f *fakeCM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits++
	f.mu.Unlock()
	var req cmRequest
	if r.Method != http.MethodPost || r.URL.Path != cmPath || r.Header.Get(cmTokenHeader) != testToken ||
		json.NewDecoder(r.Body).Decode(&req) != nil {
		writeJSON(w, http.StatusBadRequest, `{"details":"No account found for the given authentication","errorCode":101,"messages":[]}`)
		return
	}
	rep := f.next(req)
	if rep.hang {
		<-r.Context().Done()
		return
	}
	writeJSON(w, rep.status, rep.body)
}

func (f *fakeCM) next(req cmRequest) reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, req)
	if len(f.script) == 0 {
		return reply{status: http.StatusOK, body: acceptedBody(req.Messages.Msg[0].Reference)}
	}
	rep := f.script[0]
	f.script = f.script[1:]
	return rep
}

func (f *fakeCM) hitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *fakeCM) requests() []cmRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]cmRequest(nil), f.got...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func acceptedBody(ref string) string {
	return `{"details":"Created 1 message(s)","errorCode":0,"messages":[{"to":"0031612345678","status":"Accepted","reference":"` +
		ref + `","parts":1,"messageDetails":null,"messageErrorCode":0}]}`
}

const rejectedBody = `{"details":"Created 0 message(s)","errorCode":201,"messages":[{"to":"0031612345678",` +
	`"status":"Rejected","reference":"ref1","parts":0,"messageDetails":"Gsm '0031612345678' is not a number.","messageErrorCode":303}]}`

// newTestCM starts a fake gateway and a CM sender pointed at it, logging to buf.
func newTestCM(t *testing.T, script []reply, mod func(*CMConfig)) (*CM, *fakeCM, *bytes.Buffer) {
	t.Helper()
	fake := &fakeCM{script: script}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	var buf bytes.Buffer
	cfg := CMConfig{
		BaseURL: srv.URL, ProductToken: testToken, From: "Veilig", HTTPClient: srv.Client(),
		MaxAttempts: 3, Backoff: time.Millisecond, Log: slog.New(slog.NewTextHandler(&buf, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewCM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, fake, &buf
}

func testMessage(t *testing.T) Message {
	t.Helper()
	n, err := Normalize("06 12345678", "NL")
	if err != nil {
		t.Fatal(err)
	}
	return Message{To: n, Text: "Uw code is 123456", Reference: "ref1"}
}

func TestCMSend(t *testing.T) {
	hang := reply{hang: true}
	unavailable := reply{status: http.StatusServiceUnavailable, body: `<html>503</html>`}
	for _, tc := range []struct {
		name         string
		script       []reply
		mod          func(*CMConfig)
		want         Receipt
		wantErr      *ProviderError
		wantRequests int
	}{
		{name: "success", want: Receipt{ProviderID: "ref1", Status: "Accepted"}, wantRequests: 1},
		{
			name:         "invalid token is permanent",
			mod:          func(c *CMConfig) { c.ProductToken = "99999999-0000-0000-0000-000000000000" },
			wantErr:      &ProviderError{Status: 400, Code: "101"},
			wantRequests: 1,
		},
		{
			name:         "rejected recipient is permanent",
			script:       []reply{{status: 400, body: rejectedBody}},
			wantErr:      &ProviderError{Status: 400, Code: "303"},
			wantRequests: 1,
		},
		{
			name:         "rejected in a 200 is permanent",
			script:       []reply{{status: 200, body: strings.Replace(rejectedBody, `"errorCode":201`, `"errorCode":0`, 1)}},
			wantErr:      &ProviderError{Status: 200, Code: "303"},
			wantRequests: 1,
		},
		{
			name:         "5xx then success is retried",
			script:       []reply{unavailable, {status: 502, body: ""}},
			want:         Receipt{ProviderID: "ref1", Status: "Accepted"},
			wantRequests: 3,
		},
		{
			name:         "5xx every time gives up after MaxAttempts",
			script:       []reply{unavailable, unavailable, unavailable, unavailable},
			wantErr:      &ProviderError{Status: 503, Code: "unknown", Temporary: true},
			wantRequests: 3,
		},
		{
			name:         "attempt time-out is retried",
			script:       []reply{hang},
			mod:          func(c *CMConfig) { c.AttemptTimeout = 100 * time.Millisecond },
			want:         Receipt{ProviderID: "ref1", Status: "Accepted"},
			wantRequests: 2,
		},
		{
			name:         "malformed response is not retried",
			script:       []reply{{status: 200, body: `{"messages": [`}},
			wantErr:      &ProviderError{Status: 200, Code: "malformed_response"},
			wantRequests: 1,
		},
		{
			name:         "response without messages is malformed",
			script:       []reply{{status: 200, body: `{"details":"Created 0 message(s)","errorCode":0,"messages":[]}`}},
			wantErr:      &ProviderError{Status: 200, Code: "malformed_response"},
			wantRequests: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fake, logs := newTestCM(t, tc.script, tc.mod)
			got, err := c.Send(context.Background(), testMessage(t))
			checkErr(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("receipt (-want +got):\n%s", diff)
			}
			if n := fake.hitCount(); n != tc.wantRequests {
				t.Errorf("gateway saw %d requests, want %d", n, tc.wantRequests)
			}
			checkLogs(t, logs.String())
		})
	}
}

// checkErr compares a *ProviderError by its classification, ignoring the cause.
func checkErr(t *testing.T, err error, want *ProviderError) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		return
	}
	var pe *ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("Send error = %v, want %v", err, want)
	}
	got := *pe
	got.Err = nil
	if diff := cmp.Diff(*want, got); diff != "" {
		t.Errorf("ProviderError (-want +got):\n%s", diff)
	}
	if IsTemporary(err) != want.Temporary {
		t.Errorf("IsTemporary = %v, want %v", IsTemporary(err), want.Temporary)
	}
}

// checkLogs asserts that one outcome was logged without the token or number.
func checkLogs(t *testing.T, logs string) {
	t.Helper()
	for _, secret := range []string{testToken, "612345678", "12345678"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs reveal %q:\n%s", secret, logs)
		}
	}
	if n := strings.Count(logs, "sms: cm send"); n != 1 {
		t.Errorf("logged %d outcomes, want 1:\n%s", n, logs)
	}
}

func TestCMRequestShape(t *testing.T) {
	c, fake, _ := newTestCM(t, nil, nil)
	if _, err := c.Send(context.Background(), testMessage(t)); err != nil {
		t.Fatal(err)
	}
	want := []cmRequest{{Messages: cmMessages{Msg: []cmMsg{{
		From:            "Veilig",
		To:              []cmNumber{{Number: "0031612345678"}},
		Body:            cmBody{Type: "auto", Content: "Uw code is 123456"},
		Reference:       "ref1",
		AllowedChannels: []string{"SMS"},
	}}}}}
	if diff := cmp.Diff(want, fake.requests()); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestCMCallerDeadline(t *testing.T) {
	c, fake, logs := newTestCM(t, []reply{{hang: true}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, testMessage(t))
	if !errors.Is(err, context.DeadlineExceeded) || !IsTemporary(err) {
		t.Fatalf("Send error = %v, want a temporary error wrapping context.DeadlineExceeded", err)
	}
	if n := len(fake.requests()); n != 1 {
		t.Errorf("gateway saw %d requests, want 1 (no retry past the caller's deadline)", n)
	}
	checkLogs(t, logs.String())
}

func TestCMConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := NewCM(CMConfig{BaseURL: url, ProductToken: testToken, From: "Veilig", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), testMessage(t))
	checkErr(t, err, &ProviderError{Code: "transport", Temporary: true})
}

func TestCMInvalidInput(t *testing.T) {
	c, fake, _ := newTestCM(t, nil, nil)
	good := testMessage(t)
	for name, m := range map[string]Message{
		"no recipient":   {Text: "x", Reference: "r"},
		"empty text":     {To: good.To, Reference: "r"},
		"long text":      {To: good.To, Text: strings.Repeat("x", maxTextBytes+1), Reference: "r"},
		"no reference":   {To: good.To, Text: "x"},
		"bad reference":  {To: good.To, Text: "x", Reference: "a b"},
		"long reference": {To: good.To, Text: "x", Reference: strings.Repeat("r", 33)},
	} {
		if _, err := c.Send(context.Background(), m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: error = %v, want ErrInvalidMessage", name, err)
		}
	}
	if n := len(fake.requests()); n != 0 {
		t.Errorf("gateway saw %d requests, want 0", n)
	}
}

func TestNewCMConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  CMConfig
		ok   bool
	}{
		{"defaults", CMConfig{ProductToken: testToken, From: "Veilig"}, true},
		{"numeric sender", CMConfig{ProductToken: testToken, From: "3197010000000"}, true},
		{"no token", CMConfig{From: "Veilig"}, false},
		{"no sender", CMConfig{ProductToken: testToken}, false},
		{"sender too long", CMConfig{ProductToken: testToken, From: "VeiligMailNL1"}, false},
		{"sender with space", CMConfig{ProductToken: testToken, From: "Veilig NL"}, false},
		{"bad base URL", CMConfig{ProductToken: testToken, From: "Veilig", BaseURL: "ftp://x.test"}, false},
	} {
		_, err := NewCM(tc.cfg)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: NewCM error = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret(testToken)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "token", s, "cfg", CMConfig{ProductToken: s})
	j, _ := json.Marshal(struct{ Token Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), buf.String(), string(j)} {
		if strings.Contains(out, testToken) {
			t.Errorf("secret revealed in %q", out)
		}
	}
}

func TestProviderErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   *ProviderError
	}{
		{500, "", &ProviderError{Status: 500, Code: "unknown", Temporary: true}},
		{429, "", &ProviderError{Status: 429, Code: "unknown", Temporary: true}},
		{401, `{"errorCode":101,"messages":[]}`, &ProviderError{Status: 401, Code: "101"}},
		{404, "not found", &ProviderError{Status: 404, Code: "unknown"}},
		{302, "", &ProviderError{Status: 302, Code: "unexpected_status"}},
	} {
		_, err := classify(tc.status, []byte(tc.body))
		checkErr(t, err, tc.want)
	}
	if IsTemporary(errors.New("x")) || IsTemporary(nil) {
		t.Error("IsTemporary true for a non-provider error")
	}
}
