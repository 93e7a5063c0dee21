package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeAPI is the autocomplete endpoint as plain data: it checks what a
// request must carry, answers three hits, and records queries and new
// connections.
type fakeAPI struct {
	mu      sync.Mutex
	queries map[string]int
	conns   atomic.Int64
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case r.Header.Get("Authorization") != "Bearer s3cret":
		w.WriteHeader(http.StatusUnauthorized)
		return
	case r.URL.Path != "/api/v1/directory/search" || q.Get("limit") != "10":
		w.WriteHeader(http.StatusBadRequest)
		return
	case q.Get("q") == "boom":
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	f.mu.Lock()
	f.queries[q.Get("q")]++
	f.mu.Unlock()
	io.WriteString(w, `{"results":[{"id":"a"},{"id":"b"},{"id":"c"}]}`)
}

func startFake(t *testing.T) (*fakeAPI, string) {
	f := &fakeAPI{queries: map[string]int{}}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func writeFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHTTPEndToEnd(t *testing.T) {
	tests := []struct {
		name    string
		queries string
		token   string
		wantErr error
		want    report
		wantQs  map[string]int
	}{
		{
			name: "all succeed", queries: "ams\nd'a&b\nrot\n", token: "s3cret",
			want:   report{Mode: "http", Concurrency: 4, Prefixes: 3, Requests: 60, AvgHits: 3},
			wantQs: map[string]int{"ams": 20, "d'a&b": 20, "rot": 20},
		},
		{
			name: "server errors count", queries: "ams\nboom\n", token: "s3cret",
			want:   report{Mode: "http", Concurrency: 4, Prefixes: 2, Requests: 60, Errors: 30, AvgHits: 3},
			wantQs: map[string]int{"ams": 30},
		},
		{
			name: "wrong token fails the run", queries: "ams\n", token: "wrong", wantErr: errAllFailed,
			want:   report{Mode: "http", Concurrency: 4, Prefixes: 1, Requests: 60, Errors: 60},
			wantQs: map[string]int{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake, url := startFake(t)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{
				"-mode", "http", "-url", url, "-c", "4", "-n", "60", "-duration", "0", "-warmup", "0",
				"-json", "-queries", writeFile(t, "q.txt", tc.queries),
				"-token-file", writeFile(t, "token", tc.token+"\n"),
			}, &stdout, &stderr)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("run = %v, want %v; stderr:\n%s", err, tc.wantErr, stderr.String())
			}
			var got report
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("stdout %q: %v", stdout.String(), err)
			}
			checkTimings(t, got)
			got.DurationS, got.ThroughputRPS, got.P50MS, got.P90MS, got.P99MS, got.MaxMS = 0, 0, 0, 0, 0, 0
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantQs, fake.queries); diff != "" {
				t.Errorf("queries seen (-want +got):\n%s", diff)
			}
			if n := fake.conns.Load(); n < 1 || n > 4 {
				t.Errorf("%d connections opened, want 1..4 (keep-alive)", n)
			}
			if strings.Contains(stderr.String(), tc.token) {
				t.Error("token appears in the log")
			}
		})
	}
}

// checkTimings checks the report is internally consistent, not how fast it was.
func checkTimings(t *testing.T, r report) {
	t.Helper()
	ok := r.Requests > r.Errors
	if r.DurationS <= 0 || (ok && (r.ThroughputRPS <= 0 || r.P50MS <= 0)) ||
		r.P50MS > r.P90MS || r.P90MS > r.P99MS || r.P99MS > r.MaxMS {
		t.Errorf("inconsistent timings: %+v", r)
	}
}

func TestHTTPDurationBounded(t *testing.T) {
	_, url := startFake(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-url", url + "/", "-c", "2", "-duration", "200ms", "-warmup", "50ms",
		"-queries", writeFile(t, "q.txt", "ams\n"), "-token", "s3cret",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run = %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "http c=2: ") || !strings.Contains(stdout.String(), " 0 errors") {
		t.Errorf("human line = %q", stdout.String())
	}
}

func TestFlagsRefused(t *testing.T) {
	q := writeFile(t, "q.txt", "ams\n")
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"remote http", []string{"-url", "http://192.0.2.1:8080", "-token", "t", "-queries", q}, errNotLoopback},
		{"remote ldap", []string{"-mode", "ldap", "-url", "ldap://ldap.example.test", "-base", "o=x", "-queries", q}, errNotLoopback},
		{"unbounded", []string{"-token", "t", "-queries", q, "-duration", "0"}, errUsage},
		{"no token", []string{"-queries", q}, errUsage},
		{"no queries", []string{"-token", "t"}, errUsage},
		{"no base", []string{"-mode", "ldap", "-queries", q}, errUsage},
		{"bad mode", []string{"-mode", "smtp"}, errUsage},
		{"rss without pid", []string{"-mode", "rss"}, errUsage},
		{"zero workers", []string{"-token", "t", "-queries", q, "-c", "0"}, errUsage},
		{"empty queries", []string{"-token", "t", "-queries", writeFile(t, "e", "\n\n")}, errNoQueries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, tc.args, io.Discard, io.Discard)
			if !errors.Is(err, tc.want) {
				t.Errorf("run(%q) = %v, want %v", tc.args, err, tc.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name, in string
		want     rss
		wantErr  error
	}{
		{"process", "Name:\tslapd\nVmPeak:\t  9000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n",
			rss{VmRSSKB: 4096, VmHWMKB: 5120}, nil},
		{"kernel thread", "Name:\tkthreadd\nState:\tS (sleeping)\n", rss{}, errNoRSS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus(strings.NewReader(tc.in))
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("parseStatus = %+v, %v; want %+v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReportRSS(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-mode", "rss", "-pid", "1"}, &out, io.Discard); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	var got rss
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.PID != 1 {
		t.Errorf("output %q: %v", out.String(), err)
	}
}
