package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/database"
)

// Errors.
var (
	ErrConfig    = errors.New("audit: bad configuration")
	ErrMalformed = errors.New("audit: malformed record")
	ErrStore     = errors.New("audit: store")
)

// Defaults.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Hour
	DefaultRecordTimeout      = 5 * time.Second
	DefaultRetentionYears     = 6
)

// Config configures a Trail.
type Config struct {
	// Seed is the 32-byte Ed25519 seed (RFC 8032) that signs checkpoints:
	// seal.KeyRing.DeriveSecret("audit-checkpoint"), so every process sharing the
	// key ring signs with the same key. Required.
	Seed []byte
	// TrustedKeys are further public keys whose checkpoints Verify accepts
	// (checkpoints signed before a change of signing key).
	TrustedKeys []ed25519.PublicKey
	// CheckpointEvery signs the head every this many events; 0 = 1,000.
	CheckpointEvery int64
	// CheckpointInterval is how often Run signs the head (when it moved); 0 = 1 h.
	CheckpointInterval time.Duration
	// RecordTimeout bounds one Record; 0 = 5 s.
	RecordTimeout time.Duration
	// RetentionYears is the default retention of an organisation's events; 0 = 6.
	RetentionYears int
}

// Trail is the audit trail in the database; it implements Recorder.
type Trail struct {
	db       *database.DB
	cfg      Config
	priv     ed25519.PrivateKey
	keys     map[string]ed25519.PublicKey // by key id
	keyID    string
	log      *slog.Logger
	now      func() time.Time
	failures atomic.Uint64
}

var _ Recorder = (*Trail)(nil)

// New returns the trail stored in db.
func New(db *database.DB, cfg Config, log *slog.Logger, now func() time.Time) (*Trail, error) {
	if len(cfg.Seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: the checkpoint seed must be %d bytes", ErrConfig, ed25519.SeedSize)
	}
	cfg = withDefaults(cfg)
	priv := ed25519.NewKeyFromSeed(cfg.Seed)
	t := &Trail{db: db, cfg: cfg, priv: priv, log: log, now: now, keys: map[string]ed25519.PublicKey{}}
	pub, _ := priv.Public().(ed25519.PublicKey)
	t.keyID = KeyID(pub)
	t.keys[t.keyID] = pub
	for _, k := range cfg.TrustedKeys {
		t.keys[KeyID(k)] = k
	}
	return t, nil
}

func withDefaults(cfg Config) Config {
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = DefaultRecordTimeout
	}
	if cfg.RetentionYears <= 0 {
		cfg.RetentionYears = DefaultRetentionYears
	}
	return cfg
}

// Failures is how many events could not be recorded since start (for a
// Prometheus CounterFunc).
func (t *Trail) Failures() uint64 { return t.failures.Load() }

// Record appends e; it never fails the caller: a failure is logged and counted.
// It outlives the caller's cancellation (a client hanging up does not erase
// what it did) but not RecordTimeout.
func (t *Trail) Record(ctx context.Context, e Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.cfg.RecordTimeout)
	defer cancel()
	if _, err := t.Append(ctx, e); err != nil {
		t.failures.Add(1)
		t.log.Error("audit event not recorded", "action", clean(e.Action, MaxFieldBytes), "err", err)
	}
}

// head is the audit_head row.
type head struct {
	Seq           int64  `gorm:"column:seq"`
	Hash          string `gorm:"column:hash"`
	CheckpointSeq int64  `gorm:"column:checkpoint_seq"`
}

// Append adds e to the chain and returns it as stored.
func (t *Trail) Append(ctx context.Context, e Event) (Stored, error) {
	e, dropped := normalise(e, t.now())
	if len(dropped) > 0 {
		t.log.Warn("audit detail keys dropped", "action", e.Action, "keys", dropped)
	}
	var s Stored
	err := t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		h, err := t.lockHead(tx)
		if err != nil {
			return err
		}
		if s, err = chained(h, e); err != nil {
			return err
		}
		if err := insertEvent(tx, s); err != nil {
			return err
		}
		return t.advanceHead(tx, h, s)
	})
	if err != nil {
		return Stored{}, fmt.Errorf("%w: append: %w", ErrStore, err)
	}
	return s, nil
}

// lockHead reads the chain head, holding it until the transaction ends
// (PostgreSQL: row lock; SQLite: the transaction began IMMEDIATE and holds
// the database's write lock).
func (t *Trail) lockHead(tx *gorm.DB) (head, error) {
	q := "SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1"
	if t.db.Dialect == database.Postgres {
		q += " FOR UPDATE"
	}
	var h head
	res := tx.Raw(q).Scan(&h)
	if res.Error != nil {
		return head{}, res.Error
	}
	if res.RowsAffected != 1 {
		return head{}, fmt.Errorf("%w: no chain head (migrations applied?)", ErrMalformed)
	}
	return h, nil
}

// chained makes e the event after h.
func chained(h head, e Event) (Stored, error) {
	s := Stored{Seq: h.Seq + 1, Event: e, MessageID: messageID(e), PrevHash: h.Hash}
	var err error
	if s.PayloadHash, err = payloadHash(s.Seq, e, s.MessageID); err != nil {
		return Stored{}, err
	}
	if s.Hash, err = link(h.Hash, s.PayloadHash); err != nil {
		return Stored{}, err
	}
	return s, nil
}

func (t *Trail) advanceHead(tx *gorm.DB, h head, s Stored) error {
	cp := h.CheckpointSeq
	if s.Seq-cp >= t.cfg.CheckpointEvery {
		if err := t.insertCheckpoint(tx, s.Seq, s.Hash); err != nil {
			return err
		}
		cp = s.Seq
	}
	return tx.Exec("UPDATE audit_head SET seq = ?, hash = ?, checkpoint_seq = ? WHERE id = 1",
		s.Seq, s.Hash, cp).Error
}
