package monitor

import (
	"context"

	"github.com/veilig/veilig/internal/audit"
)

// record appends a suspension, recovery or re-pinning of domain's pin to the
// trail of its organisation (audit.ActionMonitor + kind): Veilig itself acts,
// or the operator ctx names (Repin).
func (m *Monitor) record(ctx context.Context, domain, orgID, kind, why string) {
	var detail map[string]string
	if why != "" {
		detail = map[string]string{"reason": why} // the recorder cuts it to 1 KiB
	}
	m.deps.Audit.Record(ctx, audit.Event{Action: audit.ActionMonitor + kind, Outcome: "success", Actor: audit.ActorFrom(ctx),
		Object: audit.Object{Type: "domain", ID: domain}, OrganisationID: orgID, Detail: detail})
}
