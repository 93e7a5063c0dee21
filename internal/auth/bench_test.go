package auth

import (
	"context"
	"testing"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// BenchmarkVerify measures the hot path: a credential already verified once, as
// on every request after a client's first. "signature-only" is the token cache
// alone (Verify before the account-status check), for comparison.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b, testenv.DB(b, database.SQLite), testConfig(), nil)
	ctx := context.Background()
	u := e.createUser(b, "jan@utrecht.example", RoleSender, "")
	raw, err := e.svc.access.issue(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	_, key, err := e.svc.APIKeys().Create(ctx, orgUtrecht, u.ID, "bench", []string{ScopeMessagesSend})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		verify func() error
	}{
		{"signature-only", func() error { _, err := e.svc.verifyAccess(ctx, raw); return err }},
		{"access-token", func() error { _, err := e.svc.Verify(ctx, raw); return err }},
		{"api-key", func() error { _, err := e.svc.Verify(ctx, key); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) { benchParallel(b, bc.verify) })
	}
}

func benchParallel(b *testing.B, verify func() error) {
	if err := verify(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := verify(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
