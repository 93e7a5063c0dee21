package submission_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/submission"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	hostname     = "submission.veilig.test"
	senderMail   = "zoe.jansen@utrecht.example"
	operatorMail = "ops@veilig.example"
	password     = "correct horse battery staple"
	maxBytes     = 64 << 10
	maxRcpts     = 3
)

// fakeAuth knows two users by password; limited makes it refuse with a rate limit.
type fakeAuth struct {
	mu      sync.Mutex
	calls   []string // "email clientIP"
	limited bool
}

func (f *fakeAuth) Authenticate(_ context.Context, email, pw, ip string) (auth.Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, email+" "+ip)
	if f.limited {
		return auth.Principal{}, &auth.RateLimitError{RetryAfter: time.Minute, Scope: "account"}
	}
	users := map[string]auth.Principal{
		senderMail:   {UserID: "u-zoe", Email: senderMail, OrganisationID: directory.OrganisationID("o1"), Role: auth.RoleSender},
		operatorMail: {UserID: "u-ops", Email: operatorMail, Role: auth.RoleOperator},
	}
	p, ok := users[email]
	if !ok || pw != password {
		return auth.Principal{}, fmt.Errorf("fake: %w", auth.ErrInvalidCredentials)
	}
	return p, nil
}

func (f *fakeAuth) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

// fakeAccept records each message as read from its spool file and answers err.
type fakeAccept struct {
	mu       sync.Mutex
	err      error
	calls    []accepted
	returned atomic.Int64 // Accept calls that have returned
	spoolDir string       // when set, Accept records what the spool holds on disk
}

type accepted struct {
	from  message.Sender
	rcpts []string
	raw   string
	spool []spoolFile // the spool directory while Accept ran
	key   string
}

// spoolFile is one file in the spool directory as Accept sees it.
type spoolFile struct {
	Mode      os.FileMode
	Plaintext bool // holds spoolCanary
}

// spoolCanary is planted in messages; it must never be found in the spool.
const spoolCanary = "CANARY-smtp-spool-51c0de"

// scanSpool lists the files in dir with their modes and whether they hold
// spoolCanary in plaintext.
func scanSpool(dir string) []spoolFile {
	if dir == "" {
		return nil
	}
	entries, _ := os.ReadDir(dir)
	out := make([]spoolFile, 0, len(entries))
	for _, e := range entries {
		var sf spoolFile
		if info, err := e.Info(); err == nil {
			sf.Mode = info.Mode().Perm()
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		sf.Plaintext = err != nil || bytes.Contains(b, []byte(spoolCanary))
		out = append(out, sf)
	}
	return out
}

func (f *fakeAccept) Accept(_ context.Context, from message.Sender, d message.Draft, key string) (message.Accepted, error) {
	defer f.returned.Add(1)
	f.mu.Lock()
	dir := f.spoolDir
	f.mu.Unlock()
	a := accepted{from: from, rcpts: d.EnvelopeRecipients, key: key, spool: scanSpool(dir)}
	b, err := io.ReadAll(d.Raw)
	if err != nil {
		return message.Accepted{}, err
	}
	a.raw = string(b)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, a)
	if f.err != nil {
		return message.Accepted{}, f.err
	}
	return message.Accepted{ID: "m-" + strconv.Itoa(len(f.calls))}, nil
}

func (f *fakeAccept) set(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *fakeAccept) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

func (f *fakeAccept) last(t *testing.T) accepted {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("Accept was not called")
	}
	return f.calls[len(f.calls)-1]
}

// gateway is a running submission server on 127.0.0.1:0.
type gateway struct {
	addr     string
	auth     *fakeAuth
	accept   *fakeAccept
	client   *tls.Config
	spoolDir string
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	accept, authn := &fakeAccept{}, &fakeAuth{}
	live, _ := community(t)
	g := startGatewayWith(t, authn, accept, live)
	g.accept, g.auth = accept, authn
	accept.mu.Lock()
	accept.spoolDir = g.spoolDir
	accept.mu.Unlock()
	return g
}

// startGatewayWith runs a gateway that checks passwords with authn and hands
// messages to msgs.
func startGatewayWith(t *testing.T, authn submission.Authenticator, msgs submission.Acceptor, live *directory.Live) *gateway {
	t.Helper()
	ca := testenv.NewCA(t)
	g := &gateway{spoolDir: filepath.Join(t.TempDir(), "spool"), client: &tls.Config{RootCAs: ca.Pool(), ServerName: hostname}}
	srv, err := submission.New(submission.Config{Hostname: hostname, TLS: submission.ServerTLS(ca.Issue(t, hostname)),
		MaxMessageBytes: maxBytes, MaxRecipients: maxRcpts, SpoolDir: g.spoolDir},
		submission.Deps{Log: testenv.Logger(t), Auth: authn, Messages: msgs, Directory: live})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return g
}

// community is a directory with Utrecht and Ede, on its own database.
func community(t *testing.T) (*directory.Live, *database.DB) {
	t.Helper()
	ctx := context.Background()
	db := testenv.DB(t, database.SQLite)
	store := directory.NewStore(db.DB, time.Now)
	err := store.Write(ctx, true, func(w *directory.Writer) error {
		if err := w.PutOrganisations(ctx, []directory.Organisation{
			{SourceID: "o1", Name: "Gemeente Utrecht", Domains: []string{"utrecht.example"}},
			{SourceID: "o2", Name: "Gemeente Ede", Domains: []string{"ede.example"}}}); err != nil {
			return err
		}
		return w.PutPeople(ctx, []directory.Person{
			{SourceID: "p1", OrganisationID: directory.OrganisationID("o1"), DisplayName: "Zoë Jansen", Mail: senderMail}})
	})
	if err != nil {
		t.Fatal(err)
	}
	live := directory.NewLive(store, testenv.Discard(), time.Now)
	if _, err := live.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	return live, db
}

// dial opens a client; tls and login say how far to get.
func (g *gateway) dial(t *testing.T, startTLS bool, user, pw string) *smtp.Client {
	t.Helper()
	c, err := g.connect(startTLS, g.client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pw)); err != nil {
			t.Fatalf("AUTH %s: %v", user, err)
		}
	}
	return c
}

// connect opens a client connection and says EHLO, after STARTTLS when
// startTLS is set (the EHLO forces the TLS handshake).
func (g *gateway) connect(startTLS bool, cfg *tls.Config) (*smtp.Client, error) {
	var (
		c   *smtp.Client
		err error
	)
	if startTLS {
		var conn net.Conn
		if conn, err = net.Dial("tcp", g.addr); err != nil {
			return nil, err
		}
		c, err = smtp.NewClientStartTLS(conn, cfg)
	} else {
		c, err = smtp.Dial(g.addr)
	}
	if err != nil {
		return nil, err
	}
	if err := c.Hello("client.test"); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// replyOf returns the SMTP reply of err as "code x.y.z", or "ok".
func replyOf(err error) string {
	if err == nil {
		return "ok"
	}
	var e *smtp.SMTPError
	if errors.As(err, &e) {
		return fmt.Sprintf("%d %d.%d.%d", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
	}
	return "error: " + err.Error()
}

func (g *gateway) spoolEmpty(t *testing.T) {
	t.Helper()
	left, err := os.ReadDir(g.spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
}

const body = "From: zoe.jansen@utrecht.example\r\nTo: jan.devries@ede.example\r\nSubject: Dossier\r\n\r\nHallo Jan,\r\n.punt aan het begin\r\n" +
	spoolCanary + "\r\n"

// send runs MAIL, RCPTs and DATA and returns the reply to the data.
func send(t *testing.T, c *smtp.Client, from string, rcpts []string, data string) string {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		return "MAIL " + replyOf(err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return "RCPT " + replyOf(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return "DATA " + replyOf(err)
	}
	if _, err := io.WriteString(w, data); err != nil {
		return "write " + replyOf(err)
	}
	return replyOf(w.Close())
}

func TestSubmission(t *testing.T) {
	g := startGateway(t)
	t.Run("before STARTTLS", func(t *testing.T) { testBeforeTLS(t, g) })
	t.Run("authentication", func(t *testing.T) { testAuthentication(t, g) })
	t.Run("envelope", func(t *testing.T) { testEnvelope(t, g) })
	t.Run("accepted", func(t *testing.T) { testAccepted(t, g) })
	t.Run("accept errors", func(t *testing.T) { testAcceptErrors(t, g) })
	t.Run("too large", func(t *testing.T) { testTooLarge(t, g) })
	t.Run("old TLS refused", func(t *testing.T) { testOldTLS(t, g) })
	t.Run("swaks", func(t *testing.T) { testSwaks(t, g) })
}

// testBeforeTLS: no AUTH is offered or accepted and no MAIL is taken in the clear.
func testBeforeTLS(t *testing.T, g *gateway) {
	c := g.dial(t, false, "", "")
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS is not advertised")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH is advertised before STARTTLS")
	}
	if got := replyOf(c.Mail(senderMail, nil)); got != "530 5.7.0" {
		t.Errorf("MAIL before STARTTLS: %s, want 530 5.7.0", got)
	}
	before := g.auth.count()
	got := replyOf(c.Auth(sasl.NewPlainClient("", senderMail, password)))
	if !strings.HasPrefix(got, "5") || !strings.Contains(got, " 5.7.") {
		t.Errorf("AUTH before STARTTLS: %s, want a 5xx 5.7.x refusal", got)
	}
	if g.auth.count() != before {
		t.Error("a password sent in the clear was checked")
	}
}

func testAuthentication(t *testing.T, g *gateway) {
	c := g.dial(t, true, "", "")
	if ok, params := c.Extension("AUTH"); !ok || !strings.Contains(params, "PLAIN") {
		t.Errorf("AUTH PLAIN not offered after STARTTLS: %v %q", ok, params)
	}
	if got := replyOf(c.Mail(senderMail, nil)); got != "530 5.7.0" {
		t.Errorf("MAIL before AUTH: %s, want 530 5.7.0", got)
	}
	if got := replyOf(c.Auth(sasl.NewPlainClient("", senderMail, "wrong password!"))); got != "535 5.7.8" {
		t.Errorf("wrong password: %s, want 535 5.7.8", got)
	}
	if got := replyOf(c.Auth(sasl.NewPlainClient("someone.else@utrecht.example", senderMail, password))); got != "535 5.7.8" {
		t.Errorf("foreign authorisation identity: %s, want 535 5.7.8", got)
	}
	g.auth.mu.Lock()
	g.auth.limited = true
	g.auth.mu.Unlock()
	got := replyOf(c.Auth(sasl.NewPlainClient("", senderMail, password)))
	g.auth.mu.Lock()
	g.auth.limited = false
	calls := g.auth.calls
	g.auth.mu.Unlock()
	if got != "454 4.7.0" {
		t.Errorf("rate limited: %s, want 454 4.7.0", got)
	}
	if want := senderMail + " 127.0.0.1"; len(calls) == 0 || calls[len(calls)-1] != want {
		t.Errorf("Authenticate calls %v, want the client IP passed (%q)", calls, want)
	}
}

// testEnvelope: who may send, as whom, to whom.
func testEnvelope(t *testing.T, g *gateway) {
	long := strings.Repeat("a", 65) + "@ede.example"
	tests := []struct {
		name, user, from string
		rcpts            []string
		want             string
	}{
		{"operator may not send", operatorMail, operatorMail, nil, "MAIL 550 5.7.1"},
		{"someone else's address", senderMail, "jan.devries@ede.example", nil, "MAIL 553 5.7.1"},
		{"null reverse-path", senderMail, "", nil, "MAIL 553 5.7.1"},
		{"bad recipient", senderMail, senderMail, []string{long}, "RCPT 501 5.1.3"},
		{"external recipient", senderMail, senderMail, []string{"jan.devries@ede.example", "iemand@gmail.example"}, "RCPT 550 5.7.1"},
		{"too many recipients", senderMail, senderMail, []string{"a@ede.example", "b@ede.example", "c@ede.example", "d@ede.example"}, "RCPT 452 4.5.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := g.accept.count()
			c := g.dial(t, true, tc.user, password)
			if got := send(t, c, tc.from, tc.rcpts, body); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if g.accept.count() != before {
				t.Error("Accept was called")
			}
		})
	}
}

// testAccepted: the message reaches Accept exactly as sent, from a private spool
// file, with the envelope recipients; 250 comes after Accept has returned.
func testAccepted(t *testing.T, g *gateway) {
	c := g.dial(t, true, senderMail, password)
	rcpts := []string{"jan.devries@ede.example", "g.bakker@ede.example", "JAN.DEVRIES@ede.example"}
	before := g.accept.returned.Load()
	if got := send(t, c, "Zoe.Jansen@utrecht.example", rcpts, body); got != "ok" {
		t.Fatalf("DATA: %s", got)
	}
	if g.accept.returned.Load() != before+1 {
		t.Error("250 was answered before Accept returned")
	}
	a := g.accept.last(t)
	want := accepted{from: message.Sender{UserID: "u-zoe", Email: senderMail, Name: "Zoë Jansen", OrganisationID: directory.OrganisationID("o1")},
		rcpts: []string{"jan.devries@ede.example", "g.bakker@ede.example"}, raw: body, spool: []spoolFile{{Mode: 0o600}}}
	if diff := cmp.Diff(want, a, cmp.AllowUnexported(accepted{})); diff != "" {
		t.Errorf("accepted (-want +got):\n%s", diff)
	}
	// A second message in the same session, after RSET semantics.
	if got := send(t, c, senderMail, rcpts[:1], "Subject: twee\r\n\r\nx\r\n"); got != "ok" {
		t.Errorf("second message: %s", got)
	}
	if got := g.accept.last(t).rcpts; !cmp.Equal(got, rcpts[:1]) {
		t.Errorf("second message recipients %v: the first transaction's were kept", got)
	}
	g.spoolEmpty(t)
}

// testAcceptErrors: the reply to DATA is derived from what Accept returned, so
// it cannot have been sent before.
func testAcceptErrors(t *testing.T, g *gateway) {
	defer g.accept.set(nil)
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("database is down"), "451 4.3.0"},
		{context.DeadlineExceeded, "451 4.3.0"},
		{&message.ExternalRecipientsError{Addresses: []string{"x@gmail.example"}}, "550 5.7.1"},
		{&message.InvalidError{Field: "recipients", Reason: "bad"}, "550 5.1.3"},
		{fmt.Errorf("w: %w", message.ErrTooManyRecipients), "554 5.5.3"},
	}
	c := g.dial(t, true, senderMail, password)
	for _, tc := range tests {
		g.accept.set(tc.err)
		if got := send(t, c, senderMail, []string{"jan.devries@ede.example"}, body); got != tc.want {
			t.Errorf("Accept error %v: reply %s, want %s", tc.err, got, tc.want)
		}
	}
	g.spoolEmpty(t)
}

func testTooLarge(t *testing.T, g *gateway) {
	before := g.accept.count()
	c := g.dial(t, true, senderMail, password)
	big := "Subject: groot\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", maxBytes/1000+10)
	if got := send(t, c, senderMail, []string{"jan.devries@ede.example"}, big); got != "552 5.3.4" {
		t.Errorf("oversize message: %s, want 552 5.3.4", got)
	}
	if g.accept.count() != before {
		t.Error("an oversize message reached Accept")
	}
	if size, ok := c.MaxMessageSize(); !ok || size != maxBytes {
		t.Errorf("SIZE advertised %d %v, want %d", size, ok, maxBytes)
	}
	g.spoolEmpty(t)
}

// testOldTLS: TLS 1.1 and TLS 1.2 with CBC suites are refused.
func testOldTLS(t *testing.T, g *gateway) {
	for name, cfg := range map[string]*tls.Config{
		"TLS 1.1":     {MaxVersion: tls.VersionTLS11},
		"TLS 1.2 CBC": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
	} {
		cfg.RootCAs, cfg.ServerName = g.client.RootCAs, hostname
		if c, err := g.connect(true, cfg); err == nil {
			t.Errorf("%s: handshake succeeded", name)
			_ = c.Close()
		}
	}
	// TLS 1.2 with an NCSC "good" suite works.
	cfg := g.client.Clone()
	cfg.MaxVersion = tls.VersionTLS12
	c, err := g.connect(true, cfg)
	if err != nil {
		t.Fatalf("TLS 1.2 with ECDHE-AES-GCM: %v", err)
	}
	_ = c.Close()
}

// testSwaks submits with swaks, a real-world client, when it is installed.
func testSwaks(t *testing.T, g *gateway) {
	bin, err := exec.LookPath("swaks")
	if err != nil {
		testenv.Missing(t, "swaks")
	}
	host, port, _ := net.SplitHostPort(g.addr)
	before := g.accept.count()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--server", host, "--port", port, "--tls", "--auth", "PLAIN",
		"--auth-user", senderMail, "--auth-password", password, "--from", senderMail, "--to", "jan.devries@ede.example",
		"--helo", "swaks.test", "--header", "Subject: via swaks", "--body", "Hallo vanuit swaks")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("swaks: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "<~  250 2.0.0") {
		t.Errorf("swaks saw no final 250:\n%s", out.String())
	}
	if g.accept.count() != before+1 || !strings.Contains(g.accept.last(t).raw, "Hallo vanuit swaks") {
		t.Errorf("swaks's message did not reach Accept")
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	ca := testenv.NewCA(t)
	ok := submission.Config{Hostname: hostname, TLS: submission.ServerTLS(ca.Issue(t, hostname)), MaxMessageBytes: 1 << 20,
		MaxRecipients: 10, SpoolDir: t.TempDir()}
	deps := submission.Deps{Log: testenv.Discard(), Auth: &fakeAuth{}, Messages: &fakeAccept{}}
	for name, mutate := range map[string]func(*submission.Config, *submission.Deps){
		"no TLS":        func(c *submission.Config, _ *submission.Deps) { c.TLS = nil },
		"no cert":       func(c *submission.Config, _ *submission.Deps) { c.TLS = &tls.Config{} },
		"no size limit": func(c *submission.Config, _ *submission.Deps) { c.MaxMessageBytes = 0 },
		"no spool":      func(c *submission.Config, _ *submission.Deps) { c.SpoolDir = "" },
		"no acceptor":   func(_ *submission.Config, d *submission.Deps) { d.Messages = nil },
		"no auth":       func(_ *submission.Config, d *submission.Deps) { d.Auth = nil },
	} {
		cfg, d := ok, deps
		mutate(&cfg, &d)
		if _, err := submission.New(cfg, d); !errors.Is(err, submission.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := submission.New(ok, deps); err != nil {
		t.Errorf("complete config: %v", err)
	}
}

func TestTLSConfigFromFiles(t *testing.T) {
	if _, err := submission.TLSConfig(filepath.Join(t.TempDir(), "none.pem"), "none.key"); err == nil {
		t.Error("missing certificate files were accepted")
	}
}
