package main

// -mode viewer-login and -mode page: the external viewer under load.
//
// viewer-login takes the newest -rcpts notifications to recipients at
// -rcpt-domain from the dev mailbox and walks each recipient's flow as a
// browser would, one after the other: GET /v/<token> (sets the RFC 6265 session
// cookie), GET /v/ (the form token), POST /v/code, the code from the SMS the dev
// mailbox captured, POST /v/verify, and GET /v/ once more, which must show the
// message. It writes one "name=value" session cookie per line (mode 0600).
//
// page GETs -path with those cookies, round robin, at -c for -duration (with
// no -sessions-file, without a cookie: GET /healthz as a baseline) and reports
// like -mode http; an answer counts only with status 200 and, if -expect is
// set, that text in its body.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// replyForm is on the message page only: a verified session sees it.
const replyForm = `action="/v/reply"`

var (
	errFlow   = errors.New("loadgen: viewer flow")
	errExpect = errors.New("loadgen: answer lacks the -expect text")

	csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	codeRE = regexp.MustCompile(`code is ([0-9]{4,12})`)
)

// viewerLogin walks the flow for -rcpts recipients and saves their cookies.
func viewerLogin(ctx context.Context, log *slog.Logger, cfg config, stdout io.Writer) error {
	base := newHTTPSearcher(cfg).client
	defer base.CloseIdleConnections()
	box := mailbox{client: base, base: cfg.url, timeout: cfg.timeout}
	links, err := notificationLinks(ctx, box, cfg)
	if err != nil {
		return err
	}
	t0 := time.Now()
	cookies := make([]string, 0, len(links))
	for i, link := range links {
		w := &walker{cfg: cfg, box: box, base: base, xff: xffAddr(cfg.ext.xff, i)}
		ck, err := w.walk(ctx, link)
		if err != nil {
			return fmt.Errorf("recipient %d of %d: %w", i+1, len(links), err)
		}
		cookies = append(cookies, ck)
	}
	if err := writeSessions(cfg.ext.sessionsFile, cookies); err != nil {
		return err
	}
	log.Info("viewer sessions verified", "sessions", len(cookies))
	return writeJSON(stdout, map[string]any{"mode": cfg.mode, "sessions": len(cookies),
		"duration_s": round3(time.Since(t0).Seconds())})
}

// notificationLinks waits until -rcpts notifications to -rcpt-domain are in
// the mailbox and returns the path of each one's viewer link.
func notificationLinks(ctx context.Context, box mailbox, cfg config) ([]string, error) {
	var links []string
	err := box.poll(ctx, cfg.rcptDomain, cfg.ext.wait, func(items []mailItem) bool {
		links = viewerPaths(items, cfg.rcpts)
		return len(links) >= cfg.rcpts
	})
	if err != nil {
		return nil, fmt.Errorf("%w (found %d viewer links)", err, len(links))
	}
	return links, nil
}

// viewerPaths returns the /v/<token> path of up to n e-mails' first viewer link.
func viewerPaths(items []mailItem, n int) []string {
	var out []string
	for _, it := range items {
		if it.Kind != "email" || len(out) == n {
			continue
		}
		for _, l := range it.Links {
			u, err := url.Parse(l)
			if err == nil && strings.HasPrefix(u.Path, "/v/") && len(u.Path) > len("/v/") {
				out = append(out, u.Path)
				break
			}
		}
	}
	return out
}

// xffAddr is recipient i's client address in 198.18.0.0/15, or "" when off.
func xffAddr(on bool, i int) string {
	if !on {
		return ""
	}
	return fmt.Sprintf("198.18.%d.%d", (i+1)/250, (i+1)%250+1)
}

// walker is one recipient's browser: its own cookie jar and client address.
type walker struct {
	cfg    config
	box    mailbox
	base   *http.Client
	client *http.Client
	xff    string
}

// walk goes from the link to a verified session and returns its cookie.
func (w *walker) walk(ctx context.Context, link string) (string, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", fmt.Errorf("loadgen: cookie jar: %w", err)
	}
	w.client = &http.Client{Transport: w.base.Transport, Jar: jar, CheckRedirect: w.base.CheckRedirect}
	if _, err := w.get(ctx, link, ""); err != nil {
		return "", err
	}
	page, err := w.get(ctx, "/v/", `action="/v/code"`)
	if err != nil {
		return "", err
	}
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("%w: no form token on the code page", errFlow)
	}
	csrf := html.UnescapeString(string(m[1]))
	if err := w.verify(ctx, csrf); err != nil {
		return "", err
	}
	if _, err := w.get(ctx, "/v/", replyForm); err != nil {
		return "", err
	}
	return w.sessionCookie()
}

// verify requests a code, reads it from the SMS and enters it.
func (w *walker) verify(ctx context.Context, csrf string) error {
	before, err := w.box.items(ctx, "")
	if err != nil {
		return err
	}
	if err := w.post(ctx, "/v/code", url.Values{"csrf": {csrf}}); err != nil {
		return err
	}
	code, err := w.smsCode(ctx, newestID(before))
	if err != nil {
		return err
	}
	return w.post(ctx, "/v/verify", url.Values{"csrf": {csrf}, "code": {code}})
}

// smsCode waits for an SMS newer than item after and returns its code.
func (w *walker) smsCode(ctx context.Context, after int) (string, error) {
	var code string
	err := w.box.poll(ctx, "", w.cfg.ext.wait, func(items []mailItem) bool {
		for _, it := range items {
			if id, _ := strconv.Atoi(it.ID); it.Kind == "sms" && id > after {
				if m := codeRE.FindStringSubmatch(it.Text); m != nil {
					code = m[1]
					return true
				}
			}
		}
		return false
	})
	return code, err
}

// newestID is the highest item id in items (0 for none).
func newestID(items []mailItem) int {
	n := 0
	for _, it := range items {
		if id, err := strconv.Atoi(it.ID); err == nil {
			n = max(n, id)
		}
	}
	return n
}

// get fetches path and checks status 200 and, if set, want in the body.
func (w *walker) get(ctx context.Context, path, want string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.cfg.url+path, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: build request: %w", err)
	}
	body, status, err := w.do(req)
	switch {
	case err != nil:
		return nil, err
	case status != http.StatusOK:
		return nil, fmt.Errorf("%w: GET %s: status %d", errFlow, redactPath(path), status)
	case want != "" && !bytes.Contains(body, []byte(want)):
		return nil, fmt.Errorf("%w: GET %s: page lacks %s", errFlow, redactPath(path), want)
	}
	return body, nil
}

// post submits a form and expects the 303 back to /v/.
func (w *walker) post(ctx context.Context, path string, form url.Values) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("loadgen: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", w.cfg.url)
	_, status, err := w.do(req)
	if err == nil && status != http.StatusSeeOther {
		err = fmt.Errorf("%w: POST %s: status %d, want 303", errFlow, path, status)
	}
	return err
}

func (w *walker) do(req *http.Request) ([]byte, int, error) {
	if w.xff != "" {
		req.Header.Set("X-Forwarded-For", w.xff)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("loadgen: http: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, 0, fmt.Errorf("loadgen: read answer: %w", err)
	}
	return body, resp.StatusCode, nil
}

// redactPath keeps link tokens out of error messages.
func redactPath(p string) string {
	if strings.HasPrefix(p, "/v/") && len(p) > len("/v/") {
		return "/v/<token>"
	}
	return p
}

// sessionCookie returns the jar's cookie for /v/ as "name=value".
func (w *walker) sessionCookie() (string, error) {
	u, err := url.Parse(w.cfg.url + "/v/")
	if err != nil {
		return "", fmt.Errorf("loadgen: %w", err)
	}
	for _, c := range w.client.Jar.Cookies(u) {
		if strings.Contains(c.Name, "veilig_viewer") {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("%w: no session cookie after verification", errFlow)
}

// writeSessions stores the cookies, one per line, readable by the owner only.
func writeSessions(path string, cookies []string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("loadgen: sessions file: %w", err)
	}
	_, err = f.WriteString(strings.Join(cookies, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("loadgen: sessions file: %w", err)
	}
	return nil
}

// readSessions returns the non-empty lines of path; no path means one empty
// cookie (requests without a Cookie header).
func readSessions(path string) ([]string, error) {
	if path == "" {
		return []string{""}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loadgen: sessions file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loadgen: sessions file: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s holds no sessions", errUsage, path)
	}
	return out, nil
}

// pageGetter GETs one page per call over keep-alive connections shared by
// all workers; the "query" is the Cookie header value.
type pageGetter struct {
	client *http.Client
	url    string
	expect []byte
}

var _ searcher = (*pageGetter)(nil)

func (p *pageGetter) search(ctx context.Context, cookie string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return 0, fmt.Errorf("loadgen: build request: %w", err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("loadgen: http: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	switch {
	case err != nil:
		return 0, fmt.Errorf("loadgen: read answer: %w", err)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("%w: %d", errStatus, resp.StatusCode)
	case len(p.expect) > 0 && !bytes.Contains(body, p.expect):
		return 0, errExpect
	}
	return 1, nil
}

func (p *pageGetter) close() { p.client.CloseIdleConnections() }

// benchPage warms up, runs the measured phase and reports like -mode http.
func benchPage(ctx context.Context, log *slog.Logger, cfg config, stdout io.Writer) error {
	cookies, err := readSessions(cfg.ext.sessionsFile)
	if err != nil {
		return err
	}
	p := &pageGetter{client: newHTTPSearcher(cfg).client, url: cfg.url + cfg.ext.path, expect: []byte(cfg.ext.expect)}
	defer p.close()
	workers := make([]searcher, cfg.concurrency)
	for i := range workers {
		workers[i] = p
	}
	log.Info("loadgen start", "mode", cfg.mode, "path", cfg.ext.path, "c", cfg.concurrency,
		"duration", cfg.duration, "n", cfg.n, "warmup", cfg.warmup, "sessions", len(cookies))
	if cfg.warmup > 0 {
		runPhase(ctx, cfg, workers, cookies, cfg.warmup, 0)
	}
	st, elapsed := runPhase(ctx, cfg, workers, cookies, cfg.duration, cfg.n)
	if st.firstErr != nil {
		log.Warn("loadgen requests failed", "errors", st.errors, "first", st.firstErr)
	}
	if err := writeReport(stdout, cfg, newReport(cfg.mode, cfg.concurrency, len(cookies), st, elapsed)); err != nil {
		return err
	}
	if st.requests == st.errors {
		return fmt.Errorf("%w (%d requests)", errAllFailed, st.requests)
	}
	return nil
}
