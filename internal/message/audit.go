package message

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/veilig/veilig/internal/audit"
)

// SetAudit makes the store record the message lifecycle (expired, shredded)
// in the audit trail r; nil records nothing. Call it before the store is used.
func (s *Store) SetAudit(r audit.Recorder) { s.audit = r }

// record appends e to r's trail (nil records nothing).
func record(ctx context.Context, r audit.Recorder, e audit.Event) {
	if r != nil {
		r.Record(ctx, e)
	}
}

// senderActor is the request's actor, or the sender when the caller did not
// set one (the SMTP submission gateway).
func senderActor(ctx context.Context, from Sender) audit.Actor {
	a := audit.ActorFrom(ctx)
	if a.UserID == "" {
		a.UserID, a.OrganisationID = from.UserID, from.OrganisationID
	}
	return a
}

// recordSubmitted records an accepted message: how many recipients by which
// route, its size and how many attachments. Never an address or the content.
func (s *Service) recordSubmitted(ctx context.Context, m messageRow, from Sender, d Draft, rcpts []recipient) {
	record(ctx, s.audit, audit.Event{Action: audit.ActionMessageSubmit, Outcome: "success",
		Actor: senderActor(ctx, from), Object: audit.Object{Type: "message", ID: m.ID},
		OrganisationID: from.OrganisationID, Detail: map[string]string{
			"recipients": strconv.Itoa(len(rcpts)), "routes": routeCounts(rcpts),
			"size": strconv.FormatInt(m.Size, 10), "attachments": strconv.Itoa(len(d.Attachments))}})
}

// routeCounts reads e.g. "external:1,internal:2".
func routeCounts(rcpts []recipient) string {
	n := map[string]int{}
	for _, r := range rcpts {
		n[r.route]++
	}
	parts := make([]string, 0, len(n))
	for route, c := range n {
		parts = append(parts, fmt.Sprintf("%s:%d", route, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// recordRevoked records a sender withdrawing their message id, in its
// organisation's trail, and returns the message for the shredding event.
func (s *Store) recordRevoked(ctx context.Context, senderUserID, id string) messageRow {
	m := messageRow{ID: id}
	if s.audit == nil {
		return m
	}
	var orgs []string
	_ = s.db.WithContext(ctx).Model(&messageRow{}).Where("id = ?", id).Limit(1).
		Pluck("organisation_id", &orgs).Error // on failure the events have no organisation
	if len(orgs) == 1 {
		m.OrganisationID = orgs[0]
	}
	record(ctx, s.audit, audit.Event{Action: audit.ActionRevoked, Outcome: "success",
		Actor:  senderActor(ctx, Sender{UserID: senderUserID, OrganisationID: m.OrganisationID}),
		Object: audit.Object{Type: "message", ID: id}, OrganisationID: m.OrganisationID})
	return m
}

// recordLifecycle records a message's expiry or shredding (Veilig acts).
func (s *Store) recordLifecycle(ctx context.Context, action string, m messageRow) {
	record(ctx, s.audit, audit.Event{Action: action, Outcome: "success",
		Object: audit.Object{Type: "message", ID: m.ID}, OrganisationID: m.OrganisationID})
}

// recordSettings records an organisation's new message settings, as facts.
func (s *Store) recordSettings(ctx context.Context, orgID string, set Settings) {
	b := strconv.FormatBool
	record(ctx, s.audit, audit.Event{Action: audit.ActionSettings, Outcome: "success", Actor: audit.ActorFrom(ctx),
		Object: audit.Object{Type: "organisation", ID: orgID}, OrganisationID: orgID, Detail: map[string]string{
			"self_copy": b(set.SelfCopy), "show_subject": b(set.ShowSubject),
			"expiry_days": strconv.Itoa(set.ExpiryDays), "notify_first_open": b(set.NotifyFirstOpen),
			"sms_daily_cap": strconv.Itoa(set.SMSDailyCap), "email_code_allowed": b(set.EmailCodeAllowed)}})
}
