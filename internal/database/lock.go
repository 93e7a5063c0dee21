package database

import (
	"context"
	"fmt"
)

// Lock keys for TryLock; one per kind of singleton work.
const (
	LockDirectorySync int64 = 0x7665696c69670001 // "veilig" + 1
	LockMonitor       int64 = 0x7665696c69670007 // one monitoring pass at a time
	LockAuditPurge    int64 = 0x7665696c69670008 // one audit retention purge at a time
)

// TryLock runs fn while holding a cluster-wide lock named by key, so that of
// several serve processes on one PostgreSQL only one does the work (a session-level
// advisory lock, released when fn returns or the connection dies). It reports
// false, without running fn, when another process holds the lock. SQLite serves
// one process, whose write transactions already serialise: fn simply runs.
func (db *DB) TryLock(ctx context.Context, key int64, fn func(ctx context.Context) error) (bool, error) {
	if db.Dialect != Postgres {
		return true, fn(ctx)
	}
	sqlDB, err := db.DB.DB()
	if err != nil {
		return false, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("database: lock connection: %w", err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, fmt.Errorf("database: try lock: %w", err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		// A fresh context: the caller's may be cancelled, and the unlock must run.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5e9)
		defer cancel()
		_, _ = conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", key)
	}()
	return true, fn(ctx)
}
