package main

// -mode lag: the outbox lag of messages accepted under load (issue 7 §4).
// It reads message ids (one a line, from -ids-file), fetches each message's
// status with GET /api/v1/messages/{id} (RFC 9110, RFC 6750 bearer token) at
// -c concurrent requests, and polls the ones still sending every second until
// all are final or -wait has passed. A message's lag is its last recipient's
// delivered_at minus its created_at, both stamped by the server, so the
// polling interval does not add to it. The sender's self-copy counts as a
// recipient: the outbox delivers it like any other.
//
// -mode prefixes prints the autocomplete prefixes -mode http would derive from
// -ldif (-prefixes, -seed), one a line, for other load tools to use.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Bounds of -mode lag.
const (
	maxLagIDs    = 1_000_000
	lagPollEvery = time.Second
)

var errBadStatus = errors.New("loadgen: malformed message status")

// messageStatus is the part of MessageStatus (api/openapi.yaml) lag reads.
type messageStatus struct {
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
	Recipients []struct {
		State       string     `json:"state"`
		DeliveredAt *time.Time `json:"delivered_at"`
	} `json:"recipients"`
}

// final reports whether the outbox is done with the message.
func (m messageStatus) final() bool { return m.State != "" && m.State != "sending" }

// lag is the time from accept to the last delivery, false when none was delivered.
func (m messageStatus) lag() (time.Duration, bool) {
	var last time.Time
	for _, r := range m.Recipients {
		if r.DeliveredAt != nil && r.DeliveredAt.After(last) {
			last = *r.DeliveredAt
		}
	}
	if last.IsZero() || m.CreatedAt.IsZero() {
		return 0, false
	}
	return max(last.Sub(m.CreatedAt), 0), true
}

// lagReport is the -json output of -mode lag; times in milliseconds.
type lagReport struct {
	Mode         string         `json:"mode"`
	Messages     int            `json:"messages"`
	SendingFirst int            `json:"sending_at_first_poll"`
	Sending      int            `json:"sending_at_end"`
	States       map[string]int `json:"states"`
	Unreadable   int            `json:"unreadable"`
	WaitedS      float64        `json:"waited_s"`
	P50MS        float64        `json:"lag_p50_ms"`
	P99MS        float64        `json:"lag_p99_ms"`
	MaxMS        float64        `json:"lag_max_ms"`
}

// lagChecker fetches message statuses over keep-alive connections.
type lagChecker struct {
	client  *http.Client
	base    string
	auth    string
	timeout time.Duration
}

// fetch returns one message's status.
func (l lagChecker) fetch(ctx context.Context, id string) (messageStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/api/v1/messages/"+url.PathEscape(id), nil)
	if err != nil {
		return messageStatus{}, fmt.Errorf("loadgen: build request: %w", err)
	}
	req.Header.Set("Authorization", l.auth)
	resp, err := l.client.Do(req)
	if err != nil {
		return messageStatus{}, fmt.Errorf("loadgen: http: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return messageStatus{}, fmt.Errorf("%w: %d", errStatus, resp.StatusCode)
	}
	var st messageStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&st); err != nil {
		return messageStatus{}, fmt.Errorf("%w: %w", errBadStatus, err)
	}
	return st, nil
}

// fetchAll fetches ids at concurrency c; a failed fetch leaves a zero status.
func (l lagChecker) fetchAll(ctx context.Context, ids []string, c int) ([]messageStatus, int) {
	out := make([]messageStatus, len(ids))
	failed := make([]bool, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(c, len(ids)) {
		wg.Go(func() {
			for i := range next {
				st, err := l.fetch(ctx, ids[i])
				out[i], failed[i] = st, err != nil
			}
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	n := 0
	for _, f := range failed {
		if f {
			n++
		}
	}
	return out, n
}

// benchLag polls until every message is final or -wait has passed.
func benchLag(ctx context.Context, log *slog.Logger, cfg config, stdout io.Writer) error {
	ids, err := readIDs(cfg.ext.idsFile)
	if err != nil {
		return err
	}
	client := newHTTPSearcher(cfg).client
	defer client.CloseIdleConnections()
	l := lagChecker{client: client, base: cfg.url, auth: "Bearer " + cfg.token, timeout: cfg.timeout}
	t0 := time.Now()
	final := make(map[string]messageStatus, len(ids))
	rep := lagReport{Mode: cfg.mode, Messages: len(ids), SendingFirst: -1}
	pending := ids
	for {
		sts, unreadable := l.fetchAll(ctx, pending, cfg.concurrency)
		pending = collect(final, pending, sts)
		if rep.SendingFirst < 0 {
			rep.SendingFirst = len(pending)
		}
		rep.Unreadable = unreadable
		if len(pending) == 0 || time.Since(t0) >= cfg.ext.wait || sleepCtx(ctx, lagPollEvery) != nil {
			break
		}
	}
	rep.Sending, rep.WaitedS = len(pending), round3(time.Since(t0).Seconds())
	rep.summarise(final)
	log.Info("outbox lag", "messages", rep.Messages, "sending_at_end", rep.Sending, "p99_ms", rep.P99MS)
	return writeJSON(stdout, rep)
}

// collect moves the final statuses into final and returns the ids still pending.
func collect(final map[string]messageStatus, ids []string, sts []messageStatus) []string {
	var pending []string
	for i, st := range sts {
		if st.final() {
			final[ids[i]] = st
		} else {
			pending = append(pending, ids[i])
		}
	}
	return pending
}

// summarise counts the final states and the lag percentiles (nearest rank).
func (r *lagReport) summarise(final map[string]messageStatus) {
	r.States = map[string]int{}
	var lags []time.Duration
	for _, st := range final {
		r.States[st.State]++
		if d, ok := st.lag(); ok {
			lags = append(lags, d)
		}
	}
	slices.Sort(lags)
	r.P50MS, r.P99MS = ms(nearestRank(lags, 50)), ms(nearestRank(lags, 99))
	if len(lags) > 0 {
		r.MaxMS = ms(lags[len(lags)-1])
	}
}

// nearestRank is the p-th percentile of sorted (0 for none).
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readIDs returns the distinct non-blank lines of path, in order.
func readIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loadgen: ids file: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id := strings.TrimSpace(sc.Text())
		if id == "" || seen[id] {
			continue
		}
		if len(ids) == maxLagIDs {
			return nil, fmt.Errorf("%w: more than %d ids", errUsage, maxLagIDs)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loadgen: ids file: %w", err)
	}
	return ids, nil
}

// printPrefixes writes the prefixes -mode http would use, one a line.
func printPrefixes(cfg config, stdout io.Writer) error {
	qs, err := loadQueries(cfg)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	for _, q := range qs {
		w.WriteString(q)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("loadgen: write prefixes: %w", err)
	}
	return nil
}
