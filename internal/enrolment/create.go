package enrolment

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Create validates n, applies the rate limits of the client (clientIP) and of
// each domain, refuses domains that are taken, and stores a pending
// enrolment with one challenge per domain. The status token is returned this
// once. Errors: *ValidationError (ErrInvalid), *RateLimitError
// (ErrRateLimited), ErrDomainTaken.
func (s *Service) Create(ctx context.Context, n NewEnrolment, clientIP string) (Created, error) {
	if wait, err := s.attempts.Take(ctx, s.d.Now(), clientIP); err != nil || wait > 0 {
		return Created{}, cmp.Or(err, error(&RateLimitError{RetryAfter: wait}))
	}
	n, err := normalise(n)
	if err != nil {
		return Created{}, err
	}
	if err := s.refuseCommunityDomains(ctx, n.Domains); err != nil {
		return Created{}, err
	}
	row, domains, token, err := s.newRows(n, s.clientHash(clientIP))
	if err != nil {
		return Created{}, err
	}
	sctx, cancel := s.step(ctx)
	defer cancel()
	err = s.locked(sctx, func(tx *gorm.DB) error { return s.insert(tx, row, domains) })
	if err != nil {
		s.d.Log.Info("enrolment refused", "domains", n.Domains, "err", err)
		return Created{}, err
	}
	s.d.Log.Info("enrolment created", "id", row.ID, "domains", n.Domains)
	s.record(ctx, "created", row.ID, "", map[string]string{"domains": strconv.Itoa(len(domains))})
	return created(row.ID, token, domains), nil
}

// refuseCommunityDomains fails with ErrDomainTaken when an organisation of
// the community holds one of domains (saying nothing about which one).
func (s *Service) refuseCommunityDomains(ctx context.Context, domains []string) error {
	for _, d := range domains {
		taken, err := s.domainTaken(ctx, d)
		if err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: %s", ErrDomainTaken, d)
		}
	}
	return nil
}

func (s *Service) domainTaken(ctx context.Context, domain string) (bool, error) {
	ctx, cancel := s.step(ctx)
	defer cancel()
	taken, err := s.d.Directory.DomainTaken(ctx, domain)
	if err != nil {
		return false, fmt.Errorf("enrolment: directory: %w", err)
	}
	return taken, nil
}

func (s *Service) newRows(n NewEnrolment, client string) (enrolmentRow, []domainRow, string, error) {
	token, err := secret(s.d.Rand)
	if err != nil {
		return enrolmentRow{}, nil, "", err
	}
	now := s.now()
	row := enrolmentRow{
		ID: uuid.NewString(), Status: StatusPending, OrganisationName: n.OrganisationName,
		KvK: n.KvK, OIN: n.OIN, AdminName: n.AdminName, AdminEmail: n.AdminEmail, AdminPhone: n.AdminPhone,
		TokenHash: hashToken(token), ClientHash: client,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.cfg.ExpireAfter),
	}
	domains := make([]domainRow, len(n.Domains))
	for i, d := range n.Domains {
		value, err := secret(s.d.Rand)
		if err != nil {
			return enrolmentRow{}, nil, "", err
		}
		domains[i] = domainRow{EnrolmentID: row.ID, Domain: d, Challenge: value}
	}
	return row, domains, token, nil
}

// insert checks the limits and open claims and stores the rows; the caller
// holds the enrolment lock, so processes sharing the database count together.
func (s *Service) insert(tx *gorm.DB, row enrolmentRow, domains []domainRow) error {
	if err := s.checkClientLimit(tx, row.ClientHash, row.CreatedAt); err != nil {
		return err
	}
	for _, d := range domains {
		if err := s.checkDomain(tx, d.Domain, row.CreatedAt); err != nil {
			return err
		}
	}
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("enrolment: insert: %w", err)
	}
	if err := tx.Create(&domains).Error; err != nil {
		return fmt.Errorf("enrolment: insert domains: %w", err)
	}
	return nil
}

func (s *Service) checkClientLimit(tx *gorm.DB, client string, now time.Time) error {
	var times []time.Time
	err := tx.Model(&enrolmentRow{}).Where("client_hash = ? AND created_at > ?", client, now.Add(-s.cfg.LimitWindow)).
		Order("created_at").Limit(s.cfg.ClientLimit).Pluck("created_at", &times).Error
	if err != nil {
		return fmt.Errorf("enrolment: count client: %w", err)
	}
	return s.limit(times, s.cfg.ClientLimit, now)
}

func (s *Service) checkDomain(tx *gorm.DB, domain string, now time.Time) error {
	var times []time.Time
	err := tx.Table("enrolment_domains AS d").Joins("JOIN enrolments e ON e.id = d.enrolment_id").
		Where("d.domain = ? AND e.created_at > ?", domain, now.Add(-s.cfg.LimitWindow)).
		Order("e.created_at").Limit(s.cfg.DomainLimit).Pluck("e.created_at", &times).Error
	if err != nil {
		return fmt.Errorf("enrolment: count domain: %w", err)
	}
	if err := s.limit(times, s.cfg.DomainLimit, now); err != nil {
		return err
	}
	taken, err := takenByOpen(tx, domain, "")
	if err == nil && taken {
		err = fmt.Errorf("%w: %s", ErrDomainTaken, domain)
	}
	return err
}

// limit refuses when allowed creations fall in the window; the oldest of them
// leaving the window frees the next slot.
func (s *Service) limit(times []time.Time, allowed int, now time.Time) error {
	if len(times) < allowed {
		return nil
	}
	wait := times[0].Add(s.cfg.LimitWindow).Sub(now)
	return &RateLimitError{RetryAfter: max(wait, time.Second)}
}

func created(id, token string, domains []domainRow) Created {
	c := Created{ID: id, StatusToken: token, Challenges: make([]Challenge, len(domains))}
	for i, d := range domains {
		c.Challenges[i] = challengeOf(d)
	}
	return c
}

func challengeOf(d domainRow) Challenge {
	return Challenge{Domain: d.Domain, Name: challengeName(d.Domain), Value: d.Challenge}
}
