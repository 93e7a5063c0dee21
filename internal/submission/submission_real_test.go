package submission_test

import (
	"context"
	"database/sql"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/submission"
	"github.com/veilig/veilig/internal/testenv"
)

var (
	_ submission.Authenticator = (*auth.Service)(nil)
	_ submission.Acceptor      = (*message.Service)(nil)
	_ submission.Directory     = (*directory.Live)(nil)
)

type nopQueue struct{ n int }

// orgFinder gives users the organisation of their mail domain.
type orgFinder struct{ store *directory.Store }

func (f orgFinder) OrganisationForAddress(ctx context.Context, email string) (string, error) {
	domain, reason, _ := directory.CheckAddress(email)
	if reason != "" {
		return "", auth.ErrInvalidEmail
	}
	org, _, err := f.store.OrganisationForDomain(ctx, domain)
	if err != nil {
		return "", auth.ErrNoOrganisation
	}
	return org.ID, nil
}

// realAuth is the real auth service with the sender as a local user.
func realAuth(t *testing.T, db *database.DB) (*auth.Service, string) {
	t.Helper()
	ctx := context.Background()
	cfg := auth.DefaultConfig()
	cfg.Issuer, cfg.Audience = "https://veilig.example.test", "veilig-api"
	cfg.Argon2 = auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	svc, err := auth.New(ctx, cfg, auth.Deps{DB: db.DB, Organisations: orgFinder{directory.NewStore(db.DB, time.Now)},
		Log: testenv.Discard(), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.Users().Create(ctx, auth.NewUser{Email: senderMail, Role: auth.RoleSender, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return svc, u.ID
}

func (q *nopQueue) EnqueueTx(_ context.Context, _ *sql.Tx, ids []string) error {
	q.n += len(ids)
	return nil
}

// TestSubmissionEndToEnd submits over SMTP, authenticated by the real auth
// service, into the real message service: the message is stored with the
// envelope's recipients and the authenticated sender as its From, whatever its
// header said.
func TestSubmissionEndToEnd(t *testing.T) {
	live, db := community(t)
	blobs, err := blob.NewFS(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	queue := &nopQueue{}
	signer := message.SignerFunc(func(_ context.Context, _, _ string, r io.Reader) (string, error) {
		_, err := io.Copy(io.Discard, r) // a signer reads the whole message once
		return "DKIM-Signature: v=1; test\r\n", err
	})
	svc, err := message.New(message.Config{MaxRecipients: maxRcpts, SMTPHostname: "veilig.example"},
		message.Deps{DB: db, Vault: message.NewVault(blobs, testenv.KeyRing(t)), Signer: signer, Router: message.LiveRouter(live), Queue: queue, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	authn, userID := realAuth(t, db)
	g := startGatewayWith(t, authn, svc, live)
	bad, err := g.connect(true, g.client)
	if err != nil {
		t.Fatal(err)
	}
	if got := replyOf(bad.Auth(sasl.NewPlainClient("", senderMail, "not the password"))); got != "535 5.7.8" {
		t.Errorf("wrong password: %s, want 535 5.7.8", got)
	}
	_ = bad.Close()
	c := g.dial(t, true, senderMail, password)
	spoofed := "From: De Burgemeester <burgemeester@ede.example>\r\nTo: jan.devries@ede.example\r\nBcc: geheim@ede.example\r\n" +
		"Subject: Dossier\r\n\r\nHallo Jan.\r\n"
	if got := send(t, c, senderMail, []string{"jan.devries@ede.example", "g.bakker@ede.example"}, spoofed); got != "ok" {
		t.Fatalf("DATA: %s", got)
	}
	sender := message.Sender{UserID: userID, Email: senderMail, OrganisationID: directory.OrganisationID("o1")}
	list, _, err := svc.List(context.Background(), sender, "", 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("stored messages %v, %v; want one", list, err)
	}
	var rcpts []string
	for _, r := range list[0].Recipients {
		rcpts = append(rcpts, r.Address)
	}
	if strings.Join(rcpts, ",") != "jan.devries@ede.example,g.bakker@ede.example" {
		t.Errorf("recipients %v, want the envelope's", rcpts)
	}
	var keys []string
	_ = blobs.Walk(context.Background(), func(k string, _ time.Time) error { keys = append(keys, k); return nil })
	if len(keys) != 1 {
		t.Fatalf("blobs %v", keys)
	}
	rc, err := svc.Store().OpenBlob(context.Background(), keys[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw, _ := io.ReadAll(rc)
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	if !strings.Contains(head, "<"+senderMail+">") || strings.Contains(head, "burgemeester") || strings.Contains(head, "Bcc") {
		t.Errorf("stored header does not carry the authenticated sender only:\n%s", head)
	}
	if queue.n == 0 {
		t.Error("no deliveries were queued")
	}
	g.spoolEmpty(t)
}
