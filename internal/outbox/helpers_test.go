package outbox

import (
	"context"
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
	"github.com/veilig/veilig/internal/testenv"
)

const (
	host      = "veilig.example"
	sender    = "alice@a.example"
	recipient = "bob@b.example"
	fakeSig   = "DKIM-Signature: v=1; d=a.example; b=fake\r\n"
)

var t0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// fakeDeliverer answers with results in turn (the last one repeats) and records
// what it was asked to send.
type fakeDeliverer struct {
	mu      sync.Mutex
	results []delivery.Result
	calls   []call
}

type call struct {
	domain, from, body string
	to                 []string
	size               int64
}

func (f *fakeDeliverer) Deliver(_ context.Context, domain string, env delivery.Envelope) delivery.Result {
	body := ""
	if rc, err := env.Open(); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		body = string(b)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{domain: domain, from: env.From, to: env.To, body: body, size: env.Size})
	r := f.results[min(len(f.calls), len(f.results))-1]
	return r
}

func (f *fakeDeliverer) set(results ...delivery.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results, f.calls = results, nil
}

func (f *fakeDeliverer) called() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// env is an outbox and a message service over one real database.
type env struct {
	db    *database.DB
	o     *Outbox
	svc   *message.Service
	fake  *fakeDeliverer
	clock *clock
	blobs blob.Store
	store *message.Store
	from  message.Sender
}

func newEnv(t *testing.T, db *database.DB, cfg Config, now func() time.Time) *env {
	t.Helper()
	ctx := context.Background()
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	e := &env{db: db, fake: &fakeDeliverer{}, clock: &clock{t: t0}}
	if now == nil {
		now = e.clock.Now
	}
	blobs, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.blobs = blobs
	vault := message.NewVault(blobs, testenv.KeyRing(t))
	store := message.NewStore(db, now, vault)
	e.store = store
	if e.o, err = New(cfg, Deps{DB: db, Store: store, Deliverer: e.fake,
		Log: testenv.Logger(t), Now: now}); err != nil {
		t.Fatal(err)
	}
	e.svc, err = message.New(message.Config{MaxRecipients: 10, SMTPHostname: host}, message.Deps{DB: db,
		Vault: vault, Signer: message.SignerFunc(fakeSign), Router: community(t, db), Queue: e.o,
		Log: testenv.Logger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	e.from = message.Sender{UserID: "u-alice", Email: sender, Name: "Alice",
		OrganisationID: directory.OrganisationID("org-a")}
	return e
}

func fakeSign(_ context.Context, _, _ string, r io.Reader) (string, error) {
	_, err := io.Copy(io.Discard, r)
	return fakeSig, err
}

func testConfig() Config {
	return Config{Workers: 2, MaxAge: 48 * time.Hour, SMTPHostname: host}
}

// community stores two organisations and routes against them.
func community(t *testing.T, db *database.DB) message.Router {
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
	return message.LiveRouter(live)
}

// send accepts a message to recipient and returns its id and the id of the
// recipient's delivery.
func (e *env) send(t *testing.T) (messageID, deliveryID string) {
	t.Helper()
	acc, err := e.svc.Accept(context.Background(), e.from,
		message.Draft{To: []string{recipient}, Subject: "Onderwerp", Text: "Tekst"}, "")
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return acc.ID, e.deliveryID(t, acc.ID, message.KindTo)
}

func (e *env) deliveryID(t *testing.T, messageID, kind string) string {
	t.Helper()
	var ids []string
	e.db.Raw("SELECT id FROM deliveries WHERE message_id = ? AND kind = ?", messageID, kind).Scan(&ids)
	if len(ids) != 1 {
		t.Fatalf("%d %s deliveries of %s, want 1", len(ids), kind, messageID)
	}
	return ids[0]
}

// recipientStatus returns the sender's view of one kind of delivery.
func (e *env) recipientStatus(t *testing.T, messageID, kind string) (message.Status, message.Recipient) {
	t.Helper()
	st, err := e.svc.Get(context.Background(), e.from, messageID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	for _, r := range st.Recipients {
		if r.Kind == kind {
			return st, r
		}
	}
	return st, message.Recipient{}
}

func (e *env) blobText(t *testing.T, key string) string {
	t.Helper()
	rc, err := e.store.OpenBlob(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func (e *env) jobs(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.Raw("SELECT COUNT(*) FROM river_job WHERE kind = ?", DeliverArgs{}.Kind()).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
