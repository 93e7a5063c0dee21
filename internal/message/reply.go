package message

import (
	"context"
	"fmt"
	"strings"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/message/compose"
)

// ReplyDraft is what an external recipient writes back in the viewer.
type ReplyDraft struct {
	Subject     string // of the original message; "Re: " is added
	Text        string
	Attachments []compose.Attachment
}

// Reply sends an external recipient's reply to the original sender over the
// internal route. It comes From the sender organisation's own domain
// (noreply@, DKIM-signed with its key, so DMARC aligns), names the recipient
// in the display name and Reply-To, and threads under the original message
// (RFC 5322 §3.6.4). It is stored and delivered like any message.
func (s *Service) Reply(ctx context.Context, l Link, r ReplyDraft) (Accepted, error) {
	domain, bad, _ := directory.CheckAddress(l.SenderEmail)
	if bad != "" {
		return Accepted{}, fmt.Errorf("message: sender address of %s unusable: %s", l.MessageID, bad)
	}
	from := Sender{UserID: "external:" + l.DeliveryID, Email: "noreply@" + domain,
		Name: l.Address + " via Veilig", OrganisationID: l.OrganisationID}
	d := Draft{To: []string{l.SenderEmail}, Subject: replySubject(r.Subject), Text: r.Text,
		Attachments: r.Attachments, noSelfCopy: true, replyTo: l.DeliveryID,
		headers: [][2]string{{"Reply-To", l.Address}, {"In-Reply-To", l.MessageIDHeader},
			{"References", l.MessageIDHeader}}}
	return s.Accept(ctx, from, d, "")
}

func replySubject(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "Re: (Veilig)"
	}
	if len(s) >= 3 && strings.EqualFold(s[:3], "re:") {
		return s
	}
	return "Re: " + s
}
