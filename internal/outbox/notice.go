package outbox

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
)

// maxNoticeReason bounds the server reply quoted in a notice.
const maxNoticeReason = 1000

// writeNotice composes the bounce notice for a failed delivery into its own
// committed blob. It names the message by its Message-ID and the recipient, and
// quotes the reason; the message's content is not in it (nor in the database).
func (o *Outbox) writeNotice(ctx context.Context, d message.Delivery, out message.Outcome) (message.Notice, error) {
	domain, reason, _ := directory.CheckAddress(d.SenderEmail)
	if reason != "" {
		return message.Notice{}, fmt.Errorf("outbox: sender address of message %s unusable: %s", d.MessageID, reason)
	}
	id := uuid.NewString()
	n := message.Notice{Address: d.SenderEmail, Domain: domain, OrganisationID: d.SenderOrganisationID,
		BlobKey: "notices/" + id}
	if d.Content == nil {
		return message.Notice{}, fmt.Errorf("outbox: message %s is purged; no notice can be sealed", d.MessageID)
	}
	w, err := d.Content.Create(ctx, n.BlobKey)
	if err != nil {
		return message.Notice{}, fmt.Errorf("outbox: create notice: %w", err)
	}
	cw := &countingWriter{w: w}
	if err := compose.Write(cw, o.noticeMessage(id, d, out)); err != nil {
		_ = w.Abort()
		return message.Notice{}, fmt.Errorf("outbox: compose notice: %w", err)
	}
	if err := w.Commit(); err != nil {
		return message.Notice{}, fmt.Errorf("outbox: commit notice: %w", err)
	}
	n.Size = cw.n
	return n, nil
}

func (o *Outbox) noticeMessage(id string, d message.Delivery, out message.Outcome) compose.Message {
	sent := d.MessageCreatedAt.UTC().Format("2006-01-02 15:04 MST")
	why := oneLine(out.Reason)
	text := strings.Join([]string{
		"Uw bericht " + d.MessageIDHeader + " van " + sent + " kon niet worden afgeleverd bij " + d.Address + ".",
		"Reden: " + why,
		"",
		"Your message " + d.MessageIDHeader + " of " + sent + " could not be delivered to " + d.Address + ".",
		"Reason: " + why,
		"",
		"Veilig shows the message's status, with the evidence of every attempt, to its sender.",
		"",
	}, "\r\n")
	return compose.Message{
		From:      compose.Address{Name: "Veilig", Addr: "postmaster@" + o.cfg.SMTPHostname},
		To:        []compose.Address{{Addr: d.SenderEmail}},
		Subject:   "Onbestelbaar / Undeliverable: " + d.Address,
		Text:      text,
		MessageID: "<" + id + "@" + o.cfg.SMTPHostname + ">",
		Date:      o.now(),
		ExtraHeaders: [][2]string{
			{"Auto-Submitted", "auto-replied"},
			{"In-Reply-To", d.MessageIDHeader},
			{"References", d.MessageIDHeader},
		},
	}
}

// oneLine makes a server reply safe to quote: control characters become spaces,
// and it is cut to maxNoticeReason octets.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxNoticeReason {
		s = strings.ToValidUTF8(s[:maxNoticeReason], "") + "…"
	}
	if s == "" {
		return "unknown"
	}
	return s
}

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
