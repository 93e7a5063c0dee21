package database_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestMigrateIsIdempotentAndCurrent(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		if err := db.CheckMigrated(ctx); err != nil {
			t.Fatalf("CheckMigrated after Migrate: %v", err)
		}
		if err := db.Migrate(ctx, testenv.Discard()); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		var gen int64
		if err := db.Raw("SELECT generation FROM directory_meta WHERE id = 1").Scan(&gen).Error; err != nil {
			t.Fatalf("schema missing: %v", err)
		}
	})
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	for _, u := range []string{"", "mysql://user:secret@host/db", "redis://x"} {
		_, err := database.Open(context.Background(), u, testenv.Discard())
		if err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}

// TestMigrationsRollBack: every down migration runs and the schema comes back
// up the same, on both engines (a rollback is part of a failed upgrade).
func TestMigrationsRollBack(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		if err := db.Exec("INSERT INTO monitor_events (domain, kind, created_at) VALUES ('a.test', 'repinned', ?)",
			time.Now()).Error; err != nil {
			t.Fatalf("a repinned event: %v", err)
		}
		before := schema(t, db)
		if err := db.DownTo(ctx, 0); err != nil {
			t.Fatalf("down: %v", err)
		}
		if left := schema(t, db); len(left) > 1 { // goose's own version table stays
			t.Errorf("tables left after rolling everything back: %v", slices.Collect(maps.Keys(left)))
		}
		if err := db.Migrate(ctx, testenv.Discard()); err != nil {
			t.Fatalf("up again: %v", err)
		}
		if err := db.CheckMigrated(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, schema(t, db)); diff != "" {
			t.Errorf("schema after down and up (-before +after):\n%s", diff)
		}
	})
}

// schema is every table's columns and their database types, as the driver
// reports them.
func schema(t *testing.T, db *database.DB) map[string][]string {
	t.Helper()
	tables, err := db.Migrator().GetTables()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, table := range tables {
		if strings.HasPrefix(table, "sqlite_") { // SQLite's own (AUTOINCREMENT counters)
			continue
		}
		cols, err := db.Migrator().ColumnTypes(table)
		if err != nil {
			t.Fatalf("columns of %s: %v", table, err)
		}
		for _, c := range cols {
			out[table] = append(out[table], c.Name()+" "+c.DatabaseTypeName())
		}
	}
	return out
}
