package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/auth"
)

// runCLI runs one veilig command against the SQLite file in dir.
func runCLI(t *testing.T, ctx context.Context, dir, stdin string, args ...string) (string, error) {
	t.Helper()
	vars := map[string]string{
		"VEILIG_DATABASE_URL": filepath.Join(dir, "veilig.db"),
		"VEILIG_DATA_DIR":     filepath.Join(dir, "data"),
		"VEILIG_LOG_LEVEL":    "warn",
	}
	var out, errOut bytes.Buffer
	err := Run(ctx, args, Env{Getenv: func(k string) string { return vars[k] }, Stdin: strings.NewReader(stdin),
		Stdout: &out, Stderr: &errOut})
	return out.String() + errOut.String(), err
}

func TestImportAndUserAdd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out, err := runCLI(t, ctx, dir, "", "directory", "import", "--ldif", "../../scripts/demo-community.ldif")
	if err != nil || !strings.Contains(out, "import succeeded: 300 organisations, 1500 people") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	tests := []struct {
		name, stdin string
		args        []string
		wantErr     error
		wantOut     string
	}{
		{"sender of a community domain", "a long enough password\n",
			[]string{"--email", "demo@oldambt.nl", "--password-stdin"}, nil, "created sender demo@oldambt.nl"},
		{"operator needs no organisation", "a long enough password\n",
			[]string{"--email", "ops@example.org", "--password-stdin", "--role", "operator"}, nil, "organisation none"},
		{"sender outside the community", "a long enough password\n",
			[]string{"--email", "someone@gmail.com", "--password-stdin"}, auth.ErrNoOrganisation, ""},
		{"org-admin outside the community", "a long enough password\n",
			[]string{"--email", "someone@gmail.com", "--password-stdin", "--role", "org-admin"}, auth.ErrNoOrganisation, ""},
		{"duplicate", "a long enough password\n",
			[]string{"--email", "demo@oldambt.nl", "--password-stdin"}, auth.ErrUserExists, ""},
		{"unknown role", "a long enough password\n",
			[]string{"--email", "x@oldambt.nl", "--password-stdin", "--role", "root"}, auth.ErrInvalidRole, ""},
		{"short password", "short\n",
			[]string{"--email", "y@oldambt.nl", "--password-stdin"}, auth.ErrPasswordTooShort, ""},
		{"no password", "",
			[]string{"--email", "z@oldambt.nl", "--password-stdin"}, ErrUsage, ""},
		{"no --password-stdin", "",
			[]string{"--email", "z@oldambt.nl"}, ErrUsage, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, ctx, dir, tc.stdin, append([]string{"user", "add"}, tc.args...)...)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v\n%s", err, tc.wantErr, out)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output %q lacks %q", out, tc.wantOut)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	_, err := runCLI(t, context.Background(), t.TempDir(), "", "frobnicate")
	if !errors.Is(err, ErrUsage) || ExitCode(err) != 2 {
		t.Fatalf("err = %v (exit %d), want a usage error", err, ExitCode(err))
	}
}

func TestSyncWithoutLDAPIsRefused(t *testing.T) {
	_, err := runCLI(t, context.Background(), t.TempDir(), "", "directory", "sync")
	if !errors.Is(err, ErrNoLDAP) {
		t.Fatalf("err = %v, want ErrNoLDAP", err)
	}
}

// TestServeStartsAndStopsGracefully runs serve on a free port, waits for /readyz
// and shuts it down through its context, as SIGTERM does.
func TestServeStartsAndStopsGracefully(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runCLI(t, ctx, dir, "", "serve", "--http-addr", addr)
		done <- err
	}()
	if err := waitReady(ctx, "http://"+addr+"/readyz", done); err != nil {
		cancel()
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "veilig.db")); err != nil {
		t.Errorf("serve did not create its database: %v", err)
	}
}

// waitReady polls url until it answers 200, for a minute at most (a loaded
// CI machine migrating a fresh database can take seconds).
func waitReady(ctx context.Context, url string, done <-chan error) error {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		select {
		case err := <-done:
			return fmt.Errorf("serve exited early: %v", err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("serve never became ready")
}
