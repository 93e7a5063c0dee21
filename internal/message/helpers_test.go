package message_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/outbox"
	"github.com/veilig/veilig/internal/testenv"
)

// Test community: the sender's organisation holds a.example, another b.example;
// outside.example belongs to nobody.
const (
	host      = "veilig.example"
	senderA   = "alice@a.example"
	senderA2  = "anna@a.example"
	recipient = "bob@b.example"
)

var t0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is a Service over a real database, blob store, directory and outbox.
type env struct {
	db      *database.DB
	svc     *message.Service
	store   *message.Store
	blobs   *blob.FS
	vault   *message.Vault
	blobDir string
	queue   *queue
	clock   *clock
	orgA    string
	orgB    string
	signed  *signer
	router  message.Router
}

// queue wraps the outbox's Enqueuer; fail makes it fail after enqueueing.
type queue struct {
	next message.Enqueuer
	mu   sync.Mutex
	fail error
}

func (q *queue) EnqueueTx(ctx context.Context, tx *sql.Tx, ids []string) error {
	if err := q.next.EnqueueTx(ctx, tx, ids); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.fail
}

// signer is a fake DKIM signer whose "signature" is the SHA-256 of what it read.
type signer struct {
	mu      sync.Mutex
	domains []string
}

func (s *signer) Sign(_ context.Context, orgID, domain string, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.domains = append(s.domains, orgID+"/"+domain)
	s.mu.Unlock()
	return "DKIM-Signature: v=1; d=" + domain + "; bh=" + base64.StdEncoding.EncodeToString(h.Sum(nil)) + "\r\n", nil
}

// noDeliveries is a Deliverer for an outbox that is never started here.
type noDeliveries struct{}

func (noDeliveries) Deliver(context.Context, string, delivery.Envelope) delivery.Result {
	return delivery.Result{Outcome: delivery.Temporary, Reason: "not in this test"}
}

func newEnv(t *testing.T, db *database.DB) *env {
	t.Helper()
	ctx := context.Background()
	if err := outbox.Migrate(ctx, db); err != nil {
		t.Fatalf("outbox.Migrate: %v", err)
	}
	e := &env{db: db, clock: &clock{t: t0}, signed: &signer{}}
	live := community(t, db)
	var err error
	e.blobDir = t.TempDir()
	if e.blobs, err = blob.NewFS(e.blobDir); err != nil {
		t.Fatal(err)
	}
	e.vault = message.NewVault(e.blobs, testenv.KeyRing(t))
	e.store = message.NewStore(db, e.clock.Now, e.vault)
	ob, err := outbox.New(outbox.Config{Workers: 1, MaxAge: 48 * time.Hour, SMTPHostname: host},
		outbox.Deps{DB: db, Store: e.store, Deliverer: noDeliveries{}, Log: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.queue = &queue{next: ob}
	e.router = message.LiveRouter(live)
	e.svc, err = message.New(message.Config{MaxRecipients: 5, SMTPHostname: host},
		message.Deps{DB: db, Vault: e.vault, Signer: e.signed, Router: e.router, Queue: e.queue,
			Log: testenv.Logger(t), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.orgA, e.orgB = directory.OrganisationID("org-a"), directory.OrganisationID("org-b")
	return e
}

// community stores two organisations and returns the live view of them.
func community(t *testing.T, db *database.DB) *directory.Live {
	t.Helper()
	ctx := context.Background()
	store := directory.NewStore(db.DB, time.Now)
	err := store.Write(ctx, true, func(w *directory.Writer) error {
		return w.PutOrganisations(ctx, []directory.Organisation{
			{SourceID: "org-a", Name: "Gemeente A", Domains: []string{"a.example"}},
			{SourceID: "org-b", Name: "Gemeente B", Domains: []string{"b.example"}},
		})
	})
	if err != nil {
		t.Fatalf("write directory: %v", err)
	}
	live := directory.NewLive(store, testenv.Discard(), time.Now)
	if _, err := live.Refresh(ctx); err != nil {
		t.Fatalf("load directory: %v", err)
	}
	return live
}

func (e *env) sender(email string) message.Sender {
	return message.Sender{UserID: "user-" + email, Email: email, Name: "Ålice Tester", OrganisationID: e.orgA}
}

// count returns the rows of a table.
func (e *env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.db.Raw("SELECT COUNT(*) FROM " + table).Scan(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func (e *env) counts(t *testing.T) [3]int {
	return [3]int{e.count(t, "messages"), e.count(t, "deliveries"), e.count(t, "river_job")}
}

// blobText reads a committed blob.
func (e *env) blobText(t *testing.T, key string) string {
	t.Helper()
	rc, err := e.store.OpenBlob(context.Background(), key)
	if err != nil {
		t.Fatalf("open blob %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) blobKey(t *testing.T, id string) (key, signature string) {
	t.Helper()
	row := struct{ BlobKey, DKIMSignature string }{}
	if err := e.db.Raw("SELECT blob_key, dkim_signature FROM messages WHERE id = ?", id).
		Scan(&row).Error; err != nil {
		t.Fatal(err)
	}
	return row.BlobKey, row.DKIMSignature
}

func draft(to ...string) message.Draft {
	return message.Draft{To: to, Subject: "Besluit op uw aanvraag", Text: "Geachte heer,\n\nZie bijlage.\n"}
}

func attachment(name, content string) compose.Attachment {
	return compose.Attachment{Name: name, ContentType: "text/plain", Open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(content)), nil
	}}
}

var errInjected = errors.New("injected failure")
