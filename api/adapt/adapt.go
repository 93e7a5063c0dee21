// Package adapt connects the issue-6 services to the HTTP API's consumer-side
// interfaces (package api): it converts their types and wraps their sentinel
// errors with api's (api/service_errors.go), so api maps each once to an RFC
// 9457 problem. Nothing else happens here.
package adapt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/internal/enrolment"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/monitor"
	"github.com/veilig/veilig/internal/trust"
)

// Enrolments adapts *enrolment.Service to api.Enrolments.
type Enrolments struct{ S *enrolment.Service }

// Trust adapts *trust.Store to api.DomainReports and api.EventLog.
type Trust struct{ S *trust.Store }

var (
	_ api.Enrolments    = Enrolments{}
	_ api.DomainReports = Trust{}
	_ api.EventLog      = Trust{}
	_ api.Pins          = Monitor{}
)

// Monitor adapts *monitor.Monitor to api.Pins.
type Monitor struct{ M *monitor.Monitor }

// monitorSentinels maps the re-pin errors to api's.
var monitorSentinels = []struct{ from, to error }{
	{monitor.ErrNotPinned, api.ErrNotFound},
	{monitor.ErrWeaker, api.ErrPinWeaker},
	{monitor.ErrCheckIncomplete, api.ErrCheckIncomplete},
}

func monitorError(err error) error {
	var we *monitor.WeakerError
	if errors.As(err, &we) {
		return fmt.Errorf("%w: %w", &api.PinWeakerError{Reason: we.Reason}, err)
	}
	for _, s := range monitorSentinels {
		if errors.Is(err, s.from) {
			return fmt.Errorf("%w: %w", s.to, err)
		}
	}
	return err
}

// Repin adapts monitor.Monitor.Repin.
func (a Monitor) Repin(ctx context.Context, domain string, acceptWeaker bool) (api.DomainPin, mailcheck.Report, error) {
	p, r, err := a.M.Repin(ctx, domain, acceptWeaker)
	if err != nil {
		return api.DomainPin{}, r, monitorError(err)
	}
	return api.DomainPin{Domain: p.Domain, OrganisationID: p.OrganisationID, Policy: p.Policy, MXHosts: p.MXHosts,
		State: p.State, NextCheckAt: p.NextCheckAt}, r, nil
}

// Create adapts enrolment.Service.Create.
func (a Enrolments) Create(ctx context.Context, n api.NewEnrolment, clientIP string) (api.EnrolmentCreated, error) {
	c, err := a.S.Create(ctx, enrolment.NewEnrolment(n), clientIP)
	if err != nil {
		return api.EnrolmentCreated{}, enrolmentError(err)
	}
	out := api.EnrolmentCreated{ID: c.ID, StatusToken: c.StatusToken, Challenges: make([]api.Challenge, len(c.Challenges))}
	for i, ch := range c.Challenges {
		out.Challenges[i] = api.Challenge(ch)
	}
	return out, nil
}

// Get adapts enrolment.Service.Get.
func (a Enrolments) Get(ctx context.Context, id, token string) (api.Enrolment, error) {
	return one(a.S.Get(ctx, id, token))
}

// Verify adapts enrolment.Service.Verify.
func (a Enrolments) Verify(ctx context.Context, id, token string) (api.Enrolment, error) {
	return one(a.S.Verify(ctx, id, token))
}

// Activate adapts enrolment.Service.Activate.
func (a Enrolments) Activate(ctx context.Context, id, token, password string) error {
	if err := a.S.Activate(ctx, id, token, password); err != nil {
		return enrolmentError(err)
	}
	return nil
}

// List adapts enrolment.Service.List.
func (a Enrolments) List(ctx context.Context, status string, limit, offset int) ([]api.Enrolment, error) {
	list, err := a.S.List(ctx, status, limit, offset)
	if err != nil {
		return nil, enrolmentError(err)
	}
	out := make([]api.Enrolment, len(list))
	for i, e := range list {
		out[i] = toAPI(e)
	}
	return out, nil
}

// Inspect adapts enrolment.Service.Inspect.
func (a Enrolments) Inspect(ctx context.Context, id string) (api.Enrolment, error) {
	return one(a.S.Inspect(ctx, id))
}

// Approve adapts enrolment.Service.Approve.
func (a Enrolments) Approve(ctx context.Context, id, operatorID string) (api.Enrolment, error) {
	return one(a.S.Approve(ctx, id, operatorID))
}

// Reject adapts enrolment.Service.Reject.
func (a Enrolments) Reject(ctx context.Context, id, operatorID, reason string) (api.Enrolment, error) {
	return one(a.S.Reject(ctx, id, operatorID, reason))
}

func one(e enrolment.Enrolment, err error) (api.Enrolment, error) {
	if err != nil {
		return api.Enrolment{}, enrolmentError(err)
	}
	return toAPI(e), nil
}

func toAPI(e enrolment.Enrolment) api.Enrolment {
	out := api.Enrolment{ID: e.ID, Status: e.Status, OrganisationName: e.OrganisationName, KvK: e.KvK, OIN: e.OIN,
		AdminName: e.AdminName, AdminEmail: e.AdminEmail, AdminPhone: e.AdminPhone, OrganisationID: e.OrganisationID,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, ExpiresAt: e.ExpiresAt, DecidedAt: e.DecidedAt,
		DecidedBy: e.DecidedBy, DecisionReason: e.DecisionReason, Activated: e.Activated,
		Domains: make([]api.EnrolmentDomain, len(e.Domains))}
	for i, d := range e.Domains {
		out.Domains[i] = api.EnrolmentDomain{Name: d.Name, Challenge: api.Challenge(d.Challenge),
			VerifiedAt: d.VerifiedAt, Report: d.Report}
	}
	return out
}

// enrolmentSentinels pairs each enrolment sentinel with api's.
var enrolmentSentinels = []struct{ from, to error }{
	{enrolment.ErrNotFound, api.ErrNotFound},
	{enrolment.ErrUnauthorized, api.ErrUnauthorized},
	{enrolment.ErrDomainTaken, api.ErrDomainTaken},
	{enrolment.ErrConflict, api.ErrConflict},
	{enrolment.ErrInvalid, api.ErrInvalid},
	{enrolment.ErrRateLimited, api.ErrRateLimited},
}

// enrolmentError wraps err with api's error; the cause stays for the log.
func enrolmentError(err error) error {
	var (
		ve *enrolment.ValidationError
		rl *enrolment.RateLimitError
	)
	switch {
	case errors.As(err, &ve):
		v := &api.ValidationError{Fields: make([]api.FieldProblem, len(ve.Fields))}
		for i, f := range ve.Fields {
			v.Fields[i] = api.FieldProblem{Field: f.Field, Detail: f.Detail}
		}
		return fmt.Errorf("%w: %w", v, err)
	case errors.As(err, &rl):
		return fmt.Errorf("%w: %w", &api.RateLimitError{RetryAfter: rl.RetryAfter}, err)
	}
	for _, s := range enrolmentSentinels {
		if errors.Is(err, s.from) {
			return fmt.Errorf("%w: %w", s.to, err)
		}
	}
	return err // account errors (auth.ErrPasswordTooShort …) are mapped by api as they are
}

// Report adapts trust.Store.Report.
func (a Trust) Report(ctx context.Context, domain string) (mailcheck.Report, error) {
	r, err := a.S.Report(ctx, domain)
	if errors.Is(err, trust.ErrNotFound) {
		return mailcheck.Report{}, fmt.Errorf("%w: %w", api.ErrNotFound, err)
	}
	return r, err
}

// Events adapts trust.Store.Events.
func (a Trust) Events(ctx context.Context, since time.Time, limit int) ([]api.MonitorEvent, error) {
	evs, err := a.S.Events(ctx, since, limit)
	if err != nil {
		return nil, err
	}
	out := make([]api.MonitorEvent, len(evs))
	for i, e := range evs {
		out[i] = api.MonitorEvent(e)
	}
	return out, nil
}
