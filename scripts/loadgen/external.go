package main

// Modes of the external route (issue 4 §10), run by scripts/bench-external.sh
// against a veilig serve with VEILIG_DEV_MAILBOX=1, whose GET /dev/mailbox.json
// lists every captured e-mail and SMS with its capture time:
//
//	-mode notify        one message to -rcpts external recipients, -n times:
//	                    time from request start to the last notification captured
//	-mode viewer-login  walks the viewer flow (RFC 6265 cookie, form token, SMS
//	                    code) for -rcpts notified recipients; writes the session
//	                    cookies to -sessions-file
//	-mode page          GETs -path with those cookies (or none) under load

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Bounds of the external flags.
const (
	maxExternalRcpts = 1000
	maxMailboxBytes  = 32 << 20
	pollInterval     = 100 * time.Millisecond
)

// externalConfig holds the flags only the external modes use.
type externalConfig struct {
	sessionsFile string
	path         string
	expect       string
	wait         time.Duration
	xff          bool
	idsFile      string
}

func (e *externalConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&e.sessionsFile, "sessions-file", "", "-mode viewer-login: write viewer session cookies here (0600); -mode page: send them")
	fs.StringVar(&e.path, "path", "/v/", "-mode page: the path to GET")
	fs.StringVar(&e.expect, "expect", "", "-mode page: text every answer must contain")
	fs.DurationVar(&e.wait, "wait", 2*time.Minute, "-mode notify, viewer-login: longest wait for the dev mailbox; -mode lag: for the outbox")
	fs.StringVar(&e.idsFile, "ids-file", "", "-mode lag: message ids, one a line")
	fs.BoolVar(&e.xff, "xff", false, "-mode viewer-login: give each recipient its own X-Forwarded-For address "+
		"(198.18.0.0/15, RFC 2544) so the per-address SMS limit counts them apart; needs VEILIG_TRUSTED_PROXIES")
}

// validateExternal checks the flags of notify, viewer-login and page.
func (c *config) validateExternal() error {
	c.url = strings.TrimSuffix(cmp.Or(c.url, "http://127.0.0.1:8080"), "/")
	if _, err := loopbackURL(c.url, "http"); err != nil {
		return err
	}
	checks := []struct {
		ok  bool
		msg string
	}{
		{c.timeout > 0 && c.ext.wait > 0, "-timeout and -wait must be positive"},
		{c.concurrency >= 1 && c.concurrency <= 1024, "-c must be 1..1024"},
	}
	switch c.mode {
	case "notify":
		checks = append(checks, []struct {
			ok  bool
			msg string
		}{
			{c.token != "", "-mode notify needs -token or -token-file"},
			{c.n >= 1 && c.n <= 100, "-mode notify needs -n 1..100 (repetitions)"},
			{c.rcpts >= 1 && c.rcpts <= maxExternalRcpts, "-rcpts must be 1..1000"},
			{c.size >= 0 && c.size <= maxSubmitSize, "-size must be 0..1 GiB"},
			{validDomain(c.rcptDomain), "-rcpt-domain must be a domain name"},
		}...)
	case "viewer-login":
		checks = append(checks, []struct {
			ok  bool
			msg string
		}{
			{c.rcpts >= 1 && c.rcpts <= maxExternalRcpts, "-rcpts must be 1..1000"},
			{validDomain(c.rcptDomain), "-rcpt-domain must be a domain name"},
			{c.ext.sessionsFile != "", "-mode viewer-login needs -sessions-file"},
		}...)
	case "lag":
		checks = append(checks, []struct {
			ok  bool
			msg string
		}{
			{c.token != "", "-mode lag needs -token or -token-file"},
			{c.ext.idsFile != "", "-mode lag needs -ids-file"},
		}...)
	case "page":
		checks = append(checks, []struct {
			ok  bool
			msg string
		}{
			{strings.HasPrefix(c.ext.path, "/"), "-path must start with /"},
			{c.duration >= 0 && c.n >= 0 && c.warmup >= 0, "-duration, -n and -warmup must not be negative"},
			{c.duration > 0 || c.n > 0, "set -duration or -n so the run is bounded"},
		}...)
	}
	for _, e := range checks {
		if err := check(e.ok, e.msg); err != nil {
			return err
		}
	}
	return nil
}

// mailItem is one entry of GET /dev/mailbox.json (internal/devmailbox.Item).
type mailItem struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`
	To    []string  `json:"to"`
	Text  string    `json:"text"`
	Links []string  `json:"links"`
}

// mailbox reads the dev mailbox of the server under test.
type mailbox struct {
	client  *http.Client
	base    string
	timeout time.Duration
}

// items returns the captured items with a recipient containing to, newest first.
func (m mailbox) items(ctx context.Context, to string) ([]mailItem, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/dev/mailbox.json?to="+url.QueryEscape(to), nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: build request: %w", err)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: dev mailbox: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: dev mailbox answered %d (is VEILIG_DEV_MAILBOX=1 set?)", errStatus, resp.StatusCode)
	}
	var items []mailItem
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMailboxBytes)).Decode(&items); err != nil {
		return nil, fmt.Errorf("loadgen: decode dev mailbox: %w", err)
	}
	return items, nil
}

// poll calls done with the mailbox's items for to every pollInterval until it
// reports true, ctx ends or wait has passed.
func (m mailbox) poll(ctx context.Context, to string, wait time.Duration, done func([]mailItem) bool) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		items, err := m.items(ctx, to)
		if err == nil && done(items) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadgen: dev mailbox: waited %s for %q: %w (last error: %v)", wait, to, ctx.Err(), err)
		case <-t.C:
		}
	}
}
