// Package testenv gives tests real engines: a fresh migrated SQLite file and a fresh
// migrated PostgreSQL database per test (the PostgreSQL server itself is started by
// scripts/test.sh, which exports VEILIG_TEST_POSTGRES_URL), and a throwaway OpenLDAP
// slapd per test. Outside CI a missing engine skips the test; in CI (CI=true) it
// fails it, so a real-service test can never pass by being skipped.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
)

// PostgresEnv names the variable holding an admin URL of a throwaway PostgreSQL.
const PostgresEnv = "VEILIG_TEST_POSTGRES_URL"

// Missing skips the test outside CI and fails it in CI.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (run the tests through `make test`)", what)
	}
	t.Skipf("%s not available; run `make test` to start it", what)
}

// Logger returns a logger that writes to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// Discard is a logger that drops everything (benchmarks).
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Dialects lists the engines every database test runs on.
var Dialects = []string{database.SQLite, database.Postgres}

// DB returns a migrated database of the given dialect that lives for the test.
func DB(t testing.TB, dialect string) *database.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := filepath.Join(t.TempDir(), "veilig.db")
	if dialect == database.Postgres {
		dsn = postgresDatabase(t, ctx)
	}
	db, err := database.Open(ctx, dsn, Discard())
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx, Discard()); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}

// ForEachDB runs fn as a subtest on a fresh database of every dialect.
func ForEachDB(t *testing.T, fn func(t *testing.T, db *database.DB)) {
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) { fn(t, DB(t, d)) })
	}
}

// postgresDatabase creates a database on the test server, drops it at cleanup and
// returns its URL.
func postgresDatabase(t testing.TB, ctx context.Context) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		Missing(t, "PostgreSQL ("+PostgresEnv+")")
	}
	name := "t_" + randomHex(8)
	adb, err := database.Open(ctx, admin, Discard())
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	if err := adb.WithContext(ctx).Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = adb.WithContext(ctx).Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error
		_ = adb.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
