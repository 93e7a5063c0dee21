package message_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

// A crash between the blob commit and the database commit leaves an orphan blob;
// the sweeper removes it and nothing that a message refers to.
func TestSweepBlobs(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		acc, err := e.svc.Accept(ctx, e.sender(senderA), draft(recipient), "")
		if err != nil {
			t.Fatal(err)
		}
		w, err := e.blobs.Create(ctx, "messages/orphan")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("left by a crash")); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		later := message.NewStore(db, func() time.Time { return time.Now().Add(2 * time.Hour) }, e.vault)
		if n, err := later.SweepBlobs(ctx, e.blobs, 24*time.Hour); err != nil || n != 0 {
			t.Fatalf("young blobs swept: %d, %v", n, err)
		}
		if n, err := later.SweepBlobs(ctx, e.blobs, time.Hour); err != nil || n != 1 {
			t.Fatalf("SweepBlobs = %d, %v; want the one orphan", n, err)
		}
		if _, err := e.blobs.Open(ctx, "messages/orphan"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("orphan still there: %v", err)
		}
		key, _ := e.blobKey(t, acc.ID)
		r, err := e.blobs.Open(ctx, key)
		if err != nil {
			t.Fatalf("the accepted message's blob was swept: %v", err)
		}
		r.Close()
	})
}
