package monitor

import (
	"context"

	"github.com/veilig/veilig/internal/audit"
)

// record appends a suspension or recovery of domain's pin to the trail of its
// organisation (audit.ActionMonitor + kind); Veilig itself acts.
func (m *Monitor) record(ctx context.Context, domain, orgID, kind, why string) {
	var detail map[string]string
	if why != "" {
		detail = map[string]string{"reason": why} // the recorder cuts it to 1 KiB
	}
	m.deps.Audit.Record(ctx, audit.Event{Action: audit.ActionMonitor + kind, Outcome: "success",
		Object: audit.Object{Type: "domain", ID: domain}, OrganisationID: orgID, Detail: detail})
}
