package main

// -mode histogram: server-side latency of one route, from the Prometheus text
// exposition format (https://prometheus.io/docs/instrumenting/exposition_formats/)
// that GET /metrics serves. Two scrapes, taken before and after a load run,
// are subtracted bucket by bucket, and percentiles are interpolated linearly
// inside the bucket that holds them, as PromQL's histogram_quantile does.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// durationMetric is the server's request-duration histogram (internal/metrics).
const durationMetric = "veilig_http_request_duration_seconds"

const maxScrape = 16 << 20

var (
	errNoSeries      = errors.New("loadgen: no histogram series for the route")
	errBuckets       = errors.New("loadgen: histogram bucket layouts differ")
	errCounterReset  = errors.New("loadgen: counts went down between scrapes (server restarted?)")
	errNoObservation = errors.New("loadgen: no requests observed on the route")
)

// promHistogram is a classic Prometheus histogram summed over the series of
// one route: cumulative counts at ascending finite upper bounds (seconds),
// the total count (the +Inf bucket) and the sum of observed values.
type promHistogram struct {
	bounds  []float64
	cum     []float64
	count   float64
	sum     float64
	non2xx  float64
	hasData bool
}

// parseRouteHistogram sums every series of metric whose route label equals
// route (all methods and statuses) in a text-format scrape.
func parseRouteHistogram(r io.Reader, metric, route string) (promHistogram, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return promHistogram{}, fmt.Errorf("loadgen: parse metrics: %w", err)
	}
	var h promHistogram
	fam := fams[metric]
	if fam == nil || fam.GetType() != dto.MetricType_HISTOGRAM {
		return h, fmt.Errorf("%w: %s is missing or not a histogram", errNoSeries, metric)
	}
	for _, m := range fam.GetMetric() {
		if label(m, "route") != route {
			continue
		}
		if err := h.add(m.GetHistogram(), !strings.HasPrefix(label(m, "status"), "2")); err != nil {
			return h, err
		}
	}
	if !h.hasData {
		return h, fmt.Errorf("%w: %s{route=%q}", errNoSeries, metric, route)
	}
	return h, nil
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// add sums one series into h; every series must share the bucket layout.
func (h *promHistogram) add(s *dto.Histogram, non2xx bool) error {
	var bounds, cum []float64
	for _, b := range s.GetBucket() {
		if math.IsInf(b.GetUpperBound(), +1) {
			continue // the +Inf bucket is the sample count
		}
		bounds = append(bounds, b.GetUpperBound())
		cum = append(cum, float64(b.GetCumulativeCount())+b.GetCumulativeCountFloat())
	}
	count := float64(s.GetSampleCount()) + s.GetSampleCountFloat()
	if !h.hasData {
		h.bounds, h.cum, h.hasData = bounds, make([]float64, len(cum)), true
	}
	if !slices.Equal(h.bounds, bounds) {
		return fmt.Errorf("%w: %v vs %v", errBuckets, h.bounds, bounds)
	}
	for i, c := range cum {
		h.cum[i] += c
	}
	h.count += count
	h.sum += s.GetSampleSum()
	if non2xx {
		h.non2xx += count
	}
	return nil
}

// minus returns h − before: the observations made between the two scrapes.
func (h promHistogram) minus(before promHistogram) (promHistogram, error) {
	if !slices.Equal(h.bounds, before.bounds) {
		return h, fmt.Errorf("%w: %v vs %v", errBuckets, before.bounds, h.bounds)
	}
	d := promHistogram{bounds: h.bounds, cum: make([]float64, len(h.cum)), count: h.count - before.count,
		sum: h.sum - before.sum, non2xx: h.non2xx - before.non2xx, hasData: true}
	for i := range h.cum {
		d.cum[i] = h.cum[i] - before.cum[i]
		if d.cum[i] < 0 {
			return d, errCounterReset
		}
	}
	if d.count < 0 || d.non2xx < 0 {
		return d, errCounterReset
	}
	return d, nil
}

// quantile returns the q-quantile (0 < q ≤ 1) in seconds, interpolating
// linearly between the bounds of the bucket that holds rank q·count; the
// first bucket starts at 0. A rank in the +Inf bucket yields the highest
// finite bound, as histogram_quantile does. NaN without observations.
func (h promHistogram) quantile(q float64) float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	rank := q * h.count
	i, _ := slices.BinarySearchFunc(h.cum, rank, func(c, r float64) int {
		if c < r {
			return -1
		}
		return 1
	})
	if i == len(h.bounds) {
		if i == 0 {
			return math.NaN()
		}
		return h.bounds[i-1]
	}
	lower, prev := 0.0, 0.0
	if i > 0 {
		lower, prev = h.bounds[i-1], h.cum[i-1]
	}
	upper := h.bounds[i]
	if upper <= 0 || h.cum[i] == prev {
		return upper
	}
	return lower + (upper-lower)*(rank-prev)/(h.cum[i]-prev)
}

// fractionWithin returns the share of observations at or below le
// (seconds); ok is false when le is not a bucket bound or h is empty.
func (h promHistogram) fractionWithin(le float64) (float64, bool) {
	i := slices.Index(h.bounds, le)
	if i < 0 || h.count <= 0 {
		return 0, false
	}
	return h.cum[i] / h.count, true
}

// histReport is the -mode histogram output; times in milliseconds.
type histReport struct {
	Mode     string  `json:"mode"`
	Route    string  `json:"route"`
	Requests float64 `json:"requests"`
	Non2xx   float64 `json:"non_2xx"`
	MeanMS   float64 `json:"mean_ms"`
	P50MS    float64 `json:"p50_ms"`
	P90MS    float64 `json:"p90_ms"`
	P99MS    float64 `json:"p99_ms"`
	// Within2MS is the share of requests served in at most 2 ms, exact
	// because 2 ms is a bucket bound; absent when it is not.
	Within2MS  *float64 `json:"within_2ms,omitempty"`
	SinceStart bool     `json:"since_start,omitempty"` // no -before: counts since server start
}

func newHistReport(route string, h promHistogram, sinceStart bool) histReport {
	r := histReport{Mode: "histogram", Route: route, Requests: h.count, Non2xx: h.non2xx,
		P50MS: secToMS(h.quantile(.50)), P90MS: secToMS(h.quantile(.90)), P99MS: secToMS(h.quantile(.99)),
		SinceStart: sinceStart}
	if h.count > 0 {
		r.MeanMS = secToMS(h.sum / h.count)
	}
	if f, ok := h.fractionWithin(.002); ok {
		f = round3(f)
		r.Within2MS = &f
	}
	return r
}

// secToMS converts seconds to milliseconds; NaN (no data) becomes 0 so the
// report stays valid JSON.
func secToMS(s float64) float64 {
	if math.IsNaN(s) {
		return 0
	}
	return round3(s * 1000)
}

// reportHistogram scrapes {-url}/metrics once. With -save it stores the raw
// scrape for a later -before; otherwise it reports the route's percentiles,
// over the requests since -before when given, else since server start.
func reportHistogram(ctx context.Context, cfg config, stdout io.Writer) error {
	body, err := scrape(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.save != "" {
		if err := os.WriteFile(cfg.save, body, 0o600); err != nil {
			return fmt.Errorf("loadgen: save scrape: %w", err)
		}
		return nil
	}
	h, err := routeDelta(body, cfg)
	if err != nil {
		return err
	}
	if h.count <= 0 {
		return fmt.Errorf("%w: %s", errNoObservation, cfg.route)
	}
	return writeHistReport(stdout, cfg, newHistReport(cfg.route, h, cfg.before == ""))
}

// routeDelta parses the scrape and subtracts the -before scrape, if any.
func routeDelta(body []byte, cfg config) (promHistogram, error) {
	after, err := parseRouteHistogram(bytes.NewReader(body), durationMetric, cfg.route)
	if err != nil || cfg.before == "" {
		return after, err
	}
	f, err := os.Open(cfg.before)
	if err != nil {
		return after, fmt.Errorf("loadgen: open -before: %w", err)
	}
	defer f.Close()
	before, err := parseRouteHistogram(io.LimitReader(f, maxScrape), durationMetric, cfg.route)
	if errors.Is(err, errNoSeries) {
		return after, nil // the route had served nothing yet
	}
	if err != nil {
		return after, err
	}
	return after.minus(before)
}

// scrape fetches {-url}/metrics over the loopback-only transport.
func scrape(ctx context.Context, cfg config) ([]byte, error) {
	sctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	endpoint := strings.TrimSuffix(cfg.url, "/") + "/metrics"
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: build scrape: %w", err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	tr := &http.Transport{Proxy: nil, DialContext: loopbackDialer(cfg.timeout).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %d from %s", errStatus, resp.StatusCode, endpoint)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxScrape))
	if err != nil {
		return nil, fmt.Errorf("loadgen: read scrape: %w", err)
	}
	return body, nil
}

func writeHistReport(w io.Writer, cfg config, r histReport) error {
	var err error
	if cfg.json {
		err = json.NewEncoder(w).Encode(r)
	} else {
		_, err = fmt.Fprintf(w, "histogram %s: %.0f requests (%.0f non-2xx); server-side mean %.3f ms, "+
			"p50 %.3f ms, p90 %.3f ms, p99 %.3f ms\n",
			r.Route, r.Requests, r.Non2xx, r.MeanMS, r.P50MS, r.P90MS, r.P99MS)
	}
	if err != nil {
		return fmt.Errorf("loadgen: write report: %w", err)
	}
	return nil
}
