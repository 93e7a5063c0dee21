// Package ldapsync keeps the community directory in step with an LDAP server
// (RFC 4511) and verifies passwords against it.
//
// A full sync reads the organisations, then streams the people with paged
// searches (RFC 2696) into one database transaction that replaces the whole
// directory, so readers see the old directory until the new one is complete and
// any failure leaves the old one in place. On OpenLDAP the incremental sync uses
// the content synchronisation operation (RFC 4533) in refreshOnly mode with the
// cookie stored alongside the directory; when the server cannot serve the
// changes since that cookie (no session log, e-syncRefreshRequired) it falls
// back to a full sync. Where content sync is not offered (no syncprov, or
// Config.Incremental is "poll") and on Active Directory, the incremental sync
// polls a change counter instead: modifyTimestamp (RFC 4512 §3.4) or uSNChanged
// (MS-ADTS), see poll.go. Import reads an LDIF file (RFC 2849) through the
// same mapping.
//
// Mapping: an organisation is an entry matching the organisation filter with at
// least one valid mail domain (NormalizeDomain); a domain claimed by two
// organisations goes to the one first in top-down DN order. A person belongs to
// the nearest organisation entry above it, compared as normalised DNs
// (RFC 4514, RFC 4517 distinguishedNameMatch). Entries that cannot be used are
// skipped and reported in the run's issues; they never fail a sync.
//
// Organisations that joined through self-enrolment (directory.OriginEnrolment)
// live beside the synced ones: no sync or import changes or removes them, their
// domains or their people. An entry listing a domain an enrolled organisation
// holds keeps its other domains; the conflict is recorded in the run's issues
// and logged, and the domain stays with the enrolled organisation.
package ldapsync

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
)

// Errors returned by this package; test them with errors.Is.
var (
	ErrConfig         = errors.New("ldapsync: invalid configuration")
	ErrNotConfigured  = errors.New("ldapsync: no LDAP server configured")
	ErrBusy           = errors.New("ldapsync: a sync or import is already running")
	ErrUnavailable    = errors.New("ldapsync: LDAP server unavailable")
	ErrUnknownUser    = errors.New("ldapsync: no such person in LDAP")
	ErrAmbiguousUser  = errors.New("ldapsync: mail address matches more than one LDAP entry")
	ErrBadCredentials = errors.New("ldapsync: invalid credentials")
	ErrUnsupported    = errors.New("ldapsync: not supported")

	// errRefreshRequired means the incremental sync cannot continue from the
	// stored position; a full sync follows.
	errRefreshRequired = errors.New("ldapsync: incremental sync not possible, a full sync follows")
)

// StateName is the name under which the sync position is stored.
const StateName = "ldap"

// Store is what the syncer needs of the directory store.
type Store interface {
	Write(ctx context.Context, full bool, fn func(*directory.Writer) error) error
	State(ctx context.Context, name string) (string, error)
	StartRun(ctx context.Context, kind, source string) (int64, error)
	FinishRun(ctx context.Context, run directory.SyncRun) error
}

var _ Store = (*directory.Store)(nil)

// writer is what a sync does inside the directory transaction.
type writer interface {
	PutOrganisations(ctx context.Context, orgs []directory.Organisation) error
	PutPeople(ctx context.Context, people []directory.Person) error
	DeletePeople(ctx context.Context, sourceIDs []string) (int, error)
	RemoveOrganisations(ctx context.Context, sourceIDs []string) (int, error)
	DomainOwner(ctx context.Context, domain string) (string, error)
	DomainHolder(ctx context.Context, domain string) (directory.DomainRef, error)
	EnrolledDomains(ctx context.Context) (map[string]string, error)
	SaveState(ctx context.Context, name, state string) error
}

var _ writer = (*directory.Writer)(nil)

// Syncer synchronises the directory from LDAP or imports it from LDIF. Its
// methods are safe for concurrent use; one run happens at a time.
type Syncer struct {
	s         *settings
	dial      *dialer // nil when no LDAP server is configured
	store     Store
	log       *slog.Logger
	busy      sync.Mutex
	batchRead func(people int) // test hook: called when a batch of people has been read
	audit     audit.Recorder   // nil records nothing (see SetAudit)
}

// NewSyncer checks cfg and returns a syncer writing to store.
func NewSyncer(cfg Config, store Store, log *slog.Logger) (*Syncer, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	sy := &Syncer{s: s, store: store, log: log, batchRead: func(int) {}}
	if s.url != nil {
		if sy.dial, err = newDialer(s, log); err != nil {
			return nil, err
		}
	}
	return sy, nil
}

// Sync brings the directory up to date: incrementally from the stored position
// when the server supports it, otherwise with a full sync.
func (sy *Syncer) Sync(ctx context.Context) (directory.SyncRun, error) {
	if sy.dial == nil {
		return directory.SyncRun{}, ErrNotConfigured
	}
	if !sy.busy.TryLock() {
		return directory.SyncRun{}, ErrBusy
	}
	defer sy.busy.Unlock()
	pos, ok := sy.position(ctx)
	if !ok {
		return sy.run(ctx, directory.RunFull, sy.s.source(), sy.fullSync)
	}
	run, err := sy.run(ctx, directory.RunIncremental, sy.s.source(), func(ctx context.Context, run *directory.SyncRun, iss *issues) error {
		if pos.Mode == modePoll {
			return sy.pollSync(ctx, run, iss, pos)
		}
		return sy.incremental(ctx, run, iss, pos)
	})
	if !errors.Is(err, errRefreshRequired) {
		return run, err
	}
	sy.log.Info("ldap sync: incremental sync not possible, running a full sync", "reason", err)
	return sy.run(ctx, directory.RunFull, sy.s.source(), sy.fullSync)
}

// FullSync replaces the directory with what LDAP holds now.
func (sy *Syncer) FullSync(ctx context.Context) (directory.SyncRun, error) {
	if sy.dial == nil {
		return directory.SyncRun{}, ErrNotConfigured
	}
	if !sy.busy.TryLock() {
		return directory.SyncRun{}, ErrBusy
	}
	defer sy.busy.Unlock()
	return sy.run(ctx, directory.RunFull, sy.s.source(), sy.fullSync)
}

// Import replaces the directory with the entries of an LDIF stream (RFC 2849),
// mapped like LDAP entries. source names the file for the run record. The next
// Sync after an import is a full one.
func (sy *Syncer) Import(ctx context.Context, r io.Reader, source string) (directory.SyncRun, error) {
	if !sy.busy.TryLock() {
		return directory.SyncRun{}, ErrBusy
	}
	defer sy.busy.Unlock()
	return sy.run(ctx, directory.RunImport, source, func(ctx context.Context, run *directory.SyncRun, iss *issues) error {
		return sy.importLDIF(ctx, r, run, iss)
	})
}

type runFunc func(ctx context.Context, run *directory.SyncRun, iss *issues) error

// run records a sync run around fn: started, then succeeded or failed with an
// error text fit for an operator.
func (sy *Syncer) run(ctx context.Context, kind, source string, fn runFunc) (directory.SyncRun, error) {
	run := directory.SyncRun{Kind: kind, Source: source, StartedAt: time.Now().UTC(), Outcome: directory.OutcomeRunning}
	id, err := sy.store.StartRun(ctx, kind, source)
	if err != nil {
		return run, err
	}
	run.ID = id
	iss := &issues{}
	err = fn(ctx, &run, iss)
	iss.fill(&run)
	finished := time.Now().UTC()
	run.FinishedAt = &finished
	run.Outcome = directory.OutcomeSucceeded
	if err != nil {
		run.Outcome, run.Error = directory.OutcomeFailed, sy.operatorText(err)
	}
	sy.logRun(run, err)
	// Record the outcome even when ctx was cancelled: that is why the run failed.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sy.s.Timeout)
	defer cancel()
	sy.recordRun(fctx, run)
	if ferr := sy.store.FinishRun(fctx, run); ferr != nil {
		return run, errors.Join(err, ferr)
	}
	return run, err
}

// operatorText is the error without secrets.
func (sy *Syncer) operatorText(err error) string {
	msg := err.Error()
	if pw := sy.s.BindPassword; len(pw) >= 4 {
		msg = strings.ReplaceAll(msg, pw, "****")
	}
	return msg
}

func (sy *Syncer) logRun(run directory.SyncRun, err error) {
	attrs := []any{"kind", run.Kind, "source", run.Source, "organisations", run.Organisations,
		"people", run.People, "deleted", run.Deleted, "skipped", run.Skipped,
		"duration", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond)}
	if err != nil {
		sy.log.Error("directory sync failed", append(attrs, "err", sy.operatorText(err))...)
		return
	}
	sy.log.Info("directory sync done", attrs...)
}

// position returns the stored incremental-sync position, if it is usable.
func (sy *Syncer) position(ctx context.Context) (syncState, bool) {
	if !sy.s.contentSync && sy.s.pollAttr == "" {
		return syncState{}, false
	}
	raw, err := sy.store.State(ctx, StateName)
	if err != nil {
		sy.log.Warn("ldap sync: cannot read sync position, running a full sync", "err", err)
		return syncState{}, false
	}
	st, err := decodeState(raw)
	if err != nil || st.Fingerprint != sy.s.fingerprint() || !sy.s.allows(st) {
		return syncState{}, false
	}
	return st, true
}

// allows reports whether the settings permit continuing from st.
func (s *settings) allows(st syncState) bool {
	switch st.Mode {
	case modeContentSync:
		return s.contentSync
	case modePoll:
		return st.Poll.Attr == s.pollAttr
	}
	return false
}
