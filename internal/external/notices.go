package external

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/notify"
)

// Notices renders the notices a sender gets about an external recipient (first
// open, locked, new link requested) when they are delivered, from the record
// alone: they need no content, so they work after the content is destroyed.
type Notices struct {
	store    *message.Store
	renderer *notify.Renderer
	host     string // VEILIG_SMTP_HOSTNAME: the system address and Message-IDs
	apiBase  string // VEILIG_PUBLIC_URL, for the unlock instructions
	now      func() time.Time
}

// NewNotices returns the renderer of sender notices.
func NewNotices(store *message.Store, r *notify.Renderer, host, apiBase string) *Notices {
	return &Notices{store: store, renderer: r, host: host, apiBase: apiBase, now: time.Now}
}

// RenderNotice implements outbox.NoticeRenderer.
func (n *Notices) RenderNotice(ctx context.Context, d message.Delivery) ([]byte, error) {
	kind, deliveryID, ok := message.NoticeSubject(d.Reason)
	if !ok {
		return nil, fmt.Errorf("external: notice %s has reason %q", d.ID, d.Reason)
	}
	l, err := n.store.Link(ctx, deliveryID)
	if err != nil {
		return nil, err
	}
	base := notify.Notice{From: compose.Address{Name: "Veilig", Addr: "postmaster@" + n.host},
		To: compose.Address{Name: l.SenderName, Addr: l.SenderEmail}, RecipientAddress: l.Address,
		OriginalMessageID: l.MessageIDHeader, SentAt: l.CreatedAt, MessageID: "<" + d.ID + "@" + n.host + ">",
		Date: n.now()}
	var m notify.Mail
	switch kind {
	case message.NoticeFirstOpen:
		opened := base.Date
		if l.OpenedAt != nil {
			opened = *l.OpenedAt
		}
		m = notify.FirstOpen{Notice: base, OpenedAt: opened}
	case message.NoticeLocked:
		m = notify.Locked{Notice: base, MessageRef: l.MessageID, APIBaseURL: n.apiBase, LockedAt: base.Date}
	default:
		m = notify.NewLinkRequest{Notice: base}
	}
	var buf bytes.Buffer
	if err := n.renderer.Write(&buf, m); err != nil {
		return nil, fmt.Errorf("external: render notice: %w", err)
	}
	return buf.Bytes(), nil
}
