package message

import (
	"context"
	"fmt"
	"time"
)

// BlobSweeper is what SweepBlobs needs of a blob store (blob.FS).
type BlobSweeper interface {
	Walk(ctx context.Context, fn func(key string, modified time.Time) error) error
	Delete(ctx context.Context, key string) error
}

// SweepBlobs deletes committed blobs that no message or notice refers to and that
// are older than olderThan: what a crash between the blob's commit and the
// database commit of Accept leaves behind. Young blobs are left alone, since their
// transaction may still be running. It returns how many it deleted.
func (s *Store) SweepBlobs(ctx context.Context, blobs BlobSweeper, olderThan time.Duration) (int, error) {
	cutoff := s.now().Add(-olderThan)
	removed := 0
	err := blobs.Walk(ctx, func(key string, modified time.Time) error {
		if modified.After(cutoff) {
			return nil
		}
		used, err := s.blobReferenced(ctx, key)
		if err != nil || used {
			return err
		}
		if err := blobs.Delete(ctx, key); err != nil {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("message: sweep blobs: %w", err)
	}
	return removed, nil
}

func (s *Store) blobReferenced(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(
		"SELECT (SELECT COUNT(*) FROM messages WHERE blob_key = ?) + (SELECT COUNT(*) FROM deliveries WHERE blob_key = ?)",
		key, key).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("message: blob reference: %w", err)
	}
	return n > 0, nil
}
