package e2e

// The canary check: content and phone numbers carry unique strings, which must
// appear in none of the places the binary leaves data at rest or in logs — its
// database (a plain-SQL pg_dump), its log output, its TMPDIR and its data
// directory. Content is sealed (internal/seal) and numbers are kept sealed and
// shown masked, so any hit is a leak.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/testenv"
)

// canaryForms are the byte strings a needle can be stored as: itself, in hex
// (bytea in pg_dump's output), and base64 at each of the three alignments (MIME,
// JSON []byte).
func canaryForms(needle string) []string {
	forms := []string{needle, hex.EncodeToString([]byte(needle))}
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, pad), needle...))
		from, to := (pad+2)/3*4, (pad+len(needle))/3*4
		if to-from >= 12 {
			forms = append(forms, enc[from:to])
		}
	}
	return forms
}

// leak is one canary found somewhere.
type leak struct{ where, needle string }

// findCanaries returns where any form of any needle occurs in data.
func findCanaries(where string, data []byte, needles []string) []leak {
	var out []leak
	lower := bytes.ToLower(data)
	for _, n := range needles {
		for _, f := range canaryForms(n) {
			if bytes.Contains(data, []byte(f)) || bytes.Contains(lower, bytes.ToLower([]byte(f))) {
				out = append(out, leak{where, n})
				break
			}
		}
	}
	return out
}

// scanTree reads every regular file under root (which may be missing).
func scanTree(t *testing.T, root string, needles []string) []leak {
	t.Helper()
	var out []leak
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == root {
				return filepath.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out = append(out, findCanaries(path, b, needles)...)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// pgDump dumps the database as plain SQL, data included.
func pgDump(t *testing.T, dbURL string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.CommandTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, pgBin(t, "pg_dump"), "--format=plain", "--no-owner", "--no-privileges", "-d", dbURL)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, errOut.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("COPY public.messages")) {
		t.Fatalf("pg_dump has no messages table data (%d bytes)", out.Len())
	}
	return out.Bytes()
}

// canaryPlaces are where the binary keeps or writes things.
type canaryPlaces struct {
	dbURL   string
	logs    []string // files holding the binary's stdout and stderr
	dirs    []string // its TMPDIR and data directory
	scratch string   // a directory of the test's own for the self-test
}

// checkCanaries fails the test for every place a needle is found. It first
// proves it can find each needle in each form, in a file it plants.
func checkCanaries(t *testing.T, p canaryPlaces, needles []string) {
	t.Helper()
	selfTestCanaries(t, p.scratch, needles)
	var leaks []leak
	leaks = append(leaks, findCanaries("pg_dump", pgDump(t, p.dbURL), needles)...)
	for _, f := range p.logs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("binary's log: %v", err)
		}
		leaks = append(leaks, findCanaries("log "+filepath.Base(f), b, needles)...)
	}
	for _, d := range p.dirs {
		leaks = append(leaks, scanTree(t, d, needles)...)
	}
	for _, l := range leaks {
		t.Errorf("canary %q found in %s", l.needle, l.where)
	}
	t.Logf("canaries: %d needles checked in the database dump, %d logs and %d directories", len(needles),
		len(p.logs), len(p.dirs))
}

// selfTestCanaries plants each needle, in each form, in a file of its own and
// requires the scan to find it, so a broken search cannot pass.
func selfTestCanaries(t *testing.T, dir string, needles []string) {
	t.Helper()
	for i, n := range needles {
		for j, f := range canaryForms(n) {
			sub := filepath.Join(dir, "plant", strings.Repeat("x", i+1), strings.Repeat("y", j+1))
			if err := os.MkdirAll(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(sub, "f"), []byte("COPY x\\x00"+f+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := scanTree(t, sub, []string{n}); len(got) != 1 {
				t.Fatalf("canary self-test: form %d of %q planted but found %d times", j, n, len(got))
			}
		}
	}
}
