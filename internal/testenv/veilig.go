package testenv

// The veilig binary as the suites that run it whole use it: built with `go
// build` (or named by an environment variable), its one-shot commands run to
// completion, and `veilig serve` run as a child process on free loopback ports,
// stopped (or killed) by PID and killed with the test binary (Pdeathsig).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
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
	// CommandTimeout bounds one one-shot command (Veilig.Run, Veilig.RunErr).
	CommandTimeout     = 2 * time.Minute
	veiligBuildTimeout = 5 * time.Minute
	serveReadyTimeout  = time.Minute
	serveStopTimeout   = 30 * time.Second
	// serveStartAttempts bounds the starts of one server whose port another
	// process took between FreeAddr and serve's bind.
	serveStartAttempts = 3
	serveLogTail       = 6000
	// addrInUse is what serve logs when a port it should bind is taken.
	addrInUse = "address already in use"
)

// BuildVeilig compiles the veilig command into a temporary directory and
// returns its path; when binaryEnv is not "" and that variable is set, it
// returns the binary the variable names instead (to run a suite against a
// given build).
func BuildVeilig(t testing.TB, binaryEnv string) string {
	t.Helper()
	if bin := os.Getenv(binaryEnv); binaryEnv != "" && bin != "" {
		t.Logf("using %s=%s", binaryEnv, bin)
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build veilig: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "veilig")
	ctx, cancel := context.WithTimeout(context.Background(), veiligBuildTimeout)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/veilig/veilig").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// Veilig is a built binary with the settings every command shares.
type Veilig struct {
	// Bin is the executable (see BuildVeilig).
	Bin string
	// Dir is the commands' HOME and holds the servers' logs (Start); callers
	// keep their own files there too, such as TLS keys.
	Dir string
	// Vars are the settings (VEILIG_* and any other variable) of every command.
	// Nothing else of the test's environment is passed on but PATH.
	Vars map[string]string
	// Submission has Start give the SMTP submission gateway a free address as
	// well (VEILIG_SUBMISSION_ADDR, Serve.SMTPAddr). The gateway needs
	// VEILIG_SUBMISSION_TLS_CERT and VEILIG_SUBMISSION_TLS_KEY in Vars.
	Submission bool

	// pickAddr returns each address Start gives a server; nil is FreeAddr.
	pickAddr func(testing.TB) string
}

// environ is the child's whole environment: PATH, HOME, Vars and then extra
// (a later value of a variable wins).
func (v *Veilig) environ(extra map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + v.Dir}
	for _, m := range []map[string]string{v.Vars, extra} {
		for k, val := range m {
			env = append(env, k+"="+val)
		}
	}
	return env
}

// Run executes one command to completion with stdin as its input and returns
// its output (stdout and stderr); it fails the test when the command fails.
func (v *Veilig) Run(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := v.output(stdin, args)
	if err != nil {
		t.Fatalf("veilig %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr executes one command to completion and returns its output and error,
// for commands that are meant to fail.
func (v *Veilig) RunErr(args ...string) (string, error) { return v.output("", args) }

func (v *Veilig) output(stdin string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.Bin, args...)
	cmd.Env = v.environ(nil)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Serve is a running `veilig serve`.
type Serve struct {
	// URL is the HTTP API's base URL (and VEILIG_PUBLIC_URL unless the caller
	// set that).
	URL string
	// SMTPAddr is the submission gateway's address ("" without it).
	SMTPAddr string
	// LogFile is the file serve's stdout and stderr are appended to:
	// Veilig.Dir/<name>.log.
	LogFile string

	cmd      *exec.Cmd
	done     chan struct{} // closed once the process has exited
	logStart int64         // the size of LogFile when this process started
}

// Start runs `veilig serve` with extra settings on top of Vars and waits until
// /readyz answers 200. VEILIG_HTTP_ADDR (and with Submission
// VEILIG_SUBMISSION_ADDR) are free loopback addresses and VEILIG_PUBLIC_URL is
// the HTTP address's URL, unless extra sets them. When serve cannot bind a port
// because another process took it meanwhile, Start tries again on fresh ports
// (serveStartAttempts in all). The server is stopped with SIGTERM (SIGKILL after
// 30 s) when the test ends, then the log's tail is logged if the test failed;
// it dies with the test binary.
func (v *Veilig) Start(t testing.TB, name string, extra map[string]string) *Serve {
	t.Helper()
	logFile := filepath.Join(v.Dir, name+".log")
	t.Cleanup(func() { // registered first, so it runs after every Stop below
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, tailOfFile(logFile, serveLogTail))
		}
	})
	for attempt := 1; ; attempt++ {
		s, err := v.startOnce(t, logFile, extra)
		switch {
		case err == nil:
			t.Logf("%s: pid %d, API %s%s", name, s.PID(), s.URL, s.gatewayNote())
			return s
		case s.portTaken() && attempt < serveStartAttempts:
			t.Logf("%s: a port was taken before serve bound it (attempt %d of %d); trying fresh ports",
				name, attempt, serveStartAttempts)
		default:
			t.Fatalf("veilig serve: %v\nlog:\n%s", err, s.LogTail(serveLogTail))
		}
	}
}

// startOnce launches one server and waits until it is ready with every port it
// was given bound; a server that is not is stopped.
func (v *Veilig) startOnce(t testing.TB, logFile string, extra map[string]string) (*Serve, error) {
	t.Helper()
	s := v.launch(t, logFile, extra)
	err := s.waitReady()
	if err == nil && s.portTaken() {
		err = errors.New("the submission gateway could not bind its port")
	}
	if err != nil {
		s.Stop()
	}
	return s, err
}

// serveVars are one server's own settings: fresh addresses and the public URL
// that goes with them, under extra.
func (v *Veilig) serveVars(t testing.TB, extra map[string]string) map[string]string {
	t.Helper()
	pick := v.pickAddr
	if pick == nil {
		pick = FreeAddr
	}
	vars := map[string]string{"VEILIG_HTTP_ADDR": pick(t)}
	if v.Submission {
		vars["VEILIG_SUBMISSION_ADDR"] = pick(t)
	}
	maps.Copy(vars, extra)
	if _, ok := extra["VEILIG_PUBLIC_URL"]; !ok {
		vars["VEILIG_PUBLIC_URL"] = "http://" + vars["VEILIG_HTTP_ADDR"]
	}
	return vars
}

// launch starts one serve process with its output appended to logFile and has
// it stopped when the test ends.
func (v *Veilig) launch(t testing.TB, logFile string, extra map[string]string) *Serve {
	t.Helper()
	vars := v.serveVars(t, extra)
	s := &Serve{URL: "http://" + vars["VEILIG_HTTP_ADDR"], SMTPAddr: vars["VEILIG_SUBMISSION_ADDR"],
		LogFile: logFile, done: make(chan struct{})}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		s.logStart = st.Size()
	}
	s.cmd = exec.Command(v.Bin, "serve")
	s.cmd.Env = v.environ(vars)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start veilig serve: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Stop)
	return s
}

func (s *Serve) waitReady() error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(serveReadyTimeout)
	for time.Now().Before(deadline) {
		if !s.Alive() {
			return errors.New("exited before it was ready")
		}
		if resp, err := hc.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("/readyz did not answer 200 within %s", serveReadyTimeout)
}

// portTaken reports whether this process logged that a port was taken: the
// HTTP address (serve exits) or the submission gateway's (serve runs on
// without the gateway).
func (s *Serve) portTaken() bool {
	b, _ := os.ReadFile(s.LogFile)
	return int64(len(b)) > s.logStart && bytes.Contains(b[s.logStart:], []byte(addrInUse))
}

func (s *Serve) gatewayNote() string {
	if s.SMTPAddr == "" {
		return ""
	}
	return ", submission " + s.SMTPAddr
}

// PID is the server's process id.
func (s *Serve) PID() int { return s.cmd.Process.Pid }

// Alive reports whether the process is still running.
func (s *Serve) Alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Kill ends the server at once with SIGKILL, as a crash would, and waits for it.
func (s *Serve) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Stop sends SIGTERM and, after 30 s, SIGKILL; it returns at once when the
// server has already exited.
func (s *Serve) Stop() {
	if !s.Alive() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(serveStopTimeout):
		s.Kill()
	}
}

// LogTail returns the last n bytes of the log (of every start under this name).
func (s *Serve) LogTail(n int) string { return tailOfFile(s.LogFile, n) }

func tailOfFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	return tail(string(b), n)
}

// FreeAddr returns a loopback TCP address that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := freePortOn("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
