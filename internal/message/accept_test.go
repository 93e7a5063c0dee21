package message_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/testenv"
)

func TestAcceptStoresMessageDeliveriesAndJobsTogether(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		d := draft(recipient)
		d.Cc, d.Bcc = []string{"carol@b.example"}, []string{"dave@sub.b.example"}
		d.Attachments = []compose.Attachment{attachment("../../etc/besluit.txt", "inhoud van de bijlage")}
		acc, err := e.svc.Accept(context.Background(), e.sender(senderA), d, "")
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		want := []message.RecipientStatus{
			{Address: recipient, Route: "internal", Status: "queued", Reason: "community-domain"},
			{Address: "carol@b.example", Route: "internal", Status: "queued", Reason: "community-domain"},
			{Address: "dave@sub.b.example", Route: "internal", Status: "queued", Reason: "community-subdomain"},
		}
		if diff := cmp.Diff(want, acc.Recipients); diff != "" || acc.Replayed {
			t.Errorf("Accepted (-want +got):\n%s replayed=%v", diff, acc.Replayed)
		}
		// Three recipients and the sender's own copy, each with its job.
		if got := e.counts(t); got != [3]int{1, 4, 4} {
			t.Errorf("messages, deliveries, jobs = %v, want [1 4 4]", got)
		}
		checkBlob(t, e, acc.ID)
	})
}

// checkBlob verifies the committed blob is what the signer read, has no Bcc
// and no subject in the database.
func checkBlob(t *testing.T, e *env, id string) {
	t.Helper()
	key, sig := e.blobKey(t, id)
	text := e.blobText(t, key)
	sum := sha256.Sum256([]byte(text))
	if !strings.Contains(sig, "bh="+base64.StdEncoding.EncodeToString(sum[:])) || !strings.Contains(sig, "d=a.example") {
		t.Errorf("stored signature %q does not cover the blob", sig)
	}
	for _, bad := range []string{"dave@sub.b.example", "\r\nBcc:"} {
		if strings.Contains(text, bad) {
			t.Errorf("blob reveals %q", bad)
		}
	}
	if !strings.Contains(text, "Message-ID: <"+id+"@"+host+">") {
		t.Errorf("blob lacks the stable Message-ID:\n%s", text)
	}
	var hits int
	e.db.Raw("SELECT COUNT(*) FROM messages WHERE client_message_id LIKE '%Besluit%' OR sender_email LIKE '%Besluit%'").Scan(&hits)
	if hits != 0 {
		t.Error("the subject reached the database")
	}
}

func TestAcceptRollsBackEverythingOnFailure(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		e.queue.fail = errInjected // after the rows and the jobs were inserted
		_, err := e.svc.Accept(context.Background(), e.sender(senderA), draft(recipient), "key-1")
		if !errors.Is(err, errInjected) {
			t.Fatalf("Accept = %v, want the injected failure", err)
		}
		if got := e.counts(t); got != [3]int{} {
			t.Errorf("messages, deliveries, jobs = %v after rollback, want none", got)
		}
		if n := blobFiles(t, e); n != 0 {
			t.Errorf("%d blob files left behind", n)
		}
		// The key is free again: the retry succeeds.
		e.queue.fail = nil
		if _, err := e.svc.Accept(context.Background(), e.sender(senderA), draft(recipient), "key-1"); err != nil {
			t.Fatalf("retry after rollback: %v", err)
		}
	})
}

func TestAcceptRefusesBadDrafts(t *testing.T) {
	many := []string{"a1@b.example", "a2@b.example", "a3@b.example", "a4@b.example", "a5@b.example", "a6@b.example"}
	tests := []struct {
		name    string
		edit    func(*message.Draft)
		field   string // InvalidError.Field, or "" for the checks below
		wantErr error
		extern  []string
	}{
		{"no recipient", func(d *message.Draft) { d.To = nil }, "to", nil, nil},
		{"bad address", func(d *message.Draft) { d.Cc = []string{"not an address"} }, "cc", nil, nil},
		{"too many", func(d *message.Draft) { d.To = many }, "", message.ErrTooManyRecipients, nil},
		{"external", func(d *message.Draft) { d.Bcc = []string{"x@outside.example", "y@elders.example"} }, "", nil,
			[]string{"x@outside.example", "y@elders.example"}},
		{"subject injection", func(d *message.Draft) { d.Subject = "hi\r\nBcc: evil@outside.example" }, "", compose.ErrHeaderInjection, nil},
		{"bad phone", func(d *message.Draft) { d.Phones = map[string]string{recipient: "0612345678"} }, "phones", nil, nil},
		{"expiry", func(d *message.Draft) { d.ExpiresInDays = 366 }, "expires_in_days", nil, nil},
		{"client id", func(d *message.Draft) { d.ClientMessageID = "a\x00b" }, "client_message_id", nil, nil},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := draft(recipient)
				tt.edit(&d)
				_, err := e.svc.Accept(context.Background(), e.sender(senderA), d, "")
				checkRefusal(t, err, tt.field, tt.wantErr, tt.extern)
				if got := e.counts(t); got != [3]int{} {
					t.Errorf("stored %v after a refusal", got)
				}
			})
		}
	})
}

func checkRefusal(t *testing.T, err error, field string, want error, external []string) {
	t.Helper()
	var inv *message.InvalidError
	var ext *message.ExternalRecipientsError
	switch {
	case field != "":
		if !errors.As(err, &inv) || inv.Field != field {
			t.Errorf("err = %v, want InvalidError on %s", err, field)
		}
	case want != nil:
		if !errors.Is(err, want) {
			t.Errorf("err = %v, want %v", err, want)
		}
	default:
		if !errors.As(err, &ext) || !cmp.Equal(ext.Addresses, external) {
			t.Errorf("err = %v, want external %v", err, external)
		}
	}
}

func TestAcceptNamesTheInvalidAddress(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		_, err := e.svc.Accept(context.Background(), e.sender(senderA), draft(recipient, "kapot@@b.example"), "")
		var inv *message.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(inv.Reason, "kapot@@b.example") {
			t.Errorf("err = %v, want an InvalidError naming the address", err)
		}
	})
}

func TestAcceptMergesDuplicatesAndSkipsSelfCopy(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		d := draft(recipient, "Bob@B.EXAMPLE", senderA)
		d.Cc = []string{" bob@b.example "}
		d.Bcc = []string{senderA}
		acc, err := e.svc.Accept(context.Background(), e.sender(senderA), d, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range acc.Recipients {
			got = append(got, r.Address)
		}
		if diff := cmp.Diff([]string{recipient, senderA}, got); diff != "" {
			t.Errorf("recipients (-want +got):\n%s", diff)
		}
		// The sender is a recipient already: no extra self-copy.
		if n := e.count(t, "deliveries"); n != 2 {
			t.Errorf("%d deliveries, want 2", n)
		}
	})
}

func TestSelfCopyFollowsTheOrganisationSetting(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		if set, err := e.store.OrganisationSettings(ctx, e.orgA); err != nil || !set.SelfCopy {
			t.Fatalf("default settings = %+v, %v; want self-copy on", set, err)
		}
		if err := e.store.PutOrganisationSettings(ctx, e.orgA, message.Settings{SelfCopy: false}); err != nil {
			t.Fatal(err)
		}
		acc, err := e.svc.Accept(ctx, e.sender(senderA), draft(recipient), "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := e.svc.Get(ctx, e.sender(senderA), acc.ID)
		if err != nil || len(st.Recipients) != 1 {
			t.Errorf("with self-copy off: %d deliveries (%v), want 1", len(st.Recipients), err)
		}
		if err := e.store.PutOrganisationSettings(ctx, "no-such-org", message.Settings{}); !errors.Is(err, message.ErrNotFound) {
			t.Errorf("settings of an unknown organisation: %v, want ErrNotFound", err)
		}
	})
}

func TestIdempotencyKey(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		d := draft(recipient)
		d.Attachments = []compose.Attachment{attachment("a.txt", "een")}
		first, err := e.svc.Accept(ctx, e.sender(senderA), d, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.svc.Accept(ctx, e.sender(senderA), d, "key-1")
		if err != nil || again.ID != first.ID || !again.Replayed || !cmp.Equal(again.Recipients, first.Recipients) {
			t.Errorf("replay = %+v, %v; want %s replayed", again, err, first.ID)
		}
		changed := d
		changed.Attachments = []compose.Attachment{attachment("a.txt", "twee")}
		if _, err := e.svc.Accept(ctx, e.sender(senderA), changed, "key-1"); !errors.Is(err, message.ErrIdempotencyConflict) {
			t.Errorf("other content under the same key: %v, want ErrIdempotencyConflict", err)
		}
		other, err := e.svc.Accept(ctx, e.sender(senderA2), d, "key-1")
		if err != nil || other.ID == first.ID || other.Replayed {
			t.Errorf("another sender's key: %+v, %v; want a new message", other, err)
		}
		if got := e.count(t, "messages"); got != 2 {
			t.Errorf("%d messages, want 2", got)
		}
	})
}

func TestIdempotencyKeyUnderConcurrency(t *testing.T) {
	const n = 20
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			ids      = map[string]int{}
			fresh    int
			failures []error
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				acc, err := e.svc.Accept(context.Background(), e.sender(senderA), draft(recipient), "same-key")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, err)
					return
				}
				ids[acc.ID]++
				if !acc.Replayed {
					fresh++
				}
			}()
		}
		wg.Wait()
		if len(failures) > 0 || len(ids) != 1 || fresh != 1 {
			t.Fatalf("ids %v, %d not replayed, errors %v; want one id, one fresh", ids, fresh, failures)
		}
		if got := e.counts(t); got != [3]int{1, 2, 2} {
			t.Errorf("messages, deliveries, jobs = %v, want [1 2 2]", got)
		}
		if files := blobFiles(t, e); files != 1 {
			t.Errorf("%d message blobs left, want 1 (the losers' blobs are deleted)", files)
		}
	})
}

// blobFiles counts the files under the blob directory: committed blobs and any
// temporary file left behind.
func blobFiles(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(e.blobDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAcceptRawMessage(t *testing.T) {
	const raw = "From: someone-else@outside.example\r\nTo: Bob <bob@b.example>\r\nCc: carol@b.example\r\n" +
		"Bcc: dave@b.example\r\nMessage-ID: <client-1@mua.example>\r\nSubject: Ruw\r\n\r\nTekst.\r\n"
	tests := []struct {
		name     string
		envelope []string
		want     []message.RecipientStatus
	}{
		{"recipients from the header", nil, []message.RecipientStatus{
			{Address: recipient, Route: "internal", Status: "queued", Reason: "community-domain"},
			{Address: "carol@b.example", Route: "internal", Status: "queued", Reason: "community-domain"},
			{Address: "dave@b.example", Route: "internal", Status: "queued", Reason: "community-domain"},
		}},
		{"envelope wins", []string{"carol@b.example", "erin@b.example"}, []message.RecipientStatus{
			{Address: "carol@b.example", Route: "internal", Status: "queued", Reason: "community-domain"},
			{Address: "erin@b.example", Route: "internal", Status: "queued", Reason: "community-domain"},
		}},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := message.Draft{Raw: strings.NewReader(raw), EnvelopeRecipients: tt.envelope}
				acc, err := e.svc.Accept(context.Background(), e.sender(senderA), d, "")
				if err != nil {
					t.Fatalf("Accept: %v", err)
				}
				if diff := cmp.Diff(tt.want, acc.Recipients); diff != "" {
					t.Errorf("recipients (-want +got):\n%s", diff)
				}
				st, err := e.svc.Get(context.Background(), e.sender(senderA), acc.ID)
				if err != nil || st.MessageID != "<client-1@mua.example>" {
					t.Errorf("Message-ID = %q (%v), want the submitted one", st.MessageID, err)
				}
				key, _ := e.blobKey(t, acc.ID)
				text := e.blobText(t, key)
				if strings.Contains(text, "dave@b.example") || !strings.Contains(text, senderA) ||
					strings.Contains(text, "someone-else") {
					t.Errorf("rewritten message:\n%s", text)
				}
			})
		}
	})
}

func TestAcceptRawRefusesExternalHeaderRecipients(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		raw := "To: x@outside.example\r\nSubject: a\r\n\r\nb\r\n"
		_, err := e.svc.Accept(context.Background(), e.sender(senderA), message.Draft{Raw: strings.NewReader(raw)}, "")
		checkRefusal(t, err, "", nil, []string{"x@outside.example"})
		if got := e.counts(t); got != [3]int{} || blobFiles(t, e) != 0 {
			t.Errorf("stored %v and %d blobs after a refusal", got, blobFiles(t, e))
		}
	})
}
