package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	adminMail   = "beheer@ede.example" // org-admin of Gemeente Ede
	testMaxBody = 40 << 20
)

// fakeMessages is a plain-data message service: it records what Accept got (the
// attachments read back through their Open funcs) and answers as told.
type fakeMessages struct {
	mu       sync.Mutex
	err      error // returned by Accept when set
	replayed bool
	calls    []acceptCall
	onRead   func() // called while an attachment is being read (memory probe)
	spoolDir string // when set, Accept records what the spool holds on disk
	status   map[string]message.Status
	owner    map[string]string // message id → sender user id
	pages    map[string]page   // cursor → page
	lists    []listCall
	revoked  []string // message ids
	unlocked []string // "id address"
}

func (f *fakeMessages) Revoke(_ context.Context, from message.Sender, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owner[id] != from.UserID {
		return fmt.Errorf("fake: %w", message.ErrNotFound)
	}
	f.revoked = append(f.revoked, id)
	return nil
}

func (f *fakeMessages) Unlock(_ context.Context, from message.Sender, id, address string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owner[id] != from.UserID || address != "jan@example.org" {
		return fmt.Errorf("fake: %w", message.ErrNotFound)
	}
	f.unlocked = append(f.unlocked, id+" "+address)
	return nil
}

type page struct {
	items []message.Summary
	next  string
}

type listCall struct {
	cursor string
	limit  int
}

type acceptCall struct {
	from        message.Sender
	key         string
	draft       message.Draft
	attachments []readBack
	raw         readBack
	spool       []spoolFile // the spool directory while Accept runs
}

// spoolFile is one file in the spool directory as Accept sees it.
type spoolFile struct {
	Mode      os.FileMode
	Plaintext bool // holds spoolCanary
}

// spoolCanary is planted in uploads; it must never be found in the spool.
const spoolCanary = "CANARY-spool-7f3a9c"

// readBack is an uploaded file as the service reads it.
type readBack struct {
	Name, ContentType, SHA256 string
	Size                      int64
}

func (f *fakeMessages) Accept(ctx context.Context, from message.Sender, d message.Draft, key string) (message.Accepted, error) {
	call := acceptCall{from: from, key: key, draft: d, spool: f.scanSpool()}
	for _, a := range d.Attachments {
		rc, err := a.Open()
		if err != nil {
			return message.Accepted{}, err
		}
		rb := f.readBack(rc)
		_ = rc.Close()
		rb.Name, rb.ContentType = a.Name, a.ContentType
		call.attachments = append(call.attachments, rb)
	}
	if d.Raw != nil {
		call.raw = f.readBack(d.Raw)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	if f.err != nil {
		return message.Accepted{}, f.err
	}
	id := fmt.Sprintf("msg-%d", len(f.calls))
	return message.Accepted{ID: id, Replayed: f.replayed, Recipients: []message.RecipientStatus{
		{Address: "jan.devries@ede.example", Route: "internal", Status: "queued", Reason: "community-domain"}}}, nil
}

func (f *fakeMessages) readBack(rc io.Reader) readBack {
	var rb readBack
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for {
		n, err := rc.Read(buf)
		h.Write(buf[:n])
		rb.Size += int64(n)
		if f.onRead != nil && rb.Size%(4<<20) < int64(n) {
			f.onRead()
		}
		if err != nil {
			break
		}
	}
	rb.SHA256 = hex.EncodeToString(h.Sum(nil))
	return rb
}

// scanSpool lists the files in spoolDir with their modes and whether they hold
// spoolCanary in plaintext.
func (f *fakeMessages) scanSpool() []spoolFile {
	if f.spoolDir == "" {
		return nil
	}
	entries, _ := os.ReadDir(f.spoolDir)
	out := make([]spoolFile, 0, len(entries))
	for _, e := range entries {
		var sf spoolFile
		if info, err := e.Info(); err == nil {
			sf.Mode = info.Mode().Perm()
		}
		b, err := os.ReadFile(filepath.Join(f.spoolDir, e.Name()))
		sf.Plaintext = err != nil || bytes.Contains(b, []byte(spoolCanary))
		out = append(out, sf)
	}
	return out
}

func (f *fakeMessages) Get(_ context.Context, from message.Sender, id string) (message.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[id]
	if !ok || f.owner[id] != from.UserID {
		return message.Status{}, fmt.Errorf("fake: %w", message.ErrNotFound)
	}
	return st, nil
}

func (f *fakeMessages) List(_ context.Context, _ message.Sender, cursor string, limit int) ([]message.Summary, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, listCall{cursor, limit})
	p, ok := f.pages[cursor]
	if !ok {
		return nil, "", &message.InvalidError{Field: "cursor", Reason: "not a cursor"}
	}
	return p.items, p.next, nil
}

func (f *fakeMessages) last(t *testing.T) acceptCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("Accept was not called")
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeMessages) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeMessages) set(err error, replayed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.replayed = err, replayed
}

// withMessages serves the message routes with fake, spooling into dir.
func withMessages(fake api.Messages, dir string, max int64) envOption {
	return func(o *api.Options, d *api.Deps) {
		o.MaxMessageBytes, o.SpoolDir = max, dir
		d.Messages = fake
		if f, ok := fake.(*fakeMessages); ok {
			d.Revoker, d.Unlocker = f, f
		}
	}
}

// form is one multipart/form-data body.
type form struct {
	message     string // JSON; omitted when empty
	messageType string // Content-Type of the message part; default application/json
	files       []formFile
	extra       map[string]string // other parts
}

type formFile struct{ name, contentType, data string }

func (f form) build(t *testing.T) (body, contentType string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if f.message != "" {
		ct := f.messageType
		if ct == "" {
			ct = "application/json"
		}
		h := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="message"`}, "Content-Type": {ct}}
		w, _ := mw.CreatePart(h)
		_, _ = io.WriteString(w, f.message)
	}
	for _, ff := range f.files {
		h := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="attachment"; filename="` + ff.name + `"`}}
		if ff.contentType != "" {
			h.Set("Content-Type", ff.contentType)
		}
		w, _ := mw.CreatePart(h)
		_, _ = io.WriteString(w, ff.data)
	}
	for name, v := range f.extra {
		_ = mw.WriteField(name, v)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String(), mw.FormDataContentType()
}

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// sealedSpool checks that while Accept ran the spool held n private files and
// none of them held the uploads in plaintext (issue 4: no plaintext on disk).
func sealedSpool(t *testing.T, got []spoolFile, n int) {
	t.Helper()
	want := make([]spoolFile, n)
	for i := range want {
		want[i] = spoolFile{Mode: 0o600}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spool files during Accept (-want +got):\n%s", diff)
	}
}

func spoolEmpty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("spool files left after the request: %v", left)
	}
}

type acceptedBody struct {
	ID         string `json:"id"`
	Recipients []struct {
		Address, Route, Status, Reason string
	} `json:"recipients"`
}

type problemBody struct {
	Type   string             `json:"type"`
	Status int                `json:"status"`
	Errors []api.FieldProblem `json:"errors"`
}

func TestMessages(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		spoolDir := filepath.Join(t.TempDir(), "spool")
		fake := &fakeMessages{spoolDir: spoolDir}
		e := newEnv(t, db, c, withMessages(fake, spoolDir, testMaxBody))
		if _, err := e.auth.Users().Create(context.Background(), auth.NewUser{Email: adminMail, Role: auth.RoleOrgAdmin, Password: password}); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(spoolDir); err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("spool directory: %v %v, want mode 0700", st, err)
		}
		sender := e.login(senderMail).AccessToken
		t.Run("multipart", func(t *testing.T) { testSubmitMultipart(t, e, fake, sender, spoolDir) })
		t.Run("rfc822", func(t *testing.T) { testSubmitRaw(t, e, fake, sender, spoolDir) })
		t.Run("replay", func(t *testing.T) { testReplay(t, e, fake, sender) })
		t.Run("refused", func(t *testing.T) { testSubmitRefused(t, e, fake, sender, spoolDir) })
		t.Run("service errors", func(t *testing.T) { testServiceErrors(t, e, fake, sender) })
		t.Run("status", func(t *testing.T) { testMessageStatus(t, e, fake, sender) })
		t.Run("sender controls", func(t *testing.T) { testSenderControls(t, e, fake, sender) })
		t.Run("list", func(t *testing.T) { testMessageList(t, e, fake, sender) })
	})
}

func testSubmitMultipart(t *testing.T, e *env, fake *fakeMessages, token, spoolDir string) {
	pdf := strings.Repeat("%PDF-1.7 binary \x00\xff "+spoolCanary, 2500)
	body, ct := form{
		message: `{"to":["jan.devries@ede.example"],"cc":["g.bakker@ede.example"],"bcc":["x@utrecht.example"],` +
			`"subject":"Dossier 42 — Zoë","text":"Zie bijlage.","html":"<p>Zie bijlage.</p>","expires_in_days":7,` +
			`"client_message_id":"outlook-123","phones":{"a@b.nl":"+31612345678"}}`,
		files: []formFile{{"rapport.pdf", "application/pdf", pdf}, {"notities.txt", "", "hallo " + spoolCanary}},
	}.build(t)
	rec := e.do(request{method: "POST", path: "/api/v1/messages", token: token, contentType: ct, body: body,
		header: http.Header{"Idempotency-Key": {"key-0001"}}})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	got := decode[acceptedBody](t, rec)
	if loc := rec.Header().Get("Location"); loc != "/api/v1/messages/"+got.ID || got.ID == "" {
		t.Errorf("Location = %q for id %q", loc, got.ID)
	}
	if rec.Header().Get("Idempotent-Replayed") != "" {
		t.Error("a first request is marked as replayed")
	}
	call := fake.last(t)
	wantFrom := message.Sender{UserID: call.from.UserID, Email: senderMail, Name: "Zoë Jansen", OrganisationID: call.from.OrganisationID}
	if diff := cmp.Diff(wantFrom, call.from); diff != "" || call.from.UserID == "" || call.from.OrganisationID == "" {
		t.Errorf("sender (-want +got):\n%s", diff)
	}
	d := call.draft
	if call.key != "key-0001" || d.Subject != "Dossier 42 — Zoë" || d.Text != "Zie bijlage." || d.HTML != "<p>Zie bijlage.</p>" ||
		d.ExpiresInDays != 7 || d.ClientMessageID != "outlook-123" || d.Phones["a@b.nl"] != "+31612345678" ||
		!cmp.Equal(d.To, []string{"jan.devries@ede.example"}) || !cmp.Equal(d.Bcc, []string{"x@utrecht.example"}) {
		t.Errorf("draft = %+v key %q", d, call.key)
	}
	want := []readBack{
		{Name: "rapport.pdf", ContentType: "application/pdf", SHA256: sum(pdf), Size: int64(len(pdf))},
		{Name: "notities.txt", ContentType: "application/octet-stream", SHA256: sum("hallo " + spoolCanary), Size: int64(len("hallo " + spoolCanary))},
	}
	if diff := cmp.Diff(want, call.attachments); diff != "" {
		t.Errorf("attachments (-want +got):\n%s", diff)
	}
	sealedSpool(t, call.spool, 2)
	spoolEmpty(t, spoolDir)
}

func testSubmitRaw(t *testing.T, e *env, fake *fakeMessages, token, spoolDir string) {
	raw := "To: jan.devries@ede.example\r\nSubject: test\r\n\r\nHallo " + spoolCanary + ".\r\n"
	rec := e.do(request{method: "POST", path: "/api/v1/messages", token: token, contentType: "message/rfc822", body: raw})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	call := fake.last(t)
	if call.raw.SHA256 != sum(raw) || call.key != "" || len(call.draft.To) != 0 {
		t.Errorf("raw read back %+v, key %q", call.raw, call.key)
	}
	sealedSpool(t, call.spool, 1)
	spoolEmpty(t, spoolDir)
}

func testReplay(t *testing.T, e *env, fake *fakeMessages, token string) {
	fake.set(nil, true)
	defer fake.set(nil, false)
	body, ct := form{message: `{"to":["jan.devries@ede.example"],"text":"x"}`}.build(t)
	rec := e.do(request{method: "POST", path: "/api/v1/messages", token: token, contentType: ct, body: body,
		header: http.Header{"Idempotency-Key": {"key-0001"}}})
	if rec.Code != http.StatusAccepted || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d, Idempotent-Replayed %q", rec.Code, rec.Header().Get("Idempotent-Replayed"))
	}
}

// testSubmitRefused: requests refused before the service is called.
func testSubmitRefused(t *testing.T, e *env, fake *fakeMessages, token, spoolDir string) {
	operator := e.login(operatorMail).AccessToken
	ok := `{"to":["jan.devries@ede.example"],"text":"x"}`
	mp := func(f form) (string, string) { return f.build(t) }
	tests := []struct {
		name   string
		form   form
		ct     string // overrides the form's Content-Type
		body   string // overrides the form
		header http.Header
		token  string
		code   int
		typ    string
		field  string
	}{
		{name: "operator", form: form{message: ok}, token: operator, code: 403, typ: "forbidden"},
		{name: "json body", body: ok, ct: "application/json", code: 415, typ: "unsupported-media-type"},
		{name: "no boundary", body: "x", ct: "multipart/form-data", code: 400, typ: "bad-request"},
		{name: "no message part", form: form{files: []formFile{{"a.txt", "", "a"}}}, code: 400, typ: "bad-request"},
		{name: "message part not json", form: form{message: ok, messageType: "text/plain"}, code: 415, typ: "unsupported-media-type"},
		{name: "unknown field", form: form{message: `{"to":["a@ede.example"],"from":"ceo@ede.example"}`}, code: 400, typ: "bad-request"},
		{name: "two objects", form: form{message: ok + `{}`}, code: 400, typ: "bad-request"},
		{name: "bad json", form: form{message: `{"to":`}, code: 400, typ: "bad-request"},
		{name: "wrong type", form: form{message: `{"to":"a@ede.example"}`}, code: 400, typ: "bad-request"},
		{name: "subject CRLF", form: form{message: `{"to":["jan.devries@ede.example"],"subject":"Hi\r\nBcc: x@evil.example"}`},
			code: 400, typ: "invalid-parameter", field: "subject"},
		{name: "subject NUL", form: form{message: `{"to":["jan.devries@ede.example"],"subject":"a\u0000b"}`}, code: 400, typ: "invalid-parameter", field: "subject"},
		{name: "client id LF", form: form{message: `{"to":["jan.devries@ede.example"],"client_message_id":"a\nb"}`},
			code: 400, typ: "invalid-parameter", field: "client_message_id"},
		{name: "address CR", form: form{message: `{"to":["jan.devries@ede.example\rBcc: x@evil.example"]}`}, code: 400, typ: "invalid-parameter", field: "to[0]"},
		{name: "attachment name CRLF", form: form{message: ok, files: []formFile{{"a%0D%0Ab.txt", "", "a"}}},
			body: rfc2231Form(t, ok), code: 400, typ: "invalid-parameter", field: "attachment"},
		{name: "attachment without name", body: namelessAttachment(t, ok), code: 400, typ: "bad-request"},
		{name: "unknown part", form: form{message: ok, extra: map[string]string{"from": "ceo@ede.example"}}, code: 400, typ: "bad-request"},
		{name: "key too long", form: form{message: ok}, header: http.Header{"Idempotency-Key": {strings.Repeat("k", 256)}}, code: 400, typ: "invalid-parameter"},
		{name: "key with space", form: form{message: ok}, header: http.Header{"Idempotency-Key": {"a b"}}, code: 400, typ: "invalid-parameter"},
		{name: "key not ASCII", form: form{message: ok}, header: http.Header{"Idempotency-Key": {"sleutel-ë"}}, code: 400, typ: "invalid-parameter"},
		{name: "two keys", form: form{message: ok}, header: http.Header{"Idempotency-Key": {"a", "b"}}, code: 400, typ: "invalid-parameter"},
		{name: "message part over 1 MiB", form: form{message: `{"text":"` + strings.Repeat("a", 1<<20) + `"}`}, code: 413, typ: "payload-too-large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := fake.count()
			body, ct := mp(tc.form)
			if tc.body != "" {
				body = tc.body
				if tc.ct != "" {
					ct = tc.ct
				} else if strings.HasPrefix(body, "--"+testBoundary) {
					ct = "multipart/form-data; boundary=" + testBoundary
				}
			}
			tok := tc.token
			if tok == "" {
				tok = token
			}
			rec := e.do(request{method: "POST", path: "/api/v1/messages", token: tok, contentType: ct, body: body,
				header: tc.header, skipRequestCheck: true})
			p := decode[problemBody](t, rec)
			if rec.Code != tc.code || p.Type != typePrefix+tc.typ {
				t.Errorf("got %d %s, want %d %s: %s", rec.Code, p.Type, tc.code, tc.typ, rec.Body)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
				t.Errorf("errors = %+v, want field %q", p.Errors, tc.field)
			}
			if fake.count() != before {
				t.Error("the service was called for a refused request")
			}
			spoolEmpty(t, spoolDir)
		})
	}
}

const testBoundary = "veilig-test-boundary"

// rfc2231Form has an attachment whose RFC 2231 filename decodes to CR LF.
func rfc2231Form(t *testing.T, msg string) string {
	t.Helper()
	return "--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"message\"\r\nContent-Type: application/json\r\n\r\n" + msg +
		"\r\n--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"attachment\"; filename*=UTF-8''a%0D%0ABcc%3A%20x.txt\r\n\r\nhallo" +
		"\r\n--" + testBoundary + "--\r\n"
}

func namelessAttachment(t *testing.T, msg string) string {
	t.Helper()
	return "--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"message\"\r\nContent-Type: application/json\r\n\r\n" + msg +
		"\r\n--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"attachment\"\r\n\r\nhallo" +
		"\r\n--" + testBoundary + "--\r\n"
}

// testServiceErrors: the service's errors become the documented problems.
func testServiceErrors(t *testing.T, e *env, fake *fakeMessages, token string) {
	defer fake.set(nil, false)
	tests := []struct {
		name   string
		err    error
		code   int
		typ    string
		fields []api.FieldProblem
	}{
		{"external recipients", fmt.Errorf("accept: %w", &message.ExternalRecipientsError{Addresses: []string{"a@gmail.example", "b@hotmail.example"}}),
			422, "unprocessable", []api.FieldProblem{{Field: "recipients", Detail: "a@gmail.example"}, {Field: "recipients", Detail: "b@hotmail.example"}}},
		{"invalid", &message.InvalidError{Field: "to", Reason: "no recipients"}, 400, "invalid-parameter", []api.FieldProblem{{Field: "to", Detail: "no recipients"}}},
		{"idempotency conflict", fmt.Errorf("x: %w", message.ErrIdempotencyConflict), 409, "conflict", nil},
		{"too many recipients", message.ErrTooManyRecipients, 400, "invalid-parameter", []api.FieldProblem{{Field: "recipients", Detail: "too many recipients"}}},
		{"header injection", fmt.Errorf("x: %w", compose.ErrHeaderInjection), 400, "invalid-parameter", nil},
		{"malformed", fmt.Errorf("x: %w", compose.ErrMalformed), 400, "bad-request", nil},
	}
	body, ct := form{message: `{"to":["jan.devries@ede.example"],"text":"x"}`}.build(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.set(tc.err, false)
			rec := e.do(request{method: "POST", path: "/api/v1/messages", token: token, contentType: ct, body: body,
				header: http.Header{"Idempotency-Key": {"k"}}})
			p := decode[problemBody](t, rec)
			if rec.Code != tc.code || p.Type != typePrefix+tc.typ {
				t.Errorf("got %d %s, want %d %s", rec.Code, p.Type, tc.code, tc.typ)
			}
			if diff := cmp.Diff(tc.fields, p.Errors); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// testSenderControls: revoke and unlock only for the sender; anyone else 404.
func testSenderControls(t *testing.T, e *env, fake *fakeMessages, token string) {
	fake.mu.Lock()
	fake.status = map[string]message.Status{"m-2": {ID: "m-2", MessageID: "<m-2@veilig.example>", State: "sending",
		Recipients: []message.Recipient{}}}
	fake.owner = map[string]string{"m-2": userID(t, e, senderMail)}
	fake.revoked, fake.unlocked = nil, nil
	fake.mu.Unlock()
	other := e.login(adminMail).AccessToken
	tests := []struct {
		name, path, token string
		code              int
	}{
		{"revoke", "/api/v1/messages/m-2/revoke", token, http.StatusOK},
		{"revoke again", "/api/v1/messages/m-2/revoke", token, http.StatusOK},
		{"revoke by another", "/api/v1/messages/m-2/revoke", other, http.StatusNotFound},
		{"revoke unknown", "/api/v1/messages/nope/revoke", token, http.StatusNotFound},
		{"revoke anonymous", "/api/v1/messages/m-2/revoke", "", http.StatusUnauthorized},
		{"unlock", "/api/v1/messages/m-2/recipients/jan%40example.org/unlock", token, http.StatusOK},
		{"unlock unknown recipient", "/api/v1/messages/m-2/recipients/piet%40example.org/unlock", token, http.StatusNotFound},
		{"unlock by another", "/api/v1/messages/m-2/recipients/jan%40example.org/unlock", other, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(request{method: "POST", path: tc.path, token: tc.token})
			if rec.Code != tc.code {
				t.Fatalf("%s: %d %s, want %d", tc.path, rec.Code, rec.Body, tc.code)
			}
		})
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if strings.Join(fake.revoked, ",") != "m-2,m-2" || strings.Join(fake.unlocked, ",") != "m-2 jan@example.org" {
		t.Errorf("revoked %v, unlocked %v", fake.revoked, fake.unlocked)
	}
}

func testMessageStatus(t *testing.T, e *env, fake *fakeMessages, token string) {
	start := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	done := start.Add(time.Minute)
	st := message.Status{ID: "m-1", MessageID: "<m-1@veilig.example>", State: "delivered", Size: 1234, CreatedAt: start,
		Recipients: []message.Recipient{{Address: "jan.devries@ede.example", Kind: "to", Route: "internal", Reason: "community-domain",
			Status: "delivered", Attempts: 1, DeliveredAt: &done, UpdatedAt: done,
			Evidence: []message.Attempt{{Run: 1, StartedAt: start, FinishedAt: start.Add(2 * time.Second), MX: "mx.ede.example",
				IP: "192.0.2.25", Policy: "dane-ee", TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", TLSAMatch: "3 1 1",
				Code: 250, Enhanced: "2.0.0", Reply: "2.0.0 Ok: queued as 4Xyz", Outcome: "delivered"}},
		}}}
	admin := e.login(adminMail).AccessToken
	operator := e.login(operatorMail).AccessToken
	fake.mu.Lock()
	fake.status = map[string]message.Status{"m-1": st}
	fake.owner = map[string]string{"m-1": userID(t, e, senderMail)}
	fake.mu.Unlock()

	rec := e.do(request{method: "GET", path: "/api/v1/messages/m-1", token: token})
	if rec.Code != http.StatusOK {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	want := `{"id":"m-1","message_id":"<m-1@veilig.example>","client_message_id":"","state":"delivered","size":1234,` +
		`"created_at":"2026-11-03T09:00:00Z","expires_at":null,"revoked_at":null,"purged_at":null,"recipients":[{"address":"jan.devries@ede.example","kind":"to",` +
		`"route":"internal","reason":"community-domain","state":"delivered","runs":1,"last_error":"","next_attempt_at":null,` +
		`"delivered_at":"2026-11-03T09:01:00Z","suspicious":false,"updated_at":"2026-11-03T09:01:00Z","attempts":[{"run":1,` +
		`"started_at":"2026-11-03T09:00:00Z","finished_at":"2026-11-03T09:00:02Z","mx":"mx.ede.example","ip":"192.0.2.25",` +
		`"policy":"dane-ee","tls_version":"TLS 1.3","cipher":"TLS_AES_128_GCM_SHA256","tlsa_match":"3 1 1","code":250,` +
		`"enhanced_code":"2.0.0","reply":"2.0.0 Ok: queued as 4Xyz","error":"","outcome":"delivered"}]}]}`
	var wantV, gotV any
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &gotV)
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ who, token, path string }{
		{"other organisation's admin", admin, "/api/v1/messages/m-1"},
		{"operator", operator, "/api/v1/messages/m-1"},
		{"unknown id", token, "/api/v1/messages/m-2"},
		{"overlong id", token, "/api/v1/messages/" + strings.Repeat("a", 65)},
	} {
		rec := e.do(request{method: "GET", path: tc.path, token: tc.token, skipRequestCheck: true})
		if p := decode[problemBody](t, rec); rec.Code != 404 || p.Type != typePrefix+"not-found" {
			t.Errorf("%s: %d %s, want 404", tc.who, rec.Code, rec.Body)
		}
	}
}

func userID(t *testing.T, e *env, mail string) string {
	t.Helper()
	u, err := e.auth.Users().GetByEmail(context.Background(), mail)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func testMessageList(t *testing.T, e *env, fake *fakeMessages, token string) {
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	fake.mu.Lock()
	fake.pages = map[string]page{
		"": {items: []message.Summary{{ID: "m-2", MessageID: "<m-2@veilig.example>", State: "sending", CreatedAt: at,
			Recipients: []message.RecipientStatus{{Address: "jan.devries@ede.example", Route: "internal", Status: "queued", Reason: "community-domain"}}}},
			next: "c2"},
		"c2": {items: []message.Summary{{ID: "m-1", MessageID: "<m-1@veilig.example>", State: "failed", CreatedAt: at}}},
	}
	fake.lists = nil
	fake.mu.Unlock()
	var ids []string
	for _, tc := range []struct{ path, next string }{
		{"/api/v1/messages?limit=1", `"c2"`},
		{"/api/v1/messages?cursor=c2", "null"},
	} {
		rec := e.do(request{method: "GET", path: tc.path, token: token})
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"next_cursor":`+tc.next) {
			t.Fatalf("%s: %d %s, want next_cursor %s", tc.path, rec.Code, rec.Body, tc.next)
		}
		for _, m := range decode[struct{ Messages []struct{ ID string } }](t, rec).Messages {
			ids = append(ids, m.ID)
		}
	}
	if diff := cmp.Diff([]string{"m-2", "m-1"}, ids); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]listCall{{"", 1}, {"c2", 20}}, fake.lists, cmp.AllowUnexported(listCall{})); diff != "" {
		t.Errorf("List calls (-want +got):\n%s", diff)
	}
	for _, path := range []string{"/api/v1/messages?limit=0", "/api/v1/messages?limit=101", "/api/v1/messages?cursor=bogus"} {
		rec := e.do(request{method: "GET", path: path, token: token, skipRequestCheck: true})
		if rec.Code != 400 {
			t.Errorf("%s: %d, want 400", path, rec.Code)
		}
	}
}

// TestSubmitLimits: the size limit holds while streaming, memory does not grow
// with the message, and nothing past the limit is read.
func TestSubmitLimits(t *testing.T) {
	c := loadContract(t)
	db := testenv.DB(t, database.SQLite)
	fake := &fakeMessages{}
	spoolDir := filepath.Join(t.TempDir(), "spool")
	const max = 32 << 20
	e := newEnv(t, db, c, withMessages(fake, spoolDir, max))
	token := e.login(senderMail).AccessToken
	t.Run("memory", func(t *testing.T) { testStreamingMemory(t, e, fake, token, spoolDir) })
	t.Run("declared too large", func(t *testing.T) { testDeclaredTooLarge(t, e, token, max) })
	t.Run("streamed too large", func(t *testing.T) { testStreamedTooLarge(t, e, fake, token, spoolDir, max) })
	t.Run("endless body over a real connection", func(t *testing.T) { testEndlessBody(t, e, token) })
}

// testStreamingMemory uploads a 30 MB attachment, generated on the fly, and
// checks that the heap grew by far less than that while the service read it.
func testStreamingMemory(t *testing.T, e *env, fake *fakeMessages, token, spoolDir string) {
	const size = 30 << 20
	var (
		mu   sync.Mutex
		peak uint64
	)
	probe := func() { // every 4 MiB read; after a GC, so only what is still held counts
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak = max(peak, ms.HeapInuse)
		mu.Unlock()
	}
	fake.onRead = probe
	defer func() { fake.onRead = nil }()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	body, ct, digest := streamedForm(size, probe)
	req := httptest.NewRequest("POST", "/api/v1/messages", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("30 MB submit: %d %s", rec.Code, rec.Body)
	}
	att := fake.last(t).attachments
	if len(att) != 1 || att[0].Size != size || att[0].SHA256 != <-digest {
		t.Fatalf("attachment read back wrongly: %+v", att)
	}
	growth := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %d KiB for a %d MiB upload", growth>>10, size>>20)
	if growth > 8<<20 {
		t.Errorf("heap grew by %d MiB while streaming %d MiB; uploads must not be held in memory", growth>>20, size>>20)
	}
	spoolEmpty(t, spoolDir)
}

// streamedForm writes a multipart body with one attachment of size bytes through
// a pipe, calling probe every few MiB; digest receives the attachment's SHA-256.
func streamedForm(size int, probe func()) (io.Reader, string, <-chan string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	digest := make(chan string, 1)
	go func() {
		h := sha256.New()
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="message"`}, "Content-Type": {"application/json"}})
		_, _ = io.WriteString(w, `{"to":["jan.devries@ede.example"],"text":"groot"}`)
		w, _ = mw.CreateFormFile("attachment", "groot.bin")
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for n := 0; n < size; n += len(chunk) {
			chunk[0] = byte(n)
			h.Write(chunk)
			if _, err := w.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
			if n%(4<<20) == 0 {
				probe()
			}
		}
		digest <- hex.EncodeToString(h.Sum(nil))
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType(), digest
}

// countingReader counts what the handler read of a body.
type countingReader struct {
	mu sync.Mutex
	r  io.Reader
	n  int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

func testDeclaredTooLarge(t *testing.T, e *env, token string, max int64) {
	body := &countingReader{r: strings.NewReader(strings.Repeat("x", 1<<20))}
	req := httptest.NewRequest("POST", "/api/v1/messages", body)
	req.ContentLength = max + 1
	req.Header.Set("Content-Type", "message/rfc822")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != 413 || rec.Header().Get("Connection") != "close" || body.n != 0 {
		t.Errorf("declared length over the limit: %d Connection=%q, read %d bytes; want 413, close, 0",
			rec.Code, rec.Header().Get("Connection"), body.n)
	}
}

// testStreamedTooLarge sends a body of unknown length well past the limit: the
// answer is 413 and the handler stops reading at the limit.
func testStreamedTooLarge(t *testing.T, e *env, fake *fakeMessages, token, spoolDir string, max int64) {
	for _, kind := range []string{"multipart", "rfc822"} {
		t.Run(kind, func(t *testing.T) {
			before := fake.count()
			var src io.Reader
			ct := "message/rfc822"
			if kind == "multipart" {
				var digest <-chan string
				src, ct, digest = streamedForm(int(max)+(16<<20), func() {})
				_ = digest
			} else {
				src = io.LimitReader(zeros{}, max+(16<<20))
			}
			body := &countingReader{r: src}
			req := httptest.NewRequest("POST", "/api/v1/messages", io.NopCloser(body))
			req.ContentLength = -1
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			p := decode[problemBody](t, rec)
			if rec.Code != 413 || p.Type != typePrefix+"payload-too-large" || rec.Header().Get("Connection") != "close" {
				t.Errorf("got %d %s Connection=%q; want 413 payload-too-large, close", rec.Code, p.Type, rec.Header().Get("Connection"))
			}
			if slack := int64(1 << 20); body.n > max+slack {
				t.Errorf("read %d bytes of the body; the limit is %d", body.n, max)
			}
			if fake.count() != before {
				t.Error("the service was called for an oversize message")
			}
			spoolEmpty(t, spoolDir)
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// testEndlessBody sends a chunked body that never ends over a real connection:
// the server must answer 413 and close, which it cannot do if it reads on.
func testEndlessBody(t *testing.T, e *env, token string) {
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute)) // a bail-out for a hung server, not a measurement
	head := "POST /api/v1/messages HTTP/1.1\r\nHost: veilig.test\r\nContent-Type: message/rfc822\r\n" +
		"Authorization: Bearer " + token + "\r\nTransfer-Encoding: chunked\r\n\r\n"
	writeErr := make(chan error, 1)
	go func() {
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("a", 64<<10))
		if _, err := io.WriteString(conn, head); err != nil {
			writeErr <- err
			return
		}
		for {
			if _, err := io.WriteString(conn, chunk); err != nil {
				writeErr <- err
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to an endless body: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 413 || !resp.Close {
		t.Errorf("endless body: %d close=%v, want 413 and the connection closed", resp.StatusCode, resp.Close)
	}
	if err := <-writeErr; err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the server kept reading the body: %v", err)
	}
}
