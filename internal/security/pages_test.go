package security

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// htmlHeaders: every HTML response — viewer pages (with and without a
// session, errors included), the dev mailbox, the add-in pages and the mail
// check report — carries a CSP that allows no inline or eval'd script and no
// framing, nosniff and a Referrer-Policy. HSTS is only for https (this server
// is http, so it must be absent).
func (x *suite) htmlHeaders(t *testing.T) {
	s := x.s
	m := x.external(t, "headers")
	link := x.link(t, m.rcpt)
	pages := []call{
		{method: "GET", path: link, jar: newJar(t)},
		{method: "GET", path: "/v/"},
		{method: "GET", path: "/v/ongeldig-token-dat-niet-bestaat-1234"},
		{method: "GET", path: "/v/%3Cscript%3E"},
		{method: "POST", path: "/v/code", ctype: "application/x-www-form-urlencoded", header: http.Header{"Origin": {s.url}}},
		{method: "GET", path: "/dev/mailbox"},
		{method: "GET", path: "/dev/mailbox/onbekend"},
		{method: "GET", path: "/addin/outlook/taskpane.html"},
		{method: "GET", path: "/addin/outlook/login.html"},
		{method: "GET", path: "/addin/outlook/commands.html"},
		{method: "GET", path: "/api/v1/organisations/" + s.orgs[domainA] + "/report", token: s.tokens[adminA], header: http.Header{"Accept": {"text/html"}}},
	}
	for _, it := range s.mailbox()[:1] {
		pages = append(pages, call{method: "GET", path: "/dev/mailbox/" + it.ID})
	}
	seen := 0
	for _, c := range pages {
		r := s.do(c)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			if r.status == http.StatusOK {
				t.Errorf("%s: %s is not HTML (%s)", c.path, r.header.Get("Content-Type"), r)
			}
			continue
		}
		seen++
		checkHTMLHeaders(t, c.path, r.header)
	}
	if seen < 8 {
		t.Errorf("only %d HTML responses checked", seen)
	}
}

func checkHTMLHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	script := directive(csp, "script-src")
	if script == "" {
		script = directive(csp, "default-src")
	}
	switch {
	case csp == "" || script == "":
		t.Errorf("%s: CSP %q limits no script", what, csp)
	case strings.Contains(script, "'unsafe-inline'"), strings.Contains(script, "'unsafe-eval'"), strings.Contains(script, "*"),
		strings.Contains(script, "data:"), strings.Contains(script, "http:"):
		t.Errorf("%s: script sources %q", what, script)
	}
	if fa := directive(csp, "frame-ancestors"); fa != "'none'" && fa != "'self'" && !strings.HasPrefix(what, "/addin/") {
		t.Errorf("%s: frame-ancestors %q", what, fa)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, h.Get("X-Content-Type-Options"))
	}
	if rp := h.Get("Referrer-Policy"); rp != "no-referrer" && rp != "same-origin" && rp != "strict-origin" {
		t.Errorf("%s: Referrer-Policy %q", what, rp)
	}
	if h.Get("Strict-Transport-Security") != "" {
		t.Errorf("%s: HSTS on plain http", what)
	}
}

// directive returns the sources of one CSP directive, "" when absent.
func directive(csp, name string) string {
	for _, d := range strings.Split(csp, ";") {
		d = strings.TrimSpace(d)
		if d == name || strings.HasPrefix(d, name+" ") {
			return strings.TrimSpace(strings.TrimPrefix(d, name))
		}
	}
	return ""
}

// canaries are this run's unique strings: content and phone numbers.
type canaries struct {
	run     string
	needles []string
	phones  []string
}

func newCanaries(t *testing.T) *canaries {
	return &canaries{run: hex.EncodeToString([]byte(t.Name()))[:6] + randomHex(t, 4)}
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (c *canaries) add(label string) string {
	s := "KANARIE" + c.run + label
	c.needles = append(c.needles, s)
	return s
}

// phone is a random Dutch mobile number's NSN, remembered as a needle.
func (c *canaries) phone(t *testing.T) string {
	digits := strings.Map(func(r rune) rune { return '0' + (r % 10) }, randomHex(t, 4))
	n := "61" + digits[:7] // 06-1…: a mobile range
	c.phones = append(c.phones, n)
	c.needles = append(c.needles, n)
	return n
}

// forms: the needle raw, hex and base64 at each alignment (as
// internal/e2e/canary_test.go).
func forms(needle string) []string {
	out := []string{needle, hex.EncodeToString([]byte(needle))}
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, pad), needle...))
		from, to := (pad+2)/3*4, (pad+len(needle))/3*4
		if to-from >= 12 {
			out = append(out, enc[from:to])
		}
	}
	return out
}

func findIn(where string, data []byte, needles []string) []string {
	var out []string
	lower := bytes.ToLower(data)
	for _, n := range needles {
		for _, f := range forms(n) {
			if bytes.Contains(lower, bytes.ToLower([]byte(f))) {
				out = append(out, where+": "+n)
				break
			}
		}
	}
	return out
}

// canarySearch: after every case above, no canary (subject, body, attachment
// names and content, phone numbers) is in any table — read cell by cell over
// SQL on either engine, which internal/e2e (pg_dump, PostgreSQL only) does not
// cover for SQLite — nor in the server's log, TMPDIR or data directory (blobs,
// spool, the SQLite file and its WAL).
func (x *suite) canarySearch(t *testing.T) {
	var leaks []string
	for table, data := range dumpTables(t, x.s.db) {
		leaks = append(leaks, findIn("table "+table, data, x.canaries.needles)...)
	}
	logData, err := os.ReadFile(x.s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	leaks = append(leaks, findIn("log", logData, x.canaries.needles)...)
	for _, dir := range []string{x.s.tmpDir, x.s.vars["VEILIG_DATA_DIR"]} {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err == nil {
				leaks = append(leaks, findIn(path, b, x.canaries.needles)...)
			}
			return nil
		})
	}
	if len(x.canaries.needles) < 10 {
		t.Errorf("only %d canaries planted", len(x.canaries.needles))
	}
	for _, l := range leaks {
		t.Errorf("plaintext at rest: %s", l)
	}
}
