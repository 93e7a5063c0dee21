package message

import (
	"context"
	"fmt"

	"github.com/veilig/veilig/internal/seal"
)

// rewrapBatch is how many data keys one rewrap transaction handles.
const rewrapBatch = 500

// RewrapKeys re-wraps every data key not yet under the ring's primary master
// key (after `veilig keys rotate` added one); content is not touched. It works in
// batches, each its own transaction, so it can be interrupted and run again. It
// returns how many keys it re-wrapped.
func (s *Store) RewrapKeys(ctx context.Context, ring *seal.KeyRing) (int, error) {
	p := ring.Primary()
	total := 0
	for {
		n, err := s.rewrapBatch(ctx, ring, p)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (s *Store) rewrapBatch(ctx context.Context, ring *seal.KeyRing, p seal.MasterKey) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []dataKeyRow
	err := s.db.WithContext(ctx).Where("NOT (master_key_id = ? AND master_version = ?)", p.ID, p.Version).
		Order("message_id").Limit(rewrapBatch).Find(&rows).Error
	if err != nil {
		return 0, fmt.Errorf("message: read data keys: %w", err)
	}
	now := s.clock()
	for _, r := range rows {
		w, err := seal.Rewrap(ring, r.wrappedKey(), keyAAD(r.MessageID))
		if err != nil {
			return 0, fmt.Errorf("message: rewrap data key of %s: %w", r.MessageID, err)
		}
		res := s.db.WithContext(ctx).Model(&dataKeyRow{}).
			Where("message_id = ? AND master_key_id = ? AND master_version = ?", r.MessageID, r.MasterKeyID, r.MasterVersion).
			Updates(map[string]any{"master_key_id": w.KeyID, "master_version": w.KeyVersion, "wrapped": w.Ciphertext,
				"rewrapped_at": now})
		if res.Error != nil {
			return 0, fmt.Errorf("message: store rewrapped key: %w", res.Error)
		}
	}
	return len(rows), nil
}

// KeyCounts returns how many data keys each master key (id/version) wraps.
func (s *Store) KeyCounts(ctx context.Context) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []struct {
		MasterKeyID   string
		MasterVersion int
		N             int
	}
	err := s.db.WithContext(ctx).Model(&dataKeyRow{}).Select("master_key_id, master_version, COUNT(*) AS n").
		Group("master_key_id, master_version").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("message: count data keys: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[fmt.Sprintf("%s/v%d", r.MasterKeyID, r.MasterVersion)] = r.N
	}
	return out, nil
}
