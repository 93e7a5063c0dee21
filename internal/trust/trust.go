// Package trust records what Veilig trusts about each community domain: the
// transport policy an admitted partner is pinned to (DANE, RFC 7672; MTA-STS,
// RFC 8461; or PKIX, RFC 5280, to a fixed list of MX hosts), whether that pin
// is suspended, the latest mail-standards report (internal/mailcheck) and the
// events monitoring saw (tables transport_pins, domain_reports and
// monitor_events, migration 00009).
package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
)

// Errors.
var (
	ErrNotFound = errors.New("trust: not found")
	ErrInvalid  = errors.New("trust: invalid value")
)

// Pin states.
const (
	StateTrusted   = "trusted"
	StateSuspended = "suspended"
)

// Pin policies (the values mailcheck.Transport.Policy takes).
const (
	PolicyDANE   = mailcheck.PolicyDANE
	PolicyMTASTS = mailcheck.PolicyMTASTS
	PolicyPKIX   = mailcheck.PolicyPKIX
)

// Event kinds. KindDegraded marks a community domain without a pin whose
// transport security got worse; it needs the monitor_events kind check to
// allow it (see the report of issue 6).
const (
	KindSuspended  = "suspended"
	KindRecovered  = "recovered"
	KindCheckError = "check-error"
	KindConflict   = "conflict"
	KindDegraded   = "degraded"
	KindRepinned   = "repinned" // an operator pinned what a fresh check found (migration 00014)
)

// dbTimeout bounds each database call.
const dbTimeout = 10 * time.Second

// maxMXHosts bounds the MX names of a pin (RFC 7505 aside, Internet.nl checks
// at most 10; a few more leave room for a change in progress).
const maxMXHosts = 20

// Pin is the transport policy an admitted domain is pinned to.
type Pin struct {
	Domain, OrganisationID string
	Policy                 string   // "dane" | "mta-sts" | "pkix"
	MXHosts                []string // lower case, no final dot
	State                  string   // "trusted" | "suspended"
	Reason                 string   // why it is suspended
	NextCheckAt            time.Time
	CheckedAt              *time.Time
}

// Suspended reports whether deliveries to the domain are to be deferred.
func (p Pin) Suspended() bool { return p.State == StateSuspended }

// Event is something monitoring saw happen to a community domain.
type Event struct {
	ID                     int64
	Domain, OrganisationID string
	Kind, Detail           string
	CreatedAt              time.Time
}

// Store keeps pins, reports and events in the database. It is safe for
// concurrent use.
type Store struct {
	db  *gorm.DB
	now func() time.Time
}

// NewStore returns a Store over db; now defaults to time.Now.
func NewStore(db *database.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db.DB, now: now}
}

type pinRow struct {
	Domain         string `gorm:"primaryKey"`
	OrganisationID string
	Policy         string
	MXHosts        string `gorm:"column:mx_hosts"`
	State          string
	Reason         string
	NextCheckAt    time.Time
	CheckedAt      *time.Time
	UpdatedAt      time.Time `gorm:"autoUpdateTime:false"`
}

func (pinRow) TableName() string { return "transport_pins" }

type reportRow struct {
	Domain    string `gorm:"primaryKey"`
	Status    string
	Report    string
	CheckedAt time.Time
}

func (reportRow) TableName() string { return "domain_reports" }

type eventRow struct {
	ID             int64 `gorm:"primaryKey;autoIncrement"`
	Domain         string
	OrganisationID string
	Kind           string
	Detail         string
	CreatedAt      time.Time `gorm:"autoCreateTime:false"`
}

func (eventRow) TableName() string { return "monitor_events" }

// NormaliseDomain lower-cases name and strips a final dot.
func NormaliseDomain(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

func (s *Store) ctx(ctx context.Context) (*gorm.DB, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	return s.db.WithContext(ctx), cancel
}

// PutPin records p (admission), replacing an existing pin of the domain. An
// empty State is trusted; a zero NextCheckAt is now.
func (s *Store) PutPin(ctx context.Context, p Pin) error {
	row, err := s.toRow(p)
	if err != nil {
		return err
	}
	db, cancel := s.ctx(ctx)
	defer cancel()
	err = db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "domain"}},
		DoUpdates: clause.AssignmentColumns([]string{"organisation_id", "policy", "mx_hosts", "state", "reason",
			"next_check_at", "checked_at", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("trust: put pin %s: %w", row.Domain, err)
	}
	return nil
}

func (s *Store) toRow(p Pin) (pinRow, error) {
	p.Domain = NormaliseDomain(p.Domain)
	if p.State == "" {
		p.State = StateTrusted
	}
	if err := checkPin(p); err != nil {
		return pinRow{}, err
	}
	mx, err := mxHostsJSON(p.MXHosts)
	if err != nil {
		return pinRow{}, err
	}
	now := s.now().UTC()
	if p.NextCheckAt.IsZero() {
		p.NextCheckAt = now
	}
	return pinRow{Domain: p.Domain, OrganisationID: p.OrganisationID, Policy: p.Policy, MXHosts: mx,
		State: p.State, Reason: p.Reason, NextCheckAt: p.NextCheckAt.UTC(), CheckedAt: utcPtr(p.CheckedAt),
		UpdatedAt: now}, nil
}

// mxHostsJSON is the stored form of a pin's MX hosts: normalised, each once,
// in the order given.
func mxHostsJSON(in []string) (string, error) {
	hosts := make([]string, 0, len(in))
	for _, h := range in {
		if h = NormaliseDomain(h); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	mx, err := json.Marshal(hosts)
	if err != nil {
		return "", fmt.Errorf("trust: %w", err)
	}
	return string(mx), nil
}

func checkPin(p Pin) error {
	switch {
	case p.Domain == "" || p.OrganisationID == "":
		return fmt.Errorf("%w: pin without domain or organisation", ErrInvalid)
	case p.Policy != PolicyDANE && p.Policy != PolicyMTASTS && p.Policy != PolicyPKIX:
		return fmt.Errorf("%w: pin policy %q", ErrInvalid, p.Policy)
	case p.State != StateTrusted && p.State != StateSuspended:
		return fmt.Errorf("%w: pin state %q", ErrInvalid, p.State)
	case len(p.MXHosts) > maxMXHosts:
		return fmt.Errorf("%w: %d MX hosts, at most %d", ErrInvalid, len(p.MXHosts), maxMXHosts)
	}
	return nil
}

// Pin returns the pin of domain, or ErrNotFound.
func (s *Store) Pin(ctx context.Context, domain string) (Pin, error) {
	pins, err := s.findPins(ctx, "domain = ?", NormaliseDomain(domain))
	if err != nil {
		return Pin{}, err
	}
	if len(pins) == 0 {
		return Pin{}, fmt.Errorf("%w: pin of %s", ErrNotFound, domain)
	}
	return pins[0], nil
}

// PinsOf returns the pins of an organisation's domains, by domain.
func (s *Store) PinsOf(ctx context.Context, orgID string) ([]Pin, error) {
	return s.findPins(ctx, "organisation_id = ?", orgID)
}

// DuePins returns at most limit pins whose next check is due at now, the
// longest overdue first.
func (s *Store) DuePins(ctx context.Context, now time.Time, limit int) ([]Pin, error) {
	db, cancel := s.ctx(ctx)
	defer cancel()
	var rows []pinRow
	err := db.Where("next_check_at <= ?", now.UTC()).Order("next_check_at, domain").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("trust: due pins: %w", err)
	}
	return fromRows(rows)
}

// PinnedDomains returns the names of every pinned domain.
func (s *Store) PinnedDomains(ctx context.Context) ([]string, error) {
	db, cancel := s.ctx(ctx)
	defer cancel()
	var names []string
	if err := db.Model(&pinRow{}).Order("domain").Pluck("domain", &names).Error; err != nil {
		return nil, fmt.Errorf("trust: pinned domains: %w", err)
	}
	return names, nil
}

func (s *Store) findPins(ctx context.Context, where string, arg any) ([]Pin, error) {
	db, cancel := s.ctx(ctx)
	defer cancel()
	var rows []pinRow
	if err := db.Where(where, arg).Order("domain").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("trust: pins: %w", err)
	}
	return fromRows(rows)
}

func fromRows(rows []pinRow) ([]Pin, error) {
	pins := make([]Pin, 0, len(rows))
	for _, r := range rows {
		var hosts []string
		if err := json.Unmarshal([]byte(r.MXHosts), &hosts); err != nil {
			return nil, fmt.Errorf("trust: pin %s: MX hosts: %w", r.Domain, err)
		}
		pins = append(pins, Pin{Domain: r.Domain, OrganisationID: r.OrganisationID, Policy: r.Policy,
			MXHosts: hosts, State: r.State, Reason: r.Reason, NextCheckAt: r.NextCheckAt.UTC(),
			CheckedAt: utcPtr(r.CheckedAt)})
	}
	return pins, nil
}

// Checked records that domain was checked at checkedAt and is next due at next.
func (s *Store) Checked(ctx context.Context, domain string, checkedAt, next time.Time) error {
	return s.updatePin(ctx, domain, "", map[string]any{"checked_at": checkedAt.UTC(), "next_check_at": next.UTC()})
}

// Suspend marks the domain of pin suspended for reason and reports whether it
// was trusted before. It changes nothing (false) when the pin is suspended
// already or is no longer pin: an operator's re-pin (other policy or MX
// hosts) during the check that judged pin wins over that check.
func (s *Store) Suspend(ctx context.Context, pin Pin, reason string) (bool, error) {
	return s.transition(ctx, pin, StateTrusted, map[string]any{"state": StateSuspended, "reason": reason})
}

// Restore marks the domain of pin trusted again and reports whether it was
// suspended before (and still pin, as for Suspend).
func (s *Store) Restore(ctx context.Context, pin Pin) (bool, error) {
	return s.transition(ctx, pin, StateSuspended, map[string]any{"state": StateTrusted, "reason": ""})
}

// transition updates the pin when it is in state from and still has pin's
// policy and MX hosts; a pin that does not exist is ErrNotFound.
func (s *Store) transition(ctx context.Context, pin Pin, from string, set map[string]any) (bool, error) {
	mx, err := mxHostsJSON(pin.MXHosts)
	if err != nil {
		return false, err
	}
	err = s.updatePin(ctx, pin.Domain, from, set, "policy = ? AND mx_hosts = ?", pin.Policy, mx)
	if errors.Is(err, ErrNotFound) {
		if _, perr := s.Pin(ctx, pin.Domain); perr != nil {
			return false, perr
		}
		return false, nil // in the other state already, or re-pinned meanwhile
	}
	return err == nil, err
}

// updatePin sets columns of domain's pin (only when in state, if not empty,
// and where cond holds, if given); no row updated is ErrNotFound.
func (s *Store) updatePin(ctx context.Context, domain, state string, set map[string]any, cond ...any) error {
	db, cancel := s.ctx(ctx)
	defer cancel()
	set["updated_at"] = s.now().UTC()
	q := db.Model(&pinRow{}).Where("domain = ?", NormaliseDomain(domain))
	if state != "" {
		q = q.Where("state = ?", state)
	}
	if len(cond) > 0 {
		q = q.Where(cond[0], cond[1:]...)
	}
	res := q.Updates(set)
	if res.Error != nil {
		return fmt.Errorf("trust: update pin %s: %w", domain, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%w: pin of %s", ErrNotFound, domain)
	}
	return nil
}

// SaveReport stores r as the latest report of its domain.
func (s *Store) SaveReport(ctx context.Context, r mailcheck.Report) error {
	domain := NormaliseDomain(r.Domain)
	if domain == "" || !validStatus(r.Status) {
		return fmt.Errorf("%w: report of %q with status %q", ErrInvalid, r.Domain, r.Status)
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("trust: report of %s: %w", domain, err)
	}
	at := r.CheckedAt
	if at.IsZero() {
		at = s.now()
	}
	row := reportRow{Domain: domain, Status: string(r.Status), Report: string(doc), CheckedAt: at.UTC()}
	db, cancel := s.ctx(ctx)
	defer cancel()
	err = db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "domain"}},
		DoUpdates: clause.AssignmentColumns([]string{"status", "report", "checked_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("trust: save report of %s: %w", domain, err)
	}
	return nil
}

func validStatus(s mailcheck.Status) bool {
	switch s {
	case mailcheck.StatusPass, mailcheck.StatusInfo, mailcheck.StatusWarning, mailcheck.StatusFail,
		mailcheck.StatusError:
		return true
	}
	return false
}

// Report returns the latest report of domain, or ErrNotFound.
func (s *Store) Report(ctx context.Context, domain string) (mailcheck.Report, error) {
	db, cancel := s.ctx(ctx)
	defer cancel()
	var rows []reportRow
	if err := db.Where("domain = ?", NormaliseDomain(domain)).Limit(1).Find(&rows).Error; err != nil {
		return mailcheck.Report{}, fmt.Errorf("trust: report of %s: %w", domain, err)
	}
	if len(rows) == 0 {
		return mailcheck.Report{}, fmt.Errorf("%w: report of %s", ErrNotFound, domain)
	}
	var r mailcheck.Report
	if err := json.Unmarshal([]byte(rows[0].Report), &r); err != nil {
		return mailcheck.Report{}, fmt.Errorf("trust: report of %s: %w", domain, err)
	}
	return r, nil
}

// ReportTimes returns when each domain with a stored report was last checked.
func (s *Store) ReportTimes(ctx context.Context) (map[string]time.Time, error) {
	db, cancel := s.ctx(ctx)
	defer cancel()
	var rows []reportRow
	if err := db.Select("domain", "checked_at").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("trust: report times: %w", err)
	}
	times := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		times[r.Domain] = r.CheckedAt.UTC()
	}
	return times, nil
}

// AddEvent records e; a zero CreatedAt is now.
func (s *Store) AddEvent(ctx context.Context, e Event) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	row := eventRow{Domain: NormaliseDomain(e.Domain), OrganisationID: e.OrganisationID, Kind: e.Kind,
		Detail: e.Detail, CreatedAt: e.CreatedAt.UTC()}
	db, cancel := s.ctx(ctx)
	defer cancel()
	if err := db.Create(&row).Error; err != nil {
		return fmt.Errorf("trust: add %s event for %s: %w", e.Kind, row.Domain, err)
	}
	return nil
}

// maxEvents bounds one Events call.
const maxEvents = 1000

// Events returns at most limit events (at most 1000) created at or after
// since, the newest first.
func (s *Store) Events(ctx context.Context, since time.Time, limit int) ([]Event, error) {
	if limit <= 0 || limit > maxEvents {
		limit = maxEvents
	}
	db, cancel := s.ctx(ctx)
	defer cancel()
	var rows []eventRow
	err := db.Where("created_at >= ?", since.UTC()).Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("trust: events: %w", err)
	}
	events := make([]Event, len(rows))
	for i, r := range rows {
		events[i] = Event{ID: r.ID, Domain: r.Domain, OrganisationID: r.OrganisationID, Kind: r.Kind,
			Detail: r.Detail, CreatedAt: r.CreatedAt.UTC()}
	}
	return events, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
