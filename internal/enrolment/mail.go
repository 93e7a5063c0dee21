package enrolment

import (
	"context"
	"fmt"
	"strings"

	"github.com/veilig/veilig/internal/outbox"
)

// mail sends m to the enrolment's admin when a Mailer is configured; a
// failure is logged, the decision it reports stands.
func (s *Service) mail(ctx context.Context, row enrolmentRow, m outbox.SystemMail) {
	if s.d.Mailer == nil {
		return
	}
	m.To = []string{row.AdminEmail}
	ctx, cancel := s.step(ctx)
	defer cancel()
	if err := s.d.Mailer.SendSystemMail(ctx, m); err != nil {
		s.d.Log.Warn("enrolment mail not queued", "id", row.ID, "err", err)
	}
}

// approvedMail tells the admin how to activate the account. It carries no
// secret: activation needs the status token the partner received at
// enrolment.
func approvedMail(row enrolmentRow, publicURL string) outbox.SystemMail {
	activate := strings.TrimRight(publicURL, "/") + "/api/v1/enrolments/" + row.ID + "/activate"
	var b strings.Builder
	fmt.Fprintf(&b, "Beste %s,\n\n", row.AdminName)
	fmt.Fprintf(&b, "De aanmelding van %s bij Veilig is goedgekeurd. U bent de eerste beheerder.\n", row.OrganisationName)
	fmt.Fprintf(&b, "Kies uw wachtwoord met het statustoken dat u bij de aanmelding kreeg:\nPOST %s\n\n", activate)
	b.WriteString("-- English --\n\n")
	fmt.Fprintf(&b, "Dear %s,\n\n", row.AdminName)
	fmt.Fprintf(&b, "The enrolment of %s with Veilig has been approved. You are its first administrator.\n", row.OrganisationName)
	fmt.Fprintf(&b, "Choose your password with the status token you received when enrolling:\nPOST %s\n", activate)
	return outbox.SystemMail{
		Subject: "Aanmelding bij Veilig goedgekeurd / Enrolment with Veilig approved",
		Text:    b.String(),
	}
}

func rejectedMail(row enrolmentRow) outbox.SystemMail {
	var b strings.Builder
	fmt.Fprintf(&b, "Beste %s,\n\n", row.AdminName)
	fmt.Fprintf(&b, "De aanmelding van %s bij Veilig is afgewezen. Reden:\n%s\n\n", row.OrganisationName, row.DecisionReason)
	b.WriteString("-- English --\n\n")
	fmt.Fprintf(&b, "Dear %s,\n\n", row.AdminName)
	fmt.Fprintf(&b, "The enrolment of %s with Veilig has been rejected. Reason:\n%s\n", row.OrganisationName, row.DecisionReason)
	return outbox.SystemMail{
		Subject: "Aanmelding bij Veilig afgewezen / Enrolment with Veilig rejected",
		Text:    b.String(),
	}
}
