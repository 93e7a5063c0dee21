package adapt

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/internal/enrolment"
	"github.com/veilig/veilig/internal/monitor"
)

func TestEnrolmentError(t *testing.T) {
	tests := []struct {
		name string
		in   error
		want error
	}{
		{"not found", fmt.Errorf("read: %w", enrolment.ErrNotFound), api.ErrNotFound},
		{"wrong token", enrolment.ErrUnauthorized, api.ErrUnauthorized},
		{"taken", fmt.Errorf("create: %w", enrolment.ErrDomainTaken), api.ErrDomainTaken},
		{"conflict", enrolment.ErrConflict, api.ErrConflict},
		{"invalid", enrolment.ErrInvalid, api.ErrInvalid},
		{"rate limited", enrolment.ErrRateLimited, api.ErrRateLimited},
		{"validation", &enrolment.ValidationError{Fields: []enrolment.FieldError{{Field: "organisation.kvk", Detail: "8 digits"}}}, api.ErrInvalid},
		{"retry", &enrolment.RateLimitError{RetryAfter: time.Minute}, api.ErrRateLimited},
	}
	for _, tc := range tests {
		got := enrolmentError(tc.in)
		if !errors.Is(got, tc.want) || !errors.Is(got, tc.in) {
			t.Errorf("%s: %v does not wrap both %v and the cause", tc.name, got, tc.want)
		}
	}
	var ve *api.ValidationError
	if !errors.As(enrolmentError(tests[6].in), &ve) ||
		cmp.Diff([]api.FieldProblem{{Field: "organisation.kvk", Detail: "8 digits"}}, ve.Fields) != "" {
		t.Errorf("fields lost: %+v", ve)
	}
	var rl *api.RateLimitError
	if !errors.As(enrolmentError(tests[7].in), &rl) || rl.RetryAfter != time.Minute {
		t.Errorf("Retry-After lost: %+v", rl)
	}
	other := errors.New("disk full")
	if enrolmentError(other) != other {
		t.Error("an unknown error was rewrapped")
	}
}

func TestMonitorError(t *testing.T) {
	for _, tc := range []struct{ in, want error }{
		{fmt.Errorf("%w: a.test", monitor.ErrNotPinned), api.ErrNotFound},
		{fmt.Errorf("%w: a.test offers pkix", monitor.ErrWeaker), api.ErrPinWeaker},
		{&monitor.WeakerError{Reason: "the domain has no MX hosts to pin"}, api.ErrPinWeaker},
		{fmt.Errorf("%w: timeout", monitor.ErrCheckIncomplete), api.ErrCheckIncomplete},
	} {
		if got := monitorError(tc.in); !errors.Is(got, tc.want) || !errors.Is(got, tc.in) {
			t.Errorf("%v does not wrap both %v and the cause", got, tc.want)
		}
	}
	var pw *api.PinWeakerError
	if !errors.As(monitorError(&monitor.WeakerError{Reason: "no MX"}), &pw) || pw.Reason != "no MX" {
		t.Errorf("the reason was lost: %+v", pw)
	}
	other := errors.New("disk full")
	if monitorError(other) != other {
		t.Error("an unknown error was rewrapped")
	}
}
