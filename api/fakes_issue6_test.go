package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/message"
)

// Fakes of the issue-6 services: plain data behind a mutex; every mutation is
// recorded, so tests can assert that a refused call changed nothing.

const (
	enrolID    = "0b1c6a0e-0f33-4a8e-9d1e-6a3b7b1e2c01"
	enrolToken = "st_7Yc2kQ9vLr4pXs8Zt1Bn6Mw3Hd5Fg0Ja"
)

var checked = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func passReport(domain string) mailcheck.Report {
	return mailcheck.Report{Domain: domain, CheckedAt: checked, Status: mailcheck.StatusPass,
		Tests: []mailcheck.Result{{Test: "mx", Status: mailcheck.StatusPass,
			Summary: map[string]string{"nl": "MX in orde", "en": "MX fine"}}},
		MXHosts:   []string{"mx1." + domain},
		Transport: mailcheck.Transport{DNSSEC: true, DANE: true, Policy: mailcheck.PolicyDANE}}
}

// fakeEnrolments holds one enrolment; its domains steer the error paths of Create.
type fakeEnrolments struct {
	mu    sync.Mutex
	e     api.Enrolment
	calls []string
}

func newFakeEnrolments() *fakeEnrolments {
	now := checked
	return &fakeEnrolments{e: api.Enrolment{ID: enrolID, Status: "pending", OrganisationName: "Waterschap Vallei",
		KvK: "12345678", AdminName: "Ada de Wit", AdminEmail: "ada@vallei.example", AdminPhone: "+31612345678",
		Domains: []api.EnrolmentDomain{{Name: "vallei.example", Challenge: api.Challenge{Domain: "vallei.example",
			Name: "_veilig-challenge.vallei.example", Value: "v1-abc"}}},
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(14 * 24 * time.Hour)}}
}

func (f *fakeEnrolments) record(s string) { f.calls = append(f.calls, s) }

func (f *fakeEnrolments) Create(_ context.Context, n api.NewEnrolment, ip string) (api.EnrolmentCreated, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create " + strings.Join(n.Domains, ",") + " " + ip)
	switch n.Domains[0] {
	case "taken.example":
		return api.EnrolmentCreated{}, fmt.Errorf("enrolment: %w (held by Gemeente Geheim)", api.ErrDomainTaken)
	case "busy.example":
		return api.EnrolmentCreated{}, &api.RateLimitError{RetryAfter: 90 * time.Second}
	case "refused.example":
		return api.EnrolmentCreated{}, &api.ValidationError{Fields: []api.FieldProblem{{Field: "domains", Detail: "reserved"}}}
	}
	var ch []api.Challenge
	for _, d := range n.Domains {
		ch = append(ch, api.Challenge{Domain: d, Name: "_veilig-challenge." + d, Value: "v1-" + d})
	}
	return api.EnrolmentCreated{ID: enrolID, StatusToken: enrolToken, Challenges: ch}, nil
}

func (f *fakeEnrolments) check(id, token string) error {
	switch {
	case id != enrolID:
		return fmt.Errorf("enrolment: %w", api.ErrNotFound)
	case token != enrolToken:
		return fmt.Errorf("enrolment: %w", api.ErrUnauthorized)
	}
	return nil
}

func (f *fakeEnrolments) Get(_ context.Context, id, token string) (api.Enrolment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.e, f.check(id, token)
}

func (f *fakeEnrolments) Verify(_ context.Context, id, token string) (api.Enrolment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(id, token); err != nil {
		return api.Enrolment{}, err
	}
	f.record("verify")
	if f.e.Status != "pending" {
		return api.Enrolment{}, fmt.Errorf("enrolment: %w", api.ErrConflict)
	}
	r := passReport("vallei.example")
	f.e.Status, f.e.Domains[0].VerifiedAt, f.e.Domains[0].Report = "verified", &checked, &r
	return f.e, nil
}

func (f *fakeEnrolments) Activate(_ context.Context, id, token, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(id, token); err != nil {
		return err
	}
	if f.e.Status != "approved" {
		return fmt.Errorf("enrolment: %w", api.ErrConflict)
	}
	if len(password) < auth.MinPasswordLength {
		return fmt.Errorf("enrolment: %w", auth.ErrPasswordTooShort)
	}
	f.record("activate")
	return nil
}

func (f *fakeEnrolments) List(_ context.Context, status string, limit, offset int) ([]api.Enrolment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(fmt.Sprintf("list %q %d %d", status, limit, offset))
	if status != "" && status != f.e.Status {
		return nil, nil
	}
	return []api.Enrolment{f.e}, nil
}

func (f *fakeEnrolments) Inspect(_ context.Context, id string) (api.Enrolment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != enrolID {
		return api.Enrolment{}, fmt.Errorf("enrolment: %w", api.ErrNotFound)
	}
	return f.e, nil
}

func (f *fakeEnrolments) Approve(_ context.Context, id, op string) (api.Enrolment, error) {
	return f.decide(id, op, "approved", "")
}

func (f *fakeEnrolments) Reject(_ context.Context, id, op, reason string) (api.Enrolment, error) {
	return f.decide(id, op, "rejected", reason)
}

func (f *fakeEnrolments) decide(id, op, status, reason string) (api.Enrolment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != enrolID {
		return api.Enrolment{}, fmt.Errorf("enrolment: %w", api.ErrNotFound)
	}
	if f.e.Status != "verified" {
		return api.Enrolment{}, fmt.Errorf("enrolment: %w", api.ErrConflict)
	}
	f.record(status + " by " + op)
	f.e.Status, f.e.DecidedAt, f.e.DecidedBy, f.e.DecisionReason = status, &checked, op, reason
	if status == "approved" {
		f.e.OrganisationID = "org-vallei"
	}
	return f.e, nil
}

func (f *fakeEnrolments) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeUsers are the accounts of the seeded organisations, by id.
type fakeUsers struct {
	mu      sync.Mutex
	users   map[string]auth.User
	invites map[string]string // token → user id
	changes []string
}

func newFakeUsers(orgA, orgB string) *fakeUsers {
	f := &fakeUsers{users: map[string]auth.User{}, invites: map[string]string{"inv_0123456789abcdef": "uA2"}}
	for _, u := range []auth.User{
		{ID: "uA1", Email: "piet@ede.example", Role: auth.RoleSender, OrganisationID: orgA},
		{ID: "uA2", Email: "nieuw@ede.example", Role: auth.RoleSender, OrganisationID: orgA},
		{ID: "uB1", Email: "kees@utrecht.example", Role: auth.RoleSender, OrganisationID: orgB},
	} {
		u.CreatedAt = checked
		f.users[u.ID] = u
	}
	return f
}

func (f *fakeUsers) ListOrganisation(_ context.Context, orgID string) ([]auth.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []auth.User
	for _, u := range f.users {
		if u.OrganisationID == orgID {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b auth.User) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeUsers) Invite(_ context.Context, orgID, email string, role auth.Role) (auth.User, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.Email == email {
			return auth.User{}, "", auth.ErrUserExists
		}
	}
	if !strings.Contains(email, "@") {
		return auth.User{}, "", fmt.Errorf("invite: %w", auth.ErrInvalidEmail)
	}
	u := auth.User{ID: fmt.Sprintf("u%d", len(f.users)+1), Email: email, Role: role, OrganisationID: orgID, CreatedAt: checked}
	f.users[u.ID] = u
	f.changes = append(f.changes, "invite "+orgID+" "+email)
	return u, "inv_secret", nil
}

func (f *fakeUsers) DisableInOrganisation(_ context.Context, orgID, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[userID]
	if !ok || u.OrganisationID != orgID {
		return fmt.Errorf("disable: %w", auth.ErrUserNotFound)
	}
	u.Disabled = true
	f.users[userID] = u
	f.changes = append(f.changes, "disable "+userID)
	return nil
}

func (f *fakeUsers) AcceptInvitation(_ context.Context, token, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.invites[token]
	if !ok {
		return fmt.Errorf("accept: %w", auth.ErrInvalidToken)
	}
	if len(password) < auth.MinPasswordLength {
		return auth.ErrPasswordTooShort
	}
	delete(f.invites, token)
	f.changes = append(f.changes, "accept "+id)
	return nil
}

func (f *fakeUsers) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

// fakeKeys keeps API keys; the owner must be a user of the same organisation.
type fakeKeys struct {
	mu      sync.Mutex
	users   *fakeUsers
	keys    map[string]auth.APIKey
	changes []string
}

func newFakeKeys(users *fakeUsers, orgA, orgB string) *fakeKeys {
	return &fakeKeys{users: users, keys: map[string]auth.APIKey{
		"kA1": {ID: "kA1", OrganisationID: orgA, UserID: "uA1", Name: "zaaksysteem", Scopes: []string{auth.ScopeMessagesSend}, CreatedAt: checked},
		"kB1": {ID: "kB1", OrganisationID: orgB, UserID: "uB1", Name: "crm", Scopes: []string{auth.ScopeMessagesRead}, CreatedAt: checked},
	}}
}

func (f *fakeKeys) Create(_ context.Context, orgID, userID, name string, scopes []string) (auth.APIKey, string, error) {
	f.users.mu.Lock()
	u, ok := f.users.users[userID]
	f.users.mu.Unlock()
	if !ok || u.OrganisationID != orgID {
		return auth.APIKey{}, "", fmt.Errorf("api key: %w", auth.ErrUserNotFound)
	}
	if u.Disabled { // as auth.APIKeys.Create
		return auth.APIKey{}, "", auth.ErrUserDisabled
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := auth.APIKey{ID: fmt.Sprintf("k%d", len(f.keys)+1), OrganisationID: orgID, UserID: userID, Name: name,
		Scopes: scopes, CreatedAt: checked}
	f.keys[k.ID] = k
	f.changes = append(f.changes, "create "+orgID+" "+userID)
	return k, "vk_secret", nil
}

func (f *fakeKeys) List(_ context.Context, orgID string) ([]auth.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []auth.APIKey
	for _, k := range f.keys {
		if k.OrganisationID == orgID {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b auth.APIKey) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeKeys) Revoke(_ context.Context, orgID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	if !ok || k.OrganisationID != orgID {
		return fmt.Errorf("revoke: %w", auth.ErrNotFound)
	}
	k.RevokedAt = &checked
	f.keys[id] = k
	f.changes = append(f.changes, "revoke "+id)
	return nil
}

func (f *fakeKeys) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

// fakeReports has a report for every domain but ede.example's second one.
type fakeReports struct{ have map[string]bool }

func (f fakeReports) Report(_ context.Context, domain string) (mailcheck.Report, error) {
	if !f.have[domain] {
		return mailcheck.Report{}, fmt.Errorf("trust: %w", api.ErrNotFound)
	}
	return passReport(domain), nil
}

type fakeEvents struct{ since []time.Time }

func (f *fakeEvents) Events(_ context.Context, since time.Time, limit int) ([]api.MonitorEvent, error) {
	f.since = append(f.since, since)
	return []api.MonitorEvent{{ID: 7, Domain: "vallei.example", OrganisationID: "org-vallei", Kind: "suspended",
		Detail: "DANE: TLSA mismatch", CreatedAt: checked}}, nil
}

// fakePins re-pins vallei.example; weg.example has no pin, zwak.example is
// weaker than its pin (unless accepted), stuk.example cannot be checked.
type fakePins struct{ calls []string }

func (f *fakePins) Repin(_ context.Context, domain string, acceptWeaker bool) (api.DomainPin, mailcheck.Report, error) {
	f.calls = append(f.calls, fmt.Sprintf("%s %v", domain, acceptWeaker))
	r := mailcheck.Report{Domain: domain, Status: mailcheck.StatusPass, CheckedAt: checked, Tests: []mailcheck.Result{},
		MXHosts: []string{"mx3." + domain}, Transport: mailcheck.Transport{Policy: "mta-sts", MTASTSEnforce: true}}
	switch {
	case domain == "weg.example":
		return api.DomainPin{}, mailcheck.Report{}, fmt.Errorf("%w: monitor: no pin", api.ErrNotFound)
	case domain == "stuk.example":
		return api.DomainPin{}, mailcheck.Report{}, fmt.Errorf("%w: monitor: resolver 10.0.0.53 timed out", api.ErrCheckIncomplete)
	case domain == "zwak.example" && !acceptWeaker:
		return api.DomainPin{}, r, fmt.Errorf("%w: monitor", &api.PinWeakerError{Reason: "the domain offers mta-sts and is pinned to dane"})
	}
	return api.DomainPin{Domain: domain, OrganisationID: "org-vallei", Policy: "mta-sts", MXHosts: r.MXHosts,
		State: "trusted", NextCheckAt: checked.Add(24 * time.Hour)}, r, nil
}

// keyVerifier answers fixed API-key principals and leaves JWTs to auth.
type keyVerifier struct {
	api.TokenVerifier
	keys map[string]auth.Principal
}

func (v keyVerifier) Verify(ctx context.Context, token string) (auth.Principal, error) {
	if p, ok := v.keys[token]; ok {
		return p, nil
	}
	return v.TokenVerifier.Verify(ctx, token)
}

// issue6 is the full set of issue-6 fakes wired into an env.
type issue6 struct {
	pins    *fakePins
	enrol   *fakeEnrolments
	users   *fakeUsers
	keys    *fakeKeys
	events  *fakeEvents
	orgA    string // Gemeente Ede (beheer@ede.example administers it)
	orgB    string // Gemeente Utrecht (beheer@utrecht.example)
	apiKeys map[string]auth.Principal
}

func newIssue6() *issue6 {
	a, b := directory.OrganisationID("o2"), directory.OrganisationID("o1")
	users := newFakeUsers(a, b)
	x := &issue6{pins: &fakePins{}, enrol: newFakeEnrolments(), users: users, keys: newFakeKeys(users, a, b), events: &fakeEvents{},
		orgA: a, orgB: b, apiKeys: map[string]auth.Principal{}}
	for _, set := range [][]string{{auth.ScopeMessagesSend}, {auth.ScopeMessagesRead}, {auth.ScopeDirectoryRead},
		{auth.ScopeMessagesSend, auth.ScopeMessagesRead, auth.ScopeDirectoryRead}} {
		x.apiKeys["vk_"+strings.Join(set, "+")] = auth.Principal{UserID: "uA1", Email: "piet@ede.example",
			OrganisationID: a, Role: auth.RoleSender, Scopes: set, APIKeyID: "kA1"}
	}
	return x
}

func (x *issue6) option(db *database.DB) envOption {
	return func(o *api.Options, d *api.Deps) {
		o.SPFInclude = "_spf.veilig.example"
		d.Organisations = directory.NewStore(db.DB, time.Now)
		d.DKIM, d.Settings = &fakeDKIM{}, message.NewStore(db, time.Now, nil)
		d.Enrolments, d.Users, d.APIKeys, d.Events, d.Pins = x.enrol, x.users, x.keys, x.events, x.pins
		d.Reports = fakeReports{have: map[string]bool{"ede.example": true, "utrecht.example": true}}
		d.Tokens = keyVerifier{TokenVerifier: d.Tokens, keys: x.apiKeys}
	}
}
