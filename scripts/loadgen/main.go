// Command loadgen is the load generator behind `make bench`. It measures
// Veilig's autocomplete API (RFC 9110 GET with an RFC 6750 bearer token)
// against the yardstick a mail client would use instead: an RFC 4511 LDAP
// subtree search with an RFC 4515 substring filter against slapd. -mode submit
// measures secure send instead: POST /api/v1/messages (RFC 7578 multipart/form-data,
// see submit.go). -mode notify, viewer-login and page measure the external
// route against a server with the dev mailbox (see external.go). -mode lag
// reports the outbox lag of accepted messages and -mode prefixes prints the
// autocomplete prefixes for another load tool (see lag.go).
//
// It only ever talks to loopback addresses (127.0.0.0/8, ::1, localhost):
// the URL is checked up front and every socket is checked again at dial time.
//
//	go run ./scripts/loadgen -mode http -token-file tok -ldif people.ldif -json
//	go run ./scripts/loadgen -mode ldap -url ldap://127.0.0.1:3389 -base o=veilig -ldif people.ldif
//	go run ./scripts/loadgen -mode submit -token-file tok -size 102400 -rcpts 5 -rcpt-domain dane.test
//	go run ./scripts/loadgen -mode lag -token-file tok -ids-file ids -wait 2m -json
//	go run ./scripts/loadgen -mode prefixes -ldif people.ldif -prefixes 2000
//	go run ./scripts/loadgen -mode rss -pid 1234
//	go run ./scripts/loadgen -mode histogram -save before.prom
//	go run ./scripts/loadgen -mode histogram -before before.prom -json
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

var (
	errUsage     = errors.New("loadgen: invalid usage")
	errAllFailed = errors.New("loadgen: no request succeeded")
)

// config holds every flag; see newFlagSet for defaults and meaning.
type config struct {
	mode        string
	url         string
	concurrency int
	duration    time.Duration
	n           int64
	warmup      time.Duration
	timeout     time.Duration
	queries     string
	ldif        string
	prefixes    int
	seed        uint64
	json        bool
	limit       int
	token       string
	tokenFile   string
	bindDN      string
	bindPW      string
	bindPWFile  string
	base        string
	pid         int
	route       string
	before      string
	save        string
	size        int64
	rcpts       int
	rcptDomain  string
	ext         externalConfig
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run parses args, runs the selected mode and writes the result to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch cfg.mode {
	case "rss":
		return reportRSS(stdout, cfg.pid)
	case "histogram":
		return reportHistogram(ctx, cfg, stdout)
	case "submit":
		return benchSubmit(ctx, log, cfg, stdout)
	case "notify":
		return benchNotify(ctx, log, cfg, stdout)
	case "viewer-login":
		return viewerLogin(ctx, log, cfg, stdout)
	case "page":
		return benchPage(ctx, log, cfg, stdout)
	case "lag":
		return benchLag(ctx, log, cfg, stdout)
	case "prefixes":
		return printPrefixes(cfg, stdout)
	}
	return bench(ctx, log, cfg, stdout)
}

func newFlagSet(cfg *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.mode, "mode", "http", "http, ldap, submit, notify, viewer-login, page, lag, prefixes, rss or histogram")
	fs.StringVar(&cfg.url, "url", "", "loopback target (default http://127.0.0.1:8080 or ldap://127.0.0.1:389)")
	fs.IntVar(&cfg.concurrency, "c", 8, "concurrent workers (one connection each)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured run time (0: bounded by -n only)")
	fs.Int64Var(&cfg.n, "n", 0, "maximum measured requests (0: bounded by -duration only)")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured warm-up time")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "per-request and dial timeout")
	fs.StringVar(&cfg.queries, "queries", "", "file with one query prefix per line")
	fs.StringVar(&cfg.ldif, "ldif", "", "LDIF to derive prefixes from when -queries is absent")
	fs.IntVar(&cfg.prefixes, "prefixes", 2000, "number of prefixes to derive from -ldif")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed for prefix derivation")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object instead of a human line")
	fs.IntVar(&cfg.limit, "limit", 10, "results per query (HTTP limit, LDAP size limit)")
	fs.StringVar(&cfg.token, "token", "", "bearer token for -mode http (prefer -token-file)")
	fs.StringVar(&cfg.tokenFile, "token-file", "", "file holding the bearer token")
	fs.StringVar(&cfg.bindDN, "binddn", "", "LDAP bind DN (empty: anonymous)")
	fs.StringVar(&cfg.bindPW, "bindpw", "", "LDAP bind password (prefer -bindpw-file)")
	fs.StringVar(&cfg.bindPWFile, "bindpw-file", "", "file holding the LDAP bind password")
	fs.StringVar(&cfg.base, "base", "", "LDAP search base DN")
	fs.IntVar(&cfg.pid, "pid", 0, "process to report for -mode rss")
	fs.StringVar(&cfg.route, "route", "/api/v1/directory/search", "route label whose latency -mode histogram reports")
	fs.StringVar(&cfg.before, "before", "", "-mode histogram: earlier scrape (from -save) to subtract")
	fs.StringVar(&cfg.save, "save", "", "-mode histogram: write the raw /metrics scrape to this file and exit")
	fs.Int64Var(&cfg.size, "size", 100<<10, "-mode submit: bytes of the generated attachment (0: none)")
	fs.IntVar(&cfg.rcpts, "rcpts", 5, "-mode submit: recipients per message")
	fs.StringVar(&cfg.rcptDomain, "rcpt-domain", "", "-mode submit: domain of the generated recipients (a community domain)")
	cfg.ext.register(fs)
	return fs
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	if err := newFlagSet(&cfg, stderr).Parse(args); err != nil {
		return cfg, fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := cfg.readSecrets(); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

// readSecrets loads -token-file and -bindpw-file, which take precedence.
func (c *config) readSecrets() error {
	for _, s := range []struct{ file, dst *string }{{&c.tokenFile, &c.token}, {&c.bindPWFile, &c.bindPW}} {
		if *s.file == "" {
			continue
		}
		b, err := os.ReadFile(*s.file)
		if err != nil {
			return fmt.Errorf("loadgen: read secret: %w", err)
		}
		*s.dst = strings.TrimSpace(string(b))
	}
	return nil
}

func (c *config) validate() error {
	switch c.mode {
	case "rss":
		return check(c.pid > 0, "-mode rss needs -pid")
	case "histogram":
		c.url = cmp.Or(c.url, "http://127.0.0.1:8080")
		if err := check(c.before == "" || c.save == "", "-before and -save exclude each other"); err != nil {
			return err
		}
		_, err := loopbackURL(c.url, "http")
		return err
	case "http":
		c.url = cmp.Or(c.url, "http://127.0.0.1:8080")
		if err := check(c.token != "", "-mode http needs -token or -token-file"); err != nil {
			return err
		}
	case "submit":
		c.url = cmp.Or(c.url, "http://127.0.0.1:8080")
		if err := c.validateSubmit(); err != nil {
			return err
		}
		_, err := loopbackURL(c.url, "http")
		return err
	case "notify", "viewer-login", "page", "lag":
		return c.validateExternal()
	case "prefixes":
		return check(c.queries != "" || c.ldif != "", "-mode prefixes needs -ldif or -queries")
	case "ldap":
		c.url = cmp.Or(c.url, "ldap://127.0.0.1:389")
		if err := check(c.base != "", "-mode ldap needs -base"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: unknown -mode %q", errUsage, c.mode)
	}
	if _, err := loopbackURL(c.url, c.mode); err != nil {
		return err
	}
	return c.validateLoad()
}

func (c *config) validateLoad() error {
	for _, e := range []struct {
		ok  bool
		msg string
	}{
		{c.concurrency >= 1 && c.concurrency <= 1024, "-c must be 1..1024"},
		{c.duration >= 0 && c.n >= 0 && c.warmup >= 0, "-duration, -n and -warmup must not be negative"},
		{c.duration > 0 || c.n > 0, "set -duration or -n so the run is bounded"},
		{c.timeout > 0, "-timeout must be positive"},
		{c.limit >= 1 && c.limit <= 100, "-limit must be 1..100"},
		{c.queries != "" || c.ldif != "", "set -queries or -ldif"},
		{c.prefixes >= 1, "-prefixes must be positive"},
	} {
		if err := check(e.ok, e.msg); err != nil {
			return err
		}
	}
	return nil
}

func check(ok bool, msg string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("%w: %s", errUsage, msg)
}
