package testenv

import (
	"path/filepath"
	"testing"

	"github.com/veilig/veilig/internal/seal"
)

// KeyRing returns a fresh master key ring in a temp file.
func KeyRing(t testing.TB) *seal.KeyRing {
	t.Helper()
	ring, err := seal.GenerateKeyRing(filepath.Join(t.TempDir(), "master-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}
