package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/config"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/dkim"
	"github.com/veilig/veilig/internal/external"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/notify"
	"github.com/veilig/veilig/internal/outbox"
	"github.com/veilig/veilig/internal/seal"
	"github.com/veilig/veilig/internal/submission"
	"github.com/veilig/veilig/internal/trust"
)

// sending is the secure-send route: blob store, DKIM keys, transport policy,
// outbox and message service.
type sending struct {
	blobs     sweepableStore
	vault     *message.Vault
	store     *message.Store
	keys      *dkim.Keys
	deliverer *delivery.Deliverer
	outbox    *outbox.Outbox
	messages  *message.Service
	external  externalRoute
	ring      *seal.KeyRing
}

// smtpHostname is VEILIG_SMTP_HOSTNAME or the host name.
func smtpHostname(c config.Config) (string, error) {
	if c.SMTPHostname != "" {
		return c.SMTPHostname, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("VEILIG_SMTP_HOSTNAME is not set and the host name is unknown: %w", err)
	}
	return h, nil
}

// sweepableStore is a blob store whose leftovers can be swept (blob.FS, blob.S3).
type sweepableStore interface {
	blob.Store
	Walk(ctx context.Context, fn func(key string, modified time.Time) error) error
	Sweep(ctx context.Context, olderThan time.Duration) (int, error)
}

// newBlobStore is the local directory DATA_DIR/blobs or, with BLOB_STORE=s3,
// the S3-compatible bucket.
func newBlobStore(ctx context.Context, s *setup) (sweepableStore, error) {
	if s.cfg.BlobStore != "s3" {
		return blob.NewFS(filepath.Join(s.cfg.DataDir, "blobs"))
	}
	return blob.NewS3(ctx, blob.S3Config{Endpoint: s.cfg.S3Endpoint, Bucket: s.cfg.S3Bucket, Region: s.cfg.S3Region,
		AccessKey: s.cfg.S3AccessKey, SecretKey: s.cfg.S3SecretKey, UseTLS: s.cfg.S3TLS, CAFile: s.cfg.S3CAFile}, s.log)
}

func newSending(ctx context.Context, s *setup, live *directory.Live) (*sending, error) {
	host, err := smtpHostname(s.cfg)
	if err != nil {
		return nil, err
	}
	var snd sending
	if snd.blobs, err = newBlobStore(ctx, s); err != nil {
		return nil, err
	}
	ring, err := loadKeyRing(s.cfg, s.log)
	if err != nil {
		return nil, err
	}
	snd.ring = ring
	snd.vault = message.NewVault(snd.blobs, ring)
	snd.store = message.NewStore(s.db, time.Now, snd.vault)
	snd.store.SetAudit(s.recorder())
	snd.keys = dkim.NewKeys(s.db.DB, time.Now, dkim.WithLogger(s.log))
	if snd.deliverer, err = newDeliverer(s, host); err != nil {
		return nil, err
	}
	if err := snd.newOutbox(s, host); err != nil {
		return nil, err
	}
	snd.messages, err = message.New(message.Config{MaxRecipients: s.cfg.MaxRecipients, SMTPHostname: host,
		External: externalConfig(s)},
		message.Deps{DB: s.db, Vault: snd.vault, Signer: message.DKIM(snd.keys), Router: message.LiveRouter(live),
			Audit: s.recorder(),
			Queue: snd.outbox, Notifier: notifier{snd.external.notify}, Log: s.log})
	if err != nil {
		return nil, err
	}
	return &snd, snd.external.wire(s, &snd, ring)
}

// newOutbox builds the outbox; with the dev mailbox on, it delivers there.
func (snd *sending) newOutbox(s *setup, host string) error {
	var err error
	if snd.external.mailbox, err = newMailbox(s); err != nil {
		return err
	}
	if snd.external.notify, err = notify.New(); err != nil {
		return err
	}
	snd.external.notices = external.NewNotices(snd.store, snd.external.notify, host, s.cfg.PublicURL)
	var deliverer outbox.Deliverer = snd.deliverer
	if snd.external.mailbox != nil {
		deliverer = snd.external.mailbox
	}
	snd.outbox, err = outbox.New(outbox.Config{Workers: s.cfg.DeliveryWorkers, MaxAge: s.cfg.DeliveryMaxAge,
		SMTPHostname: host, JobTimeout: s.cfg.DeliveryTimeout, RescueAfter: s.cfg.DeliveryRescue},
		outbox.Deps{DB: s.db, Store: snd.store, Deliverer: deliverer, Notices: snd.external.notices, Log: s.log,
			Audit: s.recorder()})
	return err
}

func newDeliverer(s *setup, host string) (*delivery.Deliverer, error) {
	cfg := delivery.Config{Resolver: s.cfg.DNSResolver, Port: s.cfg.DeliveryPort, Hostname: host,
		Relay: s.cfg.DeliveryRelay, RelayUsername: s.cfg.RelayUsername, RelayPassword: s.cfg.RelayPassword}
	if s.cfg.DeliveryCAFile != "" {
		roots, err := delivery.LoadRoots(s.cfg.DeliveryCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ExtraRoots = roots
	}
	return delivery.New(cfg, delivery.Deps{Log: s.log, DB: s.db.DB, Pins: pinSource{trust.NewStore(s.db, time.Now)}})
}

// runOutbox delivers until ctx ends; done is closed once it has stopped, so the
// database is closed only after the last delivery was recorded.
func (snd *sending) runOutbox(ctx context.Context, s *setup, done chan<- struct{}) {
	defer close(done)
	if err := snd.outbox.Run(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("outbox stopped", "err", err)
	}
}

// newSubmission returns the SMTP submission gateway, or nil when it is off.
func newSubmission(s *setup, a *app) (*submission.Server, error) {
	if s.cfg.SubmissionAddr == "" {
		return nil, nil
	}
	tlsConfig, err := submission.TLSConfig(s.cfg.SubmissionCert, s.cfg.SubmissionKey)
	if err != nil {
		return nil, err
	}
	host, err := smtpHostname(s.cfg)
	if err != nil {
		return nil, err
	}
	return submission.New(submission.Config{Hostname: host, TLS: tlsConfig, MaxMessageBytes: s.cfg.MaxMessageBytes,
		MaxRecipients: s.cfg.MaxRecipients, SpoolDir: filepath.Join(s.cfg.DataDir, "spool")},
		submission.Deps{Log: s.log, Auth: a.auth, Messages: a.send.messages, Directory: a.live})
}

// sweepLoop removes, every hour, upload temp files and blobs no message refers to
// (what a crash mid-accept leaves). Only blobs older than an hour are touched.
func (snd *sending) sweepLoop(ctx context.Context, s *setup) {
	tick(ctx, time.Hour, func() { snd.sweep(ctx, s) })
}

func (snd *sending) sweep(ctx context.Context, s *setup) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	temps, err1 := snd.blobs.Sweep(sctx, time.Hour)
	orphans, err2 := snd.store.SweepBlobs(sctx, snd.blobs, time.Hour)
	if err := errors.Join(err1, err2); err != nil && ctx.Err() == nil {
		s.log.Error("blob sweep failed", "err", err)
	}
	if temps+orphans > 0 {
		s.log.Info("blob sweep", "temp_files", temps, "orphan_blobs", orphans)
	}
}
