package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

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
	dialect, opts := goose.DialectSQLite3, []goose.ProviderOption(nil)
	if db.Dialect == Postgres {
		// A session advisory lock: several processes starting at once apply
		// each migration exactly once.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("database: migration lock: %w", err)
		}
		dialect, opts = goose.DialectPostgres, []goose.ProviderOption{goose.WithSessionLocker(locker)}
	}
	p, err := goose.NewProvider(dialect, sqlDB, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("database: migration provider: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration. On PostgreSQL it holds a session
// advisory lock meanwhile, so several processes starting at once are safe.
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
