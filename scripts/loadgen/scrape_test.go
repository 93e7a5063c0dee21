package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const searchRoute = "/api/v1/directory/search"

// series writes one histogram series of durationMetric in the text format
// with the bounds 1 ms, 2 ms, 5 ms; cum holds the three finite cumulative
// counts and the total.
func series(route, status string, cum [4]uint64, sum float64) string {
	var b strings.Builder
	lbl := fmt.Sprintf(`method="GET",route=%q,status=%q`, route, status)
	for i, le := range []string{"0.001", "0.002", "0.005", "+Inf"} {
		fmt.Fprintf(&b, "%s_bucket{%s,le=%q} %d\n", durationMetric, lbl, le, cum[i])
	}
	fmt.Fprintf(&b, "%s_sum{%s} %g\n%s_count{%s} %d\n", durationMetric, lbl, sum, durationMetric, lbl, cum[3])
	return b.String()
}

// cannedScrape is a /metrics page: the search route answered 200 and 400,
// another route, and an unrelated gauge.
func cannedScrape(ok, bad [4]uint64, okSum, badSum float64) string {
	return "# HELP veilig_directory_index_records Records.\n# TYPE veilig_directory_index_records gauge\n" +
		"veilig_directory_index_records 514000\n" +
		"# HELP " + durationMetric + " Time to serve HTTP requests.\n# TYPE " + durationMetric + " histogram\n" +
		series("/healthz", "200", [4]uint64{900, 900, 900, 900}, 0.1) +
		series(searchRoute, "200", ok, okSum) +
		series(searchRoute, "400", bad, badSum)
}

var (
	// Before: 20 searches. After: 120, so the run made 100: 50 ≤ 1 ms,
	// 40 in (1, 2] ms, 8 in (2, 5] ms, 2 above 5 ms; 12 answered 400.
	scrapeBefore = cannedScrape([4]uint64{10, 20, 20, 20}, [4]uint64{}, 0.02, 0)
	scrapeAfter  = cannedScrape([4]uint64{55, 100, 107, 108}, [4]uint64{5, 10, 11, 12}, 0.16, 0.01)
)

func parseCanned(t *testing.T, text string) promHistogram {
	t.Helper()
	h, err := parseRouteHistogram(strings.NewReader(text), durationMetric, searchRoute)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseRouteHistogram(t *testing.T) {
	h := parseCanned(t, scrapeAfter)
	want := promHistogram{bounds: []float64{.001, .002, .005}, cum: []float64{60, 110, 118},
		count: 120, sum: 0.17, non2xx: 12, hasData: true}
	if diff := cmp.Diff(want, h, cmp.AllowUnexported(promHistogram{}), cmpApprox); diff != "" {
		t.Errorf("histogram (-want +got):\n%s", diff)
	}
}

var cmpApprox = cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })

func TestQuantileFromDelta(t *testing.T) {
	d, err := parseCanned(t, scrapeAfter).minus(parseCanned(t, scrapeBefore))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q    float64
		want float64 // seconds
	}{
		{0.25, 0.0005},   // rank 25 of 50 in [0, 1 ms]
		{0.50, 0.001},    // rank 50: top of the first bucket
		{0.70, 0.0015},   // rank 70: half-way through (1, 2] ms
		{0.90, 0.002},    // rank 90: top of the second bucket
		{0.95, 0.003875}, // rank 95: 5 of 8 into (2, 5] ms
		{0.99, 0.005},    // rank 99 lies in +Inf: the highest finite bound
	}
	for _, tc := range tests {
		if got := d.quantile(tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if f, ok := d.fractionWithin(.002); !ok || math.Abs(f-0.9) > 1e-12 {
		t.Errorf("fractionWithin(2 ms) = %v, %v; want 0.9", f, ok)
	}
	if _, ok := d.fractionWithin(.003); ok {
		t.Error("fractionWithin(3 ms) ok, but 3 ms is not a bound")
	}
	if got := (promHistogram{bounds: []float64{.001}, cum: []float64{0}}).quantile(.5); !math.IsNaN(got) {
		t.Errorf("empty quantile = %v, want NaN", got)
	}
}

func TestHistogramErrors(t *testing.T) {
	otherBounds := strings.ReplaceAll(scrapeBefore, `le="0.005"`, `le="0.01"`)
	tests := []struct {
		name          string
		before, after string
		route         string
		want          error
	}{
		{"counter reset", scrapeAfter, scrapeBefore, searchRoute, errCounterReset},
		{"bucket layouts", otherBounds, scrapeAfter, searchRoute, errBuckets},
		{"unknown route", scrapeBefore, scrapeAfter, "/nope", errNoSeries},
		{"no histogram", scrapeBefore, "veilig_directory_index_records 1\n", searchRoute, errNoSeries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			after, err := parseRouteHistogram(strings.NewReader(tc.after), durationMetric, tc.route)
			if err == nil {
				var before promHistogram
				before, err = parseRouteHistogram(strings.NewReader(tc.before), durationMetric, tc.route)
				if err == nil {
					_, err = after.minus(before)
				}
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestHistogramMode runs -save then -before against a server whose /metrics
// changes between the two scrapes.
func TestHistogramMode(t *testing.T) {
	pages := []string{scrapeBefore, scrapeAfter}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" || len(pages) == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		io.WriteString(w, pages[0])
		pages = pages[1:]
	}))
	t.Cleanup(srv.Close)
	saved := filepath.Join(t.TempDir(), "before.prom")
	ctx := context.Background()
	if err := run(ctx, []string{"-mode", "histogram", "-url", srv.URL, "-save", saved}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(saved); err != nil || string(b) != scrapeBefore {
		t.Fatalf("saved scrape %q, %v", b, err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"-mode", "histogram", "-url", srv.URL, "-before", saved, "-json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var got histReport
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	within := 0.9
	want := histReport{Mode: "histogram", Route: searchRoute, Requests: 100, Non2xx: 12, MeanMS: 1.5,
		P50MS: 1, P90MS: 2, P99MS: 5, Within2MS: &within}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestHistogramFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"remote", []string{"-mode", "histogram", "-url", "http://192.0.2.1:8080"}, errNotLoopback},
		{"ldap scheme", []string{"-mode", "histogram", "-url", "ldap://127.0.0.1:389"}, errUsage},
		{"save and before", []string{"-mode", "histogram", "-save", "a", "-before", "b"}, errUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := run(context.Background(), tc.args, io.Discard, io.Discard); !errors.Is(err, tc.want) {
				t.Errorf("run(%q) = %v, want %v", tc.args, err, tc.want)
			}
		})
	}
}
