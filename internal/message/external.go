package message

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/sms"
)

// ExternalConfig turns on the external route: recipients outside the community
// get a notification with a link to the viewer. Nil keeps them refused.
type ExternalConfig struct {
	PublicURL  string   // links are PublicURL + "/v/" + token
	Regions    []string // ISO regions phone numbers may be in (sms.Allowed)
	ExpiryDays int      // reading window when neither message nor organisation sets one
}

// Notification is what a notification e-mail says; it carries no content.
type Notification struct {
	SenderName, SenderEmail, Organisation string
	Recipient                             string
	Link                                  string // carries the link token: never log it
	ExpiresAt                             time.Time
	Subject                               string // empty unless the organisation shows subjects
	MessageID                             string // of the notification itself
	Date                                  time.Time
	// CodeByEmail: the recipient gets the one-time code by e-mail, not SMS
	// (their organisation's policy; no phone number was given).
	CodeByEmail bool
}

// Notifier writes notification e-mails (internal/notify).
type Notifier interface {
	WriteNotification(w io.Writer, n Notification) error
	// WriteReminder writes a reminder daysLeft days before the link expires.
	WriteReminder(w io.Writer, n Notification, daysLeft int) error
}

// tokenBytes is the entropy of link and session tokens (256 bits).
const tokenBytes = 32

// NewToken draws a random URL-safe token and returns it with its hash, the only
// form that is stored.
func NewToken() (token string, hash []byte, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("message: token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the stored form of a token: SHA-256, enough for 256 random bits.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

type externalRow struct {
	DeliveryID         string `gorm:"primaryKey"`
	MessageID          string
	TokenHash          []byte
	ReminderTokenHash  []byte
	PhoneSealed        []byte
	PhoneMasked        string
	SMSStatus          string `gorm:"column:sms_status"`
	NotifiedAt         *time.Time
	CodeSentAt         *time.Time
	OpenedAt           *time.Time
	DownloadedAt       *time.Time
	RepliedAt          *time.Time
	RemindedAt         *time.Time
	NewLinkRequestedAt *time.Time
	CodeChannel        string // CodeBySMS or CodeByEmail
	CreatedAt          time.Time
}

func (externalRow) TableName() string { return "external_recipients" }

// phoneObject binds a sealed phone number to its delivery.
func phoneObject(deliveryID string) string { return "phone/" + deliveryID }

// codeFactor is how one external recipient gets their one-time code: by SMS
// to phone, or by e-mail to their own address (channel CodeByEmail).
type codeFactor struct {
	channel string
	phone   sms.Number // only for CodeBySMS
}

// codeFactors settles the second factor of every external recipient, by
// address: SMS to the phone number given for them, which must be usable; or,
// when none is given and the sender's organisation allows it, a code by e-mail.
// Without that setting a recipient without a phone number is refused.
func (s *Service) codeFactors(ctx context.Context, from Sender, d Draft, rcpts []recipient) (map[string]codeFactor, error) {
	out := map[string]codeFactor{}
	var set *Settings
	for _, r := range rcpts {
		if r.route != directory.RouteExternal {
			continue
		}
		raw, ok := lookupPhone(d.Phones, r.address)
		if !ok {
			if set == nil {
				loaded, err := s.store.OrganisationSettings(ctx, from.OrganisationID)
				if err != nil {
					return nil, err
				}
				set = &loaded
			}
			if !set.EmailCodeAllowed {
				return nil, &InvalidError{Field: "phones", Reason: "no phone number for " + r.address +
					" (recipients outside the community read the message after a code sent by SMS)"}
			}
			out[strings.ToLower(r.address)] = codeFactor{channel: CodeByEmail}
			continue
		}
		n, err := s.usablePhone(r.address, raw)
		if err != nil {
			return nil, err
		}
		out[strings.ToLower(r.address)] = codeFactor{channel: CodeBySMS, phone: n}
	}
	return out, nil
}

// usablePhone normalises the number given for address and checks its region.
func (s *Service) usablePhone(address, raw string) (sms.Number, error) {
	n, err := sms.Normalize(raw, "NL")
	if err == nil {
		err = sms.Allowed(n, s.cfg.External.Regions)
	}
	if err != nil {
		return sms.Number{}, &InvalidError{Field: "phones", Reason: "the number for " + address + " cannot be used: " + err.Error()}
	}
	return n, nil
}

func lookupPhone(phones map[string]string, address string) (string, bool) {
	for a, n := range phones {
		if strings.EqualFold(a, address) || strings.EqualFold(normalAddress(a), address) {
			return n, true
		}
	}
	return "", false
}

func normalAddress(a string) string {
	domain, reason, _ := directory.CheckAddress(a)
	if reason != "" {
		return a
	}
	return a[:strings.LastIndexByte(a, '@')+1] + domain
}

// expiry is when external recipients can no longer read m.
func (s *Service) expiry(m messageRow, set Settings) time.Time {
	if m.ExpiresAt != nil {
		return *m.ExpiresAt
	}
	days := s.cfg.External.ExpiryDays
	if set.ExpiryDays > 0 {
		days = set.ExpiryDays
	}
	return m.CreatedAt.Add(time.Duration(days) * 24 * time.Hour)
}

// external prepares the external recipients of ds: a link token, the sealed
// phone number (none for a recipient who gets the code by e-mail) and the DKIM-signed notification in its own sealed blob. It
// returns their rows, to be inserted with the message; on error the blobs
// written so far are deleted.
func (s *Service) external(ctx context.Context, m *messageRow, from Sender, d Draft, ds []deliveryRow,
	factors map[string]codeFactor) ([]externalRow, error) {
	if len(factors) == 0 {
		return nil, nil
	}
	set, err := s.store.OrganisationSettings(ctx, from.OrganisationID)
	if err != nil {
		return nil, err
	}
	exp := s.expiry(*m, set)
	m.ExpiresAt = &exp
	base := notificationBase(*m, from, d, set, s.orgName(from))
	var rows []externalRow
	for i := range ds {
		if ds[i].Route != directory.RouteExternal {
			continue
		}
		row, err := s.prepareExternal(ctx, *m, &ds[i], factors[strings.ToLower(ds[i].Address)], base)
		if err != nil {
			s.deleteExternalBlobs(ctx, ds)
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func notificationBase(m messageRow, from Sender, d Draft, set Settings, org string) Notification {
	n := Notification{SenderName: from.Name, SenderEmail: from.Email, Organisation: org, ExpiresAt: *m.ExpiresAt,
		Date: m.CreatedAt}
	if set.ShowSubject {
		n.Subject = d.Subject
	}
	return n
}

// orgName is the sender organisation's name from the directory.
func (s *Service) orgName(from Sender) string { return s.OrganisationName(from.Email) }

// OrganisationName is the name of the community organisation of address, or "".
func (s *Service) OrganisationName(address string) string {
	res := s.router.Resolve([]string{address})
	if len(res) == 1 && res[0].Organisation != nil {
		return res[0].Organisation.Name
	}
	return ""
}

func (s *Service) prepareExternal(ctx context.Context, m messageRow, dr *deliveryRow, f codeFactor,
	n Notification) (externalRow, error) {
	token, hash, err := NewToken()
	if err != nil {
		return externalRow{}, err
	}
	row := externalRow{DeliveryID: dr.ID, MessageID: m.ID, TokenHash: hash, CodeChannel: CodeByEmail,
		CreatedAt: m.CreatedAt}
	if f.channel != CodeByEmail {
		if row.PhoneSealed, err = sealBytes(m.key, phoneObject(dr.ID), []byte(f.phone.E164())); err != nil {
			return externalRow{}, err
		}
		row.CodeChannel, row.PhoneMasked = CodeBySMS, f.phone.Masked()
	}
	n.Recipient, n.Link, n.CodeByEmail = dr.Address, s.link(token), row.CodeChannel == CodeByEmail
	n.MessageID = "<" + dr.ID + "@" + s.cfg.SMTPHostname + ">"
	dr.BlobKey = "notifications/" + dr.ID
	if dr.Size, err = s.writeNotification(ctx, m, dr.BlobKey, n); err != nil {
		return externalRow{}, err
	}
	return row, nil
}

// link is the viewer URL of a link token.
func (s *Service) link(token string) string {
	return strings.TrimRight(s.cfg.External.PublicURL, "/") + "/v/" + token
}

// writeNotification composes, DKIM-signs and seals a notification.
func (s *Service) writeNotification(ctx context.Context, m messageRow, key string, n Notification) (int64, error) {
	return s.writeMail(ctx, m, key, func(w io.Writer) error { return s.notifier.WriteNotification(w, n) })
}

// writeMail composes a mail with write, DKIM-signs it for the sender's domain
// (as the message itself) and seals it under the message's key; the signature
// is part of the blob.
func (s *Service) writeMail(ctx context.Context, m messageRow, key string, write func(io.Writer) error) (int64, error) {
	var body bytes.Buffer
	if err := write(&body); err != nil {
		return 0, fmt.Errorf("message: compose notification: %w", err)
	}
	domain, _, _ := directory.CheckAddress(m.SenderEmail)
	sig, err := s.signer.Sign(ctx, m.OrganisationID, domain, bytes.NewReader(body.Bytes()))
	if err != nil {
		return 0, fmt.Errorf("message: DKIM sign notification: %w", err)
	}
	w, err := s.vault.With(m.key).Create(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("message: create notification blob: %w", err)
	}
	if _, err = io.WriteString(w, sig); err == nil {
		_, err = w.Write(body.Bytes())
	}
	if err == nil {
		err = w.Commit()
	}
	if err != nil {
		_ = w.Abort()
		return 0, fmt.Errorf("message: write notification: %w", err)
	}
	return int64(len(sig) + body.Len()), nil
}

func (s *Service) deleteExternalBlobs(ctx context.Context, ds []deliveryRow) {
	for _, d := range ds {
		if d.Route == directory.RouteExternal && d.BlobKey != "" {
			s.deleteBlob(ctx, d.BlobKey)
		}
	}
}

// insertExternal adds the external recipients inside tx. Those who get their
// code by e-mail have no phone number: phone_sealed is left out so that it is
// NULL on both engines (SQLite would store a nil []byte as an empty BLOB).
func insertExternal(tx *gorm.DB, rows []externalRow) error {
	var bySMS, byEmail []externalRow
	for _, r := range rows {
		if r.CodeChannel == CodeByEmail {
			byEmail = append(byEmail, r)
		} else {
			bySMS = append(bySMS, r)
		}
	}
	if len(bySMS) > 0 {
		if err := tx.CreateInBatches(&bySMS, insertBatch).Error; err != nil {
			return fmt.Errorf("message: insert external recipients: %w", err)
		}
	}
	if len(byEmail) > 0 {
		if err := tx.Omit("phone_sealed").CreateInBatches(&byEmail, insertBatch).Error; err != nil {
			return fmt.Errorf("message: insert external recipients: %w", err)
		}
	}
	return nil
}

// externals returns the external recipients of a message by delivery id, with
// whether each is locked out (internal/otp's subject is the delivery id).
func (s *Store) externals(ctx context.Context, messageID string) (map[string]*ExternalStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []externalRow
	if err := s.db.WithContext(ctx).Where("message_id = ?", messageID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("message: read external recipients: %w", err)
	}
	out := make(map[string]*ExternalStatus, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	var locked []string
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.DeliveryID
	}
	if err := s.db.WithContext(ctx).Table("otp_subjects").Where("subject IN ? AND locked_at IS NOT NULL", ids).
		Pluck("subject", &locked).Error; err != nil {
		return nil, fmt.Errorf("message: read locks: %w", err)
	}
	for _, r := range rows {
		out[r.DeliveryID] = &ExternalStatus{CodeBy: codeBy(r.CodeChannel), Phone: r.PhoneMasked, SMSStatus: r.SMSStatus, NotifiedAt: r.NotifiedAt, CodeSentAt: r.CodeSentAt,
			OpenedAt: r.OpenedAt, DownloadedAt: r.DownloadedAt, RepliedAt: r.RepliedAt, RemindedAt: r.RemindedAt,
			NewLinkRequestedAt: r.NewLinkRequestedAt, Locked: slices.Contains(locked, r.DeliveryID)}
	}
	return out, nil
}
