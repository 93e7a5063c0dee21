package outbox

import (
	"context"
	"strconv"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/message"
)

// recordAudit appends a recorded run to the audit trail of the sender's
// organisation (NTA 7516 §6.4.2): one event per connection attempt with its
// transport evidence, and a notification event when an external recipient's
// notification was delivered. Never the recipient's address, the server's
// reply text (it may quote the address) or any content.
func (o *Outbox) recordAudit(ctx context.Context, d message.Delivery, out message.Outcome) {
	if o.audit == nil {
		return
	}
	obj := audit.Object{Type: "delivery", ID: d.ID}
	for _, a := range out.Evidence {
		o.audit.Record(ctx, audit.Event{Action: audit.ActionDeliveryAttempt, Outcome: a.Outcome, Object: obj,
			OrganisationID: d.SenderOrganisationID, Detail: attemptDetail(d, out, a)})
	}
	if notification(d, out) {
		o.audit.Record(ctx, audit.Event{Action: audit.ActionNotification, Outcome: "success", Object: obj,
			OrganisationID: d.SenderOrganisationID,
			Detail:         map[string]string{"message": d.MessageID, "domain": d.Domain}})
	}
}

// notification reports whether out delivered an external recipient's
// notification e-mail.
func notification(d message.Delivery, out message.Outcome) bool {
	return d.Route == directory.RouteExternal && d.Kind != message.KindNotice && out.Status == message.StatusDelivered
}

// attemptDetail is the transport evidence of one attempt, as facts.
func attemptDetail(d message.Delivery, out message.Outcome, a message.Attempt) map[string]string {
	detail := map[string]string{"message": d.MessageID, "kind": d.Kind, "route": d.Route, "domain": d.Domain,
		"run": strconv.Itoa(d.Attempts + 1), "status": out.Status}
	for k, v := range map[string]string{"mx": a.MX, "ip": a.IP, "policy": a.Policy, "tls": a.TLSVersion,
		"cipher": a.Cipher, "tlsa": a.TLSAMatch, "enhanced": a.Enhanced} {
		if v != "" {
			detail[k] = v
		}
	}
	if a.Code != 0 {
		detail["code"] = strconv.Itoa(a.Code)
	}
	return detail
}
