// Package cli is the veilig command line: it parses the subcommand and its
// configuration (internal/config) and wires the packages together with explicit
// constructors. main calls Run; nothing here is global.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/config"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/outbox"
)

// Env is the process environment a command sees.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ErrUsage reports a command line that names no command or misses arguments.
var ErrUsage = errors.New("usage")

// ExitCode maps an error to the process exit status: 2 for usage errors, else 1.
func ExitCode(err error) int {
	if errors.Is(err, ErrUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

type command struct {
	name, help string
	run        func(ctx context.Context, env Env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP API server", serve},
		{"migrate", "apply pending database migrations", migrate},
		{"directory sync", "synchronise the community directory from LDAP now", directorySync},
		{"directory import", "replace the directory with an LDIF file: --ldif FILE", directoryImport},
		{"user add", "create a user: --email E --password-stdin [--role sender|org-admin|operator]", userAdd},
		{"keys rotate", "add a master key and re-wrap every data key under it", keysRotate},
		{"keys rewrap", "re-wrap data keys still under an older master key", keysRewrap},
		{"audit verify", "check the audit trail's hash chain and signed checkpoints", auditVerify},
		{"audit export", "write the audit trail: --format jsonl|syslog [--since RFC3339]", auditExport},
		{"audit purge", "remove audit payloads past each organisation's retention", auditPurge},
		{"config", "print the configuration table (Markdown)", printConfig},
	}
}

// Run executes the command named by args.
func Run(ctx context.Context, args []string, env Env) error {
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(operator(ctx, c.name), env, args[len(words):])
		}
	}
	usage(env.Stderr)
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", ErrUsage, strings.Join(args, " "))
}

// operator is ctx naming the command line as the actor of what a command
// records in the audit trail (role "cli", the command as its user agent).
// `veilig serve` acts as Veilig itself: its requests name their own callers.
func operator(ctx context.Context, command string) context.Context {
	if command == "serve" {
		return ctx
	}
	return audit.WithActor(ctx, audit.Actor{Role: "cli", UserAgent: "veilig " + command})
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: veilig COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.help)
	}
	fmt.Fprintln(w, "\nEvery command takes the configuration flags; `veilig COMMAND -h` lists them.")
}

// setup is what every command needs: configuration, a logger and the database.
type setup struct {
	cfg config.Config
	log *slog.Logger
	db  *database.DB
	// audit records what the command's services do; commands that write the
	// trail set it (withTrail), the others leave it nil: nothing is recorded.
	audit audit.Recorder
}

// recorder is s.audit, or one that records nothing.
func (s *setup) recorder() audit.Recorder {
	if s.audit == nil {
		return audit.Discard{}
	}
	return s.audit
}

// withTrail opens the audit trail and makes it the setup's recorder.
func (s *setup) withTrail() (*audit.Trail, error) {
	t, err := openTrail(s)
	if err == nil {
		s.audit = t
	}
	return t, err
}

// load parses configuration (plus the command's own flags, registered by extra)
// and opens the database, migrating it when migrate is set.
func load(ctx context.Context, env Env, name string, args []string, migrate bool, extra func(*flag.FlagSet)) (*setup, []string, error) {
	fs := flag.NewFlagSet("veilig "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	if extra != nil {
		extra(fs)
	}
	cfg, rest, err := config.Load(fs, args, env.Getenv)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(env.Stderr, cfg)
	db, err := database.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, nil, err
	}
	if migrate {
		mctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if err := db.Migrate(mctx, log); err != nil {
			_ = db.Close()
			return nil, nil, err
		}
		if err := outbox.Migrate(mctx, db); err != nil {
			_ = db.Close()
			return nil, nil, err
		}
	}
	return &setup{cfg: cfg, log: log, db: db}, rest, nil
}

func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func migrate(ctx context.Context, env Env, args []string) error {
	s, _, err := load(ctx, env, "migrate", args, true, nil)
	if err != nil {
		return err
	}
	defer s.db.Close()
	s.log.Info("database is current")
	return nil
}

func printConfig(_ context.Context, env Env, _ []string) error {
	_, err := io.WriteString(env.Stdout, config.Table())
	return err
}
