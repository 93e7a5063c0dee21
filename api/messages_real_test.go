package api_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/dkim"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

// The real services satisfy the interfaces the API consumes.
var (
	_ api.Messages           = (*message.Service)(nil)
	_ api.DNSRecords         = (*dkim.Keys)(nil)
	_ api.OrganisationReader = (*directory.Store)(nil)
	_ api.TransportPreview   = (*delivery.Deliverer)(nil)
)

// countingQueue stands in for the outbox: it records the delivery ids enqueued
// inside the message's transaction.
type countingQueue struct {
	mu  sync.Mutex
	ids []string
}

func (q *countingQueue) EnqueueTx(_ context.Context, _ *sql.Tx, ids []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ids = append(q.ids, ids...)
	return nil
}

// realStack is the real message service, blob store and DKIM keys on one database.
type realStack struct {
	blobs *blob.FS
	vault *message.Vault
	store *message.Store
	keys  *dkim.Keys
	queue *countingQueue
}

func withRealServices(t *testing.T, db *database.DB, st *realStack) envOption {
	return func(o *api.Options, d *api.Deps) {
		var err error
		if st.blobs, err = blob.NewFS(filepath.Join(t.TempDir(), "blobs")); err != nil {
			t.Fatal(err)
		}
		st.keys, st.queue = dkim.NewKeys(db.DB, time.Now), &countingQueue{}
		st.vault = message.NewVault(st.blobs, testenv.KeyRing(t))
		signer := message.SignerFunc(func(ctx context.Context, org, domain string, r io.Reader) (string, error) {
			s, err := st.keys.Signer(ctx, org, domain)
			if err != nil {
				return "", err
			}
			return s.Sign(r)
		})
		svc, err := message.New(message.Config{MaxRecipients: 500, SMTPHostname: "veilig.example"},
			message.Deps{DB: db, Vault: st.vault, Signer: signer, Router: message.LiveRouter(d.Directory),
				Queue: st.queue, Log: d.Log, Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		st.store = svc.Store()
		o.MaxMessageBytes, o.SpoolDir, o.SPFInclude = 10<<20, filepath.Join(t.TempDir(), "spool"), "_spf.veilig.example"
		d.Messages, d.Organisations, d.DKIM = svc, directory.NewStore(db.DB, time.Now), st.keys
	}
}

// TestMessagesEndToEnd runs the routes over the real message service, blob store
// and DKIM keys on both databases.
func TestMessagesEndToEnd(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		st := &realStack{}
		e := newEnv(t, db, c, withRealServices(t, db, st))
		if _, err := e.auth.Users().Create(context.Background(), auth.NewUser{Email: adminMail, Role: auth.RoleOrgAdmin, Password: password}); err != nil {
			t.Fatal(err)
		}
		sender, admin := e.login(senderMail).AccessToken, e.login(adminMail).AccessToken
		id := testRealSubmit(t, e, st, sender)
		testRealStatus(t, e, sender, admin, id)
		testRealRefusals(t, e, st, sender)
		testRealDNS(t, e, admin)
	})
}

func testRealSubmit(t *testing.T, e *env, st *realStack, token string) string {
	body, ct := form{message: `{"to":["jan.devries@ede.example"],"bcc":["g.bakker@ede.example"],"subject":"Dossier 42","text":"Zie bijlage."}`,
		files: []formFile{{"../../etc/rapport.pdf", "application/pdf", "%PDF-1.7 fake"}}}.build(t)
	post := func() *http.Response {
		rec := e.do(request{method: "POST", path: "/api/v1/messages", token: token, contentType: ct, body: body,
			header: http.Header{"Idempotency-Key": {"real-1"}}})
		return rec.Result()
	}
	first := post()
	if first.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", first.StatusCode)
	}
	again := post()
	if again.StatusCode != http.StatusAccepted || again.Header.Get("Idempotent-Replayed") != "true" ||
		again.Header.Get("Location") != first.Header.Get("Location") {
		t.Errorf("replay: %d %q %q, want 202, replayed, %q", again.StatusCode, again.Header.Get("Idempotent-Replayed"),
			again.Header.Get("Location"), first.Header.Get("Location"))
	}
	id := strings.TrimPrefix(first.Header.Get("Location"), "/api/v1/messages/")
	raw := onlyBlob(t, st.blobs, st.store) // the DKIM-Signature is kept with the row and prepended per delivery
	for _, want := range []string{"Subject: Dossier 42", "rapport.pdf"} {
		if !strings.Contains(raw, want) {
			t.Errorf("stored message lacks %q", want)
		}
	}
	for _, bad := range []string{"Bcc:", "g.bakker@ede.example", "../"} {
		if strings.Contains(raw, bad) {
			t.Errorf("stored message contains %q", bad)
		}
	}
	return id
}

// onlyBlob returns the content of the one stored blob.
func onlyBlob(t *testing.T, fs *blob.FS, store *message.Store) string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	if err := fs.Walk(ctx, func(key string, _ time.Time) error { keys = append(keys, key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("blobs %v, want exactly one (a replay stores nothing)", keys)
	}
	rc, err := store.OpenBlob(ctx, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testRealStatus(t *testing.T, e *env, sender, admin, id string) {
	rec := e.do(request{method: "GET", path: "/api/v1/messages/" + id, token: sender})
	if rec.Code != http.StatusOK {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	got := decode[struct {
		State      string
		Recipients []struct{ Address, Kind, State string }
	}](t, rec)
	var rcpts []string
	for _, r := range got.Recipients {
		rcpts = append(rcpts, r.Kind+":"+r.Address+":"+r.State)
	}
	if got.State != "sending" || !contains(rcpts, "to:jan.devries@ede.example:queued") || !contains(rcpts, "bcc:g.bakker@ede.example:queued") {
		t.Errorf("status %s, recipients %v", got.State, rcpts)
	}
	if rec := e.do(request{method: "GET", path: "/api/v1/messages/" + id, token: admin}); rec.Code != http.StatusNotFound {
		t.Errorf("another user's view: %d, want 404", rec.Code)
	}
	rec = e.do(request{method: "GET", path: "/api/v1/messages?limit=5", token: sender})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"id":"`+id+`"`) || !strings.Contains(rec.Body.String(), `"next_cursor":null`) {
		t.Errorf("list: %d %s", rec.Code, rec.Body)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func testRealRefusals(t *testing.T, e *env, st *realStack, token string) {
	st.queue.mu.Lock()
	queued := len(st.queue.ids)
	st.queue.mu.Unlock()
	tests := []struct {
		name, message, key string
		code               int
		contains           string
	}{
		{"same key, other request", `{"to":["jan.devries@ede.example"],"text":"iets anders"}`, "real-1", 409, "conflict"},
		{"external recipient", `{"to":["jan.devries@ede.example","iemand@gmail.example"],"text":"x"}`, "", 422, `"detail":"iemand@gmail.example"`},
		{"invalid phone", `{"to":["jan.devries@ede.example"],"phones":{"a@b.example":"0612"},"text":"x"}`, "", 400, `"field":"phones"`},
	}
	for _, tc := range tests {
		body, ct := form{message: tc.message}.build(t)
		var h http.Header
		if tc.key != "" {
			h = http.Header{"Idempotency-Key": {tc.key}}
		}
		rec := e.do(request{method: "POST", path: "/api/v1/messages", token: token, contentType: ct, body: body, header: h})
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, rec.Code, rec.Body, tc.code, tc.contains)
		}
	}
	st.queue.mu.Lock()
	defer st.queue.mu.Unlock()
	if len(st.queue.ids) != queued {
		t.Errorf("refused requests queued %d deliveries", len(st.queue.ids)-queued)
	}
}

func testRealDNS(t *testing.T, e *env, admin string) {
	rec := e.do(request{method: "GET", path: "/api/v1/organisations/" + directory.OrganisationID("o2") + "/dns", token: admin})
	if rec.Code != http.StatusOK {
		t.Fatalf("dns: %d %s", rec.Code, rec.Body)
	}
	got := decode[dnsBody](t, rec)
	var kinds []string
	for _, r := range got.Records {
		kinds = append(kinds, r.Purpose+" "+r.Type+" "+r.Name)
		if r.Purpose == dkim.PurposeDKIM && !strings.HasPrefix(r.Value, "v=DKIM1; k=rsa; p=") {
			t.Errorf("DKIM record value %q", r.Value)
		}
	}
	want := []string{dkim.PurposeDKIM + " TXT " + dkim.Selector(time.Now()) + "._domainkey.ede.example", dkim.PurposeSPFInclude + " TXT ede.example"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Errorf("records %v, want %v", kinds, want)
	}
}
