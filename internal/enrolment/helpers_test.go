package enrolment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/outbox"
	"github.com/veilig/veilig/internal/testenv"
)

// fakeResolver answers TXT questions from plain data.
type fakeResolver struct {
	mu  sync.Mutex
	txt map[string][]string
}

func (r *fakeResolver) TXT(_ context.Context, name string) ([]string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs, ok := r.txt[name]
	if !ok {
		return nil, false, fmt.Errorf("%w: %s", mailcheck.ErrNXDomain, name)
	}
	return recs, true, nil
}

func (r *fakeResolver) publish(c Challenge) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.txt[c.Name] = append(r.txt[c.Name], c.Value)
}

// fakeChecker returns the configured report of a domain (a passing one by default).
type fakeChecker struct {
	mu      sync.Mutex
	reports map[string]mailcheck.Report
	checked []string
	// entered, when set, receives each domain as its check starts; the check
	// then waits for gate to close.
	entered chan string
	gate    chan struct{}
}

func (c *fakeChecker) Report(ctx context.Context, domain string) mailcheck.Report {
	if c.entered != nil {
		c.entered <- domain
		select {
		case <-c.gate:
		case <-ctx.Done():
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked = append(c.checked, domain)
	r, ok := c.reports[domain]
	if !ok {
		r = goodReport()
	}
	r.Domain = domain
	return r
}

func goodReport() mailcheck.Report {
	return mailcheck.Report{
		Status:    mailcheck.StatusPass,
		MXHosts:   []string{"mx1.example.test", "mx2.example.test"},
		Transport: mailcheck.Transport{DNSSEC: true, DANE: true, Policy: mailcheck.PolicyDANE},
		Tests:     []mailcheck.Result{{Test: mailcheck.TestDMARC, Status: mailcheck.StatusPass}},
	}
}

func weakReport() mailcheck.Report {
	return mailcheck.Report{
		Status:    mailcheck.StatusWarning,
		MXHosts:   []string{"mx.weak.test"},
		Transport: mailcheck.Transport{Policy: mailcheck.PolicyPKIX},
		Tests:     []mailcheck.Result{{Test: mailcheck.TestDMARC, Status: mailcheck.StatusFail}},
	}
}

// fakeDirectory holds organisations in a map and writes their rows, so the
// enrolments' foreign key holds.
type fakeDirectory struct {
	db      *database.DB
	mu      sync.Mutex
	taken   map[string]bool
	orgs    map[string]directory.Organisation
	adds    int
	addFail error
}

func (d *fakeDirectory) DomainTaken(_ context.Context, domain string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.taken[domain], nil
}

func (d *fakeDirectory) AddEnrolledOrganisation(ctx context.Context, o directory.Organisation) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.adds++
	if d.addFail != nil {
		return "", d.addFail
	}
	for _, dom := range o.Domains {
		if d.taken[dom] {
			return "", directory.ErrDomainTaken
		}
	}
	now := time.Now().UTC()
	err := d.db.WithContext(ctx).Exec(`INSERT INTO organisations (id, source_id, name, kvk, oin, status, origin, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 'active', 'enrolment', ?, ?)`, o.ID, o.SourceID, o.Name, o.KvK, o.OIN, now, now).Error
	if err != nil {
		return "", err
	}
	for _, dom := range o.Domains {
		d.taken[dom] = true
	}
	d.orgs[o.ID] = o
	return o.ID, nil
}

func (d *fakeDirectory) Organisation(_ context.Context, id string) (directory.Organisation, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.orgs[id]
	if !ok {
		return o, directory.ErrNotFound
	}
	return o, nil
}

// fakeAccounts records org admins and passwords.
type fakeAccounts struct {
	mu         sync.Mutex
	admins     map[string]string // orgID|email → user id
	passwords  map[string]string // user id → password
	creates    int
	createFail error
}

func (a *fakeAccounts) CreateOrgAdmin(_ context.Context, orgID, email string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.creates++
	if a.createFail != nil {
		return "", a.createFail
	}
	id := fmt.Sprintf("user-%d", len(a.admins)+1)
	a.admins[orgID+"|"+email] = id
	return id, nil
}

func (a *fakeAccounts) OrgAdmin(_ context.Context, orgID, email string) (string, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.admins[orgID+"|"+email]
	return id, ok, nil
}

func (a *fakeAccounts) SetPassword(_ context.Context, userID, password string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(password) < 12 {
		return errors.New("fake: password too short")
	}
	a.passwords[userID] = password
	return nil
}

type pinCall struct {
	Domain, OrgID, Policy string
	MXHosts               []string
}

var errNoReport = errors.New("fake: no report")

// fakeTrust keeps reports and pins in maps.
type fakeTrust struct {
	mu      sync.Mutex
	reports map[string]mailcheck.Report
	pins    map[string]pinCall
}

func (t *fakeTrust) PutPin(_ context.Context, domain, orgID, policy string, mx []string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pins[domain] = pinCall{domain, orgID, policy, mx}
	return nil
}

func (t *fakeTrust) SaveReport(_ context.Context, r mailcheck.Report) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reports[r.Domain] = r
	return nil
}

func (t *fakeTrust) Report(_ context.Context, domain string) (mailcheck.Report, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.reports[domain]
	if !ok {
		return r, errNoReport
	}
	return r, nil
}

type fakeMailer struct {
	mu   sync.Mutex
	sent []outbox.SystemMail
}

func (m *fakeMailer) SendSystemMail(_ context.Context, sm outbox.SystemMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, sm)
	return nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a service on a real database with fakes around it.
type env struct {
	svc      *Service
	db       *database.DB
	clock    *clock
	resolver *fakeResolver
	checker  *fakeChecker
	dir      *fakeDirectory
	accounts *fakeAccounts
	trust    *fakeTrust
	mailer   *fakeMailer
}

func newEnv(t *testing.T, db *database.DB, cfg Config) *env {
	t.Helper()
	e := &env{
		db:       db,
		clock:    &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		resolver: &fakeResolver{txt: map[string][]string{}},
		checker:  &fakeChecker{reports: map[string]mailcheck.Report{}},
		dir:      &fakeDirectory{db: db, taken: map[string]bool{}, orgs: map[string]directory.Organisation{}},
		accounts: &fakeAccounts{admins: map[string]string{}, passwords: map[string]string{}},
		trust:    &fakeTrust{reports: map[string]mailcheck.Report{}, pins: map[string]pinCall{}},
		mailer:   &fakeMailer{},
	}
	if cfg.ClientSalt == nil {
		cfg.ClientSalt = []byte("0123456789abcdef-test-salt")
	}
	svc, err := New(cfg, Deps{DB: db, Resolver: e.resolver, Checker: e.checker, Directory: e.dir,
		Accounts: e.accounts, Trust: e.trust, Mailer: e.mailer, Log: testenv.Logger(t), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

// valid returns a valid enrolment claiming domains (the admin at the first).
func valid(domains ...string) NewEnrolment {
	return NewEnrolment{
		OrganisationName: "Gemeente Voorbeeld", KvK: "12345678", Domains: domains,
		AdminName: "An Beheer", AdminEmail: "an@" + domains[0], AdminPhone: "+31612345678",
	}
}

func (e *env) create(t *testing.T, n NewEnrolment, ip string) Created {
	t.Helper()
	c, err := e.svc.Create(context.Background(), n, ip)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return c
}

// verified creates an enrolment, publishes every challenge and verifies it.
func (e *env) verified(t *testing.T, domains ...string) Created {
	t.Helper()
	c := e.create(t, valid(domains...), "192.0.2.1")
	for _, ch := range c.Challenges {
		e.resolver.publish(ch)
	}
	e.clock.Advance(time.Minute)
	got, err := e.svc.Verify(context.Background(), c.ID, c.StatusToken)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Status != StatusVerified && got.Status != StatusApproved {
		t.Fatalf("status after verification = %q", got.Status)
	}
	return c
}

func (e *env) status(t *testing.T, id string) string {
	t.Helper()
	got, err := e.svc.Inspect(context.Background(), id)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return got.Status
}

func fieldNames(err error) []string {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	slices.Sort(out)
	return out
}
