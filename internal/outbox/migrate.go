package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river/rivermigrate"

	"github.com/veilig/veilig/internal/database"
)

// migrateLock serialises River migrations of processes starting together on one
// PostgreSQL ("veilig" + 3; River's migrator takes no lock of its own).
const migrateLock int64 = 0x7665696c69670003

// migrateTimeout bounds applying River's migrations.
const migrateTimeout = 5 * time.Minute

// Migrate creates or upgrades River's tables (river_job, river_leader, …) with
// River's own migrator for the dialect of db; each River version is applied in
// its own transaction (some PostgreSQL steps cannot share one). On PostgreSQL a
// session advisory lock makes processes starting together take turns. Call it
// right after database.Migrate.
func Migrate(ctx context.Context, db *database.DB) error {
	drv, err := driver(db)
	if err != nil {
		return err
	}
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("outbox: river migrator: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	unlock, err := lockMigrations(ctx, db)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("outbox: migrate river: %w", err)
	}
	return nil
}

// lockMigrations holds a PostgreSQL advisory lock on a connection of its own
// until unlock is called; SQLite serves one process and needs none.
func lockMigrations(ctx context.Context, db *database.DB) (unlock func(), err error) {
	if db.Dialect != database.Postgres {
		return func() {}, nil
	}
	sqlDB, err := db.SQL()
	if err != nil {
		return nil, fmt.Errorf("outbox: database pool: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox: lock connection: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		conn.Close()
		return nil, fmt.Errorf("outbox: lock river migration: %w", err)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", migrateLock)
		conn.Close()
	}, nil
}
