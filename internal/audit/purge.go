package audit

import (
	"context"
	"fmt"
	"time"
)

// purgeTimeout bounds one purge statement.
const purgeTimeout = 5 * time.Minute

// retentionOverrides selects the organisations with their own retention.
const retentionOverrides = "SELECT organisation_id FROM organisation_settings " +
	"WHERE audit_retention_days IS NOT NULL AND audit_retention_days > 0"

// purgeSet clears the payload columns; seq, time, action, outcome, object
// type, organisation and the hashes stay, so the chain still verifies.
const purgeSet = "UPDATE audit_events SET detail = NULL, actor_user_id = NULL, actor_api_key_id = NULL, " +
	"actor_organisation = NULL, actor_role = NULL, actor_ip = NULL, actor_user_agent = NULL, object_id = NULL, " +
	"message_id = NULL, purged_at = ? WHERE purged_at IS NULL AND at < ? AND "

// Purge removes the payload of events older than their organisation's
// retention: organisation_settings.audit_retention_days when set (> 0), else
// Config.RetentionYears (6). Events without an organisation follow the
// default. It reports how many events it purged.
func (t *Trail) Purge(ctx context.Context, now time.Time) (int64, error) {
	overrides, err := t.overrides(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, o := range overrides {
		cutoff := now.AddDate(0, 0, -o.Days)
		n, err := t.purgeWhere(ctx, now, cutoff, "organisation_id = ?", o.OrganisationID)
		if err != nil {
			return total, err
		}
		total += n
	}
	n, err := t.purgeWhere(ctx, now, now.AddDate(-t.cfg.RetentionYears, 0, 0),
		"organisation_id NOT IN ("+retentionOverrides+")")
	return total + n, err
}

type override struct {
	OrganisationID string `gorm:"column:organisation_id"`
	Days           int    `gorm:"column:audit_retention_days"`
}

func (t *Trail) overrides(ctx context.Context) ([]override, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var out []override
	err := t.db.WithContext(ctx).Raw("SELECT organisation_id, audit_retention_days FROM organisation_settings " +
		"WHERE audit_retention_days IS NOT NULL AND audit_retention_days > 0").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("%w: retention settings: %w", ErrStore, err)
	}
	return out, nil
}

func (t *Trail) purgeWhere(ctx context.Context, now, cutoff time.Time, cond string, args ...any) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, purgeTimeout)
	defer cancel()
	res := t.db.WithContext(ctx).Exec(purgeSet+cond,
		append([]any{now.UTC().Truncate(time.Microsecond), cutoff.UTC()}, args...)...)
	if res.Error != nil {
		return 0, fmt.Errorf("%w: purge: %w", ErrStore, res.Error)
	}
	return res.RowsAffected, nil
}
