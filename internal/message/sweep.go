package message

import (
	"context"
	"errors"
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

// blobReferenced: a blob is in use while the message owning it keeps its data
// key; without one (never committed, or purged) it can never be read again.
func (s *Store) blobReferenced(ctx context.Context, key string) (bool, error) {
	owner, err := s.blobOwner(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&dataKeyRow{}).Where("message_id = ?", owner).Count(&n).Error; err != nil {
		return false, fmt.Errorf("message: blob reference: %w", err)
	}
	return n > 0, nil
}
