package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// maxEnrolledDomains bounds the domains one enrolled organisation brings in.
const maxEnrolledDomains = 100

// DomainRef names a community domain with the organisation holding it.
type DomainRef struct {
	Domain         string
	OrganisationID string
	Origin         string // OriginDirectory or OriginEnrolment
}

// DomainTaken reports whether an active community organisation, synced or
// enrolled, holds domain or a parent of it: mail to a subdomain already routes
// to the parent's organisation (resolve matches subdomains), so only that
// organisation may add it. An invalid name is ErrInvalidDomain.
func (s *Store) DomainTaken(ctx context.Context, domain string) (bool, error) {
	name, err := NormalizeDomain(domain)
	if err != nil {
		return false, err
	}
	var n int64
	err = s.db.WithContext(ctx).Model(&domainRow{}).
		Joins("JOIN organisations o ON o.id = domains.organisation_id").
		Where("domains.name IN ? AND o.status = ?", Candidates(name), StatusActive).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("directory: domain taken: %w", err)
	}
	return n > 0, nil
}

// CommunityDomains returns every domain of an active organisation, by name.
func (s *Store) CommunityDomains(ctx context.Context) ([]DomainRef, error) {
	var refs []DomainRef
	err := s.db.WithContext(ctx).Model(&domainRow{}).
		Select("domains.name AS domain, domains.organisation_id, o.origin").
		Joins("JOIN organisations o ON o.id = domains.organisation_id").
		Where("o.status = ?", StatusActive).Order("domains.name").Scan(&refs).Error
	if err != nil {
		return nil, fmt.Errorf("directory: community domains: %w", err)
	}
	return refs, nil
}

// AddEnrolledOrganisation adds an organisation admitted through self-enrolment
// with its domains and returns its id: o.ID when set (a UUID, so a caller can
// re-run an interrupted admission idempotently), else a new one. Name, OIN,
// KvK, Description and Domains of o are used; at least one domain is required. A domain any active
// organisation holds is ErrDomainTaken (nothing is written). The directory
// generation moves, so every process's in-memory view picks the organisation up.
func (s *Store) AddEnrolledOrganisation(ctx context.Context, o Organisation) (string, error) {
	domains, err := enrolledDomains(o)
	if err != nil {
		return "", err
	}
	id := o.ID
	if id == "" {
		id = uuid.NewString()
	} else if _, err := uuid.Parse(id); err != nil {
		return "", fmt.Errorf("%w: organisation id %q is not a UUID", ErrInvalid, id)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Bumping first takes the directory_meta row lock (PostgreSQL) or the
		// write lock (SQLite): a concurrent full sync, which bumps first too,
		// runs wholly before or after this.
		w := &Writer{tx: tx, now: s.now().UTC()}
		if err := w.bump(ctx); err != nil {
			return err
		}
		if err := w.checkFree(ctx, domains); err != nil {
			return err
		}
		return w.insertEnrolled(ctx, id, o, domains)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// enrolledDomains validates o and returns its normalised, unique domains.
func enrolledDomains(o Organisation) ([]string, error) {
	if strings.TrimSpace(o.Name) == "" {
		return nil, fmt.Errorf("%w: no name", ErrInvalid)
	}
	if len(o.Domains) == 0 || len(o.Domains) > maxEnrolledDomains {
		return nil, fmt.Errorf("%w: %d domains, want 1 to %d", ErrInvalid, len(o.Domains), maxEnrolledDomains)
	}
	out := make([]string, 0, len(o.Domains))
	for _, d := range o.Domains {
		n, err := NormalizeDomain(d)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// checkFree fails with ErrDomainTaken when any of domains, or a parent of
// one, is held (see DomainTaken).
func (w *Writer) checkFree(ctx context.Context, domains []string) error {
	var names []string
	for _, d := range domains {
		names = append(names, Candidates(d)...)
	}
	var held []string
	err := w.tx.WithContext(ctx).Model(&domainRow{}).Where("name IN ?", names).Order("name").
		Pluck("name", &held).Error
	if err != nil {
		return fmt.Errorf("directory: check domains: %w", err)
	}
	if len(held) > 0 {
		return fmt.Errorf("%w: %s", ErrDomainTaken, strings.Join(held, ", "))
	}
	return nil
}

func (w *Writer) insertEnrolled(ctx context.Context, id string, o Organisation, domains []string) error {
	tx := w.tx.WithContext(ctx)
	row := organisationRow{ID: id, SourceID: EnrolmentSourcePrefix + id, Name: strings.TrimSpace(o.Name),
		OIN: o.OIN, KvK: o.KvK, Description: o.Description, Status: StatusActive, Origin: OriginEnrolment,
		SyncGen: w.gen, CreatedAt: w.now, UpdatedAt: w.now}
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("directory: add enrolled organisation: %w", err)
	}
	rows := make([]domainRow, len(domains))
	for i, d := range domains {
		rows[i] = domainRow{Name: d, OrganisationID: id}
	}
	if err := tx.Create(&rows).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("%w: %v", ErrDomainTaken, err)
		}
		return fmt.Errorf("directory: add enrolled domains: %w", err)
	}
	return nil
}

// DomainHolder returns the organisation holding domain and its origin, or
// ErrNotFound.
func (w *Writer) DomainHolder(ctx context.Context, domain string) (DomainRef, error) {
	var refs []DomainRef
	err := w.tx.WithContext(ctx).Model(&domainRow{}).
		Select("domains.name AS domain, domains.organisation_id, o.origin").
		Joins("JOIN organisations o ON o.id = domains.organisation_id").
		Where("domains.name = ?", domain).Limit(1).Scan(&refs).Error
	if err != nil {
		return DomainRef{}, fmt.Errorf("directory: domain holder: %w", err)
	}
	if len(refs) == 0 {
		return DomainRef{}, ErrNotFound
	}
	return refs[0], nil
}

// EnrolledDomains returns the domains enrolled organisations hold, domain →
// organisation id. A full sync or import reads them inside its transaction and
// leaves them alone.
func (w *Writer) EnrolledDomains(ctx context.Context) (map[string]string, error) {
	var refs []DomainRef
	err := w.tx.WithContext(ctx).Model(&domainRow{}).
		Select("domains.name AS domain, domains.organisation_id, o.origin").
		Joins("JOIN organisations o ON o.id = domains.organisation_id").
		Where("o.origin = ?", OriginEnrolment).Scan(&refs).Error
	if err != nil {
		return nil, fmt.Errorf("directory: enrolled domains: %w", err)
	}
	out := make(map[string]string, len(refs))
	for _, r := range refs {
		out[r.Domain] = r.OrganisationID
	}
	return out, nil
}
