package delivery

// Transport history (table transport_history): when a domain was last seen with
// DANE or an MTA-STS enforce policy, so that losing both is noticed as a possible
// downgrade attack instead of silently falling back to PKIX.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// historyRefresh is how stale a seen-at time may get before it is rewritten.
const historyRefresh = time.Hour

// transportHistory is a row of transport_history.
type transportHistory struct {
	Domain       string     `gorm:"column:domain;primaryKey"`
	DANESeenAt   *time.Time `gorm:"column:dane_seen_at"`
	MTASTSSeenAt *time.Time `gorm:"column:mta_sts_seen_at"`
	UpdatedAt    time.Time  `gorm:"column:updated_at;autoUpdateTime:false"`
}

func (transportHistory) TableName() string { return "transport_history" }

// history is what is known of a domain; zero times: never seen.
type history struct{ dane, sts time.Time }

func (h history) any() bool { return !h.dane.IsZero() || !h.sts.IsZero() }

// historyStore caches transport_history in a bounded map. Without a database
// the map is the store.
type historyStore struct {
	db  *gorm.DB
	max int
	now func() time.Time

	mu  sync.Mutex
	mem map[string]history
}

func newHistoryStore(db *gorm.DB, max int, now func() time.Time) *historyStore {
	return &historyStore{db: db, max: max, now: now, mem: map[string]history{}}
}

func (s *historyStore) get(ctx context.Context, domain string) (history, error) {
	s.mu.Lock()
	h, ok := s.mem[domain]
	s.mu.Unlock()
	if ok || s.db == nil {
		return h, nil
	}
	h, err := s.load(ctx, domain)
	if err != nil {
		return history{}, err
	}
	s.remember(domain, h)
	return h, nil
}

func (s *historyStore) load(ctx context.Context, domain string) (history, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []transportHistory
	if err := s.db.WithContext(ctx).Where("domain = ?", domain).Limit(1).Find(&rows).Error; err != nil {
		return history{}, fmt.Errorf("delivery: transport history: %w", err)
	}
	var h history
	if len(rows) == 1 {
		h.dane, h.sts = deref(rows[0].DANESeenAt), deref(rows[0].MTASTSSeenAt)
	}
	return h, nil
}

func (s *historyStore) remember(domain string, h history) {
	s.mu.Lock()
	defer s.mu.Unlock()
	boundedPut(s.mem, s.max, domain, h)
}

// seen records that domain has DANE and/or MTA-STS now.
func (s *historyStore) seen(ctx context.Context, domain string, dane, sts bool) error {
	h, err := s.get(ctx, domain)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	changed := false
	if dane && now.Sub(h.dane) >= historyRefresh {
		h.dane, changed = now, true
	}
	if sts && now.Sub(h.sts) >= historyRefresh {
		h.sts, changed = now, true
	}
	if !changed {
		return nil
	}
	return s.save(ctx, domain, h)
}

// clearSTS forgets MTA-STS for domain (its policy went to mode none).
func (s *historyStore) clearSTS(ctx context.Context, domain string) error {
	h, err := s.get(ctx, domain)
	if err != nil || h.sts.IsZero() {
		return err
	}
	h.sts = time.Time{}
	return s.save(ctx, domain, h)
}

func (s *historyStore) save(ctx context.Context, domain string, h history) error {
	s.remember(domain, h)
	if s.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	row := transportHistory{Domain: domain, DANESeenAt: ptr(h.dane), MTASTSSeenAt: ptr(h.sts), UpdatedAt: s.now().UTC()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "domain"}},
		DoUpdates: clause.AssignmentColumns([]string{"dane_seen_at", "mta_sts_seen_at", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("delivery: transport history: %w", err)
	}
	return nil
}

func (s *historyStore) forget(ctx context.Context, domain string) error {
	s.mu.Lock()
	delete(s.mem, domain)
	s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := s.db.WithContext(ctx).Where("domain = ?", domain).Delete(&transportHistory{}).Error; err != nil {
		return fmt.Errorf("delivery: transport history: %w", err)
	}
	return nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
