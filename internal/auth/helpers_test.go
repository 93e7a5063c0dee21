package auth

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
)

// testClock is a clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Organisations of the test community.
const (
	orgUtrecht = "11111111-1111-4111-8111-111111111111"
	orgEde     = "22222222-2222-4222-8222-222222222222"
	orgGone    = "33333333-3333-4333-8333-333333333333"
)

// testOrganisations finds organisations by domain; gone.example belongs to an
// organisation that has left the community.
var testOrganisations = MockOrganisations{
	"utrecht.example": orgUtrecht,
	"ede.example":     orgEde,
	"gone.example":    orgGone,
}

// fastArgon2 keeps tests quick; the defaults are tested on their own.
var fastArgon2 = Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func testConfig() Config {
	return Config{Issuer: "https://veilig.example.test", Audience: "https://veilig.example.test/api",
		Argon2: fastArgon2}
}

// seedOrganisations writes the organisations the users reference.
func seedOrganisations(t testing.TB, db *database.DB) {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, o := range []struct{ id, domain, status string }{
		{orgUtrecht, "utrecht.example", "active"},
		{orgEde, "ede.example", "active"},
		{orgGone, "gone.example", "removed"},
	} {
		err := db.Exec("INSERT INTO organisations (id, source_id, name, status, created_at, updated_at) "+
			"VALUES (?, ?, ?, ?, ?, ?)", o.id, "src-"+o.id, o.domain, o.status, now, now).Error
		if err == nil {
			err = db.Exec("INSERT INTO domains (name, organisation_id) VALUES (?, ?)", o.domain, o.id).Error
		}
		if err != nil {
			t.Fatalf("seed organisation: %v", err)
		}
	}
}

type env struct {
	db    *database.DB
	clock *testClock
	svc   *Service
	logs  *syncBuffer
}

// newEnv returns a service on a seeded database with a fixed clock. ldap may be nil.
func newEnv(t testing.TB, db *database.DB, cfg Config, ldap PasswordVerifier) *env {
	t.Helper()
	seedOrganisations(t, db)
	e := &env{db: db, clock: newClock(), logs: &syncBuffer{}}
	e.svc = e.service(t, cfg, ldap)
	return e
}

// service starts another service (another process) on the same database and clock.
func (e *env) service(t testing.TB, cfg Config, ldap PasswordVerifier) *Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := New(context.Background(), cfg, Deps{DB: e.db.DB, Organisations: testOrganisations,
		LDAP: ldap, Log: log, Now: e.clock.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	})
	return svc
}

func (e *env) createUser(t testing.TB, email string, role Role, password string) User {
	t.Helper()
	u, err := e.svc.Users().Create(context.Background(), NewUser{Email: email, Role: role, Password: password})
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

// syncBuffer is a bytes.Buffer safe for concurrent loggers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
