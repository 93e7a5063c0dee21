package security

// Database snapshots: "nothing changed" is asserted as equal row counts of
// every domain table, and the canary search reads every column of every row.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
)

// volatile tables change on their own (job queue bookkeeping, rate-limit
// counters, sessions pruned by time) and are not part of "nothing changed".
var volatile = []string{"river_", "goose_", "rate_limit", "ratelimit", "sqlite_"}

func tables(t *testing.T, db *database.DB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
	if db.Dialect == database.Postgres {
		q = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
	}
	var names []string
	if err := db.WithContext(ctx).Raw(q).Scan(&names).Error; err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return names
}

func isVolatile(name string) bool {
	for _, p := range volatile {
		if strings.HasPrefix(name, p) || strings.Contains(name, p) {
			return true
		}
	}
	return false
}

// rowCounts counts the rows of every non-volatile table.
func rowCounts(t *testing.T, db *database.DB) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]int64{}
	for _, name := range tables(t, db) {
		if isVolatile(name) {
			continue
		}
		var n int64
		if err := db.WithContext(ctx).Table(name).Count(&n).Error; err != nil {
			t.Fatalf("count %s: %v", name, err)
		}
		out[name] = n
	}
	return out
}

func equalCounts(a, b map[string]int64) bool { return diffCounts(a, b) == "" }

// diffCounts names the tables whose counts differ.
func diffCounts(a, b map[string]int64) string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%s %d→%d", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s new %d", k, v))
		}
	}
	sort.Strings(d)
	return strings.Join(d, ", ")
}

// dumpTables returns every table's rows as text, cell by cell (bytes kept raw),
// for the canary search.
func dumpTables(t *testing.T, db *database.DB) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string][]byte{}
	for _, name := range tables(t, db) {
		rows, err := db.WithContext(ctx).Table(name).Rows()
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		cols, _ := rows.Columns()
		var buf []byte
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", name, err)
			}
			for _, v := range vals {
				switch x := v.(type) {
				case []byte:
					buf = append(buf, x...)
				default:
					buf = append(buf, fmt.Sprint(x)...)
				}
				buf = append(buf, '\t')
			}
			buf = append(buf, '\n')
		}
		rows.Close()
		out[name] = buf
	}
	return out
}
