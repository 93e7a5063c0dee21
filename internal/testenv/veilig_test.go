package testenv

import (
	"bufio"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVeiligStart proves that Start survives a port taken between FreeAddr and
// serve's bind, for the HTTP API (serve exits) and for the submission gateway
// (serve runs on without it).
func TestVeiligStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the veilig binary")
	}
	bin := BuildVeilig(t, "")
	t.Run("HTTP port taken", func(t *testing.T) {
		v := migratedVeilig(t, bin)
		taken := takePort(t)
		v.pickAddr = takenFirst(taken, 0)
		s := v.Start(t, "serve", nil)
		checkRetried(t, s, taken)
		if s.URL == "http://"+taken {
			t.Fatalf("serve runs on the taken address %s", taken)
		}
	})
	t.Run("submission port taken", func(t *testing.T) {
		v := migratedVeilig(t, bin)
		keyAndCert := filepath.Join(v.Dir, "submission.pem")
		if err := writeKeyAndChain(keyAndCert, SelfSigned(t, "veilig.localhost", "127.0.0.1")); err != nil {
			t.Fatal(err)
		}
		v.Vars["VEILIG_SUBMISSION_TLS_CERT"], v.Vars["VEILIG_SUBMISSION_TLS_KEY"] = keyAndCert, keyAndCert
		v.Submission = true
		taken := takePort(t)
		v.pickAddr = takenFirst(taken, 1)
		s := v.Start(t, "serve", nil)
		checkRetried(t, s, taken)
		if s.SMTPAddr == taken || s.SMTPAddr == "" {
			t.Fatalf("submission gateway on %q, want a fresh address", s.SMTPAddr)
		}
		checkGreeting(t, s.SMTPAddr)
	})
}

// migratedVeilig is bin on a migrated SQLite database of its own.
func migratedVeilig(t *testing.T, bin string) *Veilig {
	t.Helper()
	dir := t.TempDir()
	v := &Veilig{Bin: bin, Dir: dir, Vars: map[string]string{
		"VEILIG_DATABASE_URL":  filepath.Join(dir, "veilig.db"),
		"VEILIG_DATA_DIR":      filepath.Join(dir, "data"),
		"VEILIG_LOG_FORMAT":    "text",
		"VEILIG_SMTP_HOSTNAME": "veilig.localhost",
	}}
	v.Run(t, "", "migrate")
	return v
}

// takePort holds a loopback port until the test ends and returns its address.
func takePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// takenFirst picks taken as the n-th address (counting from 0) of the first
// start and free addresses otherwise.
func takenFirst(taken string, n int) func(testing.TB) string {
	calls := 0
	return func(t testing.TB) string {
		calls++
		if calls == n+1 {
			return taken
		}
		return FreeAddr(t)
	}
}

// checkRetried requires a ready server whose log shows the failed first start.
func checkRetried(t *testing.T, s *Serve, taken string) {
	t.Helper()
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !s.Alive() {
		t.Fatalf("/readyz: %d, alive %v", resp.StatusCode, s.Alive())
	}
	if log := s.LogTail(1 << 20); !strings.Contains(log, taken) || !strings.Contains(log, addrInUse) {
		t.Fatalf("the log does not show the first start failing on %s:\n%s", taken, log)
	}
}

// checkGreeting requires an SMTP greeting (RFC 5321 §4.2) at addr.
func checkGreeting(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting at %s: %q %v", addr, line, err)
	}
}
