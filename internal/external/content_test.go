package external_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/viewer"
)

// TestTwoExternalRecipients: every message may have external recipients, and
// so may a second message (each recipient row has its own nullable reminder
// token hash).
func TestTwoExternalRecipients(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		e.send(t, draft())
		e.send(t, draft())
	})
}

// binary is an attachment body with every byte value, CR and LF included.
func binary() []byte {
	b := make([]byte, 70000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func richDraft() message.Draft {
	d := draft()
	d.HTML = "<p>Geachte mevrouw,</p><p>Zie <b>bijlage</b>.</p>"
	d.Attachments = []compose.Attachment{
		attachment("besluit.pdf", "application/pdf", binary()),
		attachment("toelichting.txt", "text/plain", []byte("Regel 1\r\nRegel 2\r\n")),
	}
	return d
}

func TestContentAndAttachments(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.send(t, richDraft())
		sess := e.verified(t, s.links[outsider].token)
		if st := e.external(t, e.alice, s.id, outsider); st.OpenedAt != nil || st.DownloadedAt != nil {
			t.Fatalf("opened/downloaded before Content: %+v", st)
		}
		e.clock.Add(time.Minute)
		c, err := e.ext.Content(ctx, sess)
		if err != nil {
			t.Fatalf("Content: %v", err)
		}
		checkContent(t, c)
		if st := e.external(t, e.alice, s.id, outsider); st.OpenedAt == nil || !st.OpenedAt.Equal(t0.Add(time.Minute)) ||
			st.DownloadedAt != nil {
			t.Errorf("after Content: opened %v, downloaded %v; want opened at %v only", st.OpenedAt, st.DownloadedAt,
				t0.Add(time.Minute))
		}
		e.clock.Add(time.Minute)
		if _, err := e.ext.Content(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if st := e.external(t, e.alice, s.id, outsider); !st.OpenedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("second Content moved opened_at to %v", st.OpenedAt)
		}
		checkAttachments(t, e, sess)
		if st := e.external(t, e.alice, s.id, outsider); st.DownloadedAt == nil {
			t.Error("downloaded_at not set")
		}
	})
}

func checkContent(t *testing.T, c viewer.Content) {
	t.Helper()
	d := richDraft()
	if c.Subject != d.Subject || !c.Date.Equal(t0) || c.State != viewer.StateActive || !c.Verified {
		t.Errorf("Content = %q %v %q verified=%v; want %q %v active verified", c.Subject, c.Date, c.State, c.Verified,
			d.Subject, t0)
	}
	if strings.TrimSpace(c.Text) != strings.TrimSpace(d.Text) {
		t.Errorf("Text %q, want %q", c.Text, d.Text)
	}
	if !strings.Contains(c.HTML, "<b>bijlage</b>") {
		t.Errorf("HTML %q lacks the body sent", c.HTML)
	}
	want := []viewer.Attachment{{Index: 0, Name: "besluit.pdf", ContentType: "application/pdf", Size: int64(len(binary()))},
		{Index: 1, Name: "toelichting.txt", ContentType: "text/plain", Size: int64(len("Regel 1\r\nRegel 2\r\n"))}}
	if len(c.Attachments) != len(want) {
		t.Fatalf("attachments %+v, want %+v", c.Attachments, want)
	}
	for i, a := range c.Attachments {
		if a != want[i] {
			t.Errorf("attachment %d = %+v, want %+v", i, a, want[i])
		}
	}
}

func checkAttachments(t *testing.T, e *env, sess string) {
	t.Helper()
	tests := []struct {
		index       int
		name, ctype string
		body        []byte
		err         error
	}{
		{0, "besluit.pdf", "application/pdf", binary(), nil},
		{1, "toelichting.txt", "text/plain", []byte("Regel 1\r\nRegel 2\r\n"), nil},
		{2, "", "", nil, viewer.ErrNotFound},
		{-1, "", "", nil, viewer.ErrNotFound},
	}
	for _, tt := range tests {
		a, rc, err := e.ext.Attachment(context.Background(), sess, tt.index)
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("Attachment(%d) = %v, want %v", tt.index, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, tt.body) {
			t.Errorf("Attachment(%d): %d bytes, %v; want the %d bytes sent", tt.index, len(got), err, len(tt.body))
		}
		if a.Index != tt.index || a.Name != tt.name || a.ContentType != tt.ctype {
			t.Errorf("Attachment(%d) = %+v, want %s %s", tt.index, a, tt.name, tt.ctype)
		}
	}
}

func TestFirstOpenNotice(t *testing.T) {
	tests := []struct {
		name   string
		notify bool
		want   int
	}{
		{"off", false, 0},
		{"on", true, 1},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				set := message.DefaultSettings()
				set.NotifyFirstOpen = tt.notify
				e.settings(t, set)
				s := e.send(t, draft())
				l := s.links[outsider]
				for _, sess := range []string{e.verified(t, l.token), e.verified(t, l.token)} {
					for range 2 {
						if _, err := e.ext.Content(context.Background(), sess); err != nil {
							t.Fatalf("Content: %v", err)
						}
					}
				}
				got := e.notices(t, s.id, message.NoticeFirstOpen+":"+l.deliveryID)
				if len(got) != tt.want {
					t.Fatalf("%d first-open notices, want %d", len(got), tt.want)
				}
				for _, n := range got {
					if n.Address != senderA || n.Route != directory.RouteInternal || n.Status != message.StatusQueued {
						t.Errorf("notice %+v, want queued to %s over the internal route", n, senderA)
					}
				}
			})
		}
	})
}

func TestSendReply(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.send(t, draft())
		l := s.links[outsider]
		sess := e.verified(t, l.token)
		e.clock.Add(time.Minute)
		r := viewer.Reply{Text: "Dank u, ik ga akkoord.", Attachments: []viewer.Upload{{Name: "akkoord.txt",
			ContentType: "text/plain", Body: strings.NewReader("getekend")}}}
		if err := e.ext.SendReply(ctx, sess, r); err != nil {
			t.Fatalf("SendReply: %v", err)
		}
		var ids []string
		if err := db.Raw("SELECT id FROM messages WHERE reply_to = ?", l.deliveryID).Scan(&ids).Error; err != nil ||
			len(ids) != 1 {
			t.Fatalf("reply messages %v, %v; want one", ids, err)
		}
		var ds []struct{ Address, Route, Kind string }
		db.Raw("SELECT address, route, kind FROM deliveries WHERE message_id = ?", ids[0]).Scan(&ds)
		if len(ds) != 1 || ds[0].Address != senderA || ds[0].Route != directory.RouteInternal || ds[0].Kind != message.KindTo {
			t.Errorf("reply deliveries %+v, want one to %s over the internal route", ds, senderA)
		}
		checkReplyBlob(t, e, ids[0], s)
		if st := e.external(t, e.alice, s.id, outsider); st.RepliedAt == nil || !st.RepliedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("replied_at %v, want %v", st.RepliedAt, t0.Add(time.Minute))
		}
		if v, _ := e.ext.Session(ctx, sess); !v.Replied {
			t.Error("Visit.Replied not set")
		}
	})
}

func checkReplyBlob(t *testing.T, e *env, id string, s sent) {
	t.Helper()
	raw := e.blobText(t, "messages/"+id)
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("reply is not a message: %v", err)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil || from.Address != "noreply@a.example" || !strings.Contains(from.Name, outsider) {
		t.Errorf("From %q: want noreply@a.example naming %s", m.Header.Get("From"), outsider)
	}
	checks := []struct{ field, want string }{
		{"Reply-To", outsider},
		{"In-Reply-To", s.messageID},
		{"References", s.messageID},
		{"To", senderA},
		{"Subject", "Re: Besluit op uw aanvraag"},
	}
	for _, c := range checks {
		if got := m.Header.Get(c.field); !strings.Contains(got, c.want) || got == "" {
			t.Errorf("%s = %q, want %q", c.field, got, c.want)
		}
	}
	if !strings.Contains(raw, "akkoord.txt") {
		t.Errorf("reply lacks its attachment:\n%s", raw)
	}
	var sig string
	if err := e.db.Raw("SELECT dkim_signature FROM messages WHERE id = ?", id).Scan(&sig).Error; err != nil ||
		!strings.Contains(sig, "d=a.example;") {
		t.Errorf("reply signature %q, %v; want one of a.example", sig, err)
	}
}

func TestReplyInvalid(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		sess := e.verified(t, e.send(t, draft()).links[outsider].token)
		r := viewer.Reply{Text: "x", Attachments: []viewer.Upload{{Name: "a.txt", ContentType: "text/plain\r\nBcc: x@evil.example",
			Body: strings.NewReader("x")}}}
		if err := e.ext.SendReply(context.Background(), sess, r); !errors.Is(err, viewer.ErrInvalid) {
			t.Errorf("SendReply with a header injection = %v, want ErrInvalid", err)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM messages WHERE reply_to <> ''"); n != 0 {
			t.Errorf("%d replies stored", n)
		}
	})
}
