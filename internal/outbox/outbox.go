// Package outbox is Veilig's durable delivery queue: one River job
// (github.com/riverqueue/river) per delivery, inserted in the transaction that
// stores the message (message.Enqueuer), worked by a pool of workers that hand
// each delivery to the transport (internal/delivery), record the evidence and the
// new state, and retry temporary failures with exponential backoff and jitter
// until VEILIG_DELIVERY_MAX_AGE. A permanent failure (an SMTP 5yz reply, RFC 5321
// §4.2.1) or one that outlived the maximum age fails the delivery and sends the
// sender a bounce notice marked "Auto-Submitted: auto-replied" (RFC 3834 §5),
// which is never bounced itself.
//
// Jobs are at-least-once: a process killed mid-delivery leaves its job to be
// rescued and run again, and a delivery already final is skipped. Several
// processes on one PostgreSQL share the jobs; SQLite serves one process. River's
// own tables are created by Migrate, with River's migrator, right after the goose
// migrations.
package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/message"
)

// Queue is the River queue of deliveries.
const Queue = "delivery"

// ErrInvalidConfig reports an unusable Config or Deps.
var ErrInvalidConfig = errors.New("outbox: invalid configuration")

// Defaults of Config.
const (
	DefaultJobTimeout = 15 * time.Minute
	// Without LISTEN/NOTIFY (the database/sql drivers) River only polls, so a
	// short interval keeps workers busy; one indexed query per interval.
	DefaultPollInterval = 200 * time.Millisecond
	fetchCooldown       = 20 * time.Millisecond
	DefaultStopTimeout  = 30 * time.Second
)

// Config holds the outbox settings.
type Config struct {
	Workers      int           // concurrent deliveries in this process (VEILIG_DELIVERY_WORKERS)
	MaxAge       time.Duration // temporary failures are retried this long (VEILIG_DELIVERY_MAX_AGE)
	SMTPHostname string        // bounce notices come from postmaster@SMTPHostname (VEILIG_SMTP_HOSTNAME)
	Retry        RetryPolicy   // zero value: DefaultRetryPolicy()
	// JobTimeout bounds one delivery run (all MX hosts of a domain).
	JobTimeout time.Duration
	// RescueAfter is how long a run of a process that died stays claimed before
	// another process runs it again; more than JobTimeout (default JobTimeout+5m).
	RescueAfter time.Duration
	// PollInterval is how often idle workers look for due jobs (at least 100ms).
	PollInterval time.Duration
	// StopTimeout is how long a graceful stop waits for running deliveries before
	// cancelling them (they are retried later).
	StopTimeout time.Duration
}

// Deliverer sends one message to recipients at one domain (delivery.Deliverer).
type Deliverer interface {
	Deliver(ctx context.Context, domain string, env delivery.Envelope) delivery.Result
}

var _ Deliverer = (*delivery.Deliverer)(nil)

// NoticeRenderer renders, at delivery time, a notice to a sender that is stored
// without content (internal/external: first open, locked, new link).
type NoticeRenderer interface {
	RenderNotice(ctx context.Context, d message.Delivery) ([]byte, error)
}

// Deps are the collaborators of the outbox.
type Deps struct {
	DB        *database.DB
	Store     *message.Store
	Deliverer Deliverer
	Notices   NoticeRenderer // renders notices stored without content (optional)
	Log       *slog.Logger
	Now       func() time.Time
	Audit     audit.Recorder // the audit trail (optional; nil records nothing)
}

// Outbox enqueues and works deliveries.
type Outbox struct {
	cfg       Config
	store     *message.Store
	deliverer Deliverer
	notices   NoticeRenderer
	log       *slog.Logger
	now       func() time.Time
	audit     audit.Recorder
	client    *river.Client[*sql.Tx]
}

var _ message.Enqueuer = (*Outbox)(nil)

// New returns an outbox whose River client uses the dialect's driver:
// riverdatabasesql on PostgreSQL, riversqlite on SQLite, both over the pool of
// deps.DB, so that jobs join gorm's transactions.
func New(cfg Config, deps Deps) (*Outbox, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if deps.DB == nil || deps.Store == nil || deps.Deliverer == nil {
		return nil, fmt.Errorf("%w: DB, Store and Deliverer are required", ErrInvalidConfig)
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Audit == nil {
		deps.Audit = audit.Discard{}
	}
	o := &Outbox{cfg: cfg, store: deps.Store, deliverer: deps.Deliverer, notices: deps.Notices,
		log: deps.Log, now: deps.Now, audit: deps.Audit}
	if o.client, err = o.newClient(deps.DB); err != nil {
		return nil, err
	}
	return o, nil
}

func withDefaults(cfg Config) (Config, error) {
	switch {
	case cfg.Workers < 1:
		return cfg, fmt.Errorf("%w: Workers must be positive", ErrInvalidConfig)
	case cfg.MaxAge <= 0:
		return cfg, fmt.Errorf("%w: MaxAge must be positive", ErrInvalidConfig)
	case cfg.SMTPHostname == "" || strings.ContainsAny(cfg.SMTPHostname, "<>@ \r\n"):
		return cfg, fmt.Errorf("%w: SMTPHostname must be a host name", ErrInvalidConfig)
	}
	if cfg.Retry == (RetryPolicy{}) {
		cfg.Retry = DefaultRetryPolicy()
	}
	if r := cfg.Retry; r.Base <= 0 || r.Max < r.Base || r.Jitter < 0 || r.Jitter >= 1 {
		return cfg, fmt.Errorf("%w: Retry needs 0 < Base ≤ Max and 0 ≤ Jitter < 1", ErrInvalidConfig)
	}
	cfg.JobTimeout = cmpOr(cfg.JobTimeout, DefaultJobTimeout)
	cfg.RescueAfter = cmpOr(cfg.RescueAfter, cfg.JobTimeout+5*time.Minute)
	cfg.PollInterval = cmpOr(cfg.PollInterval, DefaultPollInterval)
	cfg.StopTimeout = cmpOr(cfg.StopTimeout, DefaultStopTimeout)
	if cfg.RescueAfter <= cfg.JobTimeout {
		return cfg, fmt.Errorf("%w: RescueAfter must exceed JobTimeout", ErrInvalidConfig)
	}
	return cfg, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// driver returns the River driver for db's dialect.
func driver(db *database.DB) (riverdriver.Driver[*sql.Tx], error) {
	sqlDB, err := db.SQL()
	if err != nil {
		return nil, fmt.Errorf("outbox: database pool: %w", err)
	}
	switch db.Dialect {
	case database.Postgres:
		return riverdatabasesql.New(sqlDB), nil
	case database.SQLite:
		return riversqlite.New(sqlDB), nil
	}
	return nil, fmt.Errorf("%w: no River driver for %q", ErrInvalidConfig, db.Dialect)
}

func (o *Outbox) newClient(db *database.DB) (*river.Client[*sql.Tx], error) {
	drv, err := driver(db)
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker{o: o}); err != nil {
		return nil, fmt.Errorf("outbox: register worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &systemMailWorker{o: o}); err != nil {
		return nil, fmt.Errorf("outbox: register system mail worker: %w", err)
	}
	c, err := river.NewClient(drv, &river.Config{
		Queues:               map[string]river.QueueConfig{Queue: {MaxWorkers: o.cfg.Workers}},
		Workers:              workers,
		Logger:               o.log.With("component", "river"),
		JobTimeout:           o.cfg.JobTimeout,
		RescueStuckJobsAfter: o.cfg.RescueAfter,
		FetchPollInterval:    o.cfg.PollInterval,
		FetchCooldown:        min(fetchCooldown, o.cfg.PollInterval),
		MaxAttempts:          o.cfg.Retry.MaxAttempts(o.cfg.MaxAge),
		RetryPolicy:          clientRetryPolicy{p: o.cfg.Retry, now: o.now},
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: river client: %w", err)
	}
	return c, nil
}

// EnqueueTx inserts one delivery job per id inside tx (the caller's gorm
// transaction: tx.Statement.ConnPool.(*sql.Tx)); the jobs exist only if tx commits.
func (o *Outbox) EnqueueTx(ctx context.Context, tx *sql.Tx, deliveryIDs []string) error {
	if len(deliveryIDs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(deliveryIDs))
	for i, id := range deliveryIDs {
		params[i] = river.InsertManyParams{Args: DeliverArgs{DeliveryID: id}}
	}
	if _, err := o.client.InsertManyFastTx(ctx, tx, params); err != nil {
		return fmt.Errorf("outbox: insert jobs: %w", err)
	}
	return nil
}

// Run works deliveries until ctx ends, then stops gracefully: running deliveries
// get Config.StopTimeout to finish and are then cancelled (and run again later).
func (o *Outbox) Run(ctx context.Context) error {
	if err := o.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("outbox: start: %w", err)
	}
	o.log.Info("outbox started", "queue", Queue, "workers", o.cfg.Workers)
	select {
	case <-ctx.Done():
	case <-o.client.Stopped():
		return errors.New("outbox: river client stopped unexpectedly")
	}
	return o.stop(context.WithoutCancel(ctx))
}

func (o *Outbox) stop(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, o.cfg.StopTimeout)
	defer cancel()
	err := o.client.Stop(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		o.log.Warn("outbox: deliveries still running after the stop timeout; cancelling them")
		hctx, hcancel := context.WithTimeout(ctx, o.cfg.StopTimeout)
		defer hcancel()
		err = o.client.StopAndCancel(hctx)
	}
	if err != nil {
		return fmt.Errorf("outbox: stop: %w", err)
	}
	o.log.Info("outbox stopped")
	return nil
}

// DeliverArgs are the arguments of a delivery job.
type DeliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind names the job kind in river_job.
func (DeliverArgs) Kind() string { return "veilig_delivery" }

// InsertOpts puts delivery jobs on their queue.
func (DeliverArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue} }
