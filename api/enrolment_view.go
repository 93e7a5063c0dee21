package api

import (
	"time"

	"github.com/veilig/veilig/internal/mailcheck"
)

// enrolmentView is an enrolment as JSON. The applicant (status token) sees
// everything but the administrator's phone number and the deciding operator;
// operators see all.
type enrolmentView struct {
	ID             string                `json:"id"`
	Status         string                `json:"status"`
	Organisation   enrolmentOrgView      `json:"organisation"`
	Domains        []enrolmentDomainView `json:"domains"`
	Admin          enrolmentAdminView    `json:"admin"`
	OrganisationID *string               `json:"organisation_id"`
	CreatedAt      time.Time             `json:"created_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
	ExpiresAt      time.Time             `json:"expires_at"`
	DecidedAt      *time.Time            `json:"decided_at"`
	DecidedBy      string                `json:"decided_by,omitempty"`
	DecisionReason string                `json:"decision_reason,omitempty"`
	Activated      bool                  `json:"activated"`
}

type enrolmentOrgView struct {
	Name string `json:"name"`
	KvK  string `json:"kvk,omitempty"`
	OIN  string `json:"oin,omitempty"`
}

type enrolmentAdminView struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone,omitempty"`
}

type enrolmentDomainView struct {
	Domain     string            `json:"domain"`
	Challenge  challengeView     `json:"challenge"`
	VerifiedAt *time.Time        `json:"verified_at"`
	Report     *mailcheck.Report `json:"report"`
}

func toEnrolmentView(e Enrolment, operator bool) enrolmentView {
	v := enrolmentView{ID: e.ID, Status: e.Status,
		Organisation: enrolmentOrgView{Name: e.OrganisationName, KvK: e.KvK, OIN: e.OIN},
		Domains:      make([]enrolmentDomainView, len(e.Domains)),
		Admin:        enrolmentAdminView{Name: e.AdminName, Email: e.AdminEmail},
		CreatedAt:    e.CreatedAt, UpdatedAt: e.UpdatedAt, ExpiresAt: e.ExpiresAt,
		DecidedAt: e.DecidedAt, DecisionReason: e.DecisionReason, Activated: e.Activated}
	if e.OrganisationID != "" {
		v.OrganisationID = &e.OrganisationID
	}
	if operator {
		v.Admin.Phone, v.DecidedBy = e.AdminPhone, e.DecidedBy
	}
	for i, d := range e.Domains {
		v.Domains[i] = enrolmentDomainView{Domain: d.Name, Challenge: challengeView(d.Challenge),
			VerifiedAt: d.VerifiedAt, Report: d.Report}
	}
	return v
}
