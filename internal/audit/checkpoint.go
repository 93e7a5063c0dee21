package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Checkpoint is a signed statement that the chain had hash Hash at Seq.
type Checkpoint struct {
	Seq       int64     `gorm:"column:seq"`
	Hash      string    `gorm:"column:hash"`
	SignedAt  time.Time `gorm:"column:signed_at"`
	KeyID     string    `gorm:"column:key_id"`
	Signature string    `gorm:"column:signature"` // base64 (standard) Ed25519 signature
}

// KeyID names a checkpoint key: "ed25519:" and the first 8 bytes of the
// SHA-256 of the public key, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// PublicKey is the key checkpoints are signed with (to publish or pin).
func (t *Trail) PublicKey() ed25519.PublicKey { return t.keys[t.keyID] }

// signedBytes is what a checkpoint signature covers.
func signedBytes(seq int64, hash string, at time.Time) []byte {
	return []byte("veilig audit checkpoint v1\nseq=" + strconv.FormatInt(seq, 10) + "\nhash=" + hash +
		"\nsigned_at=" + at.UTC().Format(timeFormat) + "\n")
}

func (t *Trail) insertCheckpoint(tx *gorm.DB, seq int64, hash string) error {
	at := t.now().UTC().Truncate(time.Microsecond)
	sig := ed25519.Sign(t.priv, signedBytes(seq, hash, at))
	return tx.Exec("INSERT INTO audit_checkpoints (seq, hash, signed_at, key_id, signature) VALUES (?, ?, ?, ?, ?)",
		seq, hash, at, t.keyID, base64.StdEncoding.EncodeToString(sig)).Error
}

// Checkpoint signs the current head unless it is already signed (or the
// chain is empty), and reports the checkpointed seq (0 when none was made).
func (t *Trail) Checkpoint(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var made int64
	err := t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		h, err := t.lockHead(tx)
		if err != nil || h.Seq == h.CheckpointSeq {
			return err
		}
		if err := t.insertCheckpoint(tx, h.Seq, h.Hash); err != nil {
			return err
		}
		made = h.Seq
		return tx.Exec("UPDATE audit_head SET checkpoint_seq = ? WHERE id = 1", h.Seq).Error
	})
	if err != nil {
		return 0, fmt.Errorf("%w: checkpoint: %w", ErrStore, err)
	}
	return made, nil
}

// Run signs the head every CheckpointInterval until ctx ends.
func (t *Trail) Run(ctx context.Context) {
	tick := time.NewTicker(t.cfg.CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if seq, err := t.Checkpoint(ctx); err != nil {
				t.log.Error("audit checkpoint failed", "err", err)
			} else if seq > 0 {
				t.log.Info("audit checkpoint signed", "seq", seq)
			}
		}
	}
}

// verifySignature reports why c's signature does not hold, or "".
func (t *Trail) verifySignature(c Checkpoint) string {
	pub, ok := t.keys[c.KeyID]
	if !ok {
		return "signed by unknown key " + clean(c.KeyID, 64)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, signedBytes(c.Seq, c.Hash, c.SignedAt), sig) {
		return "signature does not verify"
	}
	return ""
}
