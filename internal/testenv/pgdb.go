package testenv

import (
	"context"
	"testing"
	"time"
)

// PostgresURL returns the URL of a fresh, empty PostgreSQL database on the test
// server, dropped when the test ends, for tests that hand the URL to another
// process (such as the veilig binary, which migrates it itself). Without
// VEILIG_TEST_POSTGRES_URL the test is Missing.
func PostgresURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return postgresDatabase(t, ctx)
}
