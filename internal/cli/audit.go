package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
)

// errAuditBroken is what `veilig audit verify` returns when the trail does
// not verify (exit status 1).
var errAuditBroken = errors.New("audit: the trail does not verify / het audit-spoor klopt niet")

// auditSeedPurpose names the checkpoint signing key derived from the master key ring.
const auditSeedPurpose = "audit-checkpoint"

// openTrail opens the audit trail with the checkpoint key derived from the
// master key ring.
func openTrail(s *setup) (*audit.Trail, error) {
	ring, err := loadKeyRing(s.cfg, s.log)
	if err != nil {
		return nil, err
	}
	seed, err := ring.DeriveSecret(auditSeedPurpose)
	if err != nil {
		return nil, err
	}
	return audit.New(s.db, audit.Config{Seed: seed}, s.log, time.Now)
}

// auditCommand loads the configuration and the trail, then runs fn.
func auditCommand(ctx context.Context, env Env, name string, args []string, extra func(*flag.FlagSet),
	fn func(ctx context.Context, t *audit.Trail) error) error {
	s, _, err := load(ctx, env, name, args, false, extra)
	if err != nil {
		return err
	}
	defer s.db.Close()
	t, err := openTrail(s)
	if err != nil {
		return err
	}
	return fn(ctx, t)
}

// auditVerify walks the whole trail and prints what is wrong; it fails when
// anything is.
func auditVerify(ctx context.Context, env Env, args []string) error {
	return auditCommand(ctx, env, "audit verify", args, nil, func(ctx context.Context, t *audit.Trail) error {
		rep, err := t.Verify(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%d events (%d purged), %d checkpoints, last seq %d\n",
			rep.Events, rep.Purged, rep.Checkpoints, rep.LastSeq)
		for _, p := range rep.Problems {
			fmt.Fprintf(env.Stdout, "seq %d: %s: %s\n", p.Seq, p.Kind, p.Detail)
		}
		if rep.MoreProblems > 0 {
			fmt.Fprintf(env.Stdout, "… and %d more problems\n", rep.MoreProblems)
		}
		if !rep.OK() {
			return fmt.Errorf("%w: %d problems", errAuditBroken, int64(len(rep.Problems))+rep.MoreProblems)
		}
		fmt.Fprintln(env.Stdout, "the trail verifies / het audit-spoor klopt")
		return nil
	})
}

// auditExport writes the trail as JSON lines or RFC 5424 syslog lines.
func auditExport(ctx context.Context, env Env, args []string) error {
	var format, since, host string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", audit.FormatJSONL, "jsonl or syslog (RFC 5424)")
		fs.StringVar(&since, "since", "", "export events at or after this time (RFC 3339)")
		fs.StringVar(&host, "hostname", "", "syslog HOSTNAME (default: this host's name)")
	}
	return auditCommand(ctx, env, "audit export", args, flags, func(ctx context.Context, t *audit.Trail) error {
		opts, err := exportOptions(format, since, host)
		if err != nil {
			return err
		}
		n, err := t.Export(ctx, env.Stdout, opts)
		e := audit.Event{Action: audit.ActionAuditExported, Outcome: "success", Actor: audit.ActorFrom(ctx),
			Detail: map[string]string{"format": opts.Format, "since": since, "events": strconv.FormatInt(n, 10)}}
		if err != nil {
			e.Outcome = "failure"
		}
		t.Record(ctx, e) // after the export: the file does not hold its own event
		return err
	})
}

func exportOptions(format, since, host string) (audit.ExportOptions, error) {
	opts := audit.ExportOptions{Format: format, Hostname: host}
	if since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return opts, fmt.Errorf("%w: --since is an RFC 3339 time: %v", ErrUsage, err)
		}
		opts.Since = t
	}
	if format != audit.FormatJSONL && format != audit.FormatSyslog {
		return opts, fmt.Errorf("%w: --format is jsonl or syslog", ErrUsage)
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	return opts, nil
}

// auditPurge removes the payload of events past their organisation's retention.
func auditPurge(ctx context.Context, env Env, args []string) error {
	return auditCommand(ctx, env, "audit purge", args, nil, func(ctx context.Context, t *audit.Trail) error {
		n, err := t.Purge(ctx, time.Now())
		recordPurge(ctx, t, n, err)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "purged the payload of %d events; the chain is kept\n", n)
		return nil
	})
}

// purgeTrail removes audit payloads past their retention, in one process at a
// time (the events keep their hashes, so the chain still verifies).
func purgeTrail(ctx context.Context, s *setup, t *audit.Trail) {
	_, err := s.db.TryLock(ctx, database.LockAuditPurge, func(ctx context.Context) error {
		n, err := t.Purge(ctx, time.Now())
		if n > 0 || err != nil {
			recordPurge(ctx, t, n, err)
		}
		if err == nil && n > 0 {
			s.log.Info("audit payloads purged past retention", "events", n)
		}
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("audit purge failed", "err", err)
	}
}

// recordPurge records a purge of n events' payloads (the purge's own event
// is new, so it is not purged with them).
func recordPurge(ctx context.Context, t *audit.Trail, n int64, err error) {
	e := audit.Event{Action: audit.ActionAuditPurged, Outcome: "success", Actor: audit.ActorFrom(ctx),
		Detail: map[string]string{"events": strconv.FormatInt(n, 10)}}
	if err != nil {
		e.Outcome = "failure"
	}
	t.Record(ctx, e)
}
