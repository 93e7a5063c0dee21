package message_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/seal"
	"github.com/veilig/veilig/internal/testenv"
)

// TestRewrapKeys: after a rotation every data key is re-wrapped under the new
// master key and every message still reads; a second pass has nothing to do.
func TestRewrapKeys(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "ring.json")
		ring, err := seal.GenerateKeyRing(path)
		if err != nil {
			t.Fatal(err)
		}
		e.vault = message.NewVault(e.blobs, ring)
		svc := e.serviceWith(t, e.vault)
		var ids []string
		for range 3 {
			acc, err := svc.Accept(ctx, e.sender(senderA), draft(recipient), "")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, acc.ID)
		}
		rotated, err := seal.AddKey(path)
		if err != nil {
			t.Fatal(err)
		}
		store := message.NewStore(db, e.clock.Now, message.NewVault(e.blobs, rotated))
		if n, err := store.RewrapKeys(ctx, rotated); err != nil || n != 3 {
			t.Fatalf("RewrapKeys = %d, %v; want 3", n, err)
		}
		counts, err := store.KeyCounts(ctx)
		want := rotated.Primary().ID + "/v2"
		if err != nil || len(counts) != 1 || counts[want] != 3 {
			t.Fatalf("KeyCounts = %v, %v; want all 3 under %s", counts, err, want)
		}
		if n, err := store.RewrapKeys(ctx, rotated); err != nil || n != 0 {
			t.Errorf("second pass = %d, %v; want 0", n, err)
		}
		for _, id := range ids {
			rc, err := store.OpenBlob(ctx, "messages/"+id)
			if err != nil {
				t.Fatalf("open %s after rotation: %v", id, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !strings.Contains(string(b), "Subject: Besluit op uw aanvraag") {
				t.Errorf("message %s after rotation: %v, %.80q", id, err, b)
			}
		}
	})
}
