package dkim

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/directory"
)

// Key parameters.
const (
	AlgorithmRSA   = "rsa"
	rsaBits        = 2048
	selectorPrefix = "veilig"
	dbTimeout      = 10 * time.Second
	cacheFor       = 5 * time.Minute // how long a process trusts its copy of a key
)

// errNoKey reports an organisation without an active key.
var errNoKey = errors.New("dkim: no active key")

type keyRow struct {
	OrganisationID string `gorm:"column:organisation_id;primaryKey"`
	Selector       string `gorm:"primaryKey"`
	Algorithm      string
	PrivateKey     []byte // PKCS #8 DER
	PublicKey      []byte // SubjectPublicKeyInfo DER
	CreatedAt      time.Time
	Active         bool
}

func (keyRow) TableName() string { return "dkim_keys" }

// key is an organisation's active key, parsed.
type key struct {
	selector string
	private  crypto.Signer
	public   []byte // SubjectPublicKeyInfo DER: the p= tag
	loadedAt time.Time
}

// Keys manages the organisations' DKIM keys in the dkim_keys table, creating an
// organisation's key the first time it is needed. It is safe for concurrent use
// and for several processes sharing the database.
type Keys struct {
	db       *gorm.DB
	now      func() time.Time
	log      *slog.Logger
	generate func() (crypto.Signer, error)

	mu       sync.Mutex
	cache    map[string]key // by organisation ID
	createMu sync.Mutex     // one key generation at a time in this process
}

// Option configures Keys.
type Option func(*Keys)

// WithLogger logs key creation to log (the default discards).
func WithLogger(log *slog.Logger) Option { return func(k *Keys) { k.log = log } }

// NewKeys returns the key store on db; now is the clock.
func NewKeys(db *gorm.DB, now func() time.Time, opts ...Option) *Keys {
	k := &Keys{db: db, now: now, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		generate: generateRSA, cache: map[string]key{}}
	for _, o := range opts {
		o(k)
	}
	return k
}

func generateRSA() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, rsaBits) }

// Signer returns a signer for mail from domain, an address domain of the
// organisation orgID. The signing domain is the organisation's registered
// domain that domain equals or lies below, so mail from a subdomain aligns
// with DMARC's relaxed mode (RFC 7489 §3.1.1) under the record DNSRecords gave.
// A domain the organisation does not own is ErrUnknownDomain.
func (k *Keys) Signer(ctx context.Context, orgID, domain string) (*Signer, error) {
	d, err := directory.NormalizeDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDomain, err)
	}
	registered, err := k.registeredDomain(ctx, orgID, d)
	if err != nil {
		return nil, err
	}
	key, err := k.active(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return &Signer{domain: registered, selector: key.selector, key: key.private}, nil
}

// registeredDomain returns the nearest registered domain at or above d, which
// must belong to orgID.
func (k *Keys) registeredDomain(ctx context.Context, orgID, d string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []struct{ Name, OrganisationID string }
	err := k.db.WithContext(ctx).Table("domains").Select("name, organisation_id").
		Where("name IN ?", directory.Candidates(d)).Find(&rows).Error
	if err != nil {
		return "", fmt.Errorf("dkim: look up domain: %w", err)
	}
	for _, c := range directory.Candidates(d) {
		for _, r := range rows {
			if r.Name != c {
				continue
			}
			if r.OrganisationID != orgID {
				return "", fmt.Errorf("%w: %s", ErrUnknownDomain, d)
			}
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrUnknownDomain, d)
}

// active returns the organisation's active key, creating it when there is none.
func (k *Keys) active(ctx context.Context, orgID string) (key, error) {
	if key, ok := k.cached(orgID); ok {
		return key, nil
	}
	key, err := k.load(ctx, orgID)
	if errors.Is(err, errNoKey) {
		key, err = k.create(ctx, orgID)
	}
	if err != nil {
		return key, err
	}
	k.mu.Lock()
	k.cache[orgID] = key
	k.mu.Unlock()
	return key, nil
}

func (k *Keys) cached(orgID string) (key, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.cache[orgID]
	return key, ok && k.now().Sub(key.loadedAt) < cacheFor
}

func (k *Keys) load(ctx context.Context, orgID string) (key, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var row keyRow
	err := k.db.WithContext(ctx).
		Where("organisation_id = ? AND algorithm = ? AND active = ?", orgID, AlgorithmRSA, true).
		Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return key{}, errNoKey
	}
	if err != nil {
		return key{}, fmt.Errorf("dkim: load key: %w", err)
	}
	return row.parse(k.now())
}

// create makes the organisation's first key. Processes racing here insert one
// row each; the primary key and the one-active-key index let exactly one
// insert succeed, and the others take the winner's key.
func (k *Keys) create(ctx context.Context, orgID string) (key, error) {
	k.createMu.Lock()
	defer k.createMu.Unlock()
	if key, err := k.load(ctx, orgID); !errors.Is(err, errNoKey) {
		return key, err // created by another goroutine meanwhile, or a failure
	}
	row, err := k.newRow(orgID)
	if err != nil {
		return key{}, err
	}
	err = k.insert(ctx, row)
	switch {
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return k.load(ctx, orgID)
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return key{}, fmt.Errorf("%w: %s", ErrUnknownOrganisation, orgID)
	case err != nil:
		return key{}, err
	}
	k.log.Info("dkim key created", "organisation", orgID, "selector", row.Selector, "algorithm", row.Algorithm)
	return row.parse(k.now())
}

func (k *Keys) insert(ctx context.Context, row keyRow) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := k.db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("dkim: store key: %w", err)
	}
	return nil
}

// newRow generates a key named by the selector "veilig<yyyymm>".
func (k *Keys) newRow(orgID string) (keyRow, error) {
	private, err := k.generate()
	if err != nil {
		return keyRow{}, fmt.Errorf("dkim: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		return keyRow{}, fmt.Errorf("dkim: encode key: %w", err)
	}
	public, err := x509.MarshalPKIXPublicKey(private.Public())
	if err != nil {
		return keyRow{}, fmt.Errorf("dkim: encode key: %w", err)
	}
	now := k.now().UTC().Truncate(time.Microsecond)
	return keyRow{OrganisationID: orgID, Selector: Selector(now), Algorithm: AlgorithmRSA,
		PrivateKey: der, PublicKey: public, CreatedAt: now, Active: true}, nil
}

// Selector returns the selector of a key created at t: "veilig" and its year
// and month in UTC, e.g. "veilig202611".
func Selector(t time.Time) string { return selectorPrefix + t.UTC().Format("200601") }

// parse checks the row's private key against its public key.
func (r keyRow) parse(now time.Time) (key, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(r.PrivateKey)
	if err != nil {
		return key{}, fmt.Errorf("dkim: key %s: %w", r.Selector, err)
	}
	private, ok := parsed.(*rsa.PrivateKey)
	if !ok || r.Algorithm != AlgorithmRSA {
		return key{}, fmt.Errorf("dkim: key %s: unsupported algorithm %s", r.Selector, r.Algorithm)
	}
	public, err := x509.MarshalPKIXPublicKey(private.Public())
	if err != nil || string(public) != string(r.PublicKey) {
		return key{}, fmt.Errorf("dkim: key %s: public key does not match", r.Selector)
	}
	return key{selector: r.Selector, private: private, public: public, loadedAt: now}, nil
}
