package enrolment

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// List bounds.
const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// Get returns the enrolment to the holder of its status token, with the
// latest report of every domain it verified while it is open or approved (a
// rejected or expired enrolment no longer holds its domains, whose reports
// may by then be another's). A missing or wrong token is ErrUnauthorized; an
// unknown id ErrNotFound.
func (s *Service) Get(ctx context.Context, id, statusToken string) (Enrolment, error) {
	row, err := s.authorised(ctx, id, statusToken)
	if err != nil {
		return Enrolment{}, err
	}
	holds := row.Status == StatusPending || row.Status == StatusVerified || row.Status == StatusApproved
	return s.view(ctx, row, holds)
}

// Inspect returns one enrolment with its reports, for an operator.
func (s *Service) Inspect(ctx context.Context, id string) (Enrolment, error) {
	row, err := s.load(ctx, id)
	if err != nil {
		return Enrolment{}, err
	}
	return s.view(ctx, row, true)
}

// List returns enrolments, newest first, optionally of one status, without
// reports (Inspect has them).
func (s *Service) List(ctx context.Context, status string, limit, offset int) ([]Enrolment, error) {
	if status != "" && !slices.Contains(allStatuses, status) {
		return nil, &ValidationError{Fields: []FieldError{{Field: "status", Detail: "unknown status", DetailNL: "onbekende status"}}}
	}
	rows, err := s.page(ctx, status, clampLimit(limit), max(offset, 0))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	domains, err := s.domainsOf(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]Enrolment, len(rows))
	for i, r := range rows {
		out[i] = toEnrolment(r, domainsFor(domains, r.ID))
	}
	return out, nil
}

var allStatuses = []string{StatusPending, StatusVerified, StatusApproved, StatusRejected, StatusExpired}

func clampLimit(n int) int {
	if n <= 0 {
		return defaultListLimit
	}
	return min(n, maxListLimit)
}

func (s *Service) page(ctx context.Context, status string, limit, offset int) ([]enrolmentRow, error) {
	ctx, cancel := s.step(ctx)
	defer cancel()
	q := s.db(ctx).Order("created_at DESC, id").Limit(limit).Offset(offset)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var rows []enrolmentRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("enrolment: list: %w", err)
	}
	return rows, nil
}

func domainsFor(all []domainRow, id string) []domainRow {
	var out []domainRow
	for _, d := range all {
		if d.EnrolmentID == id {
			out = append(out, d)
		}
	}
	return out
}

// view loads the domains of row and, with reports set, the latest report of
// each domain this enrolment verified.
func (s *Service) view(ctx context.Context, row enrolmentRow, reports bool) (Enrolment, error) {
	domains, err := s.domainsOf(ctx, row.ID)
	if err != nil {
		return Enrolment{}, err
	}
	e := toEnrolment(row, domains)
	if reports {
		s.attachReports(ctx, &e)
	}
	return e, nil
}

// attachReports adds the latest report of every verified domain; a report
// that cannot be read is left out (it is logged), the rest of the view stands.
func (s *Service) attachReports(ctx context.Context, e *Enrolment) {
	for i := range e.Domains {
		d := &e.Domains[i]
		if d.VerifiedAt == nil {
			continue
		}
		rctx, cancel := s.step(ctx)
		r, err := s.d.Trust.Report(rctx, d.Name)
		cancel()
		if err != nil {
			s.d.Log.Debug("enrolment report unavailable", "id", e.ID, "domain", d.Name, "err", err)
			continue
		}
		d.Report = &r
	}
}

func toEnrolment(r enrolmentRow, domains []domainRow) Enrolment {
	e := Enrolment{
		ID: r.ID, Status: r.Status, OrganisationName: r.OrganisationName, KvK: r.KvK, OIN: r.OIN,
		AdminName: r.AdminName, AdminEmail: r.AdminEmail, AdminPhone: r.AdminPhone,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, ExpiresAt: r.ExpiresAt, DecidedAt: r.DecidedAt,
		DecidedBy: r.DecidedBy, DecisionReason: r.DecisionReason,
		Activated: strings.HasPrefix(r.TokenHash, activatedPrefix),
	}
	if r.OrganisationID != nil {
		e.OrganisationID = *r.OrganisationID
	}
	for _, d := range domains {
		e.Domains = append(e.Domains, Domain{Name: d.Domain, Challenge: challengeOf(d), VerifiedAt: d.VerifiedAt})
	}
	return e
}
