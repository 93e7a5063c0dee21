package external_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/external"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/notify"
	"github.com/veilig/veilig/internal/otp"
	"github.com/veilig/veilig/internal/outbox"
	"github.com/veilig/veilig/internal/sms"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/viewer"
)

// Test community: the sender's organisation holds a.example, another b.example;
// outside.example belongs to nobody, so its addresses take the external route.
const (
	host      = "veilig.example"
	publicURL = "https://veilig.example"
	senderA   = "alice@a.example"
	senderA2  = "anna@a.example"
	outsider  = "carol@outside.example"
	phoneA    = "+31612345678"
	ip        = "192.0.2.10"
	idle      = 30 * time.Minute
	absolute  = 8 * time.Hour
	expiry    = 14 // days
)

// t0 is a Monday morning: 10:30 in Amsterdam (CET, UTC+1).
var t0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

// clock is a settable test clock shared by every service of an env.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// smsBox is an in-memory sms.Sender that records what it sends.
type smsBox struct {
	mu   sync.Mutex
	sent []sms.Message
}

func (b *smsBox) Send(_ context.Context, m sms.Message) (sms.Receipt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, m)
	return sms.Receipt{ProviderID: fmt.Sprint(len(b.sent)), Status: "accepted"}, nil
}

func (b *smsBox) all() []sms.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sms.Message(nil), b.sent...)
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode returns the code of the last SMS; the test fails without one.
func (b *smsBox) lastCode(t *testing.T) string {
	t.Helper()
	all := b.all()
	if len(all) == 0 {
		t.Fatal("no SMS sent")
	}
	m := codeRE.FindStringSubmatch(all[len(all)-1].Text)
	if m == nil {
		t.Fatalf("SMS %q has no 6-digit code", all[len(all)-1].Text)
	}
	return m[1]
}

// signer is a fake DKIM signer whose "signature" is the SHA-256 of what it read.
type signer struct{}

func (signer) Sign(_ context.Context, _, domain string, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return "DKIM-Signature: v=1; d=" + domain + "; bh=" + base64.StdEncoding.EncodeToString(h.Sum(nil)) + "\r\n", nil
}

// notifier adapts notify to message.Notifier as internal/cli does.
type notifier struct{ r *notify.Renderer }

func (n notifier) WriteNotification(w io.Writer, m message.Notification) error {
	return n.r.Write(w, notification(m))
}

func (n notifier) WriteReminder(w io.Writer, m message.Notification, daysLeft int) error {
	return n.r.Write(w, notify.Reminder{Notification: notification(m), DaysLeft: daysLeft})
}

func notification(m message.Notification) notify.Notification {
	return notify.Notification{SenderName: m.SenderName, SenderEmail: m.SenderEmail,
		OrganisationName: m.Organisation, RecipientAddress: m.Recipient, Link: m.Link, ExpiresAt: m.ExpiresAt,
		Subject: m.Subject, ShowSubject: m.Subject != "", MessageID: m.MessageID, Date: m.Date}
}

// noDeliveries is the Deliverer of an outbox that is never started here.
type noDeliveries struct{}

func (noDeliveries) Deliver(context.Context, string, delivery.Envelope) delivery.Result {
	return delivery.Result{Outcome: delivery.Temporary, Reason: "not in this test"}
}

// logBuffer collects every log line of an env, to check what is never logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// env is the external back end over the real stack on one database.
type env struct {
	db      *database.DB
	clock   *clock
	blobs   *blob.FS
	blobDir string
	store   *message.Store
	msgs    *message.Service
	codes   *otp.Service
	sms     *smsBox
	mails   *mailBox
	queue   message.Enqueuer
	log     *slog.Logger
	ext     *external.Service
	render  *notify.Renderer
	logs    *logBuffer
	orgA    string
	alice   message.Sender
	anna    message.Sender
}

func newEnv(t *testing.T, db *database.DB) *env {
	t.Helper()
	ctx := context.Background()
	if err := outbox.Migrate(ctx, db); err != nil {
		t.Fatalf("outbox.Migrate: %v", err)
	}
	e := &env{db: db, clock: &clock{t: t0}, sms: &smsBox{}, mails: &mailBox{}, logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(e.logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	e.blobDir = t.TempDir()
	if e.blobs, err = blob.NewFS(e.blobDir); err != nil {
		t.Fatal(err)
	}
	vault := message.NewVault(e.blobs, testenv.KeyRing(t))
	e.store = message.NewStore(db, e.clock.Now, vault)
	ob, err := outbox.New(outbox.Config{Workers: 1, MaxAge: 48 * time.Hour, SMTPHostname: host},
		outbox.Deps{DB: db, Store: e.store, Deliverer: noDeliveries{}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if e.render, err = notify.New(); err != nil {
		t.Fatal(err)
	}
	e.msgs, err = message.New(message.Config{MaxRecipients: 10, SMTPHostname: host,
		External: &message.ExternalConfig{PublicURL: publicURL, Regions: []string{"NL"}, ExpiryDays: expiry}},
		message.Deps{DB: db, Vault: vault, Signer: signer{}, Router: community(t, db), Queue: ob,
			Notifier: notifier{e.render}, Log: log, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.codes, err = otp.New(db, otp.Config{Secret: bytes.Repeat([]byte("k"), 32), Now: e.clock.Now}, log)
	if err != nil {
		t.Fatal(err)
	}
	e.ext, err = external.New(external.Config{IdleTimeout: idle, AbsoluteTimeout: absolute, DailySMSCap: 100,
		PublicHost: host}, external.Deps{DB: db, Messages: e.msgs, OTP: e.codes, SMS: e.sms, Queue: ob,
		Log: log, Now: e.clock.Now, Mail: e.mails, Notify: e.render})
	if err != nil {
		t.Fatal(err)
	}
	e.queue, e.log = ob, log
	e.orgA = directory.OrganisationID("org-a")
	e.alice = message.Sender{UserID: "user-alice", Email: senderA, Name: "Alice Tester", OrganisationID: e.orgA}
	e.anna = message.Sender{UserID: "user-anna", Email: senderA2, Name: "Anna Tester", OrganisationID: e.orgA}
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
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

// sent is an accepted message with its external recipients.
type sent struct {
	id        string
	links     map[string]link // by address
	messageID string          // the Message-ID header field
}

// link is one external recipient: its delivery and the token of its link.
type link struct {
	deliveryID, token string
}

// draft is a message to outsider with phoneA.
func draft() message.Draft {
	return message.Draft{To: []string{outsider}, Subject: "Besluit op uw aanvraag",
		Text: "Geachte mevrouw,\n\nZie bijlage.\n", Phones: map[string]string{outsider: phoneA}}
}

// send accepts d from alice and reads each external recipient's link token out
// of its sealed notification.
func (e *env) send(t *testing.T, d message.Draft) sent {
	t.Helper()
	return e.sendAs(t, e.alice, d)
}

func (e *env) sendAs(t *testing.T, from message.Sender, d message.Draft) sent {
	t.Helper()
	acc, err := e.msgs.Accept(context.Background(), from, d, "")
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	s := sent{id: acc.ID, links: map[string]link{}}
	var rows []struct{ ID, Address string }
	if err := e.db.Raw("SELECT id, address FROM deliveries WHERE message_id = ? AND route = ? AND kind <> ?",
		acc.ID, directory.RouteExternal, message.KindNotice).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("message %s has no external recipient", acc.ID)
	}
	for _, r := range rows {
		s.links[r.Address] = link{deliveryID: r.ID, token: e.linkToken(t, r.ID)}
	}
	if err := e.db.Raw("SELECT message_id_header FROM messages WHERE id = ?", acc.ID).Scan(&s.messageID).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

var linkRE = regexp.MustCompile(`/v/([A-Za-z0-9_-]{43})`)

// linkToken reads the token out of a delivery's sealed notification.
func (e *env) linkToken(t *testing.T, deliveryID string) string {
	t.Helper()
	text := e.blobText(t, "notifications/"+deliveryID)
	m := linkRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("notification %s carries no link", deliveryID)
	}
	return m[1]
}

func (e *env) blobText(t *testing.T, key string) string {
	t.Helper()
	rc, err := e.store.OpenBlob(context.Background(), key)
	if err != nil {
		t.Fatalf("open blob %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read blob %s: %v", key, err)
	}
	return string(b)
}

// session starts a session on token.
func (e *env) session(t *testing.T, token string) string {
	t.Helper()
	s, err := e.ext.StartSession(context.Background(), token)
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	return s
}

// verified starts a session on token and enters the code sent by SMS.
func (e *env) verified(t *testing.T, token string) string {
	t.Helper()
	ctx := context.Background()
	s := e.session(t, token)
	if err := e.ext.SendCode(ctx, s, ip); err != nil {
		t.Fatalf("SendCode: %v", err)
	}
	if err := e.ext.VerifyCode(ctx, s, e.sms.lastCode(t), ip); err != nil {
		t.Fatalf("VerifyCode: %v", err)
	}
	return s
}

// notices returns the notice deliveries of a message with reason.
func (e *env) notices(t *testing.T, messageID, reason string) []struct{ Address, Route, Status string } {
	t.Helper()
	var rows []struct{ Address, Route, Status string }
	if err := e.db.Raw("SELECT address, route, status FROM deliveries WHERE message_id = ? AND kind = ? AND reason = ?",
		messageID, message.KindNotice, reason).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// external returns the sender's view of the external recipient address.
func (e *env) external(t *testing.T, from message.Sender, messageID, address string) message.ExternalStatus {
	t.Helper()
	st, err := e.msgs.Get(context.Background(), from, messageID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	for _, r := range st.Recipients {
		if r.Address == address && r.External != nil {
			return *r.External
		}
	}
	t.Fatalf("message %s has no external recipient %s", messageID, address)
	return message.ExternalStatus{}
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *env) settings(t *testing.T, set message.Settings) {
	t.Helper()
	if err := e.store.PutOrganisationSettings(context.Background(), e.orgA, set); err != nil {
		t.Fatalf("PutOrganisationSettings: %v", err)
	}
}

func attachment(name, contentType string, content []byte) compose.Attachment {
	return compose.Attachment{Name: name, ContentType: contentType, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}}
}

// limitError returns err as a *viewer.LimitError, failing the test otherwise.
func limitError(t *testing.T, what string, err error) *viewer.LimitError {
	t.Helper()
	var le *viewer.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("%s = %v, want *viewer.LimitError", what, err)
	}
	return le
}
