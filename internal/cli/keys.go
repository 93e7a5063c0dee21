package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/config"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/seal"
)

// keyRingPath is VEILIG_MASTER_KEYS_FILE, or master-keys.json in the data
// directory; implicit reports the latter.
func keyRingPath(c config.Config) (path string, implicit bool) {
	if c.MasterKeysFile != "" {
		return c.MasterKeysFile, false
	}
	return filepath.Join(c.DataDir, "master-keys.json"), true
}

// loadKeyRing opens the master key ring. The implicit ring in the data
// directory is created on first use (development, `make run`); an explicitly
// named file must exist, so that a typo never starts a new, empty ring.
func loadKeyRing(c config.Config, log *slog.Logger) (*seal.KeyRing, error) {
	path, implicit := keyRingPath(c)
	ring, err := seal.LoadKeyRing(path)
	if err == nil || !implicit || !errors.Is(err, fs.ErrNotExist) {
		return ring, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	log.Warn("created a master key ring next to the data; in production keep it elsewhere (VEILIG_MASTER_KEYS_FILE)",
		"path", path)
	return seal.GenerateKeyRing(path)
}

// keysRotate adds a master key to the ring and re-wraps every data key under it.
func keysRotate(ctx context.Context, env Env, args []string) error {
	s, _, err := load(ctx, env, "keys rotate", args, true, nil)
	if err != nil {
		return err
	}
	defer s.db.Close()
	if _, err := loadKeyRing(s.cfg, s.log); err != nil {
		return err
	}
	path, _ := keyRingPath(s.cfg)
	ring, err := seal.AddKey(path)
	if err != nil {
		return err
	}
	s.log.Info("added master key", "key", ring.Primary())
	return rewrap(ctx, env, s, ring, audit.ActionKeysRotated)
}

// keysRewrap re-wraps data keys still under an old master key (after an
// interrupted rotation).
func keysRewrap(ctx context.Context, env Env, args []string) error {
	s, _, err := load(ctx, env, "keys rewrap", args, true, nil)
	if err != nil {
		return err
	}
	defer s.db.Close()
	ring, err := loadKeyRing(s.cfg, s.log)
	if err != nil {
		return err
	}
	return rewrap(ctx, env, s, ring, audit.ActionKeysRewrapped)
}

// rewrap re-wraps the data keys under ring's primary key and records action
// in the audit trail, also when it stopped part-way.
func rewrap(ctx context.Context, env Env, s *setup, ring *seal.KeyRing, action string) error {
	trail, err := s.withTrail()
	if err != nil {
		return err
	}
	store := message.NewStore(s.db, time.Now, message.NewVault(nil, ring))
	n, err := store.RewrapKeys(ctx, ring)
	recordRewrap(ctx, trail, action, ring.Primary(), n, err)
	if err != nil {
		return fmt.Errorf("re-wrapped %d data keys, then: %w", n, err)
	}
	counts, err := store.KeyCounts(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "re-wrapped %d data keys under %s v%d; data keys per master key: %v\n",
		n, ring.Primary().ID, ring.Primary().Version, counts)
	return nil
}

func recordRewrap(ctx context.Context, r audit.Recorder, action string, k seal.MasterKey, n int, err error) {
	e := audit.Event{Action: action, Outcome: "success", Actor: audit.ActorFrom(ctx),
		Detail: map[string]string{"master_key": k.ID, "version": strconv.Itoa(k.Version), "rewrapped": strconv.Itoa(n)}}
	if err != nil {
		e.Outcome = "failure"
	}
	r.Record(ctx, e)
}
