package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/audit"
)

// API keys authenticate machine clients as one sender of one organisation. A
// key reads "vk_<id>_<secret>": the id finds the row, the secret is 256 random
// bits. Only the SHA-256 hash of the whole key is stored, and it is compared in
// constant time. A key's scopes are stored as an RFC 6749 §3.3 scope string.
const (
	apiKeyPrefix = "vk_"
	// apiKeyLen is the length of every key: prefix, UUID, "_", 43 base64url characters.
	apiKeyLen = len(apiKeyPrefix) + 36 + 1 + 43
	// maxKeyName bounds a key's name, in characters.
	maxKeyName = 100
	// lastUsedEvery is how stale last_used_at may get; writes are no more frequent.
	lastUsedEvery = time.Minute
	// keyCacheSize bounds the key cache (about 400 bytes an entry).
	keyCacheSize = 10_000
)

// APIKey describes a key; the secret itself is shown only once, by Create.
type APIKey struct {
	ID             string
	OrganisationID string
	UserID         string // the sender the key acts as
	Name           string
	Scopes         []string
	CreatedAt      time.Time
	LastUsedAt     *time.Time
	RevokedAt      *time.Time
}

type apiKeyRow struct {
	ID             string `gorm:"primaryKey"`
	OrganisationID string
	UserID         *string
	Name           string
	SecretHash     string
	Scopes         string
	CreatedBy      string
	CreatedAt      time.Time
	LastUsedAt     *time.Time
	RevokedAt      *time.Time
}

func (apiKeyRow) TableName() string { return "api_keys" }

func (r apiKeyRow) key() APIKey {
	k := APIKey{ID: r.ID, OrganisationID: r.OrganisationID, Name: r.Name, Scopes: strings.Fields(r.Scopes),
		CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt}
	if r.UserID != nil {
		k.UserID = *r.UserID
	}
	return k
}

// APIKeys stores API keys in the api_keys table.
type APIKeys struct {
	db    *gorm.DB
	live  *liveUsers
	log   *slog.Logger
	now   func() time.Time
	cache *ttlCache[apiKeyRow] // by id, for LiveTTL; Revoke in this process forgets at once
	audit audit.Recorder       // the Service's audit trail; nil records nothing
}

func newAPIKeys(db *gorm.DB, live *liveUsers, log *slog.Logger, now func() time.Time) *APIKeys {
	return &APIKeys{db: db, live: live, log: log, now: now, cache: newTTLCache[apiKeyRow](LiveTTL, keyCacheSize)}
}

// Create makes a key for userID, a sender or administrator of orgID, who must be
// active (else ErrUserNotFound or ErrUserDisabled), with at least one known
// scope (ErrInvalidScope). It returns the key and its secret, shown only now.
func (k *APIKeys) Create(ctx context.Context, orgID, userID, name string, scopes []string) (APIKey, string, error) {
	name, scopes, err := checkKeyRequest(name, scopes)
	if err != nil {
		return APIKey{}, "", err
	}
	if err := k.checkOwner(ctx, orgID, userID); err != nil {
		return APIKey{}, "", err
	}
	row, secret, err := k.newRow(orgID, userID, name, scopes)
	if err != nil {
		return APIKey{}, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := k.db.WithContext(ctx).Create(&row).Error; err != nil {
		return APIKey{}, "", fmt.Errorf("auth: store API key: %w", err)
	}
	k.log.InfoContext(ctx, "API key created", "key_id", row.ID, "organisation_id", orgID, "user_id", userID)
	k.recordKey(ctx, audit.ActionAPIKeyCreated, orgID, row.ID,
		map[string]string{"owner_id": userID, "scopes": row.Scopes})
	return row.key(), secret, nil
}

func (k *APIKeys) newRow(orgID, userID, name string, scopes []string) (apiKeyRow, string, error) {
	secret, err := newSecret()
	if err != nil {
		return apiKeyRow{}, "", err
	}
	id := uuid.NewString()
	key := apiKeyPrefix + id + "_" + secret
	return apiKeyRow{ID: id, OrganisationID: orgID, UserID: &userID, Name: name, SecretHash: hashToken(key),
		Scopes: strings.Join(scopes, " "), CreatedAt: dbTime(k.now())}, key, nil
}

// checkKeyRequest returns the trimmed name and the sorted, distinct scopes.
func checkKeyRequest(name string, scopes []string) (string, []string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxKeyName || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return "", nil, fmt.Errorf("%w: 1 to %d printable characters", ErrInvalidName, maxKeyName)
	}
	if len(scopes) == 0 {
		return "", nil, fmt.Errorf("%w: at least one scope is required", ErrInvalidScope)
	}
	for _, s := range scopes {
		if !knownScope(s) {
			return "", nil, fmt.Errorf("%w: %q", ErrInvalidScope, s)
		}
	}
	scopes = slices.Clone(scopes)
	slices.Sort(scopes)
	return name, slices.Compact(scopes), nil
}

// checkOwner makes sure the key's user is an active member of orgID.
func (k *APIKeys) checkOwner(ctx context.Context, orgID, userID string) error {
	u, err := k.live.user(ctx, userID, true)
	if err != nil && !refused(err) {
		return err
	}
	if u.ID == "" || orgID == "" || u.OrganisationID != orgID {
		return ErrUserNotFound
	}
	return err
}

// List returns the keys of orgID, revoked ones too, oldest first.
func (k *APIKeys) List(ctx context.Context, orgID string) ([]APIKey, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []apiKeyRow
	err := k.db.WithContext(ctx).Where("organisation_id = ?", orgID).Order("created_at, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("auth: list API keys: %w", err)
	}
	keys := make([]APIKey, 0, len(rows))
	for _, r := range rows {
		keys = append(keys, r.key())
	}
	return keys, nil
}

// Revoke ends key id of orgID, at once in this process and within LiveTTL in
// others. Revoking a revoked key is a no-op; a key of another organisation is
// ErrNotFound, as if it did not exist.
func (k *APIKeys) Revoke(ctx context.Context, orgID, id string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	q := k.db.WithContext(ctx).Model(&apiKeyRow{}).Where("id = ? AND organisation_id = ?", id, orgID)
	res := q.Where("revoked_at IS NULL").Update("revoked_at", dbTime(k.now()))
	k.cache.invalidate(id)
	if res.Error != nil {
		return fmt.Errorf("auth: revoke API key: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		k.log.InfoContext(ctx, "API key revoked", "key_id", id, "organisation_id", orgID)
		k.recordKey(ctx, audit.ActionAPIKeyRevoked, orgID, id, nil)
		return nil
	}
	var n int64
	if err := k.db.WithContext(ctx).Model(&apiKeyRow{}).Where("id = ? AND organisation_id = ?", id, orgID).
		Count(&n).Error; err != nil {
		return fmt.Errorf("auth: find API key: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func revokeUserKeys(tx *gorm.DB, userID string, now time.Time) error {
	err := tx.Model(&apiKeyRow{}).Where("user_id = ? AND revoked_at IS NULL", userID).
		Update("revoked_at", now).Error
	if err != nil {
		return fmt.Errorf("auth: revoke API keys: %w", err)
	}
	return nil
}

// isAPIKey tells API keys from access tokens (JWTs never start with "vk_").
func isAPIKey(token string) bool { return strings.HasPrefix(token, apiKeyPrefix) }

// parseAPIKey checks a key's form and returns its id.
func parseAPIKey(token string) (string, bool) {
	if len(token) != apiKeyLen || !isAPIKey(token) {
		return "", false
	}
	id, secret, ok := strings.Cut(token[len(apiKeyPrefix):], "_")
	if !ok || uuid.Validate(id) != nil || len(id) != 36 {
		return "", false
	}
	_, ok = parseSecret(secret)
	return id, ok
}

// verify authenticates an API key: the principal of its user, as a sender of
// the key's organisation, with the key's scopes. Every refusal wraps ErrInvalidToken.
func (k *APIKeys) verify(ctx context.Context, token string) (Principal, error) {
	id, ok := parseAPIKey(token)
	if !ok {
		return Principal{}, fmt.Errorf("%w: malformed API key", ErrInvalidToken)
	}
	row, err := k.find(ctx, id)
	if err != nil {
		return Principal{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(row.SecretHash)) != 1 {
		return Principal{}, fmt.Errorf("%w: wrong API key secret", ErrInvalidToken)
	}
	if row.RevokedAt != nil || row.UserID == nil {
		return Principal{}, fmt.Errorf("%w: API key revoked", ErrInvalidToken)
	}
	u, err := k.owner(ctx, row)
	if err != nil {
		return Principal{}, err
	}
	return Principal{UserID: u.ID, Email: u.Email, OrganisationID: row.OrganisationID, Role: RoleSender,
		Scopes: strings.Fields(row.Scopes), APIKeyID: row.ID}, nil
}

// owner returns the key's user if they may still act within the key's organisation.
func (k *APIKeys) owner(ctx context.Context, row apiKeyRow) (User, error) {
	u, err := k.live.user(ctx, *row.UserID, false)
	if err == nil && u.OrganisationID != row.OrganisationID {
		u, err = k.live.user(ctx, *row.UserID, true)
	}
	switch {
	case err != nil && refused(err):
		return User{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	case err != nil:
		return User{}, err
	case u.OrganisationID != row.OrganisationID || !u.Role.NeedsOrganisation():
		return User{}, fmt.Errorf("%w: the key's user left its organisation", ErrInvalidToken)
	}
	return u, nil
}

// find returns key id from the cache or the database, and keeps last_used_at
// fresh to within lastUsedEvery.
func (k *APIKeys) find(ctx context.Context, id string) (apiKeyRow, error) {
	now := k.now()
	if row, ok := k.cache.get(id, now); ok {
		return row, nil
	}
	gen := k.cache.generation()
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var row apiKeyRow
	err := k.db.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return row, fmt.Errorf("%w: unknown API key", ErrInvalidToken)
	case err != nil:
		return row, fmt.Errorf("auth: find API key: %w", err)
	}
	k.touch(ctx, &row, now)
	k.cache.put(id, row, now, gen)
	return row, nil
}

// touch records that the key was used, at most once per lastUsedEvery; the
// condition keeps processes from all writing it. Failure only costs freshness.
func (k *APIKeys) touch(ctx context.Context, row *apiKeyRow, now time.Time) {
	if row.RevokedAt != nil || (row.LastUsedAt != nil && now.Sub(*row.LastUsedAt) < lastUsedEvery) {
		return
	}
	t := dbTime(now)
	err := k.db.WithContext(ctx).Model(&apiKeyRow{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", row.ID, t.Add(-lastUsedEvery)).
		Update("last_used_at", t).Error
	if err != nil {
		k.log.WarnContext(ctx, "API key last use not recorded", "key_id", row.ID, "err", err)
		return
	}
	row.LastUsedAt = &t
}
