package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// idNamespace derives Veilig ids from source ids (UUID version 5), so an entry
// keeps its id across full syncs and renames.
var idNamespace = uuid.MustParse("6b1f1f54-8d0e-4b8e-9a4e-5c1d3e0f7a21")

// OrganisationID returns the Veilig id of the organisation with this source id.
func OrganisationID(sourceID string) string {
	return uuid.NewSHA1(idNamespace, []byte("organisation:"+sourceID)).String()
}

// PersonID returns the Veilig id of the person with this source id.
func PersonID(sourceID string) string {
	return uuid.NewSHA1(idNamespace, []byte("person:"+sourceID)).String()
}

type organisationRow struct {
	ID          string `gorm:"primaryKey"`
	SourceID    string
	SourceDN    string
	Name        string
	OIN         string `gorm:"column:oin"`
	KvK         string `gorm:"column:kvk"`
	Description string
	Status      string
	Origin      string
	SyncGen     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (organisationRow) TableName() string { return "organisations" }

type domainRow struct {
	Name           string `gorm:"primaryKey"`
	OrganisationID string
}

func (domainRow) TableName() string { return "domains" }

type personRow struct {
	ID             string `gorm:"primaryKey"`
	SourceID       string
	SourceDN       string
	OrganisationID string
	DisplayName    string
	Mail           string
	Department     string
	UpdatedAt      time.Time
}

func (personRow) TableName() string { return "people" }

type syncRunRow struct {
	ID            int64 `gorm:"primaryKey;autoIncrement"`
	Kind          string
	Source        string
	StartedAt     time.Time
	FinishedAt    *time.Time
	Outcome       string
	Error         string
	Organisations int
	People        int
	Deleted       int
	Skipped       int
	Issues        string
}

func (syncRunRow) TableName() string { return "sync_runs" }

type syncStateRow struct {
	Name      string `gorm:"primaryKey"`
	State     string
	UpdatedAt time.Time
}

func (syncStateRow) TableName() string { return "sync_state" }

// Store keeps the directory in the database through gorm.
type Store struct {
	db  *gorm.DB
	now func() time.Time
}

// NewStore returns a store on db. now is the clock (time.Now in production).
func NewStore(db *gorm.DB, now func() time.Time) *Store {
	return &Store{db: db, now: now}
}

// batchSize bounds rows per INSERT: well under SQLite's 32,766 bound variables.
const batchSize = 1000

// Generation returns the directory's change counter; it grows with every committed
// change, from any process.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	var gen int64
	err := s.db.WithContext(ctx).Raw("SELECT generation FROM directory_meta WHERE id = 1").Scan(&gen).Error
	if err != nil {
		return 0, fmt.Errorf("directory: read generation: %w", err)
	}
	return gen, nil
}

// Write runs fn in one transaction. With full set, the transaction replaces the
// whole directory: every person and domain not written by fn is gone afterwards
// and every organisation not written is marked removed. Readers in other
// transactions see the previous directory until the commit; an error from fn
// rolls everything back.
func (s *Store) Write(ctx context.Context, full bool, fn func(*Writer) error) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		w := &Writer{tx: tx, now: s.now().UTC(), full: full}
		if err := w.begin(ctx); err != nil {
			return err
		}
		if err := fn(w); err != nil {
			return err
		}
		return w.finish(ctx)
	})
}

// Writer changes the directory inside one transaction; see Store.Write.
type Writer struct {
	tx      *gorm.DB
	now     time.Time
	full    bool
	gen     int64
	changed bool // an incremental write touched a row
}

// bump advances the directory generation, so that every process reloads its
// view after the commit, and records the new value.
func (w *Writer) bump(ctx context.Context) error {
	tx := w.tx.WithContext(ctx)
	if err := tx.Exec("UPDATE directory_meta SET generation = generation + 1 WHERE id = 1").Error; err != nil {
		return fmt.Errorf("directory: bump generation: %w", err)
	}
	if err := tx.Raw("SELECT generation FROM directory_meta WHERE id = 1").Scan(&w.gen).Error; err != nil {
		return fmt.Errorf("directory: read generation: %w", err)
	}
	return nil
}

// begin bumps the generation at once for a full replacement (its organisation
// rows are stamped with it); an incremental write bumps it in finish, and only
// when it changed something.
func (w *Writer) begin(ctx context.Context) error {
	if !w.full {
		err := w.tx.WithContext(ctx).Raw("SELECT generation FROM directory_meta WHERE id = 1").Scan(&w.gen).Error
		if err != nil {
			return fmt.Errorf("directory: read generation: %w", err)
		}
		return nil
	}
	if err := w.bump(ctx); err != nil {
		return err
	}
	tx := w.tx.WithContext(ctx)
	// A full replacement rewrites every person and domain of the directory's
	// organisations; organisations are upserted so their ids, and the users
	// attached to them, survive. Enrolled organisations are not the
	// directory's: their domains and people stay.
	for _, table := range []string{"people", "domains"} {
		err := tx.Exec("DELETE FROM "+table+" WHERE organisation_id IN "+
			"(SELECT id FROM organisations WHERE origin = ?)", OriginDirectory).Error
		if err != nil {
			return fmt.Errorf("directory: clear %s: %w", table, err)
		}
	}
	return nil
}

func (w *Writer) finish(ctx context.Context) error {
	if !w.full {
		if w.changed {
			return w.bump(ctx)
		}
		return nil
	}
	err := w.tx.WithContext(ctx).Model(&organisationRow{}).
		Where("sync_gen < ? AND status = ? AND origin = ?", w.gen, StatusActive, OriginDirectory).
		Updates(map[string]any{"status": StatusRemoved, "updated_at": w.now}).Error
	if err != nil {
		return fmt.Errorf("directory: mark removed organisations: %w", err)
	}
	return nil
}

// PutOrganisations inserts or updates organisations of the directory by
// SourceID, and makes each one's domains exactly the given list. A domain held
// by another organisation is ErrDomainTaken and fails the transaction: callers
// resolve conflicts first (see DomainHolder, EnrolledDomains). A source id with
// EnrolmentSourcePrefix is ErrInvalid: it would overwrite an enrolled organisation.
func (w *Writer) PutOrganisations(ctx context.Context, orgs []Organisation) error {
	if len(orgs) == 0 {
		return nil
	}
	for _, o := range orgs {
		if strings.HasPrefix(o.SourceID, EnrolmentSourcePrefix) {
			return fmt.Errorf("%w: source id %q is reserved for enrolled organisations", ErrInvalid, o.SourceID)
		}
	}
	w.changed = true
	tx := w.tx.WithContext(ctx)
	rows := make([]organisationRow, len(orgs))
	ids := make([]string, len(orgs))
	var domains []domainRow
	for i, o := range orgs {
		id := OrganisationID(o.SourceID)
		ids[i] = id
		rows[i] = organisationRow{ID: id, SourceID: o.SourceID, SourceDN: o.SourceDN, Name: o.Name,
			OIN: o.OIN, KvK: o.KvK, Description: o.Description, Status: StatusActive, Origin: OriginDirectory,
			SyncGen: w.gen, CreatedAt: w.now, UpdatedAt: w.now}
		for _, d := range o.Domains {
			domains = append(domains, domainRow{Name: d, OrganisationID: id})
		}
	}
	err := tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "source_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"source_dn", "name", "oin", "kvk",
			"description", "status", "sync_gen", "updated_at"}),
	}).CreateInBatches(rows, batchSize).Error
	if err != nil {
		return fmt.Errorf("directory: put organisations: %w", err)
	}
	if !w.full {
		if err := w.deleteDomainsOf(ctx, ids); err != nil {
			return err
		}
	}
	if err := tx.CreateInBatches(domains, batchSize).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("%w: %v", ErrDomainTaken, err)
		}
		return fmt.Errorf("directory: put domains: %w", err)
	}
	return nil
}

func (w *Writer) deleteDomainsOf(ctx context.Context, orgIDs []string) error {
	for start := 0; start < len(orgIDs); start += batchSize {
		chunk := orgIDs[start:min(start+batchSize, len(orgIDs))]
		if err := w.tx.WithContext(ctx).Where("organisation_id IN ?", chunk).Delete(&domainRow{}).Error; err != nil {
			return fmt.Errorf("directory: replace domains: %w", err)
		}
	}
	return nil
}

// PutPeople inserts or updates people by SourceID. OrganisationID must name an
// organisation written before (OrganisationID(orgSourceID)).
func (w *Writer) PutPeople(ctx context.Context, people []Person) error {
	if len(people) == 0 {
		return nil
	}
	w.changed = true
	rows := make([]personRow, len(people))
	for i, p := range people {
		rows[i] = personRow{ID: PersonID(p.SourceID), SourceID: p.SourceID, SourceDN: p.SourceDN,
			OrganisationID: p.OrganisationID, DisplayName: p.DisplayName, Mail: p.Mail,
			Department: p.Department, UpdatedAt: w.now}
	}
	tx := w.tx.WithContext(ctx)
	if !w.full {
		tx = tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "source_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"source_dn", "organisation_id",
				"display_name", "mail", "department", "updated_at"}),
		})
	}
	if err := tx.CreateInBatches(rows, batchSize).Error; err != nil {
		return fmt.Errorf("directory: put people: %w", err)
	}
	return nil
}

// DeletePeople removes people by source id and returns how many were removed.
func (w *Writer) DeletePeople(ctx context.Context, sourceIDs []string) (int, error) {
	n := 0
	for start := 0; start < len(sourceIDs); start += batchSize {
		chunk := sourceIDs[start:min(start+batchSize, len(sourceIDs))]
		res := w.tx.WithContext(ctx).Where("source_id IN ?", chunk).Delete(&personRow{})
		if res.Error != nil {
			return n, fmt.Errorf("directory: delete people: %w", res.Error)
		}
		n += int(res.RowsAffected)
	}
	w.changed = w.changed || n > 0
	return n, nil
}

// RemoveOrganisations marks organisations of the directory removed by source
// id, drops their domains and people, and returns how many were removed. The
// row stays so that users and records that point at it keep their meaning.
// Enrolled organisations are never touched.
func (w *Writer) RemoveOrganisations(ctx context.Context, sourceIDs []string) (int, error) {
	ids := make([]string, len(sourceIDs))
	for i, s := range sourceIDs {
		ids[i] = OrganisationID(s)
	}
	n := 0
	for start := 0; start < len(ids); start += batchSize {
		tx := w.tx.WithContext(ctx)
		var chunk []string
		err := tx.Model(&organisationRow{}).Where("id IN ? AND origin = ?", ids[start:min(start+batchSize, len(ids))],
			OriginDirectory).Pluck("id", &chunk).Error
		if err != nil {
			return n, fmt.Errorf("directory: find organisations to remove: %w", err)
		}
		if len(chunk) == 0 {
			continue
		}
		if err := tx.Where("organisation_id IN ?", chunk).Delete(&personRow{}).Error; err != nil {
			return n, fmt.Errorf("directory: delete people of removed organisations: %w", err)
		}
		if err := tx.Where("organisation_id IN ?", chunk).Delete(&domainRow{}).Error; err != nil {
			return n, fmt.Errorf("directory: delete domains of removed organisations: %w", err)
		}
		res := tx.Model(&organisationRow{}).Where("id IN ? AND status = ?", chunk, StatusActive).
			Updates(map[string]any{"status": StatusRemoved, "updated_at": w.now})
		if res.Error != nil {
			return n, fmt.Errorf("directory: remove organisations: %w", res.Error)
		}
		n += int(res.RowsAffected)
	}
	w.changed = w.changed || n > 0
	return n, nil
}

// DomainOwner returns the id of the organisation holding domain, or ErrNotFound.
func (w *Writer) DomainOwner(ctx context.Context, domain string) (string, error) {
	var row domainRow
	err := w.tx.WithContext(ctx).Where("name = ?", domain).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("directory: domain owner: %w", err)
	}
	return row.OrganisationID, nil
}

// SaveState stores an incremental-sync position; it commits with the changes.
func (w *Writer) SaveState(ctx context.Context, name, state string) error {
	row := syncStateRow{Name: name, State: state, UpdatedAt: w.now}
	err := w.tx.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"state", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("directory: save sync state: %w", err)
	}
	return nil
}

// State returns the stored incremental-sync position, "" when there is none.
func (s *Store) State(ctx context.Context, name string) (string, error) {
	var row syncStateRow
	err := s.db.WithContext(ctx).Where("name = ?", name).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("directory: read sync state: %w", err)
	}
	return row.State, nil
}

// ClearState forgets an incremental-sync position, forcing the next sync to be full.
func (s *Store) ClearState(ctx context.Context, name string) error {
	if err := s.db.WithContext(ctx).Where("name = ?", name).Delete(&syncStateRow{}).Error; err != nil {
		return fmt.Errorf("directory: clear sync state: %w", err)
	}
	return nil
}

// StartRun records the start of a sync or import and returns its id. It is its
// own transaction, so a run that fails is still on record.
func (s *Store) StartRun(ctx context.Context, kind, source string) (int64, error) {
	row := syncRunRow{Kind: kind, Source: source, StartedAt: s.now().UTC(), Outcome: OutcomeRunning, Issues: "[]"}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return 0, fmt.Errorf("directory: start sync run: %w", err)
	}
	return row.ID, nil
}

// FinishRun records the outcome of run (by run.ID).
func (s *Store) FinishRun(ctx context.Context, run SyncRun) error {
	issues := run.Issues
	if len(issues) > MaxIssuesKept {
		issues = issues[:MaxIssuesKept]
	}
	if issues == nil {
		issues = []SyncIssue{}
	}
	js, err := json.Marshal(issues)
	if err != nil {
		return fmt.Errorf("directory: encode sync issues: %w", err)
	}
	now := s.now().UTC()
	err = s.db.WithContext(ctx).Model(&syncRunRow{}).Where("id = ?", run.ID).Updates(map[string]any{
		"finished_at": now, "outcome": run.Outcome, "error": run.Error,
		"organisations": run.Organisations, "people": run.People, "deleted": run.Deleted,
		"skipped": run.Skipped, "issues": string(js),
	}).Error
	if err != nil {
		return fmt.Errorf("directory: finish sync run: %w", err)
	}
	return nil
}

// LastRun returns the most recent sync run, or ErrNotFound.
func (s *Store) LastRun(ctx context.Context) (SyncRun, error) {
	var row syncRunRow
	err := s.db.WithContext(ctx).Order("id DESC").Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return SyncRun{}, ErrNotFound
	}
	if err != nil {
		return SyncRun{}, fmt.Errorf("directory: last sync run: %w", err)
	}
	return row.toRun()
}

func (r syncRunRow) toRun() (SyncRun, error) {
	run := SyncRun{ID: r.ID, Kind: r.Kind, Source: r.Source, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		Outcome: r.Outcome, Error: r.Error, Organisations: r.Organisations, People: r.People,
		Deleted: r.Deleted, Skipped: r.Skipped}
	if err := json.Unmarshal([]byte(r.Issues), &run.Issues); err != nil {
		return SyncRun{}, fmt.Errorf("directory: decode sync issues: %w", err)
	}
	return run, nil
}

// Counts is the size of the directory.
type Counts struct {
	Organisations int64
	Domains       int64
	People        int64
}

// Counts returns how many active organisations, domains and people there are.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	db := s.db.WithContext(ctx)
	if err := db.Model(&organisationRow{}).Where("status = ?", StatusActive).Count(&c.Organisations).Error; err != nil {
		return c, fmt.Errorf("directory: count organisations: %w", err)
	}
	if err := db.Model(&domainRow{}).Count(&c.Domains).Error; err != nil {
		return c, fmt.Errorf("directory: count domains: %w", err)
	}
	if err := db.Model(&personRow{}).Count(&c.People).Error; err != nil {
		return c, fmt.Errorf("directory: count people: %w", err)
	}
	return c, nil
}

// activeOrganisations returns every active organisation with its domains.
func (s *Store) activeOrganisations(ctx context.Context) ([]Organisation, error) {
	var rows []organisationRow
	db := s.db.WithContext(ctx)
	if err := db.Where("status = ?", StatusActive).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("directory: list organisations: %w", err)
	}
	var doms []domainRow
	if err := db.Order("name").Find(&doms).Error; err != nil {
		return nil, fmt.Errorf("directory: list domains: %w", err)
	}
	byOrg := make(map[string][]string, len(rows))
	for _, d := range doms {
		byOrg[d.OrganisationID] = append(byOrg[d.OrganisationID], d.Name)
	}
	out := make([]Organisation, len(rows))
	for i, r := range rows {
		out[i] = r.toOrganisation(byOrg[r.ID])
	}
	return out, nil
}

func (r organisationRow) toOrganisation(domains []string) Organisation {
	return Organisation{ID: r.ID, SourceID: r.SourceID, SourceDN: r.SourceDN, Name: r.Name, OIN: r.OIN,
		KvK: r.KvK, Description: r.Description, Status: r.Status, Origin: r.Origin, Domains: domains}
}

// eachPerson streams every person to fn without holding them all as rows.
func (s *Store) eachPerson(ctx context.Context, fn func(Person)) error {
	rows, err := s.db.WithContext(ctx).Model(&personRow{}).
		Select("id, organisation_id, display_name, mail").Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p Person
		if err := rows.Scan(&p.ID, &p.OrganisationID, &p.DisplayName, &p.Mail); err != nil {
			return err
		}
		fn(p)
	}
	return rows.Err()
}

// Organisation returns one organisation by id (active or removed), or ErrNotFound.
func (s *Store) Organisation(ctx context.Context, id string) (Organisation, error) {
	var row organisationRow
	db := s.db.WithContext(ctx)
	err := db.Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Organisation{}, ErrNotFound
	}
	if err != nil {
		return Organisation{}, fmt.Errorf("directory: organisation: %w", err)
	}
	var doms []string
	if err := db.Model(&domainRow{}).Where("organisation_id = ?", id).Order("name").Pluck("name", &doms).Error; err != nil {
		return Organisation{}, fmt.Errorf("directory: organisation domains: %w", err)
	}
	return row.toOrganisation(doms), nil
}

// OrganisationForDomain returns the active organisation whose community domain is
// domain or the nearest parent of it, and how it matched; ErrNotFound when none.
func (s *Store) OrganisationForDomain(ctx context.Context, domain string) (Organisation, DomainMatch, error) {
	cands := Candidates(domain)
	if len(cands) == 0 {
		return Organisation{}, NoMatch, ErrNotFound
	}
	var doms []domainRow
	if err := s.db.WithContext(ctx).Where("name IN ?", cands).Find(&doms).Error; err != nil {
		return Organisation{}, NoMatch, fmt.Errorf("directory: find domain: %w", err)
	}
	for i, c := range cands { // nearest first
		for _, d := range doms {
			if d.Name == c {
				org, err := s.Organisation(ctx, d.OrganisationID)
				return org, matchKind(i), err
			}
		}
	}
	return Organisation{}, NoMatch, ErrNotFound
}

func matchKind(candidate int) DomainMatch {
	if candidate == 0 {
		return ExactMatch
	}
	return SubdomainMatch
}
