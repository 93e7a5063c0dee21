package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"

	"github.com/veilig/veilig/migrations"
)

// ErrNotMigrated reports a database whose schema is behind this binary.
var ErrNotMigrated = errors.New("database: migrations pending")

func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations.FS, db.Dialect)
	if err != nil {
		return nil, fmt.Errorf("database: migrations for %s: %w", db.Dialect, err)
	}
	sqlDB, err := db.DB.DB()
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectPostgres
	if db.Dialect == SQLite {
		dialect = goose.DialectSQLite3
	}
	p, err := goose.NewProvider(dialect, sqlDB, sub)
	if err != nil {
		return nil, fmt.Errorf("database: migration provider: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration. On PostgreSQL goose takes an advisory
// lock, so several processes starting at once apply each migration once.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("database: migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// CheckMigrated returns ErrNotMigrated when migrations are pending.
func (db *DB) CheckMigrated(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("database: migration status: %w", err)
	}
	if pending {
		return ErrNotMigrated
	}
	return nil
}
