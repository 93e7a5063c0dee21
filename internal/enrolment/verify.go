package enrolment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/mailcheck"
)

// checkConcurrency bounds the mail checks one verification runs at once.
const checkConcurrency = 4

// Verify looks up the challenge of every unverified domain, marks those
// found (the first open enrolment to verify a domain wins; a later one gets
// ErrDomainTaken), runs the mail check on every verified domain and saves
// the reports. Once every domain is verified the enrolment is verified and,
// with Config.AutoAdmit, admitted when every report meets the floor. At most
// one verification per Config.VerifyCooldown, and at most
// Config.VerifyAtOnce at once (*RateLimitError, which leaves the
// cooldown untouched); only pending and verified enrolments can be verified
// (ErrConflict).
func (s *Service) Verify(ctx context.Context, id, statusToken string) (Enrolment, error) {
	row, err := s.authorised(ctx, id, statusToken)
	if err != nil {
		return Enrolment{}, err
	}
	release, err := s.verifySlot()
	if err != nil {
		return Enrolment{}, err
	}
	defer release()
	if err := s.startVerify(ctx, row); err != nil {
		return Enrolment{}, err
	}
	domains, err := s.domainsOf(ctx, id)
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.verifyDomains(ctx, id, domains); err != nil {
		return Enrolment{}, err
	}
	if err := s.checkAndAdmit(ctx, id, domains); err != nil {
		return Enrolment{}, err
	}
	row, err = s.load(ctx, id)
	if err != nil {
		return Enrolment{}, err
	}
	return s.view(ctx, row, true)
}

// verifySlot takes one of the Config.VerifyAtOnce slots, or refuses at
// once when all are taken; release gives it back.
func (s *Service) verifySlot() (release func(), err error) {
	select {
	case s.verifying <- struct{}{}:
		return func() { <-s.verifying }, nil
	default:
		s.d.Log.Warn("enrolment verification refused: too many at once", "limit", cap(s.verifying))
		return nil, &RateLimitError{RetryAfter: s.cfg.VerifyCooldown}
	}
}

// startVerify stamps updated_at, the time of the last verification, unless
// one ran within the cooldown. updated_at equal to created_at means none ran;
// the other writers of updated_at end the enrolment (approve, reject, expire).
func (s *Service) startVerify(ctx context.Context, row enrolmentRow) error {
	if row.Status != StatusPending && row.Status != StatusVerified {
		return fmt.Errorf("%w: %s", ErrConflict, row.Status)
	}
	now := s.now()
	sctx, cancel := s.step(ctx)
	defer cancel()
	res := s.db(sctx).Exec(`UPDATE enrolments SET updated_at = ?
		WHERE id = ? AND status IN ? AND (updated_at = created_at OR updated_at <= ?)`,
		now, row.ID, openStatuses, now.Add(-s.cfg.VerifyCooldown))
	if res.Error != nil {
		return fmt.Errorf("enrolment: start verification: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	cur, err := s.load(ctx, row.ID)
	if err != nil {
		return err
	}
	if cur.Status != StatusPending && cur.Status != StatusVerified {
		return fmt.Errorf("%w: %s", ErrConflict, cur.Status)
	}
	return &RateLimitError{RetryAfter: max(cur.UpdatedAt.Add(s.cfg.VerifyCooldown).Sub(now), time.Second)}
}

// verifyDomains checks and looks up every unverified domain, updating
// domains in place with the verification times set.
func (s *Service) verifyDomains(ctx context.Context, id string, domains []domainRow) error {
	for i := range domains {
		d := &domains[i]
		if d.VerifiedAt != nil {
			continue
		}
		if err := s.refuseTaken(ctx, id, d.Domain); err != nil {
			return err
		}
		if !s.challengeFound(ctx, *d) {
			continue
		}
		at, err := s.markVerified(ctx, id, d.Domain)
		if err != nil {
			return err
		}
		d.VerifiedAt = &at
	}
	return nil
}

// refuseTaken fails with ErrDomainTaken when an organisation holds domain or
// another open enrolment verified it.
func (s *Service) refuseTaken(ctx context.Context, id, domain string) error {
	if err := s.refuseCommunityDomains(ctx, []string{domain}); err != nil {
		return err
	}
	ctx, cancel := s.step(ctx)
	defer cancel()
	taken, err := takenByOpen(s.db(ctx), domain, id)
	if err == nil && taken {
		err = fmt.Errorf("%w: %s", ErrDomainTaken, domain)
	}
	return err
}

// challengeFound reports whether the domain publishes its challenge value.
// Lookup failures count as not found (the partner tries again later).
func (s *Service) challengeFound(ctx context.Context, d domainRow) bool {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	records, _, err := s.d.Resolver.TXT(ctx, challengeName(d.Domain))
	if err != nil {
		if !errors.Is(err, mailcheck.ErrNXDomain) {
			s.d.Log.Info("enrolment challenge lookup failed", "enrolment", d.EnrolmentID, "domain", d.Domain, "err", err)
		}
		return false
	}
	for _, r := range records {
		if strings.TrimSpace(r) == d.Challenge {
			return true
		}
	}
	return false
}

// markVerified sets the domain verified unless another open enrolment
// verified it first (ErrDomainTaken); the lock makes the check and the
// update one step across processes.
func (s *Service) markVerified(ctx context.Context, id, domain string) (time.Time, error) {
	now := s.now()
	ctx, cancel := s.step(ctx)
	defer cancel()
	err := s.locked(ctx, func(tx *gorm.DB) error {
		taken, err := takenByOpen(tx, domain, id)
		if err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: %s", ErrDomainTaken, domain)
		}
		return tx.Exec("UPDATE enrolment_domains SET verified_at = ? WHERE enrolment_id = ? AND domain = ?",
			now, id, domain).Error
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("enrolment: mark %s verified: %w", domain, err)
	}
	s.d.Log.Info("enrolment domain verified", "id", id, "domain", domain)
	return now, nil
}

// checkAndAdmit runs the mail check on the verified domains, saves the
// reports, sets the enrolment verified when all domains are, and admits it
// automatically when configured and every report meets the floor.
func (s *Service) checkAndAdmit(ctx context.Context, id string, domains []domainRow) error {
	reports, err := s.checkVerified(ctx, domains)
	if err != nil {
		return err
	}
	if len(reports) < len(domains) {
		return nil
	}
	if err := s.setVerified(ctx, id); err != nil {
		return err
	}
	if s.cfg.AutoAdmit && s.meetsFloor(id, reports) {
		s.autoAdmit(ctx, id)
	}
	return nil
}

// checkVerified checks every verified domain, a few at once, and saves the
// reports.
func (s *Service) checkVerified(ctx context.Context, domains []domainRow) ([]mailcheck.Report, error) {
	var verified []string
	for _, d := range domains {
		if d.VerifiedAt != nil {
			verified = append(verified, d.Domain)
		}
	}
	reports := s.runChecks(ctx, verified)
	for _, r := range reports {
		sctx, cancel := s.step(ctx)
		err := s.d.Trust.SaveReport(sctx, r)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("enrolment: save report of %s: %w", r.Domain, err)
		}
	}
	return reports, nil
}

func (s *Service) runChecks(ctx context.Context, domains []string) []mailcheck.Report {
	reports := make([]mailcheck.Report, len(domains))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, d := range domains {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
			defer cancel()
			reports[i] = s.d.Checker.Report(cctx, d)
		})
	}
	wg.Wait()
	return reports
}

func (s *Service) setVerified(ctx context.Context, id string) error {
	ctx, cancel := s.step(ctx)
	defer cancel()
	res := s.db(ctx).Exec("UPDATE enrolments SET status = ? WHERE id = ? AND status = ?",
		StatusVerified, id, StatusPending)
	if res.Error != nil {
		return fmt.Errorf("enrolment: set verified: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		s.record(ctx, "verified", id, "", nil)
	}
	return nil
}

func (s *Service) meetsFloor(id string, reports []mailcheck.Report) bool {
	for _, r := range reports {
		if ok, missing := r.Meets(s.floor); !ok {
			s.d.Log.Info("enrolment not admitted automatically", "id", id, "domain", r.Domain, "missing", missing)
			return false
		}
	}
	return true
}

// autoAdmit approves the enrolment as DecidedByAuto; a failure leaves it
// verified (or half-approved, which Approve completes) for an operator.
func (s *Service) autoAdmit(ctx context.Context, id string) {
	if _, err := s.approve(ctx, id, DecidedByAuto); err != nil && !errors.Is(err, ErrConflict) {
		s.d.Log.Warn("enrolment automatic admission failed", "id", id, "err", err)
	}
}
