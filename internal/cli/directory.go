package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/directory/ldapsync"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/config"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/metrics"
)

// ErrSyncBusy reports a sync refused because another process is syncing.
var ErrSyncBusy = errors.New("another process is synchronising the directory; try again later")

// ErrNoLDAP reports a sync asked for without VEILIG_LDAP_URL.
var ErrNoLDAP = errors.New("LDAP is not configured: set VEILIG_LDAP_URL and VEILIG_LDAP_BASE_DN")

func ldapConfig(c config.Config) ldapsync.Config {
	return ldapsync.Config{
		URL: c.LDAPURL, StartTLS: c.LDAPStartTLS, CAFile: c.LDAPCAFile, BindDN: c.LDAPBindDN,
		BindPassword: c.LDAPBindPassword, BaseDN: c.LDAPBaseDN, Preset: c.LDAPPreset,
		OrgFilter: c.LDAPOrgFilter, PersonFilter: c.LDAPPersonFilter,
		OrgNameAttr: c.LDAPAttrOrgName, OrgDomainsAttr: c.LDAPAttrDomain, OrgDescriptionAttr: c.LDAPAttrDesc,
		OrgOINAttr: c.LDAPAttrOIN, OrgKvKAttr: c.LDAPAttrKvK, PersonNameAttr: c.LDAPAttrName,
		PersonMailAttr: c.LDAPAttrMail, PersonDeptAttr: c.LDAPAttrDept,
		PageSize: c.LDAPPageSize, Timeout: c.LDAPTimeout, Incremental: c.LDAPIncremental,
	}
}

// newSyncer returns the LDAP syncer, or nil when LDAP is not configured.
func newSyncer(c config.Config, store *directory.Store, log *slog.Logger, rec audit.Recorder) (*ldapsync.Syncer, error) {
	if c.LDAPURL == "" {
		return nil, nil
	}
	sy, err := ldapsync.NewSyncer(ldapConfig(c), store, log)
	if err != nil {
		return nil, fmt.Errorf("LDAP configuration: %w", err)
	}
	sy.SetAudit(rec)
	return sy, nil
}

// syncOnce runs one sync under the cluster-wide sync lock and records metrics.
func syncOnce(ctx context.Context, db *database.DB, sy *ldapsync.Syncer, m *metrics.Metrics, log *slog.Logger) error {
	ran, err := db.TryLock(ctx, database.LockDirectorySync, func(ctx context.Context) error {
		start := time.Now()
		run, err := sy.Sync(ctx)
		observeRun(m, run, time.Since(start))
		return err
	})
	if err == nil && !ran {
		log.Info("directory sync skipped: another process is syncing")
	}
	return err
}

func observeRun(m *metrics.Metrics, run directory.SyncRun, d time.Duration) {
	if m == nil || run.Kind == "" {
		return
	}
	m.SyncDuration.WithLabelValues(run.Kind, run.Outcome).Observe(d.Seconds())
	for what, n := range map[string]int{"organisations": run.Organisations, "people": run.People,
		"deleted": run.Deleted, "skipped": run.Skipped} {
		m.SyncEntries.WithLabelValues(run.Kind, what).Add(float64(n))
	}
}

func syncLoop(ctx context.Context, s *setup, sy *ldapsync.Syncer, m *metrics.Metrics) {
	for {
		if err := syncOnce(ctx, s.db, sy, m, s.log); err != nil && ctx.Err() == nil {
			s.log.Error("directory sync failed; the previous directory stays served", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.LDAPSyncInterval):
		}
	}
}

func directorySync(ctx context.Context, env Env, args []string) error {
	var full bool
	s, _, err := load(ctx, env, "directory sync", args, true, func(fs *flag.FlagSet) {
		fs.BoolVar(&full, "full", false, "force a full sync instead of an incremental one")
	})
	if err != nil {
		return err
	}
	defer s.db.Close()
	if _, err := s.withTrail(); err != nil {
		return err
	}
	sy, err := newSyncer(s.cfg, directory.NewStore(s.db.DB, time.Now), s.log, s.recorder())
	if err != nil {
		return err
	}
	if sy == nil {
		return ErrNoLDAP
	}
	var run directory.SyncRun
	ran, err := s.db.TryLock(ctx, database.LockDirectorySync, func(ctx context.Context) error {
		var err error
		if full {
			run, err = sy.FullSync(ctx)
		} else {
			run, err = sy.Sync(ctx)
		}
		return err
	})
	if err == nil && !ran {
		return ErrSyncBusy
	}
	printRun(env, run)
	return err
}

func directoryImport(ctx context.Context, env Env, args []string) error {
	var file string
	s, _, err := load(ctx, env, "directory import", args, true, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "ldif", "", "LDIF file (RFC 2849) to import; replaces the whole directory")
	})
	if err != nil {
		return err
	}
	defer s.db.Close()
	if file == "" {
		return fmt.Errorf("%w: directory import --ldif FILE", ErrUsage)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	// Import needs no LDAP server, only the mapping of the configured preset.
	cfg := ldapConfig(s.cfg)
	cfg.URL = ""
	sy, err := ldapsync.NewSyncer(cfg, directory.NewStore(s.db.DB, time.Now), s.log)
	if err != nil {
		return err
	}
	if _, err := s.withTrail(); err != nil {
		return err
	}
	sy.SetAudit(s.recorder())
	run, err := sy.Import(ctx, f, file)
	printRun(env, run)
	return err
}

func printRun(env Env, run directory.SyncRun) {
	if run.Kind == "" {
		return
	}
	fmt.Fprintf(env.Stdout, "%s %s: %d organisations, %d people, %d deleted, %d skipped\n",
		run.Kind, run.Outcome, run.Organisations, run.People, run.Deleted, run.Skipped)
	for _, is := range run.Issues {
		fmt.Fprintf(env.Stdout, "  skipped %s: %s\n", is.DN, is.Reason)
	}
}
