package testenv

// A throwaway PostgreSQL cluster of the test's own, for tests that stop the
// database under a running service and start it again (the fault suite). The
// shared server of VEILIG_TEST_POSTGRES_URL must never be stopped by a test.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of the cluster's own waits.
const (
	pgInitTimeout  = 2 * time.Minute
	pgStartTimeout = time.Minute
	pgStopTimeout  = 30 * time.Second
)

// Postgres is a PostgreSQL cluster in a temporary directory, its postmaster a
// child process of the test (killed with the test binary), listening on a free
// loopback port that stays the same across Stop and Start.
type Postgres struct {
	t    testing.TB
	bin  string // directory of postgres, initdb
	dir  string
	port int
	cred *syscall.Credential // the postgres user when the test runs as root

	mu  sync.Mutex
	run *daemon
}

// StartPostgres initialises a cluster (trust authentication, user postgres) and
// starts it; it is stopped and removed when the test ends. Without the server
// binaries the test is Missing.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := pgBinDir()
	if bin == "" {
		Missing(t, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
	}
	p := &Postgres{t: t, bin: bin}
	if err := p.prepare(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() { p.StopImmediate(); _ = os.RemoveAll(p.dir) })
	if err := p.initdb(); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	p.startOnFreePort()
	return p
}

// pgBinDir returns the newest /usr/lib/postgresql/*/bin holding postgres, or "".
func pgBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) < pgMajor(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// prepare makes the cluster's directory, owned by the postgres user when the
// test runs as root (PostgreSQL refuses to run as root). It is not under
// t.TempDir, whose parent only root may enter.
func (p *Postgres) prepare() error {
	dir, err := os.MkdirTemp("", "veilig-pg-")
	if err != nil {
		return err
	}
	p.dir = dir
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return os.Chown(dir, uid, gid)
}

func (p *Postgres) path(name string) string { return filepath.Join(p.dir, name) }

// command runs a PostgreSQL program as the cluster's owner.
func (p *Postgres) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, prog), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (p *Postgres) initdb() error {
	ctx, cancel := context.WithTimeout(context.Background(), pgInitTimeout)
	defer cancel()
	out, err := p.command(ctx, "initdb", "-D", p.path("data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, tail(string(out), 3000))
	}
	return nil
}

// startOnFreePort picks a free port and starts the postmaster, retrying when the
// port was taken in between.
func (p *Postgres) startOnFreePort() {
	p.t.Helper()
	var err error
	for range 5 {
		if p.port, err = freePort(); err != nil {
			p.t.Fatalf("postgres: free port: %v", err)
		}
		if err = p.start(); err == nil {
			return
		}
	}
	p.t.Fatalf("postgres: %v", err)
}

// start runs the postmaster in the foreground on p.port and waits until it
// accepts connections.
func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run != nil {
		return errors.New("postgres: already running")
	}
	cmd := p.command(context.Background(), "postgres", "-D", p.path("data"), "-p", strconv.Itoa(p.port),
		"-k", p.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
	d, err := startCmd("postgres", p.path("server.log"), cmd)
	if err != nil {
		return err
	}
	if err := d.waitReady(pgStartTimeout, p.accepts); err != nil {
		return err
	}
	p.run = d
	return nil
}

// accepts reports whether the server answers pg_isready.
func (p *Postgres) accepts() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := p.command(ctx, "pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres").
		CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_isready: %w: %s", err, out)
	}
	return nil
}

// URL is the admin URL of the cluster's postgres database.
func (p *Postgres) URL() string {
	return "postgres://postgres@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) + "/postgres?sslmode=disable"
}

// PID is the postmaster's process id, 0 while the cluster is stopped.
func (p *Postgres) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == nil {
		return 0
	}
	return p.run.cmd.Process.Pid
}

// StopImmediate shuts the cluster down as `pg_ctl stop -m immediate` does
// (SIGQUIT to the postmaster: every backend ends at once, no checkpoint, crash
// recovery at the next start) and waits until it has exited.
func (p *Postgres) StopImmediate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == nil {
		return
	}
	_ = p.run.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.run.done:
	case <-time.After(pgStopTimeout):
		p.run.kill()
	}
	p.run = nil
}

// Start starts the stopped cluster again on the same port.
func (p *Postgres) Start() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatalf("postgres: restart on port %d: %v", p.port, err)
	}
}

// Log returns the server's log.
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(p.path("server.log"))
	return string(b)
}

// startCmd is startDaemon for a command that needs its own process attributes
// (a user to run as); Pdeathsig is kept.
func startCmd(name, logPath string, cmd *exec.Cmd) (*daemon, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	d := &daemon{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	return d, nil
}
