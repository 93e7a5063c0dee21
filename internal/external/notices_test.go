package external_test

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/external"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/mimeread"
	"github.com/veilig/veilig/internal/testenv"
)

func TestRenderNotice(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.send(t, draft())
		l := s.links[outsider]
		n := external.NewNotices(e.store, e.render, host, publicURL)
		tests := []struct {
			kind, subject, text string
		}{
			{message.NoticeFirstOpen, "Bericht geopend / Message opened", outsider},
			{message.NoticeLocked, "Ontvanger geblokkeerd / Recipient locked out",
				publicURL + "/api/v1/messages/" + s.id + "/recipients/"},
			{message.NoticeNewLink, "Nieuwe link gevraagd / New link requested", outsider},
		}
		for _, shredded := range []bool{false, true} {
			if shredded { // notices need no content: they render after it is destroyed
				if err := e.msgs.Revoke(ctx, e.alice, s.id); err != nil {
					t.Fatal(err)
				}
				if _, err := e.store.PurgeContent(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, tt := range tests {
				b, err := n.RenderNotice(ctx, message.Delivery{ID: "11111111-2222-3333-4444-555555555555",
					Kind: message.KindNotice, Reason: tt.kind + ":" + l.deliveryID})
				if err != nil {
					t.Errorf("RenderNotice(%s, shredded=%v): %v", tt.kind, shredded, err)
					continue
				}
				checkNotice(t, tt.kind, b, tt.subject, tt.text, s)
			}
		}
		for _, reason := range []string{"", "bounce", "first-open:", "locked"} {
			if _, err := n.RenderNotice(ctx, message.Delivery{ID: "x", Reason: reason}); err == nil {
				t.Errorf("RenderNotice with reason %q succeeded", reason)
			}
		}
		_, err := n.RenderNotice(ctx, message.Delivery{ID: "x", Reason: message.NoticeLocked + ":no-such-delivery"})
		if !errors.Is(err, message.ErrNotFound) {
			t.Errorf("RenderNotice about an unknown recipient = %v, want ErrNotFound", err)
		}
	})
}

// checkNotice: a parseable mail from the system to the sender, about the
// recipient, threaded under the original message.
func checkNotice(t *testing.T, kind string, b []byte, subject, text string, s sent) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Errorf("%s: not a message: %v", kind, err)
		return
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(m.Header.Get("Subject"))
	from, errF := mail.ParseAddress(m.Header.Get("From"))
	to, errT := mail.ParseAddress(m.Header.Get("To"))
	switch {
	case errF != nil || from.Address != "postmaster@"+host:
		t.Errorf("%s: From %q", kind, m.Header.Get("From"))
	case errT != nil || to.Address != senderA:
		t.Errorf("%s: To %q, want %s", kind, m.Header.Get("To"), senderA)
	case subj != subject:
		t.Errorf("%s: Subject %q, want %q", kind, subj, subject)
	case m.Header.Get("Message-Id") != "<11111111-2222-3333-4444-555555555555@"+host+">":
		t.Errorf("%s: Message-ID %q", kind, m.Header.Get("Message-Id"))
	case !strings.Contains(m.Header.Get("References"), s.messageID):
		t.Errorf("%s: References %q, want %s", kind, m.Header.Get("References"), s.messageID)
	case m.Header.Get("Auto-Submitted") != "auto-generated":
		t.Errorf("%s: Auto-Submitted %q", kind, m.Header.Get("Auto-Submitted"))
	}
	c, err := mimeread.Read(bytes.NewReader(b), mimeread.Limits{})
	if err != nil {
		t.Errorf("%s: %v", kind, err)
		return
	}
	for _, want := range []string{outsider, text} {
		if !strings.Contains(c.Text, want) || !strings.Contains(c.HTML, want) {
			t.Errorf("%s: text or HTML lacks %q:\n%s", kind, want, c.Text)
		}
	}
}
