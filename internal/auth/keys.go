package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"gorm.io/gorm"
)

type keyRow struct {
	KID         string `gorm:"column:kid;primaryKey"`
	PrivateKey  []byte // the 32-byte Ed25519 seed (RFC 8032 §5.1.5)
	PublicKey   []byte
	CreatedAt   time.Time
	SignUntil   time.Time
	VerifyUntil time.Time
}

func (keyRow) TableName() string { return "signing_keys" }

type signingKey struct {
	kid         string
	private     ed25519.PrivateKey
	public      ed25519.PublicKey
	created     time.Time
	signUntil   time.Time
	verifyUntil time.Time
}

func (k signingKey) canSign(now time.Time) bool {
	return !now.Before(k.created) && now.Before(k.signUntil)
}

func (k signingKey) canVerify(now time.Time) bool { return now.Before(k.verifyUntil) }

// keyring holds the access-token signing keys of the signing_keys table, which
// every process sharing the database uses. It reloads the table when it has no
// key that may sign, when a token names a kid it does not know, and for the JWKS,
// at most once per reloadEvery for the latter two.
type keyring struct {
	db          *gorm.DB
	now         func() time.Time
	log         *slog.Logger
	signFor     time.Duration
	verifyGrace time.Duration
	reloadEvery time.Duration

	mu       sync.RWMutex
	keys     map[string]signingKey
	loadedAt time.Time
	loads    int // reloads done, for tests

	reloadMu sync.Mutex // one reload at a time
	rotateMu sync.Mutex // one key creation at a time in this process
}

func newKeyring(ctx context.Context, db *gorm.DB, cfg Config, now func() time.Time, log *slog.Logger) (*keyring, error) {
	k := &keyring{db: db, now: now, log: log, signFor: cfg.KeySignPeriod,
		verifyGrace: cfg.KeyVerifyGrace, reloadEvery: cfg.KeyReloadInterval, keys: map[string]signingKey{}}
	if _, err := k.signer(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// signer returns the key that signs now, creating one when none may.
func (k *keyring) signer(ctx context.Context) (signingKey, error) {
	if key, ok := k.current(); ok {
		return key, nil
	}
	k.rotateMu.Lock()
	defer k.rotateMu.Unlock()
	if key, ok := k.current(); ok {
		return key, nil
	}
	if err := k.ensureSigner(ctx); err != nil {
		return signingKey{}, err
	}
	if err := k.reload(ctx); err != nil {
		return signingKey{}, err
	}
	if key, ok := k.current(); ok {
		return key, nil
	}
	return signingKey{}, ErrNoSigningKey
}

// current picks, of the loaded keys that may sign now, the one signing longest.
func (k *keyring) current() (signingKey, bool) {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	var best signingKey
	for _, key := range k.keys {
		if key.canSign(now) && key.signUntil.After(best.signUntil) {
			best = key
		}
	}
	return best, best.kid != ""
}

// ensureSigner creates a signing key unless the table already has one that may
// sign. Processes sharing the database serialise here: PostgreSQL through a
// transaction-scoped advisory lock, SQLite through its single writer (the
// database package begins every transaction IMMEDIATE). Keys past verify_until
// are deleted in the same transaction.
func (k *keyring) ensureSigner(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := dbTime(k.now())
	err := k.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockKeys(tx); err != nil {
			return err
		}
		var rows []keyRow
		if err := tx.Find(&rows).Error; err != nil {
			return fmt.Errorf("auth: load signing keys: %w", err)
		}
		if err := pruneKeys(tx, rows, now); err != nil {
			return err
		}
		for _, r := range rows {
			if (signingKey{created: r.CreatedAt, signUntil: r.SignUntil}).canSign(now) {
				return nil
			}
		}
		return k.create(tx, now)
	})
	if err != nil {
		return fmt.Errorf("auth: ensure signing key: %w", err)
	}
	return nil
}

// keysLockID names the PostgreSQL advisory lock guarding key creation.
const keysLockID = 0x7665696c6967_01 // "veilig" + 1

func lockKeys(tx *gorm.DB) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(keysLockID)).Error; err != nil {
		return fmt.Errorf("auth: lock signing keys: %w", err)
	}
	return nil
}

func pruneKeys(tx *gorm.DB, rows []keyRow, now time.Time) error {
	var dead []string
	for _, r := range rows {
		if !now.Before(r.VerifyUntil) {
			dead = append(dead, r.KID)
		}
	}
	if len(dead) == 0 {
		return nil
	}
	if err := tx.Where("kid IN ?", dead).Delete(&keyRow{}).Error; err != nil {
		return fmt.Errorf("auth: prune signing keys: %w", err)
	}
	return nil
}

func (k *keyring) create(tx *gorm.DB, now time.Time) error {
	public, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("auth: generate key: %w", err)
	}
	signUntil := now.Add(k.signFor)
	row := keyRow{KID: thumbprint(public), PrivateKey: private.Seed(), PublicKey: public,
		CreatedAt: now, SignUntil: signUntil, VerifyUntil: signUntil.Add(k.verifyGrace)}
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("auth: store signing key: %w", err)
	}
	k.log.Info("access token signing key created", "kid", row.KID, "sign_until", row.SignUntil)
	return nil
}

// verifier returns the public key named kid if it may still verify. An unknown
// kid makes it reread the table, at most once per reloadEvery.
func (k *keyring) verifier(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if key, ok := k.lookup(kid); ok {
		return k.usable(key)
	}
	if err := k.reloadIfOlder(ctx, k.reloadEvery); err != nil {
		return nil, err
	}
	if key, ok := k.lookup(kid); ok {
		return k.usable(key)
	}
	return nil, fmt.Errorf("%w: unknown key id", ErrInvalidToken)
}

func (k *keyring) lookup(kid string) (signingKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[kid]
	return key, ok
}

func (k *keyring) usable(key signingKey) (ed25519.PublicKey, error) {
	if !key.canVerify(k.now()) {
		return nil, fmt.Errorf("%w: key %s retired", ErrInvalidToken, key.kid)
	}
	return key.public, nil
}

// reloadIfOlder rereads the table unless it was read less than age ago.
func (k *keyring) reloadIfOlder(ctx context.Context, age time.Duration) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	k.mu.RLock()
	fresh := k.now().Sub(k.loadedAt) < age
	k.mu.RUnlock()
	if fresh {
		return nil
	}
	return k.load(ctx)
}

// reload rereads the table now.
func (k *keyring) reload(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	return k.load(ctx)
}

func (k *keyring) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []keyRow
	if err := k.db.WithContext(ctx).Find(&rows).Error; err != nil {
		return fmt.Errorf("auth: load signing keys: %w", err)
	}
	now := k.now()
	keys := make(map[string]signingKey, len(rows))
	for _, r := range rows {
		key, err := r.key()
		if err != nil {
			k.log.Error("unusable signing key skipped", "kid", r.KID, "err", err)
			continue
		}
		if key.canVerify(now) {
			keys[key.kid] = key
		}
	}
	k.mu.Lock()
	k.keys, k.loadedAt = keys, now
	k.loads++
	k.mu.Unlock()
	return nil
}

func (r keyRow) key() (signingKey, error) {
	if len(r.PrivateKey) != ed25519.SeedSize {
		return signingKey{}, fmt.Errorf("auth: seed of %d bytes", len(r.PrivateKey))
	}
	private := ed25519.NewKeyFromSeed(r.PrivateKey)
	public := private.Public().(ed25519.PublicKey)
	if !public.Equal(ed25519.PublicKey(r.PublicKey)) || thumbprint(public) != r.KID {
		return signingKey{}, fmt.Errorf("auth: key %s does not match its public key or kid", r.KID)
	}
	return signingKey{kid: r.KID, private: private, public: public,
		created: r.CreatedAt, signUntil: r.SignUntil, verifyUntil: r.VerifyUntil}, nil
}

// JWK is one public key of a JWKS (RFC 7517 §4, RFC 8037 §2).
type JWK struct {
	Kty string `json:"kty"` // "OKP"
	Crv string `json:"crv"` // "Ed25519"
	X   string `json:"x"`   // base64url public key
	Kid string `json:"kid"` // RFC 7638 thumbprint
	Use string `json:"use"` // "sig"
	Alg string `json:"alg"` // "EdDSA"
}

// JWKS is a JSON Web Key Set (RFC 7517 §5), ready for encoding/json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// jwks returns every key that still verifies, newest first.
func (k *keyring) jwks(ctx context.Context) (JWKS, error) {
	if err := k.reloadIfOlder(ctx, k.reloadEvery); err != nil {
		return JWKS{}, err
	}
	now := k.now()
	k.mu.RLock()
	keys := make([]signingKey, 0, len(k.keys))
	for _, key := range k.keys {
		if key.canVerify(now) {
			keys = append(keys, key)
		}
	}
	k.mu.RUnlock()
	sort.Slice(keys, func(i, j int) bool { return keys[i].created.After(keys[j].created) })
	set := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, key := range keys {
		set.Keys = append(set.Keys, publicJWK(key.public))
	}
	return set, nil
}

func publicJWK(public ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(public),
		Kid: thumbprint(public), Use: "sig", Alg: "EdDSA"}
}

// thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519
// public key: the hash of its required members in lexicographic order (RFC 8037 §2).
func thumbprint(public ed25519.PublicKey) string {
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(public) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
