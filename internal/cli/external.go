package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/internal/devmailbox"
	"github.com/veilig/veilig/internal/external"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/notify"
	"github.com/veilig/veilig/internal/otp"
	"github.com/veilig/veilig/internal/seal"
	"github.com/veilig/veilig/internal/sms"
	"github.com/veilig/veilig/internal/viewer"
)

// externalRoute is the external route's wiring: SMS, codes, the viewer's back
// end and pages, and the dev mailbox when it replaces mail and SMS.
type externalRoute struct {
	mailbox *devmailbox.Mailbox // nil unless VEILIG_DEV_MAILBOX
	notify  *notify.Renderer
	notices *external.Notices
	service *external.Service // nil when the route is off
	viewer  *viewer.Viewer
}

// newMailbox returns the dev mailbox when it is on and allowed.
func newMailbox(s *setup) (*devmailbox.Mailbox, error) {
	if !s.cfg.DevMailbox {
		return nil, nil
	}
	if err := devmailbox.Allowed(s.cfg.PublicURL); err != nil {
		return nil, fmt.Errorf("VEILIG_DEV_MAILBOX: %w", err)
	}
	s.log.Warn("dev mailbox on: no e-mail or SMS leaves this machine; they are shown at /dev/mailbox")
	return devmailbox.New(500, s.log), nil
}

// externalEnabled: the route needs a way to send codes.
func externalEnabled(s *setup) bool { return s.cfg.SMSProvider != "" || s.cfg.DevMailbox }

// externalConfig is the message service's view of the route.
func externalConfig(s *setup) *message.ExternalConfig {
	if !externalEnabled(s) {
		return nil
	}
	return &message.ExternalConfig{PublicURL: s.cfg.PublicURL, Regions: splitList(s.cfg.SMSRegions),
		ExpiryDays: s.cfg.ExpiryDays}
}

// notifier adapts notify to message.Notifier.
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
		Subject: m.Subject, ShowSubject: m.Subject != "", MessageID: m.MessageID, Date: m.Date,
		CodeByEmail: m.CodeByEmail}
}

// smsSender is the dev mailbox or the configured provider.
func smsSender(s *setup, mailbox *devmailbox.Mailbox) (sms.Sender, error) {
	if mailbox != nil {
		return mailbox, nil
	}
	return sms.NewCM(sms.CMConfig{BaseURL: s.cfg.SMSEndpoint, ProductToken: sms.Secret(s.cfg.SMSToken),
		From: s.cfg.SMSSender, Log: s.log})
}

// newExternalService wires the back end and the viewer once messages exist.
func (x *externalRoute) wire(s *setup, snd *sending, ring *seal.KeyRing) error {
	if !externalEnabled(s) {
		return nil
	}
	secret, err := ring.DeriveSecret("otp")
	if err != nil {
		return err
	}
	codes, err := otp.New(s.db, otp.Config{Secret: secret}, s.log)
	if err != nil {
		return err
	}
	sender, err := smsSender(s, x.mailbox)
	if err != nil {
		return err
	}
	public, err := url.Parse(s.cfg.PublicURL)
	if err != nil {
		return fmt.Errorf("VEILIG_PUBLIC_URL: %w", err)
	}
	host, err := smtpHostname(s.cfg)
	if err != nil {
		return err
	}
	var mail external.CodeMailer = snd.deliverer
	if x.mailbox != nil {
		mail = x.mailbox
	}
	x.service, err = external.New(external.Config{IdleTimeout: s.cfg.ViewerIdle, AbsoluteTimeout: s.cfg.ViewerAbsolute,
		DailySMSCap: s.cfg.SMSDailyCap, PublicHost: public.Host, SMTPHostname: host},
		external.Deps{DB: s.db, Messages: snd.messages, OTP: codes, SMS: sender, Queue: snd.outbox, Log: s.log,
			Now: time.Now, Mail: mail, Notify: x.notify, Audit: s.recorder()})
	if err != nil {
		return err
	}
	return x.newViewer(s, ring, public)
}

func (x *externalRoute) newViewer(s *setup, ring *seal.KeyRing, public *url.URL) error {
	key, err := ring.DeriveSecret("viewer-csrf")
	if err != nil {
		return err
	}
	x.viewer, err = viewer.New(viewer.Config{PublicURL: public, SecureCookies: strings.EqualFold(public.Scheme, "https"),
		Log: s.log, CSRFKey: key, SessionMaxAge: s.cfg.ViewerAbsolute}, x.service)
	return err
}

// unlocker is the external service, or nil (no route) as a nil interface.
func (snd *sending) unlocker() api.Unlocker {
	if snd.external.service == nil {
		return nil
	}
	return snd.external.service
}

// pages are the routes beside the API: the viewer and the dev mailbox.
func (snd *sending) pages() []api.Registrar {
	var out []api.Registrar
	if snd.external.viewer != nil {
		out = append(out, snd.external.viewer)
	}
	if snd.external.mailbox != nil {
		out = append(out, snd.external.mailbox)
	}
	return out
}

// lifecycleLoop, every minute: shreds expired and withdrawn messages, deletes
// the ciphertext of shredded ones, and prunes viewer sessions.
func (snd *sending) lifecycleLoop(ctx context.Context, s *setup) {
	tick(ctx, time.Minute, func() { snd.lifecycle(ctx, s) })
}

func (snd *sending) lifecycle(ctx context.Context, s *setup) {
	reminded, err0 := snd.messages.SendReminders(ctx, time.Duration(s.cfg.ReminderDays)*24*time.Hour)
	shredded, err1 := snd.store.Expire(ctx)
	purged, err2 := snd.store.PurgeContent(ctx)
	var sessions int64
	var err3 error
	if snd.external.service != nil {
		sessions, err3 = snd.external.service.PruneSessions(ctx)
	}
	if err := errors.Join(err0, err1, err2, err3); err != nil && ctx.Err() == nil {
		s.log.Error("message lifecycle pass failed", "err", err)
	}
	if reminded+shredded+purged+int(sessions) > 0 {
		s.log.Info("message lifecycle", "reminded", reminded, "shredded", shredded, "blobs_purged", purged,
			"sessions_pruned", sessions)
	}
}
