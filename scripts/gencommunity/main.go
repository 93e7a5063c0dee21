// Command gencommunity writes a realistic, deterministic Dutch community
// directory as LDIF content records (RFC 2849) for OpenLDAP's standard schema
// (core, cosine, inetorgperson): organisations (organization +
// domainRelatedObject, RFC 4524 associatedDomain as IDNA A-labels, RFC 5890)
// and their people (inetOrgPerson, RFC 2798), with DNs escaped per RFC 4514.
//
// The same flags and seed always give the same bytes. The output streams, so
// 14,000 organisations and 500,000 people take seconds and little memory:
//
//	go run ./scripts/gencommunity -orgs 14000 -people 500000 -seed 1 -out /tmp/big.ldif
//
// Without flags it writes the demo directory (300 organisations, 1,500 people,
// seed 1) to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(os.Args[1:], os.Stdout, os.Stderr, log); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			log.Error("gencommunity failed", "err", err)
		}
		os.Exit(2)
	}
}

// config is the command line.
type config struct {
	options
	out string // file name; "" or "-" for stdout
}

// Limits on the flags, to keep a typo from filling the disk.
const (
	maxOrgs   = 100_000
	maxPeople = 5_000_000
)

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("gencommunity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.orgs, "orgs", 300, "number of organisations (1–100000)")
	fs.IntVar(&cfg.people, "people", 1500, "number of people (0–5000000)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "random seed; the same seed gives the same file")
	fs.StringVar(&cfg.out, "out", "", "output file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("gencommunity: unexpected argument %q", fs.Arg(0))
	case cfg.orgs < 1 || cfg.orgs > maxOrgs:
		return cfg, fmt.Errorf("gencommunity: -orgs %d out of range 1–%d", cfg.orgs, maxOrgs)
	case cfg.people < 0 || cfg.people > maxPeople:
		return cfg, fmt.Errorf("gencommunity: -people %d out of range 0–%d", cfg.people, maxPeople)
	}
	return cfg, nil
}

func run(args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ds, err := loadDataset()
	if err != nil {
		return err
	}
	start := time.Now()
	var st stats
	if cfg.out == "" || cfg.out == "-" {
		st, err = generate(stdout, ds, cfg.options)
	} else {
		st, err = generateFile(cfg.out, ds, cfg.options)
	}
	if err != nil {
		return err
	}
	log.Info("community generated", "out", cfg.out, "organisations", st.orgs, "units", st.units,
		"people", st.people, "bytes", st.bytes, "seed", cfg.seed, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// generateFile writes to a temporary file next to name and renames it into
// place, so an interrupted run leaves no half-written file.
func generateFile(name string, ds *dataset, opt options) (st stats, err error) {
	f, err := os.CreateTemp(filepath.Dir(name), ".gencommunity-*")
	if err != nil {
		return st, fmt.Errorf("gencommunity: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if st, err = generate(f, ds, opt); err != nil {
		return st, err
	}
	if err = f.Chmod(0o644); err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		return st, fmt.Errorf("gencommunity: %w", err)
	}
	return st, nil
}
