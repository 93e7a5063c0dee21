package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const strictCSP = "default-src 'none'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"

// chromiumTestServer serves the pages the harness is proved on.
func chromiumTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", strictCSP)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
				`<link rel="icon" href="/favicon.ico"><title>t</title></head><body>` + body + `</body></html>`))
		}
	}
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/x-icon")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /clean", page(`<h1 id="h">Schoon / Clean</h1>`+
		`<form method="post" action="/posted"><input id="name" name="name"><button id="go">Go</button></form>`))
	mux.HandleFunc("GET /inline-script", page(`<p id="p">x</p><script>document.title = "ran"</script>`))
	mux.HandleFunc("GET /missing-image", page(`<img src="/nope.png" alt="x">`))
	mux.HandleFunc("GET /throws", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><script>null.x</script>`))
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "veilig_session", Value: "s3ss10n", Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode})
		page(`<p>cookie</p>`)(w, r)
	})
	mux.HandleFunc("POST /posted", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", strictCSP)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><p id="r">` + r.FormValue("name") + `</p>`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestChromiumHarness(t *testing.T) {
	b := StartChromium(t)
	srv := chromiumTestServer(t)

	t.Run("clean page, form, status", func(t *testing.T) {
		tab := b.NewTab(t)
		if status, err := tab.Navigate(srv.URL + "/clean"); err != nil || status != 200 {
			t.Fatalf("navigate = %d, %v", status, err)
		}
		if got, err := tab.Text("#h"); err != nil || got != "Schoon / Clean" {
			t.Fatalf("text = %q, %v", got, err)
		}
		if err := tab.SendKeys("#name", "Ada"); err != nil {
			t.Fatal(err)
		}
		if status, err := tab.ClickNavigate("#go"); err != nil || status != http.StatusAccepted {
			t.Fatalf("submit = %d, %v", status, err)
		}
		if got, err := tab.Text("#r"); err != nil || got != "Ada" {
			t.Fatalf("posted text = %q, %v", got, err)
		}
		if tab.Status() != http.StatusAccepted {
			t.Fatalf("Status() = %d, want 202", tab.Status())
		}
		tab.AssertClean(t)
	})

	tests := []struct {
		path string
		want []string // each must appear in some problem
	}{
		{"/inline-script", []string{"securitypolicyviolation: script-src-elem blocked inline", "Content Security Policy"}},
		{"/throws", []string{"uncaught exception", "TypeError"}},
		{"/missing-image", []string{"404", "/nope.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			tab := b.NewTab(t)
			if _, err := tab.Navigate(srv.URL + tt.path); err != nil {
				t.Fatal(err)
			}
			problems := tab.Problems()
			t.Logf("problems: %q", problems)
			all := strings.Join(problems, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem mentions %q", w)
				}
			}
			fake := &recordingTB{TB: t}
			tab.AssertClean(fake)
			if !fake.failed {
				t.Error("AssertClean passed a page with problems")
			}
		})
	}

	t.Run("inline script did not run", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Ignore(`(?i)content security policy|securitypolicyviolation`)
		if _, err := tab.Navigate(srv.URL + "/inline-script"); err != nil {
			t.Fatal(err)
		}
		if title, err := tab.Title(); err != nil || title != "t" {
			t.Fatalf("title = %q, %v: the inline script ran despite the CSP", title, err)
		}
		if ps := tab.Problems(); len(ps) != 0 {
			t.Fatalf("Ignore left %q", ps)
		}
	})

	t.Run("not found", func(t *testing.T) {
		tab := b.NewTab(t)
		if status, err := tab.Navigate(srv.URL + "/missing"); err != nil || status != 404 {
			t.Fatalf("navigate = %d, %v", status, err)
		}
		tab.AssertClean(t) // the status is the test's to check, not a problem
	})

	t.Run("screenshot", func(t *testing.T) {
		t.Setenv(ArtifactsEnv, t.TempDir())
		tab := b.NewTab(t)
		if _, err := tab.Navigate(srv.URL + "/clean"); err != nil {
			t.Fatal(err)
		}
		path := tab.Screenshot(t, "clean")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || len(data) < 1000 {
			t.Fatalf("%s is not a PNG of a page (%d bytes)", path, len(data))
		}
		if !strings.HasPrefix(path, os.Getenv(ArtifactsEnv)) {
			t.Fatalf("screenshot %s not in %s", path, os.Getenv(ArtifactsEnv))
		}
	})

	t.Run("cookie", func(t *testing.T) {
		tab := b.NewTab(t)
		if _, err := tab.Navigate(srv.URL + "/cookie"); err != nil {
			t.Fatal(err)
		}
		cookies, err := tab.Cookies(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, c := range cookies {
			found = found || (c.Name == "veilig_session" && c.Value == "s3ss10n" && c.HTTPOnly)
		}
		if !found {
			t.Fatalf("session cookie not in %+v", cookies)
		}
		tab.AssertClean(t)
	})
}

// TestChromiumLeavesNoProcess checks with pgrep that Close ends every process
// of the browser.
func TestChromiumLeavesNoProcess(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		Missing(t, "pgrep (procps)")
	}
	b := StartChromium(t)
	tab := b.NewTab(t)
	if _, err := tab.Navigate("about:blank"); err != nil {
		t.Fatal(err)
	}
	if n := pgrep(t, b.ProfileDir()); n == 0 {
		t.Fatal("pgrep finds no chromium process of the running browser")
	}
	b.Close()
	if n := pgrep(t, b.ProfileDir()); n != 0 {
		t.Fatalf("%d chromium processes left after Close", n)
	}
}

func pgrep(t *testing.T, dir string) int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "--", "--user-data-dir="+dir).Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("pgrep: %v", err)
	}
	return len(strings.Fields(string(out)))
}

// recordingTB records a failure instead of failing the test.
type recordingTB struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
}
