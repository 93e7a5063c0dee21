package monitor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/trust"
)

// Repin errors.
var (
	// ErrNotPinned: the domain has no pin (it was not admitted through enrolment).
	ErrNotPinned = errors.New("monitor: the domain has no pin")
	// ErrCheckIncomplete: the check could not run; the pin is unchanged.
	ErrCheckIncomplete = errors.New("monitor: the check could not complete")
	// ErrWeaker: the domain now offers less than its pin (unless accepted), or
	// fails even the pin the check would give it (DNSSEC bogus).
	ErrWeaker = errors.New("monitor: the domain's transport is weaker than its pin")
)

// WeakerError says why a re-pin was refused as weaker; it unwraps to
// ErrWeaker. Reason names policies, MX hosts and test outcomes only.
type WeakerError struct{ Reason string }

func (e *WeakerError) Error() string { return ErrWeaker.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrWeaker) hold.
func (e *WeakerError) Unwrap() error { return ErrWeaker }

// policyRank orders the pin policies from weakest to strongest.
var policyRank = map[string]int{trust.PolicyPKIX: 1, trust.PolicyMTASTS: 2, trust.PolicyDANE: 3}

// Repin checks a pinned domain now and pins what the check found: its
// transport policy and MX hosts, trusted again. An operator does this after
// confirming a partner's change (new MX hosts, a move between DANE and
// MTA-STS). A policy weaker than the pinned one is refused unless
// acceptWeaker; the pin is never changed by a check that could not run. The
// new pin is recorded as a monitor event and in the audit trail with the
// operator ctx carries.
func (m *Monitor) Repin(ctx context.Context, domain string, acceptWeaker bool) (trust.Pin, mailcheck.Report, error) {
	old, err := m.deps.Store.Pin(ctx, domain)
	if errors.Is(err, trust.ErrNotFound) {
		return trust.Pin{}, mailcheck.Report{}, fmt.Errorf("%w: %s", ErrNotPinned, domain)
	}
	if err != nil {
		return trust.Pin{}, mailcheck.Report{}, fmt.Errorf("monitor: %w", err)
	}
	r := m.fresh(ctx, old.Domain)
	pin, err := m.nextPin(old, r, acceptWeaker)
	if errors.Is(err, ErrCheckIncomplete) {
		return old, r, err // the last complete report stays the baseline
	}
	if serr := m.deps.Store.SaveReport(ctx, r); serr != nil { // a refused re-pin's report is the latest too
		return old, r, fmt.Errorf("monitor: %w", serr)
	}
	if err != nil {
		return old, r, err
	}
	if err := m.deps.Store.PutPin(ctx, pin); err != nil {
		return old, r, fmt.Errorf("monitor: %w", err)
	}
	// The pin stands: telling about it outlives an operator who hung up.
	m.tell(context.WithoutCancel(ctx), pin.Domain, pin.OrganisationID, trust.KindRepinned, repinDetail(old, pin), r)
	return pin, r, nil
}

// fresh runs the check of domain within CheckTimeout.
func (m *Monitor) fresh(ctx context.Context, domain string) mailcheck.Report {
	cctx, cancel := context.WithTimeout(ctx, m.cfg.CheckTimeout)
	defer cancel()
	r := m.deps.Checker.Report(cctx, domain)
	if r.Domain == "" {
		r.Domain = domain
	}
	if r.CheckedAt.IsZero() {
		r.CheckedAt = m.now()
	}
	return r
}

// nextPin is the pin r supports in place of old, or why there is none.
func (m *Monitor) nextPin(old trust.Pin, r mailcheck.Report, acceptWeaker bool) (trust.Pin, error) {
	if r.Status == mailcheck.StatusError && !bogus(r) {
		return trust.Pin{}, fmt.Errorf("%w: %s: %s", ErrCheckIncomplete, old.Domain, r.Error)
	}
	policy := r.Transport.Policy
	if policyRank[policy] == 0 {
		policy = trust.PolicyPKIX // a check that could not rate transport: only the MX names
	}
	checked := r.CheckedAt
	pin := trust.Pin{Domain: old.Domain, OrganisationID: old.OrganisationID, Policy: policy, MXHosts: r.MXHosts,
		State: trust.StateTrusted, NextCheckAt: m.now().Add(m.jittered()), CheckedAt: &checked}
	switch why := violation(pin, r); {
	case why != "":
		return trust.Pin{}, &WeakerError{Reason: why}
	case len(r.MXHosts) == 0: // no MX, a null MX or no domain: an empty pin would admit any host
		return trust.Pin{}, &WeakerError{Reason: "the domain has no MX hosts to pin"}
	case policyRank[policy] < policyRank[old.Policy] && !acceptWeaker:
		return trust.Pin{}, &WeakerError{Reason: "the domain offers " + policy + " and is pinned to " + old.Policy +
			"; send accept_weaker to pin " + policy}
	}
	return pin, nil
}

// repinDetail says what changed, for the event and the administrators' mail.
func repinDetail(old, pin trust.Pin) string {
	d := fmt.Sprintf("re-pinned by an operator: policy %s → %s; MX hosts %s → %s", old.Policy, pin.Policy,
		strings.Join(old.MXHosts, ", "), strings.Join(pin.MXHosts, ", "))
	if old.Suspended() {
		d += "; the suspension (" + old.Reason + ") is lifted"
	}
	return d
}
