package directory

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veilig/veilig/directory/search"
)

// OrgRef names an organisation in answers.
type OrgRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Snapshot is one consistent, immutable in-memory view of the directory.
type Snapshot struct {
	Generation int64
	LoadedAt   time.Time
	Index      *search.Index
	domains    map[string]OrgRef // community domain → organisation
}

// Live serves autocomplete and resolution from an in-memory Snapshot and replaces it
// when the directory's generation changes — after a sync by this process or any
// other process sharing the database.
type Live struct {
	store   *Store
	log     *slog.Logger
	now     func() time.Time
	current atomic.Pointer[Snapshot]
	loadMu  sync.Mutex
}

// NewLive returns a Live over store with an empty snapshot; call Refresh to load.
func NewLive(store *Store, log *slog.Logger, now func() time.Time) *Live {
	l := &Live{store: store, log: log, now: now}
	l.current.Store(&Snapshot{Generation: -1, Index: search.Build(nil), domains: map[string]OrgRef{}})
	return l
}

// Snapshot returns the current view.
func (l *Live) Snapshot() *Snapshot { return l.current.Load() }

// Refresh loads a new snapshot when the stored generation differs from the one
// served, and reports whether it did.
func (l *Live) Refresh(ctx context.Context) (bool, error) {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	gen, err := l.store.Generation(ctx)
	if err != nil {
		return false, err
	}
	if gen == l.current.Load().Generation {
		return false, nil
	}
	start := l.now()
	snap, err := l.load(ctx, gen)
	if err != nil {
		return false, err
	}
	l.current.Store(snap)
	l.log.Info("directory index loaded", "generation", gen, "records", snap.Index.Len(),
		"domains", len(snap.domains), "duration", l.now().Sub(start))
	return true, nil
}

// load reads the directory into a new snapshot (see the comment inside on consistency).
func (l *Live) load(ctx context.Context, gen int64) (*Snapshot, error) {
	var (
		records []search.Record
		domains = map[string]OrgRef{}
	)
	// Not one transaction (an SQLite transaction here would take the write lock):
	// gen was read first, so a change committed meanwhile triggers another load.
	orgs, err := l.store.activeOrganisations(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(orgs))
	for _, o := range orgs {
		names[o.ID] = o.Name
		for _, d := range o.Domains {
			domains[d] = OrgRef{ID: o.ID, Name: o.Name}
		}
		records = append(records, search.Record{Kind: search.KindOrganisation, ID: o.ID, Name: o.Name,
			OrganisationID: o.ID, OrganisationName: o.Name, Domains: o.Domains})
	}
	err = l.store.eachPerson(ctx, func(p Person) {
		if _, ok := names[p.OrganisationID]; !ok {
			return // organisation committed after we read them; the next load has both
		}
		records = append(records, search.Record{Kind: search.KindPerson, ID: p.ID, Name: p.DisplayName,
			Email: p.Mail, OrganisationID: p.OrganisationID, OrganisationName: names[p.OrganisationID]})
	})
	if err != nil {
		return nil, fmt.Errorf("directory: load people: %w", err)
	}
	return &Snapshot{Generation: gen, LoadedAt: l.now(), Index: search.Build(records), domains: domains}, nil
}

// PersonName returns the display name of the person with this e-mail address, or
// "" when the directory does not know them.
func (s *Snapshot) PersonName(email string) string {
	if s == nil || s.Index == nil || email == "" {
		return ""
	}
	for _, hit := range s.Index.Search(email, 5) {
		if r := hit.Record; r.Kind == search.KindPerson && strings.EqualFold(r.Email, email) {
			return r.Name
		}
	}
	return ""
}
