package faults

// The harness: build the binary, run its one-shot commands, and run `veilig
// serve` as a child process that is stopped (or killed) by PID.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds of the harness's own waits (none is a timing assertion).
const (
	buildTimeout   = 5 * time.Minute
	commandTimeout = 2 * time.Minute
	readyTimeout   = time.Minute
	stopTimeout    = 30 * time.Second
)

// binaryEnv names a veilig binary to use instead of building one (to run the
// suite against a given build).
const binaryEnv = "VEILIG_FAULTS_BINARY"

// buildBinary compiles the veilig command into a temporary directory, unless
// binaryEnv names one.
func buildBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(binaryEnv); bin != "" {
		t.Logf("using %s=%s", binaryEnv, bin)
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build veilig: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "veilig")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/veilig/veilig").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// veilig is the built binary with the settings every command shares.
type veilig struct {
	bin  string
	dir  string            // holds logs and the TLS files of the submission gateway
	vars map[string]string // VEILIG_* settings
}

// environ is the child's whole environment: the settings and PATH, nothing
// inherited from the test's own environment.
func (v *veilig) environ(extra map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + v.dir}
	for _, m := range []map[string]string{v.vars, extra} {
		for k, val := range m {
			env = append(env, k+"="+val)
		}
	}
	return env
}

// run executes one command to completion and returns its output; it fails the
// test when the command fails.
func (v *veilig) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.bin, args...)
	cmd.Env = v.environ(nil)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("veilig %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// runErr executes one command to completion and returns its output and error.
func (v *veilig) runErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.bin, args...)
	cmd.Env = v.environ(nil)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// server is a running `veilig serve`.
type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	log  string
	// URL is the HTTP API's base URL.
	URL string
}

// start runs `veilig serve` on free ports, with extra settings on top of the
// shared ones, and waits until /readyz answers 200. The server is stopped with SIGTERM (SIGKILL after stopTimeout) when the test
// ends, and dies with the test binary.
func (v *veilig) start(t *testing.T, name string, extra map[string]string) *server {
	t.Helper()
	httpAddr := freeAddr(t)
	s := &server{done: make(chan struct{}), log: filepath.Join(v.dir, name+".log"), URL: "http://" + httpAddr}
	logFile, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	s.cmd = exec.Command(v.bin, "serve")
	vars := map[string]string{"VEILIG_HTTP_ADDR": httpAddr, "VEILIG_PUBLIC_URL": s.URL}
	for k, val := range extra {
		vars[k] = val
	}
	s.cmd.Env = v.environ(vars)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start veilig serve: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, s.logTail(6000))
		}
	})
	if err := s.waitReady(); err != nil {
		t.Fatalf("veilig serve: %v\nlog:\n%s", err, s.logTail(6000))
	}
	t.Logf("%s: pid %d, API %s", name, s.cmd.Process.Pid, s.URL)
	return s
}

func (s *server) waitReady() error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("exited before it was ready")
		default:
		}
		if resp, err := hc.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("/readyz did not answer 200 within %s", readyTimeout)
}

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// kill ends the server at once with SIGKILL, as a crash would, and waits for it.
func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// stop sends SIGTERM and, after stopTimeout, SIGKILL; it returns at once when
// the server has already exited.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.kill()
	}
}

func (s *server) logTail(n int) string {
	b, _ := os.ReadFile(s.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freeAddr returns a loopback TCP address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// waitFor polls cond every 200 ms until it reports done or timeout passes; then
// it fails the test with what cond last said.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	poll(t, timeout, 200*time.Millisecond, what, cond)
}

// poll is waitFor with its own interval, for conditions that are costly to check.
func poll(t *testing.T, timeout, every time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state: %s", what, timeout, state)
		}
		time.Sleep(every)
	}
}
