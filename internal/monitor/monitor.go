// Package monitor re-checks every community domain's mail set-up on a
// schedule (issue 6 §5) with the mail-standards check of internal/mailcheck
// and acts when a partner's transport security breaks: a domain pinned to DANE
// (RFC 7672) that no longer verifies, one pinned to MTA-STS (RFC 8461) with
// neither DANE nor an enforce policy, or one whose DNSSEC (RFC 4035) turned
// bogus is suspended (the delivery route defers it), an event is recorded for
// operators and the organisation's administrators are e-mailed the report.
// A domain pinned to PKIX only (no DNSSEC) is pinned to its MX host names as
// well: when none of them is an MX host any more, it is suspended too, since
// an unsigned MX answer is not to be trusted; an operator confirms the change
// and re-pins it (Repin). New MX hosts beside pinned ones are reported once
// ("degraded") and skipped by delivery until then. When a later check passes, the pin is restored on
// its own.
//
// Checks are spread over the interval (each domain's next check is the
// interval plus or minus the jitter after its last one) and run at most
// Concurrency at a time, so 14,000 domains cost about ten checks a minute.
//
// Domains without a pin (directory-synced organisations, which were never
// admitted through enrolment) are checked on the same schedule and their
// reports kept, but never suspended: nothing was promised for them, and the
// delivery route already defers a domain that lost DANE or MTA-STS
// (transport_history). When such a domain gets worse than its previous
// report, a "degraded" event is recorded and its administrators (if any) are
// told.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/outbox"
	"github.com/veilig/veilig/internal/trust"
)

// ErrConfig reports invalid Deps or Config.
var ErrConfig = errors.New("monitor: invalid configuration")

// Store keeps pins, reports and events; *trust.Store implements it.
type Store interface {
	DuePins(ctx context.Context, now time.Time, limit int) ([]trust.Pin, error)
	PinnedDomains(ctx context.Context) ([]string, error)
	Checked(ctx context.Context, domain string, checkedAt, next time.Time) error
	Suspend(ctx context.Context, pin trust.Pin, reason string) (bool, error)
	Restore(ctx context.Context, pin trust.Pin) (bool, error)
	SaveReport(ctx context.Context, r mailcheck.Report) error
	Report(ctx context.Context, domain string) (mailcheck.Report, error)
	ReportTimes(ctx context.Context) (map[string]time.Time, error)
	AddEvent(ctx context.Context, e trust.Event) error
	Pin(ctx context.Context, domain string) (trust.Pin, error)
	PutPin(ctx context.Context, p trust.Pin) error
}

// Checker runs the mail-standards check; *mailcheck.Checker implements it.
// Report never fails: trouble is a report with status error.
type Checker interface {
	Report(ctx context.Context, domain string) mailcheck.Report
}

// Domain is a community domain and the organisation holding it.
type Domain struct {
	Domain, OrganisationID, Origin string
}

// Directory lists every active community domain.
type Directory interface {
	CommunityDomains(ctx context.Context) ([]Domain, error)
}

// Admins returns the e-mail addresses of an organisation's administrators.
type Admins interface {
	OrgAdminEmails(ctx context.Context, orgID string) ([]string, error)
}

// Mailer sends Veilig's own mail; *outbox.Outbox implements it.
type Mailer interface {
	SendSystemMail(ctx context.Context, m outbox.SystemMail) error
}

// Deps are the Monitor's collaborators. Store, Checker and Log are required;
// without Directory only pinned domains are checked, without Admins or
// Mailer nobody is e-mailed.
type Deps struct {
	Store     Store
	Checker   Checker
	Directory Directory
	Admins    Admins
	Mailer    Mailer
	Log       *slog.Logger
	Now       func() time.Time // default time.Now
	// Lock, when set, runs each pass of Run under a lock shared by every
	// process (database.DB.TryLock), so that of several processes on one
	// database one checks at a time; it reports false when another holds it.
	Lock func(ctx context.Context, fn func(ctx context.Context) error) (bool, error)
	// Audit is the audit trail (optional; nil records nothing).
	Audit audit.Recorder
}

// Config tunes the schedule. Zero values take the defaults.
type Config struct {
	Interval time.Duration // between two checks of a domain, default 24 h
	Jitter   time.Duration // next check is Interval ± Jitter, default Interval/10
	// RetryInterval is the next check after a check that could not run, and
	// of a suspended domain (so that a fix is noticed soon), default 1 h and
	// at most Interval.
	RetryInterval time.Duration
	Concurrency   int           // checks at once, default 4
	BatchSize     int           // domains taken per pass, default 16 × Concurrency
	Tick          time.Duration // between passes when nothing is due, default 1 min
	CheckTimeout  time.Duration // per domain, default 5 min
}

// Defaults.
const (
	defaultInterval     = 24 * time.Hour
	defaultRetry        = time.Hour
	defaultConcurrency  = 4
	defaultTick         = time.Minute
	defaultCheckTimeout = 5 * time.Minute
	// directoryRefresh is how often the list of community domains is re-read.
	directoryRefresh = 10 * time.Minute
	// maxDetail bounds an event's detail.
	maxDetail = 1000
)

// Monitor re-checks community domains. Run and CheckDue must not run at the
// same time as each other.
type Monitor struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time

	mu        sync.Mutex
	unpinned  map[string]*unpinned // domains without a pin, by name
	refreshed time.Time
}

// unpinned is the schedule of a domain without a pin (kept in memory: its
// last check time is in domain_reports, so a restart loses nothing but the
// jitter).
type unpinned struct {
	orgID string
	next  time.Time
}

// job is one domain to check.
type job struct {
	domain, orgID string
	pin           *trust.Pin
}

// New checks deps, fills in cfg's defaults and returns a Monitor.
func New(deps Deps, cfg Config) (*Monitor, error) {
	if deps.Store == nil || deps.Checker == nil || deps.Log == nil {
		return nil, fmt.Errorf("%w: Store, Checker and Log are required", ErrConfig)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Audit == nil {
		deps.Audit = audit.Discard{}
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	return &Monitor{cfg: cfg, deps: deps, log: deps.Log, now: deps.Now, unpinned: map[string]*unpinned{}}, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Interval == 0 {
		cfg.Interval = defaultInterval
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = cfg.Interval / 10
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = min(defaultRetry, cfg.Interval)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = defaultConcurrency
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 16 * cfg.Concurrency
	}
	if cfg.Tick == 0 {
		cfg.Tick = defaultTick
	}
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = defaultCheckTimeout
	}
	if cfg.Interval < 0 || cfg.Jitter < 0 || cfg.Jitter >= cfg.Interval || cfg.RetryInterval < 0 ||
		cfg.Concurrency < 0 || cfg.BatchSize < 0 || cfg.Tick < 0 || cfg.CheckTimeout < 0 {
		return cfg, fmt.Errorf("%w: %+v", ErrConfig, cfg)
	}
	return cfg, nil
}

// Run checks due domains until ctx ends, then returns nil.
func (m *Monitor) Run(ctx context.Context) error {
	m.log.Info("monitor: started", "interval", m.cfg.Interval, "jitter", m.cfg.Jitter,
		"concurrency", m.cfg.Concurrency)
	for {
		n, err := m.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			m.log.Warn("monitor: pass failed", "err", err)
		}
		if err == nil && n >= m.cfg.BatchSize {
			continue // more are due
		}
		t := time.NewTimer(m.cfg.Tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// pass is one CheckDue, under Deps.Lock when set; a pass another process
// holds the lock for checks nothing here.
func (m *Monitor) pass(ctx context.Context) (int, error) {
	if m.deps.Lock == nil {
		return m.CheckDue(ctx)
	}
	var n int
	_, err := m.deps.Lock(ctx, func(ctx context.Context) error {
		var err error
		n, err = m.CheckDue(ctx)
		return err
	})
	return n, err
}

// CheckDue checks the domains due now (at most BatchSize, at most
// Concurrency at once) and returns how many it checked.
func (m *Monitor) CheckDue(ctx context.Context) (int, error) {
	now := m.now()
	pins, err := m.deps.Store.DuePins(ctx, now, m.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("monitor: %w", err)
	}
	jobs := make([]job, 0, len(pins))
	for i := range pins {
		jobs = append(jobs, job{domain: pins[i].Domain, orgID: pins[i].OrganisationID, pin: &pins[i]})
	}
	more, err := m.dueUnpinned(ctx, now, m.cfg.BatchSize-len(jobs))
	jobs = append(jobs, more...)
	m.runAll(ctx, jobs)
	if err != nil {
		return len(jobs), fmt.Errorf("monitor: domains without a pin: %w", err)
	}
	return len(jobs), nil
}

// runAll checks jobs, at most Concurrency at a time, and waits for them.
func (m *Monitor) runAll(ctx context.Context, jobs []job) {
	sem := make(chan struct{}, m.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			m.check(ctx, j)
		})
	}
	wg.Wait()
}

// check checks one domain and acts on the result.
func (m *Monitor) check(ctx context.Context, j job) {
	cctx, cancel := context.WithTimeout(ctx, m.cfg.CheckTimeout)
	r := m.deps.Checker.Report(cctx, j.domain)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: an aborted check says nothing about the domain
	}
	if r.Domain == "" {
		r.Domain = j.domain
	}
	if r.CheckedAt.IsZero() {
		r.CheckedAt = m.now()
	}
	var err error
	switch {
	case r.Status == mailcheck.StatusError && !bogus(r):
		err = m.checkError(ctx, j, r)
	case j.pin != nil:
		err = m.comparePin(ctx, *j.pin, r)
	default:
		err = m.compareUnpinned(ctx, j, r)
	}
	if err != nil {
		m.log.Error("monitor: check not recorded", "domain", j.domain, "err", err)
		return
	}
	m.log.Info("monitor: checked", "domain", j.domain, "status", string(r.Status), "pinned", j.pin != nil)
}

// checkError records a check that could not run. It changes no pin: a
// network blip or a resolver restart must not cut a partner off (and a
// suspended one stays suspended until a check shows it fixed); the domain is
// checked again after RetryInterval. The report is kept only when there is no
// earlier complete one, which stays the baseline and what administrators see.
func (m *Monitor) checkError(ctx context.Context, j job, r mailcheck.Report) error {
	if _, err := m.deps.Store.Report(ctx, j.domain); errors.Is(err, trust.ErrNotFound) {
		if err := m.deps.Store.SaveReport(ctx, r); err != nil {
			return err
		}
	}
	if err := m.event(ctx, j.domain, j.orgID, trust.KindCheckError, r.Error); err != nil {
		return err
	}
	return m.reschedule(ctx, j, r.CheckedAt, m.cfg.RetryInterval)
}

// comparePin saves r and suspends or restores the pin. A PKIX pin's domain
// that gained MX hosts outside the pin is reported once: delivery skips them
// until an operator re-pins the domain.
func (m *Monitor) comparePin(ctx context.Context, pin trust.Pin, r mailcheck.Report) error {
	prev, err := m.deps.Store.Report(ctx, pin.Domain)
	if err != nil && !errors.Is(err, trust.ErrNotFound) {
		return err
	}
	if err := m.deps.Store.SaveReport(ctx, r); err != nil {
		return err
	}
	why := violation(pin, r)
	if added := newUnpinned(pin, prev, r); why == "" && len(added) > 0 {
		m.tell(ctx, pin.Domain, pin.OrganisationID, trust.KindDegraded, "new MX hosts that are not pinned: "+
			strings.Join(added, ", ")+"; Veilig delivers only to the pinned ones until an operator re-pins the domain", r)
	}
	suspended := pin.Suspended()
	switch {
	case why != "" && !suspended:
		changed, err := m.deps.Store.Suspend(ctx, pin, why)
		if err != nil {
			return err
		}
		suspended = true
		if changed {
			m.tell(ctx, pin.Domain, pin.OrganisationID, trust.KindSuspended, why, r)
		}
	case why == "" && suspended:
		changed, err := m.deps.Store.Restore(ctx, pin)
		if err != nil {
			return err
		}
		suspended = false
		if changed {
			m.tell(ctx, pin.Domain, pin.OrganisationID, trust.KindRecovered, "", r)
		}
	}
	wait := m.jittered()
	if suspended {
		wait = m.cfg.RetryInterval
	}
	return m.reschedule(ctx, job{domain: pin.Domain, pin: &pin}, r.CheckedAt, wait)
}

// violation says how r falls short of pin, "" when it does not.
func violation(pin trust.Pin, r mailcheck.Report) string {
	switch {
	case bogus(r):
		return "DNSSEC validation fails (bogus) for the domain or one of its MX hosts"
	case pin.Policy == trust.PolicyDANE && !r.Transport.DANE:
		return "pinned to DANE, but DANE no longer verifies for every MX host"
	case pin.Policy == trust.PolicyMTASTS && !r.Transport.DANE && !r.Transport.MTASTSEnforce:
		return "pinned to MTA-STS, but it has neither DANE nor an MTA-STS enforce policy covering every MX host"
	case pin.Policy == trust.PolicyPKIX && len(pin.MXHosts) > 0 && len(r.MXHosts) > 0 && !anyPinned(pin.MXHosts, r.MXHosts):
		return "pinned to the MX hosts " + strings.Join(pin.MXHosts, ", ") + ", none of which is an MX host now (" +
			strings.Join(r.MXHosts, ", ") + "); an operator re-pins the domain after confirming the change"
	}
	return ""
}

// newUnpinned returns the MX hosts of r outside a PKIX pin that the previous
// report did not have yet.
func newUnpinned(pin trust.Pin, prev, r mailcheck.Report) []string {
	if pin.Policy != trust.PolicyPKIX || len(pin.MXHosts) == 0 {
		return nil
	}
	var added []string
	for _, h := range r.MXHosts {
		h = trust.NormaliseDomain(h)
		if !slices.Contains(pin.MXHosts, h) && !anyPinned([]string{h}, prev.MXHosts) {
			added = append(added, h)
		}
	}
	return added
}

// anyPinned reports whether one of the current MX hosts is a pinned one.
func anyPinned(pinned, current []string) bool {
	return slices.ContainsFunc(current, func(h string) bool {
		return slices.Contains(pinned, trust.NormaliseDomain(h))
	})
}

// bogus reports a DNSSEC validation failure: a failed test whose answers
// were bogus (mailcheck rates a test whose lookup failed with
// mailcheck.ErrBogus as a fail that says so, whichever test it is), or a
// check that could not run for that reason. An unsigned zone is not bogus.
func bogus(r mailcheck.Report) bool {
	if r.Status == mailcheck.StatusError && strings.Contains(strings.ToLower(r.Error), "bogus") {
		return true
	}
	return slices.ContainsFunc(r.Tests, func(t mailcheck.Result) bool {
		return t.Status == mailcheck.StatusFail && strings.Contains(strings.ToLower(t.Summary["en"]), "(bogus)")
	})
}

// compareUnpinned saves r and records a "degraded" event when it is worse
// than the previous complete report.
func (m *Monitor) compareUnpinned(ctx context.Context, j job, r mailcheck.Report) error {
	prev, err := m.deps.Store.Report(ctx, j.domain)
	if err != nil && !errors.Is(err, trust.ErrNotFound) {
		return err
	}
	if err := m.deps.Store.SaveReport(ctx, r); err != nil {
		return err
	}
	if why := degradation(prev, r); why != "" && prev.Status != mailcheck.StatusError && prev.Domain != "" {
		m.tell(ctx, j.domain, j.orgID, trust.KindDegraded, why, r)
	}
	return m.reschedule(ctx, j, r.CheckedAt, m.jittered())
}

// degradation says what r lost compared with prev, "" when nothing.
func degradation(prev, r mailcheck.Report) string {
	switch {
	case bogus(r) && !bogus(prev):
		return "DNSSEC validation fails (bogus) for the domain or one of its MX hosts"
	case prev.Transport.DANE && !r.Transport.DANE:
		return "DANE no longer verifies for every MX host"
	case prev.Transport.MTASTSEnforce && !r.Transport.MTASTSEnforce && !r.Transport.DANE:
		return "the MTA-STS enforce policy is gone and there is no DANE"
	}
	return ""
}

// reschedule sets the next check of j after wait from at.
func (m *Monitor) reschedule(ctx context.Context, j job, at time.Time, wait time.Duration) error {
	next := m.now().Add(wait)
	if j.pin != nil {
		return m.deps.Store.Checked(ctx, j.domain, at, next)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.unpinned[j.domain]; ok {
		u.next = next
	}
	return nil
}

// jittered is Interval plus a uniform random offset within ±Jitter.
func (m *Monitor) jittered() time.Duration {
	if m.cfg.Jitter <= 0 {
		return m.cfg.Interval
	}
	return m.cfg.Interval - m.cfg.Jitter + time.Duration(rand.Int64N(int64(2*m.cfg.Jitter)+1))
}

// event records an event; a failure is returned.
func (m *Monitor) event(ctx context.Context, domain, orgID, kind, detail string) error {
	if len(detail) > maxDetail {
		detail = detail[:maxDetail]
	}
	return m.deps.Store.AddEvent(ctx, trust.Event{Domain: domain, OrganisationID: orgID, Kind: kind,
		Detail: detail, CreatedAt: m.now()})
}

// tell records a state change and e-mails the organisation's administrators;
// failures are logged (the state change stands either way).
func (m *Monitor) tell(ctx context.Context, domain, orgID, kind, why string, r mailcheck.Report) {
	if err := m.event(ctx, domain, orgID, kind, why); err != nil {
		m.log.Error("monitor: event not recorded", "domain", domain, "kind", kind, "err", err)
	}
	m.log.Warn("monitor: "+kind, "domain", domain, "organisation", orgID, "reason", why)
	m.record(ctx, domain, orgID, kind, why)
	if m.deps.Admins == nil || m.deps.Mailer == nil || orgID == "" {
		return
	}
	to, err := m.deps.Admins.OrgAdminEmails(ctx, orgID)
	if err != nil || len(to) == 0 {
		m.log.Warn("monitor: no administrators to tell", "domain", domain, "organisation", orgID, "err", err)
		return
	}
	subject, text := mailFor(kind, domain, why, r)
	if err := m.deps.Mailer.SendSystemMail(ctx, outbox.SystemMail{To: to, Subject: subject, Text: text}); err != nil {
		m.log.Error("monitor: administrators not e-mailed", "domain", domain, "err", err)
	}
}

// dueUnpinned returns at most limit domains without a pin whose check is
// due, the longest overdue first, after re-reading the directory when stale.
func (m *Monitor) dueUnpinned(ctx context.Context, now time.Time, limit int) ([]job, error) {
	if m.deps.Directory == nil || limit <= 0 {
		return nil, nil
	}
	if err := m.refresh(ctx, now); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []job
	for name, u := range m.unpinned {
		if !u.next.After(now) {
			due = append(due, job{domain: name, orgID: u.orgID})
		}
	}
	slices.SortFunc(due, func(a, b job) int {
		if c := m.unpinned[a.domain].next.Compare(m.unpinned[b.domain].next); c != 0 {
			return c
		}
		return strings.Compare(a.domain, b.domain)
	})
	if len(due) > limit {
		due = due[:limit]
	}
	for _, j := range due {
		m.unpinned[j.domain].next = now.Add(m.cfg.CheckTimeout) // taken; rescheduled when checked
	}
	return due, nil
}

// refresh re-reads the community's domains without a pin every
// directoryRefresh. A domain seen for the first time is due a jittered
// interval after its last stored report, or now when it has none.
func (m *Monitor) refresh(ctx context.Context, now time.Time) error {
	m.mu.Lock()
	fresh := !m.refreshed.IsZero() && now.Sub(m.refreshed) < directoryRefresh
	m.mu.Unlock()
	if fresh {
		return nil
	}
	domains, err := m.deps.Directory.CommunityDomains(ctx)
	if err != nil {
		return err
	}
	pinned, err := m.deps.Store.PinnedDomains(ctx)
	if err != nil {
		return err
	}
	times, err := m.deps.Store.ReportTimes(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unpinned = m.rebuild(domains, pinned, times, now)
	m.refreshed = now
	return nil
}

func (m *Monitor) rebuild(domains []Domain, pinned []string, times map[string]time.Time, now time.Time) map[string]*unpinned {
	isPinned := make(map[string]bool, len(pinned))
	for _, p := range pinned {
		isPinned[p] = true
	}
	out := make(map[string]*unpinned, len(domains))
	for _, d := range domains {
		name := trust.NormaliseDomain(d.Domain)
		if name == "" || isPinned[name] {
			continue
		}
		if u, ok := m.unpinned[name]; ok {
			u.orgID = d.OrganisationID
			out[name] = u
			continue
		}
		next := now
		if at, ok := times[name]; ok {
			next = at.Add(m.jittered())
		}
		out[name] = &unpinned{orgID: d.OrganisationID, next: next}
	}
	return out
}
