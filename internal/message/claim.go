package message

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/directory"
)

// Errors of Claim.
var (
	// ErrClaimed: another worker holds the delivery for a shared SMTP transaction.
	ErrClaimed = errors.New("message: delivery claimed by another worker")
	// ErrFinal: the delivery became final since it was read (another worker sent it).
	ErrFinal = errors.New("message: delivery already final")
)

// Batchable reports whether d can share an SMTP transaction with other
// recipients of its message: a recipient or self-copy on the internal route,
// sending the message's own content.
func (d Delivery) Batchable() bool {
	return d.Route == directory.RouteInternal && d.Kind != KindNotice && !d.OwnBlob
}

// Claim claims, for outbox job holder, delivery d and up to max-1 other queued
// deliveries of its message at its domain that can share one SMTP transaction
// with it, until until at the latest. It returns the claimed deliveries, d
// first; ErrClaimed when d itself is held. Claims whose job is no longer
// running (its process died; River rescued the job) or past until are taken
// over. A holder of 0 ties a claim to until alone.
func (s *Store) Claim(ctx context.Context, d Delivery, holder int64, until time.Time, max int) ([]Delivery, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	c := claimer{holder: holder, until: until}
	got, err := s.claim(ctx, c, []string{d.ID})
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrClaimed, d.ID)
	}
	// What was read before the claim may be stale: another worker may have sent
	// it and released its claim in between. Under the claim, nobody else sends.
	if open, err := s.stillOpen(ctx, []string{d.ID}); err != nil || !open[d.ID] {
		_ = s.Release(context.WithoutCancel(ctx), []string{d.ID})
		return nil, errors.Join(err, fmt.Errorf("%w: %s", ErrFinal, d.ID))
	}
	batch := []Delivery{d}
	if !d.Batchable() || max < 2 {
		return batch, nil
	}
	more, err := s.claimSiblings(ctx, c, d, max-1)
	if err != nil {
		_ = s.Release(context.WithoutCancel(ctx), ids(batch))
		return nil, err
	}
	return append(batch, more...), nil
}

// claimSiblings claims queued deliveries of d's message at d's domain.
func (s *Store) claimSiblings(ctx context.Context, c claimer, d Delivery, max int) ([]Delivery, error) {
	var rows []deliveryRow
	err := s.db.WithContext(ctx).Where("message_id = ? AND domain = ? AND id <> ? AND status = ? AND route = ? "+
		"AND kind IN ? AND blob_key = ''", d.MessageID, d.Domain, d.ID, StatusQueued, directory.RouteInternal,
		[]string{KindTo, KindCc, KindBcc, KindSelfCopy}).Order("position").Limit(max).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	want := make([]string, len(rows))
	for i, r := range rows {
		want[i] = r.ID
	}
	got, err := s.claim(ctx, c, want)
	if err != nil {
		return nil, err
	}
	open, err := s.stillOpen(ctx, want)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(got))
	var done []string
	for _, r := range rows {
		switch {
		case got[r.ID] && open[r.ID]:
			out = append(out, siblingOf(d, r))
		case got[r.ID]:
			done = append(done, r.ID)
		}
	}
	if len(done) > 0 {
		err = s.Release(ctx, done)
	}
	return out, err
}

// stillOpen reports which of ids are not final.
func (s *Store) stillOpen(ctx context.Context, ids []string) (map[string]bool, error) {
	var open []string
	err := s.db.WithContext(ctx).Model(&deliveryRow{}).Where("id IN ? AND status IN ?", ids,
		[]string{StatusQueued, StatusDeferred}).Pluck("id", &open).Error
	if err != nil {
		return nil, fmt.Errorf("message: read delivery states: %w", err)
	}
	out := make(map[string]bool, len(open))
	for _, id := range open {
		out[id] = true
	}
	return out, nil
}

// siblingOf is delivery r of the same message as d (same content).
func siblingOf(d Delivery, r deliveryRow) Delivery {
	out := d
	out.ID, out.Kind, out.Address, out.Domain, out.OrganisationID = r.ID, r.Kind, r.Address, r.Domain, r.OrganisationID
	out.Status, out.Attempts, out.Reason, out.Route, out.NextAttemptAt = r.Status, r.Attempts, r.Reason, r.Route, r.NextAttemptAt
	return out
}

// claimer is who claims, and until when at the latest.
type claimer struct {
	holder int64 // the outbox job (river_job.id); 0 for none
	until  time.Time
}

// staleClaims are claims past their time, whose job is not running (River set
// it back after its process died, or finished it), or made by an earlier run
// of the claiming job itself (a job runs once at a time; a rescued run must not
// wait for its dead predecessor).
const staleClaims = `DELETE FROM delivery_claims WHERE delivery_id IN ? AND (until < ? OR (job_id <> 0 AND (job_id = ? OR
	NOT EXISTS (SELECT 1 FROM river_job WHERE river_job.id = delivery_claims.job_id AND river_job.state = 'running'))))`

// claim inserts claims for ids, taking over stale ones, and returns those it got.
func (s *Store) claim(ctx context.Context, c claimer, ids []string) (map[string]bool, error) {
	now := s.clock()
	got := map[string]bool{}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(staleClaims, ids, now, c.holder).Error; err != nil {
			return err
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(ids)), ",")
		args := make([]any, 0, 3*len(ids))
		for _, id := range ids {
			args = append(args, id, c.holder, c.until.UTC().Truncate(time.Microsecond))
		}
		var claimed []string
		err := tx.Raw("INSERT INTO delivery_claims (delivery_id, job_id, until) VALUES "+values+
			" ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id", args...).Scan(&claimed).Error
		for _, id := range claimed {
			got[id] = true
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("message: claim deliveries: %w", err)
	}
	return got, nil
}

// Release ends the claims on ids.
func (s *Store) Release(ctx context.Context, ids []string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := s.db.WithContext(ctx).Exec("DELETE FROM delivery_claims WHERE delivery_id IN ?", ids).Error; err != nil {
		return fmt.Errorf("message: release claims: %w", err)
	}
	return nil
}

func ids(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}
