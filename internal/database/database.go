// Package database opens Veilig's database — PostgreSQL in production, an embedded
// pure-Go SQLite file by default — through gorm, and applies the versioned SQL
// migrations embedded from the migrations package with goose.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/veilig/veilig/internal/redact"
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// ErrBadURL reports a database URL that names no supported engine.
var ErrBadURL = errors.New("database: unsupported database URL")

// DB is an open database and the dialect behind it.
type DB struct {
	*gorm.DB
	Dialect string
}

// Open connects to the database named by rawURL: "postgres://…" or
// "postgresql://…" selects PostgreSQL; "sqlite:PATH", "file:PATH" or a bare path
// selects SQLite (WAL, foreign keys on, busy timeout).
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*DB, error) {
	cfg := &gorm.Config{Logger: logger.Discard, TranslateError: true, PrepareStmt: false}
	var (
		g       *gorm.DB
		dialect string
		err     error
	)
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		dialect = Postgres
		g, err = gorm.Open(postgres.Open(rawURL), cfg)
	case rawURL != "" && !strings.Contains(strings.SplitN(rawURL, "?", 2)[0], "://"):
		dialect = SQLite
		var dsn string
		if dsn, err = sqliteDSN(rawURL); err == nil {
			g, err = gorm.Open(sqlite.Open(dsn), cfg)
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrBadURL, redact.URL(rawURL))
	}
	if err != nil {
		return nil, fmt.Errorf("database: open %s: %w", dialect, err)
	}
	db := &DB{DB: g, Dialect: dialect}
	if err := db.configurePool(ctx); err != nil {
		return nil, err
	}
	log.Info("database opened", "dialect", dialect, "url", redact.URL(rawURL))
	return db, nil
}

func (db *DB) configurePool(ctx context.Context) error {
	sqlDB, err := db.DB.DB()
	if err != nil {
		return fmt.Errorf("database: pool: %w", err)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	// Keep as many idle connections as open ones: a new PostgreSQL session costs
	// a fork and cold statement parsing (measured: most of the database's CPU
	// under delivery load with Go's default of two idle connections).
	maxConns := 20
	if db.Dialect == SQLite {
		maxConns = 8 // WAL gives concurrent readers; writers queue on busy_timeout
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("database: ping %s: %w", db.Dialect, err)
	}
	return nil
}

// sqliteDSN turns "sqlite:PATH", "file:PATH" or "PATH" into a DSN with the pragmas
// Veilig relies on, creating the parent directory.
func sqliteDSN(raw string) (string, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "file:")
	path, query, _ := strings.Cut(path, "?")
	if path == "" {
		return "", fmt.Errorf("%w: empty SQLite path", ErrBadURL)
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("database: create directory for %s: %w", path, err)
		}
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	for _, p := range []string{"busy_timeout(30000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		v.Add("_pragma", p)
	}
	v.Set("_txlock", "immediate")
	return "file:" + path + "?" + v.Encode(), nil
}

// SQL returns the underlying pool.
func (db *DB) SQL() (*sql.DB, error) { return db.DB.DB() }

// Close closes the pool.
func (db *DB) Close() error {
	sqlDB, err := db.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks the database answers within the context's deadline.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}
