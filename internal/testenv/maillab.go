package testenv

// The mail-transport lab: a DNSSEC-signing authoritative server with a validating
// resolver in front (dns.go), Postfix as a recipient MX (postfix.go), an MTA-STS
// policy server (mtasts.go) and a test CA (certs.go). Every service listens on
// loopback on a free port, keeps its state in a temporary directory and is stopped
// by PID when the test ends. This file holds what they share: running a daemon in
// the foreground under the test's control.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// errDaemonExited reports that a daemon ended while we waited for it to answer.
var errDaemonExited = errors.New("testenv: daemon exited")

// daemon is a child process run in the foreground, its output in a log file,
// killed when the test binary dies (Pdeathsig) and stopped by PID at cleanup.
type daemon struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startDaemon starts argv with stdout and stderr appended to logPath.
func startDaemon(name, logPath string, argv ...string) (*daemon, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	d := &daemon{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	return d, nil
}

// waitReady polls ready until it succeeds, the daemon exits or timeout passes;
// on failure the daemon is killed and the error carries the log's tail.
func (d *daemon) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("%w: %s at start:\n%s", errDaemonExited, d.name, d.logTail())
		default:
		}
		if err = ready(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.kill()
	return fmt.Errorf("%s did not answer within %s (%v):\n%s", d.name, timeout, err, d.logTail())
}

func (d *daemon) logTail() string {
	b, _ := os.ReadFile(d.log)
	return tail(string(b), 3000)
}

func (d *daemon) kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// stop sends SIGTERM and, after 10 seconds, SIGKILL.
func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.kill()
	}
}

// freeDualPort returns a port on ip that was free a moment ago for both TCP and
// UDP (DNS servers bind both).
func freeDualPort(ip string) (int, error) {
	var lastErr error
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
		lastErr = err
	}
	return 0, lastErr
}

// freePortOn returns a TCP port that was free on ip a moment ago.
func freePortOn(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// socketDir returns a short temporary directory for Unix sockets (their paths
// are limited to 107 bytes, which a nested t.TempDir can exceed), removed when
// the test ends.
func socketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lab")
	if err != nil {
		t.Fatalf("socket dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// lookBinary returns the path of an executable found on PATH or in the sbin
// directories (which a non-root PATH may lack), or "".
func lookBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/lib/postfix/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// requireBinaries returns the paths of the named executables, or marks the test
// Missing (skipped locally, failed in CI) naming the Debian package.
func requireBinaries(t testing.TB, pkg string, names ...string) []string {
	t.Helper()
	paths := make([]string, len(names))
	for i, n := range names {
		if paths[i] = lookBinary(n); paths[i] == "" {
			Missing(t, fmt.Sprintf("%s (Debian package %s)", n, pkg))
		}
	}
	return paths
}
