package e2e

// Helpers of the Thunderbird tests: assemble the extension in the layout of
// `make addins` (addin/thunderbird plus addin/core under core/, no tests), add
// the test-only driver, write a Thunderbird profile, and run web-ext.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// thunderbirdBin is where Debian's thunderbird package puts the binary.
const thunderbirdBin = "/usr/lib/thunderbird/thunderbird-bin"

// addinDir is the repository's addin/ directory, seen from this package.
func addinDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "addin"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// webExt returns the web-ext command of addin/node_modules, or skips (fails
// in CI) when node or the modules are missing.
func webExt(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node")
	}
	bin := filepath.Join(addinDir(t), "node_modules", ".bin", "web-ext")
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "addin/node_modules (npm ci in addin/)")
	}
	return bin
}

// shipped reports whether a file of addin/thunderbird goes into the xpi.
func shipped(rel string, d fs.DirEntry) bool {
	if d.IsDir() {
		return rel != "testing"
	}
	return !strings.HasSuffix(rel, ".test.js")
}

// assembleExtension copies the extension as `make addins` packs it.
func assembleExtension(t *testing.T) string {
	t.Helper()
	src, dst := addinDir(t), t.TempDir()
	tb := filepath.Join(src, "thunderbird")
	err := filepath.WalkDir(tb, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tb, path)
		if rel == "." {
			return nil
		}
		if !shipped(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatalf("assemble extension: %v", err)
	}
	core, _ := filepath.Glob(filepath.Join(src, "core", "*.js"))
	for _, f := range core {
		if strings.HasSuffix(f, ".test.js") {
			continue
		}
		if err := copyFile(f, filepath.Join(dst, "core", filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// addDriver turns an assembled extension into the test build: the driver
// as a second background module, its control URL, host access to loopback
// (granted at install, as an administrator's preset would be) and
// compose.send for trying the normal send.
func addDriver(t *testing.T, dir, control string) {
	t.Helper()
	if err := copyFile(filepath.Join(addinDir(t), "thunderbird", "testing", "driver.js"), filepath.Join(dir, "test-driver.js")); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]string{"control": control})
	if err := os.WriteFile(filepath.Join(dir, "test-config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "manifest.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	bg := man["background"].(map[string]any)
	bg["scripts"] = append(bg["scripts"].([]any), "test-driver.js")
	man["permissions"] = append(man["permissions"].([]any), "compose.send")
	man["host_permissions"] = []any{"http://127.0.0.1/*"}
	out, _ := json.MarshalIndent(man, "", "  ")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeProfile writes a Thunderbird profile whose user.js defines one
// account with an identity (compose needs one) and an SMTP server at
// smtpAddr's port on 127.0.0.1, and turns off first-run UI and telemetry.
func writeProfile(t *testing.T, email string, smtpPort int) string {
	t.Helper()
	dir := t.TempDir()
	prefs := [][2]string{
		{"mail.accountmanager.accounts", `"account1"`},
		{"mail.accountmanager.defaultaccount", `"account1"`},
		{"mail.accountmanager.localfoldersserver", `"server1"`},
		{"mail.account.account1.server", `"server1"`},
		{"mail.account.account1.identities", `"id1"`},
		{"mail.server.server1.type", `"none"`},
		{"mail.server.server1.hostname", `"Local Folders"`},
		{"mail.server.server1.userName", `"nobody"`},
		{"mail.server.server1.name", `"Local Folders"`},
		{"mail.server.server1.directory-rel", `"[ProfD]Mail/Local Folders"`},
		{"mail.identity.id1.fullName", `"Veilig Demo"`},
		{"mail.identity.id1.useremail", fmt.Sprintf("%q", email)},
		{"mail.identity.id1.smtpServer", `"smtp1"`},
		{"mail.identity.id1.valid", "true"},
		{"mail.identity.id1.compose_html", "false"},
		{"mail.smtpservers", `"smtp1"`},
		{"mail.smtp.defaultserver", `"smtp1"`},
		{"mail.smtpserver.smtp1.hostname", `"127.0.0.1"`},
		{"mail.smtpserver.smtp1.port", fmt.Sprint(smtpPort)},
		{"mail.smtpserver.smtp1.authMethod", "1"},
		{"mail.smtpserver.smtp1.try_ssl", "0"},
		{"mail.shell.checkDefaultClient", "false"},
		{"mail.provider.enabled", "false"},
		{"mail.rights.version", "1"},
		{"mailnews.start_page.enabled", "false"},
		{"mail.spotlight.firstRunDone", "true"},
		{"mail.startup.enabledMailCheckOnce", "true"},
		{"app.donation.eoy.version.viewed", "999"},
		{"app.update.auto", "false"},
		{"app.update.disabledForTesting", "true"},
		{"datareporting.policy.dataSubmissionEnabled", "false"},
		{"datareporting.healthreport.uploadEnabled", "false"},
		{"toolkit.telemetry.enabled", "false"},
		{"toolkit.telemetry.reportingpolicy.firstRun", "false"},
		{"extensions.autoDisableScopes", "0"},
		{"extensions.update.enabled", "false"},
		{"browser.dom.window.dump.enabled", "true"},
		{"devtools.console.stdout.chrome", "true"},
	}
	var b bytes.Buffer
	for _, p := range prefs {
		fmt.Fprintf(&b, "user_pref(%q, %s);\n", p[0], p[1])
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// webExtRun is a running `web-ext run` with its Thunderbird, in their own
// process group, killed by that group's id when the test ends.
type webExtRun struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// runThunderbird starts headless Thunderbird with the extension installed
// as a temporary add-on.
func runThunderbird(t *testing.T, webext, src, profile string) *webExtRun {
	t.Helper()
	home := t.TempDir()
	r := &webExtRun{out: &lockedBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(webext, "run", "--source-dir", src, "--firefox", thunderbirdBin,
		"--firefox-profile", profile, "--no-input", "--no-reload", "--verbose")
	r.cmd.Dir = addinDir(t)
	r.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "MOZ_HEADLESS=1",
		"TMPDIR=" + home, "MOZ_CRASHREPORTER_DISABLE=1", "XDG_RUNTIME_DIR=" + home}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("web-ext run: %v", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Logf("web-ext run: pid %d", r.cmd.Process.Pid)
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("web-ext/thunderbird output (tail):\n%s", r.out.tail(8000))
		}
	})
	return r
}

// stop kills the whole process group (web-ext and its Thunderbird) by id.
func (r *webExtRun) stop() {
	pgid := r.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // Thunderbird may outlive web-ext
	<-r.done
}

// lint runs web-ext lint on dir and returns the messages that are not the
// known Thunderbird ones (web-ext knows the Firefox schema only).
func lint(t *testing.T, webext, dir string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, webext, "lint", "--source-dir", dir, "--output", "json", "--no-config-discovery")
	cmd.Dir = addinDir(t)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("web-ext lint: %v", ctx.Err())
	}
	var report struct {
		Errors, Warnings, Notices []lintMessage
	}
	if jerr := json.Unmarshal(out, &report); jerr != nil {
		t.Fatalf("web-ext lint (%v): %v\n%s", err, jerr, out)
	}
	var bad []string
	for _, m := range append(append(report.Errors, report.Warnings...), report.Notices...) {
		if !knownThunderbirdLint(m) {
			bad = append(bad, fmt.Sprintf("%s %s: %s (%s)", m.Type, m.Code, m.Message, m.File))
		}
	}
	return bad
}

type lintMessage struct {
	Code, Type, Message, Description, File string
}

// knownThunderbirdLint: permissions of the Thunderbird-only APIs, and the
// Firefox data-collection declaration Thunderbird does not use.
func knownThunderbirdLint(m lintMessage) bool {
	switch m.Code {
	case "MISSING_DATA_COLLECTION_PERMISSIONS":
		return true
	case "MANIFEST_PERMISSIONS":
		for _, p := range []string{`"compose"`, `"addressBooks"`, `"messagesRead"`, `"compose.send"`} {
			if strings.Contains(m.Message+m.Description, p) {
				return true
			}
		}
	}
	return false
}

// lockedBuffer collects a child's output from its copying goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
