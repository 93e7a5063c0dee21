package message

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/seal"
)

// dbTimeout bounds every database statement or transaction of this package.
const dbTimeout = 15 * time.Second

// insertBatch is how many deliveries go into one INSERT.
const insertBatch = 200

type messageRow struct {
	ID              string `gorm:"primaryKey"`
	OrganisationID  string
	SenderUserID    string
	SenderEmail     string
	SenderName      string
	IdempotencyKey  *string
	RequestHash     string
	ClientMessageID string
	MessageIDHeader string
	BlobKey         string
	Size            int64
	DKIMSignature   string `gorm:"column:dkim_signature"`
	Status          string
	CreatedAt       time.Time
	ExpiresAt       *time.Time
	RevokedAt       *time.Time
	PurgedAt        *time.Time
	ReplyTo         string
	UpdatedAt       time.Time

	key     seal.DataKey `gorm:"-"` // set by Accept
	wrapped seal.Wrapped `gorm:"-"`
}

type dataKeyRow struct {
	MessageID     string `gorm:"primaryKey"`
	MasterKeyID   string
	MasterVersion int
	Wrapped       []byte
	CreatedAt     time.Time
	RewrappedAt   *time.Time
}

func (dataKeyRow) TableName() string { return "data_keys" }

func (r dataKeyRow) wrappedKey() seal.Wrapped {
	return seal.Wrapped{KeyID: r.MasterKeyID, KeyVersion: r.MasterVersion, Ciphertext: r.Wrapped}
}

func (messageRow) TableName() string { return "messages" }

type deliveryRow struct {
	ID             string `gorm:"primaryKey"`
	MessageID      string
	Position       int
	Address        string
	Kind           string
	Route          string
	Reason         string
	Domain         string
	OrganisationID string
	BlobKey        string
	Size           int64
	Status         string
	Attempts       int
	LastError      string
	NextAttemptAt  *time.Time
	DeliveredAt    *time.Time
	Suspicious     bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (deliveryRow) TableName() string { return "deliveries" }

func (r deliveryRow) status() RecipientStatus {
	return RecipientStatus{Address: r.Address, Route: r.Route, Status: r.Status, Reason: r.Reason}
}

type attemptRow struct {
	ID         int64 `gorm:"primaryKey;autoIncrement"`
	DeliveryID string
	Run        int
	StartedAt  time.Time
	FinishedAt time.Time
	MX         string `gorm:"column:mx"`
	IP         string `gorm:"column:ip"`
	Policy     string
	TLSVersion string `gorm:"column:tls_version"`
	Cipher     string
	TLSAMatch  string `gorm:"column:tlsa_match"`
	Code       int
	Enhanced   string
	Reply      string
	Error      string
	Outcome    string
}

func (attemptRow) TableName() string { return "delivery_attempts" }

type settingsRow struct {
	OrganisationID   string `gorm:"primaryKey"`
	SelfCopy         bool
	ShowSubject      bool
	ExpiryDays       int
	NotifyFirstOpen  bool
	SMSDailyCap      int `gorm:"column:sms_daily_cap"`
	EmailCodeAllowed bool
	UpdatedAt        time.Time
}

func (r settingsRow) settings() Settings {
	return Settings{SelfCopy: r.SelfCopy, ShowSubject: r.ShowSubject, ExpiryDays: r.ExpiryDays,
		NotifyFirstOpen: r.NotifyFirstOpen, SMSDailyCap: r.SMSDailyCap, EmailCodeAllowed: r.EmailCodeAllowed}
}

func (settingsRow) TableName() string { return "organisation_settings" }

// Store keeps messages, deliveries and their evidence.
type Store struct {
	db    *gorm.DB
	now   func() time.Time
	vault *Vault
	audit audit.Recorder // nil records nothing (see SetAudit)
}

// NewStore returns the store on db; now is the clock, vault holds the content.
func NewStore(db *database.DB, now func() time.Time, vault *Vault) *Store {
	return &Store{db: db.DB, now: now, vault: vault}
}

// Vault returns the store's vault.
func (s *Store) Vault() *Vault { return s.vault }

// clock returns now in UTC at the precision both engines keep (microseconds), so
// that a stored time reads back equal — the list cursor relies on it.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Settings are an organisation's message settings.
type Settings struct {
	SelfCopy        bool `json:"self_copy"`         // senders get a copy in their own mailbox (default on)
	ShowSubject     bool `json:"show_subject"`      // notifications to external recipients name the subject (default off)
	ExpiryDays      int  `json:"expiry_days"`       // external recipients' reading window; 0 = the instance default
	NotifyFirstOpen bool `json:"notify_first_open"` // senders get a notice when an external recipient first opens
	SMSDailyCap     int  `json:"sms_daily_cap"`     // SMS per day; -1 = the instance default
	// EmailCodeAllowed lets external recipients get their one-time code by
	// e-mail instead of SMS (default off: SMS is the second factor).
	EmailCodeAllowed bool `json:"email_code_allowed"`
}

// DefaultSettings returns the settings of an organisation that never changed them.
// EmailCodeAllowed is off: SMS stays the second factor unless chosen otherwise.
func DefaultSettings() Settings { return Settings{SelfCopy: true, SMSDailyCap: -1} }

// OrganisationSettings returns the settings of an organisation.
func (s *Store) OrganisationSettings(ctx context.Context, orgID string) (Settings, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []settingsRow
	if err := s.db.WithContext(ctx).Where("organisation_id = ?", orgID).Limit(1).Find(&rows).Error; err != nil {
		return Settings{}, fmt.Errorf("message: read settings: %w", err)
	}
	if len(rows) == 0 {
		return DefaultSettings(), nil
	}
	return rows[0].settings(), nil
}

// PutOrganisationSettings stores the settings of an existing organisation.
func (s *Store) PutOrganisationSettings(ctx context.Context, orgID string, set Settings) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	row := settingsRow{OrganisationID: orgID, SelfCopy: set.SelfCopy, ShowSubject: set.ShowSubject,
		ExpiryDays: set.ExpiryDays, NotifyFirstOpen: set.NotifyFirstOpen, SMSDailyCap: set.SMSDailyCap,
		EmailCodeAllowed: set.EmailCodeAllowed, UpdatedAt: s.clock()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "organisation_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"self_copy", "show_subject", "expiry_days", "notify_first_open",
			"sms_daily_cap", "email_code_allowed", "updated_at"}),
	}).Create(&row).Error
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return fmt.Errorf("%w: organisation %s", ErrNotFound, orgID)
	}
	if err != nil {
		return fmt.Errorf("message: write settings: %w", err)
	}
	s.recordSettings(ctx, orgID, set)
	return nil
}

// insert stores a message and its deliveries and enqueues one job per delivery,
// all in one transaction. A taken Idempotency-Key is gorm.ErrDuplicatedKey.
func (s *Store) insert(ctx context.Context, m messageRow, ds []deliveryRow, ext []externalRow, q Enqueuer) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&m).Error; err != nil {
			return err
		}
		key := dataKeyRow{MessageID: m.ID, MasterKeyID: m.wrapped.KeyID, MasterVersion: m.wrapped.KeyVersion,
			Wrapped: m.wrapped.Ciphertext, CreatedAt: m.CreatedAt}
		if err := tx.Create(&key).Error; err != nil {
			return err
		}
		if err := insertDeliveries(ctx, tx, ds, q); err != nil {
			return err
		}
		return insertExternal(tx, ext)
	})
}

// insertDeliveries adds deliveries and their jobs inside tx.
func insertDeliveries(ctx context.Context, tx *gorm.DB, ds []deliveryRow, q Enqueuer) error {
	if err := tx.CreateInBatches(&ds, insertBatch).Error; err != nil {
		return fmt.Errorf("message: insert deliveries: %w", err)
	}
	sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
	if !ok {
		return fmt.Errorf("message: transaction is a %T, not *sql.Tx", tx.Statement.ConnPool)
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	if err := q.EnqueueTx(ctx, sqlTx, ids); err != nil {
		return fmt.Errorf("message: enqueue deliveries: %w", err)
	}
	return nil
}

// byIdempotencyKey returns the sender's message stored under key, if any.
func (s *Store) byIdempotencyKey(ctx context.Context, userID, key string) (messageRow, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []messageRow
	err := s.db.WithContext(ctx).Where("sender_user_id = ? AND idempotency_key = ?", userID, key).
		Limit(1).Find(&rows).Error
	if err != nil {
		return messageRow{}, false, fmt.Errorf("message: read by idempotency key: %w", err)
	}
	if len(rows) == 0 {
		return messageRow{}, false, nil
	}
	return rows[0], true, nil
}

// exists reports whether message id is stored.
func (s *Store) exists(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dbTimeout)
	defer cancel()
	var n int64
	if err := s.db.WithContext(ctx).Model(&messageRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return false, fmt.Errorf("message: look up message: %w", err)
	}
	return n > 0, nil
}

// message returns the sender's message id, or ErrNotFound.
func (s *Store) message(ctx context.Context, userID, id string) (messageRow, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []messageRow
	err := s.db.WithContext(ctx).Where("id = ? AND sender_user_id = ?", id, userID).Limit(1).Find(&rows).Error
	if err != nil {
		return messageRow{}, fmt.Errorf("message: read message: %w", err)
	}
	if len(rows) == 0 {
		return messageRow{}, ErrNotFound
	}
	return rows[0], nil
}

// deliveries returns the deliveries of the given messages in submission order,
// only of the given kinds when any are named.
func (s *Store) deliveries(ctx context.Context, messageIDs []string, kinds ...string) ([]deliveryRow, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	q := s.db.WithContext(ctx).Where("message_id IN ?", messageIDs)
	if len(kinds) > 0 {
		q = q.Where("kind IN ?", kinds)
	}
	var rows []deliveryRow
	if err := q.Order("message_id, position").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("message: read deliveries: %w", err)
	}
	return rows, nil
}

// attempts returns the evidence of the given deliveries, oldest first.
func (s *Store) attempts(ctx context.Context, deliveryIDs []string) ([]attemptRow, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []attemptRow
	err := s.db.WithContext(ctx).Where("delivery_id IN ?", deliveryIDs).Order("delivery_id, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("message: read attempts: %w", err)
	}
	return rows, nil
}
