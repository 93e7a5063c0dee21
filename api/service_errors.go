package api

import (
	"errors"
	"time"

	"github.com/veilig/veilig/internal/auth"
)

// Errors the services behind the issue-6 routes (enrolment, API keys, domain
// reports, monitor events) report through their adapters. An adapter wraps its
// package's sentinel with one of these (fmt.Errorf("%w: %w", api.ErrConflict,
// err)); mapServiceError turns each into one stable problem type, and the
// wrapped cause is logged, never shown.
var (
	ErrNotFound     = errors.New("api: not found")    // 404
	ErrUnauthorized = errors.New("api: unauthorized") // 401: missing or wrong status or invitation token
	ErrInvalid      = errors.New("api: invalid")      // 422 (prefer *ValidationError, which names the fields)
	ErrDomainTaken  = errors.New("api: domain taken") // 409 domain-taken; nothing about who holds it
	ErrConflict     = errors.New("api: conflict")     // 409: the resource is in the wrong state
	ErrRateLimited  = errors.New("api: rate limited") // 429 (prefer *RateLimitError, which says when)
	ErrForbidden    = errors.New("api: forbidden")    // 403
	// ErrPinWeaker: 409 pin-weaker; the domain offers less than its pin.
	ErrPinWeaker = errors.New("api: weaker than the pin")
	// ErrCheckIncomplete: 503 check-incomplete with Retry-After; nothing changed.
	ErrCheckIncomplete = errors.New("api: check incomplete")
)

// ValidationError names the fields a service refused; it unwraps to ErrInvalid.
type ValidationError struct{ Fields []FieldProblem }

func (e *ValidationError) Error() string { return "api: invalid request" }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// RateLimitError says when to try again; it unwraps to ErrRateLimited.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string { return "api: rate limited" }

// Unwrap makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// domainTakenDetail is all a 409 says about a claimed domain (issue 6 §1).
const domainTakenDetail = "domain is already part of the community"

// PinWeakerError says why a re-pin was refused; it unwraps to ErrPinWeaker.
// Reason (policies, MX host names, test outcomes) is shown to the operator.
type PinWeakerError struct{ Reason string }

func (e *PinWeakerError) Error() string { return "api: weaker than the pin: " + e.Reason }

// Unwrap makes errors.Is(err, ErrPinWeaker) hold.
func (e *PinWeakerError) Unwrap() error { return ErrPinWeaker }

// mapServiceError maps the errors above and the account errors of
// internal/auth, or returns nil.
func mapServiceError(err error) *Error {
	if e := mapTypedServiceError(err); e != nil {
		return e
	}
	for _, m := range serviceSentinels {
		if errors.Is(err, m.err) {
			e := newError(m.kind, m.detail).withCause(err)
			if m.kind == kindCheckIncomplete {
				e.retry = time.Minute
			}
			if m.field != "" {
				e = e.withFields(FieldProblem{Field: m.field, Detail: m.detail})
			}
			return e
		}
	}
	return nil
}

func mapTypedServiceError(err error) *Error {
	var (
		ve *ValidationError
		rl *RateLimitError
		pw *PinWeakerError
	)
	switch {
	case errors.As(err, &pw):
		return newError(kindPinWeaker, "not re-pinned: "+clip(pw.Reason, 500)).withCause(err)
	case errors.As(err, &ve):
		return newError(kindValidation, "the request fails validation").withFields(ve.Fields...).withCause(err)
	case errors.As(err, &rl):
		e := newError(kindRateLimited, "too many requests; try again later").withCause(err)
		e.retry = rl.RetryAfter
		return e
	}
	return nil
}

// serviceSentinels is the one table from sentinel to problem, in match order.
var serviceSentinels = []struct {
	err    error
	kind   problemKind
	detail string
	field  string
}{
	{ErrNotFound, kindNotFound, "not found", ""},
	{ErrUnauthorized, kindUnauthorized, "send the status token as a bearer token", ""},
	{ErrInvalid, kindValidation, "the request fails validation", ""},
	{ErrDomainTaken, kindDomainTaken, domainTakenDetail, ""},
	{ErrConflict, kindConflict, "the request conflicts with the resource's current state", ""},
	{ErrRateLimited, kindRateLimited, "too many requests; try again later", ""},
	{ErrForbidden, kindForbidden, "this action is not allowed", ""},
	{ErrPinWeaker, kindPinWeaker, "the domain's transport security is weaker than its pin, or fails DNSSEC; the latest report says what", ""},
	{ErrCheckIncomplete, kindCheckIncomplete, "the mail check of the domain could not complete; nothing was changed", ""},
	{auth.ErrUserNotFound, kindNotFound, "no such user", ""},
	{auth.ErrNotFound, kindNotFound, "not found", ""},
	{auth.ErrInvalidScope, kindValidation, "unknown scope", "scopes"},
	{auth.ErrInvalidName, kindValidation, "not a usable name", "name"},
	{auth.ErrForeignDomain, kindValidation, "the address's domain is not one of the organisation's", "email"},
	{auth.ErrUserExists, kindConflict, "a user with this address already exists", ""},
	{auth.ErrUserDisabled, kindValidation, "the user is disabled", "user_id"}, // an API key for a disabled sender of one's own organisation
	{auth.ErrInvalidEmail, kindValidation, "not a valid e-mail address", "email"},
	{auth.ErrNoOrganisation, kindValidation, "the address's domain is not one of the organisation's", "email"},
	{auth.ErrInvalidRole, kindValidation, "role is sender or org-admin", "role"},
	{auth.ErrPasswordTooShort, kindValidation, "the password is too short (at least 12 characters)", "password"},
	{auth.ErrPasswordTooLong, kindValidation, "the password is too long", "password"},
}
