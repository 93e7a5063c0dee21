package enrolment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/mailcheck"
)

// maxReasonRunes bounds a rejection reason.
const maxReasonRunes = 1000

// Approve admits a verified enrolment (ErrConflict in any other status): it
// creates the organisation with the enrolment's domains, its first admin
// account and a transport pin per domain from the domain's latest report,
// sets the status to approved and mails the admin how to activate. A crash
// or error part-way leaves the enrolment verified and claimed; calling
// Approve again completes it (see the package comment).
func (s *Service) Approve(ctx context.Context, id, operatorID string) (Enrolment, error) {
	if operatorID == "" {
		return Enrolment{}, fmt.Errorf("%w: operator id required", ErrInvalid)
	}
	return s.approve(ctx, id, operatorID)
}

func (s *Service) approve(ctx context.Context, id, by string) (Enrolment, error) {
	row, err := s.claim(ctx, id, by)
	if err != nil {
		return Enrolment{}, err
	}
	domains, err := s.domainsOf(ctx, id)
	if err != nil {
		return Enrolment{}, err
	}
	orgID, err := s.ensureOrganisation(ctx, row, names(domains))
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.ensureAdmin(ctx, orgID, row.AdminEmail); err != nil {
		return Enrolment{}, err
	}
	if err := s.pin(ctx, orgID, names(domains)); err != nil {
		return Enrolment{}, err
	}
	return s.finishApproval(ctx, row, orgID)
}

func names(domains []domainRow) []string {
	out := make([]string, len(domains))
	for i, d := range domains {
		out[i] = d.Domain
	}
	return out
}

// claim marks a verified enrolment as being approved by by (decided_by),
// which keeps Reject and Expire off it; an enrolment already claimed by an
// interrupted approval is taken over as it is.
func (s *Service) claim(ctx context.Context, id, by string) (enrolmentRow, error) {
	row, err := s.load(ctx, id)
	if err != nil {
		return row, err
	}
	if row.Status != StatusVerified {
		return row, fmt.Errorf("%w: %s", ErrConflict, row.Status)
	}
	if row.DecidedBy != "" {
		return row, nil
	}
	sctx, cancel := s.step(ctx)
	defer cancel()
	err = s.db(sctx).Exec("UPDATE enrolments SET decided_by = ? WHERE id = ? AND status = ? AND decided_by = ''",
		by, id, StatusVerified).Error
	if err != nil {
		return row, fmt.Errorf("enrolment: claim: %w", err)
	}
	return s.reloadVerified(ctx, id)
}

func (s *Service) reloadVerified(ctx context.Context, id string) (enrolmentRow, error) {
	row, err := s.load(ctx, id)
	if err == nil && row.Status != StatusVerified {
		err = fmt.Errorf("%w: %s", ErrConflict, row.Status)
	}
	return row, err
}

// organisationID is the id an enrolment's organisation gets, so that a
// re-run finds the organisation an interrupted approval created.
func organisationID(enrolmentID string) string {
	return directory.OrganisationID(sourceID(enrolmentID))
}

func sourceID(enrolmentID string) string { return "enrolment:" + enrolmentID }

func (s *Service) ensureOrganisation(ctx context.Context, row enrolmentRow, domains []string) (string, error) {
	if row.OrganisationID != nil {
		return *row.OrganisationID, nil
	}
	orgID := organisationID(row.ID)
	exists, err := s.organisationExists(ctx, orgID)
	if err != nil {
		return "", err
	}
	if !exists {
		if orgID, err = s.addOrganisation(ctx, row, orgID, domains); err != nil {
			return "", err
		}
	}
	return orgID, s.recordOrganisation(ctx, row.ID, orgID)
}

func (s *Service) organisationExists(ctx context.Context, orgID string) (bool, error) {
	ctx, cancel := s.step(ctx)
	defer cancel()
	_, err := s.d.Directory.Organisation(ctx, orgID)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, directory.ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("enrolment: directory: %w", err)
	}
}

// addOrganisation creates the organisation. When a domain turns out to be
// taken by someone else the claim is released, so an operator can reject.
func (s *Service) addOrganisation(ctx context.Context, row enrolmentRow, orgID string, domains []string) (string, error) {
	sctx, cancel := s.step(ctx)
	defer cancel()
	got, err := s.d.Directory.AddEnrolledOrganisation(sctx, directory.Organisation{
		ID: orgID, SourceID: sourceID(row.ID), Name: row.OrganisationName,
		KvK: row.KvK, OIN: row.OIN, Status: directory.StatusActive, Domains: domains,
	})
	if err == nil {
		return got, nil
	}
	if !errors.Is(err, directory.ErrDomainTaken) {
		return "", fmt.Errorf("enrolment: add organisation: %w", err)
	}
	if exists, xerr := s.organisationExists(ctx, orgID); xerr == nil && exists {
		return orgID, nil // a concurrent approval created it
	}
	s.release(ctx, row.ID)
	return "", fmt.Errorf("%w: %w", ErrDomainTaken, err)
}

func (s *Service) release(ctx context.Context, id string) {
	ctx, cancel := s.step(ctx)
	defer cancel()
	err := s.db(ctx).Exec("UPDATE enrolments SET decided_by = '' WHERE id = ? AND status = ? AND organisation_id IS NULL",
		id, StatusVerified).Error
	if err != nil {
		s.d.Log.Warn("enrolment claim not released", "id", id, "err", err)
	}
}

func (s *Service) recordOrganisation(ctx context.Context, id, orgID string) error {
	ctx, cancel := s.step(ctx)
	defer cancel()
	err := s.db(ctx).Exec("UPDATE enrolments SET organisation_id = ? WHERE id = ? AND organisation_id IS NULL",
		orgID, id).Error
	if err != nil {
		return fmt.Errorf("enrolment: record organisation: %w", err)
	}
	return nil
}

// ensureAdmin creates the organisation's first admin unless it exists.
func (s *Service) ensureAdmin(ctx context.Context, orgID, email string) error {
	ctx, cancel := s.step(ctx)
	defer cancel()
	if _, found, err := s.d.Accounts.OrgAdmin(ctx, orgID, email); err != nil || found {
		return wrapAccounts(err)
	}
	if _, err := s.d.Accounts.CreateOrgAdmin(ctx, orgID, email); err != nil {
		if _, found, ferr := s.d.Accounts.OrgAdmin(ctx, orgID, email); ferr == nil && found {
			return nil // created concurrently
		}
		return fmt.Errorf("enrolment: create first admin: %w", err)
	}
	return nil
}

func wrapAccounts(err error) error {
	if err != nil {
		return fmt.Errorf("enrolment: accounts: %w", err)
	}
	return nil
}

// pin records each domain's transport policy from its latest report.
func (s *Service) pin(ctx context.Context, orgID string, domains []string) error {
	for _, d := range domains {
		if err := s.pinDomain(ctx, orgID, d); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) pinDomain(ctx context.Context, orgID, domain string) error {
	ctx, cancel := s.step(ctx)
	defer cancel()
	r, err := s.d.Trust.Report(ctx, domain)
	if err != nil {
		return fmt.Errorf("enrolment: report of %s: %w", domain, err)
	}
	policy := r.Transport.Policy
	if policy == "" {
		policy = mailcheck.PolicyPKIX // a check that could not rate transport: only the MX names
	}
	if err := s.d.Trust.PutPin(ctx, domain, orgID, policy, r.MXHosts); err != nil {
		return fmt.Errorf("enrolment: pin %s: %w", domain, err)
	}
	return nil
}

// finishApproval sets the status; only the call that does so mails the admin.
func (s *Service) finishApproval(ctx context.Context, row enrolmentRow, orgID string) (Enrolment, error) {
	now := s.now()
	sctx, cancel := s.step(ctx)
	res := s.db(sctx).Exec(`UPDATE enrolments SET status = ?, organisation_id = ?, decided_at = ?, updated_at = ?
		WHERE id = ? AND status = ?`, StatusApproved, orgID, now, now, row.ID, StatusVerified)
	cancel()
	if res.Error != nil {
		return Enrolment{}, fmt.Errorf("enrolment: approve: %w", res.Error)
	}
	row, err := s.load(ctx, row.ID)
	if err != nil {
		return Enrolment{}, err
	}
	if res.RowsAffected == 1 {
		s.d.Log.Info("enrolment approved", "id", row.ID, "organisation", orgID, "by", row.DecidedBy)
		s.record(ctx, "approved", row.ID, orgID, map[string]string{"by": decider(row.DecidedBy)})
		s.mail(ctx, row, approvedMail(row, s.cfg.PublicURL))
	} else if row.Status != StatusApproved {
		return Enrolment{}, fmt.Errorf("%w: %s", ErrConflict, row.Status)
	}
	return s.view(ctx, row, true)
}

// Reject ends a pending or verified enrolment with a reason (1–1000
// characters) and mails it to the admin; ErrConflict in other statuses or
// while an approval is under way.
func (s *Service) Reject(ctx context.Context, id, operatorID, reason string) (Enrolment, error) {
	var v validator
	reason = v.text("reason", reason, maxReasonRunes)
	if err := v.err(); err != nil {
		return Enrolment{}, err
	}
	now := s.now()
	sctx, cancel := s.step(ctx)
	res := s.db(sctx).Exec(`UPDATE enrolments SET status = ?, decided_by = ?, decision_reason = ?, decided_at = ?, updated_at = ?
		WHERE id = ? AND status IN ? AND decided_by = ''`, StatusRejected, operatorID, reason, now, now, id, openStatuses)
	cancel()
	if res.Error != nil {
		return Enrolment{}, fmt.Errorf("enrolment: reject: %w", res.Error)
	}
	row, err := s.load(ctx, id)
	if err != nil {
		return Enrolment{}, err
	}
	if res.RowsAffected == 0 {
		return Enrolment{}, fmt.Errorf("%w: %s", ErrConflict, row.Status)
	}
	s.d.Log.Info("enrolment rejected", "id", id, "by", operatorID)
	s.record(ctx, "rejected", id, "", nil)
	s.mail(ctx, row, rejectedMail(row))
	return s.view(ctx, row, true)
}

// Activate sets the first admin's password, once, for the holder of the
// status token of an approved enrolment (ErrConflict before approval and
// after activation). The password is set before the token is marked used,
// so a crash in between only lets the holder set it again.
func (s *Service) Activate(ctx context.Context, id, statusToken, password string) error {
	row, err := s.authorised(ctx, id, statusToken)
	if err != nil {
		return err
	}
	if row.Status != StatusApproved || row.OrganisationID == nil || row.TokenHash != hashToken(statusToken) {
		return fmt.Errorf("%w: %s or already activated", ErrConflict, row.Status)
	}
	if err := s.setPassword(ctx, *row.OrganisationID, row.AdminEmail, password); err != nil {
		return err
	}
	sctx, cancel := s.step(ctx)
	defer cancel()
	res := s.db(sctx).Exec("UPDATE enrolments SET token_hash = ? WHERE id = ? AND token_hash = ?",
		activatedPrefix+row.TokenHash, id, row.TokenHash)
	if res.Error != nil {
		return fmt.Errorf("enrolment: mark activated: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%w: already activated", ErrConflict)
	}
	s.d.Log.Info("enrolment activated", "id", id)
	s.record(ctx, "activated", id, *row.OrganisationID, nil)
	return nil
}

func (s *Service) setPassword(ctx context.Context, orgID, email, password string) error {
	ctx, cancel := s.step(ctx)
	defer cancel()
	userID, found, err := s.d.Accounts.OrgAdmin(ctx, orgID, email)
	if err != nil {
		return wrapAccounts(err)
	}
	if !found {
		return fmt.Errorf("enrolment: first admin of %s not found", orgID)
	}
	if err := s.d.Accounts.SetPassword(ctx, userID, password); err != nil {
		return fmt.Errorf("enrolment: set password: %w", err)
	}
	return nil
}

// Expire ends every pending or verified enrolment past its expiry that no
// approval is under way for, and returns how many; their claims stop
// blocking anyone.
func (s *Service) Expire(ctx context.Context) (int, error) {
	now := s.now()
	sctx, cancel := s.step(ctx)
	defer cancel()
	var ids []string
	err := s.db(sctx).Model(&enrolmentRow{}).Where("status IN ? AND expires_at <= ? AND decided_by = ''",
		openStatuses, now).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, wrapExpire(err)
	}
	res := s.db(sctx).Exec(`UPDATE enrolments SET status = ?, updated_at = ?
		WHERE id IN ? AND status IN ? AND expires_at <= ? AND decided_by = ''`, StatusExpired, now, ids, openStatuses, now)
	if res.Error != nil {
		return 0, wrapExpire(res.Error)
	}
	s.d.Log.Info("enrolments expired", "count", res.RowsAffected)
	for _, id := range ids {
		s.record(ctx, "expired", id, "", nil)
	}
	return int(res.RowsAffected), nil
}

// expiryInterval is how often RunExpiry expires enrolments.
const expiryInterval = time.Hour

// RunExpiry calls Expire every hour until ctx ends.
func (s *Service) RunExpiry(ctx context.Context) error {
	t := time.NewTicker(expiryInterval)
	defer t.Stop()
	for {
		if _, err := s.Expire(ctx); err != nil {
			s.d.Log.Warn("enrolment expiry failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
