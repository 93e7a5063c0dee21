package enrolment

import (
	"context"
	"fmt"

	"github.com/veilig/veilig/internal/audit"
)

// record appends an enrolment step (audit.ActionEnrolment + step) to the trail:
// the operators' trail until the enrolment has an organisation, then that
// organisation's. Never the status token, the password or the admin's address.
func (s *Service) record(ctx context.Context, step, id, orgID string, detail map[string]string) {
	s.d.Audit.Record(ctx, audit.Event{Action: audit.ActionEnrolment + step, Outcome: "success",
		Actor: audit.ActorFrom(ctx), Object: audit.Object{Type: "enrolment", ID: id}, OrganisationID: orgID,
		Detail: detail})
}

// decider names who approved: Veilig itself (automatic admission) or an operator.
func decider(by string) string {
	if by == DecidedByAuto {
		return "auto"
	}
	return "operator"
}

func wrapExpire(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("enrolment: expire: %w", err)
}
