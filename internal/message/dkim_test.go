package message_test

import (
	"context"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/dkim"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/testenv"
)

// TestSignatureVerifies signs with the organisation's real key in the same pass
// that writes the blob, and verifies the stored header plus blob as a receiver
// would (RFC 6376 §6), against the DNS record Veilig tells the admin to publish.
func TestSignatureVerifies(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		keys := dkim.NewKeys(db.DB, time.Now)
		svc, err := message.New(message.Config{MaxRecipients: 5, SMTPHostname: host}, message.Deps{DB: db,
			Vault: e.vault, Signer: message.DKIM(keys), Router: e.router, Queue: e.queue, Log: testenv.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		d := draft(recipient)
		d.Attachments = []compose.Attachment{attachment("bijlage.txt", strings.Repeat("regel\r\n", 20000))}
		acc, err := svc.Accept(ctx, e.sender(senderA), d, "")
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		key, sig := e.blobKey(t, acc.ID)
		records, err := keys.DNSRecords(ctx, e.orgA, []string{"a.example"}, "")
		if err != nil {
			t.Fatal(err)
		}
		txt := map[string]string{}
		for _, r := range records {
			txt[r.Name] = r.Value
		}
		verifications, err := msgauth.VerifyWithOptions(strings.NewReader(sig+e.blobText(t, key)),
			&msgauth.VerifyOptions{LookupTXT: func(name string) ([]string, error) { return []string{txt[name]}, nil }})
		if err != nil || len(verifications) != 1 || verifications[0].Err != nil || verifications[0].Domain != "a.example" {
			t.Fatalf("verify: %v, %+v", err, verifications)
		}
	})
}
