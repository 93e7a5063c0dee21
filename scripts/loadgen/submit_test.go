package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeSubmit is POST /api/v1/messages as plain data: it parses the multipart
// body as the server does, answers 202 with the recipients plus a self-copy,
// and records what it saw.
type fakeSubmit struct {
	maxBody int64

	mu          sync.Mutex
	keys        map[string]int
	attachments []int
	to          map[string]int
}

func (f *fakeSubmit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Header.Get("Authorization") != "Bearer s3cret":
		w.WriteHeader(http.StatusUnauthorized)
		return
	case r.Method != http.MethodPost || r.URL.Path != "/api/v1/messages":
		w.WriteHeader(http.StatusNotFound)
		return
	case r.ContentLength > f.maxBody:
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	draft, size, err := parseSubmission(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.record(r.Header.Get("Idempotency-Key"), draft.To, size)
	rcpts := make([]map[string]string, 0, len(draft.To)+1)
	for _, a := range append(draft.To, "sender@x.test") {
		rcpts = append(rcpts, map[string]string{"address": a, "route": "internal", "status": "queued"})
	}
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "m1", "recipients": rcpts})
}

func (f *fakeSubmit) record(key string, to []string, size int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[key]++
	if size >= 0 {
		f.attachments = append(f.attachments, size)
	}
	for _, a := range to {
		f.to[a]++
	}
}

// parseSubmission returns the draft and the attachment's size (-1: none).
func parseSubmission(r *http.Request) (draftJSON, int, error) {
	var d draftJSON
	size := -1
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return d, size, errors.New("not multipart/form-data")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return d, size, nil
		}
		if err != nil {
			return d, size, err
		}
		switch p.FormName() {
		case "message":
			err = json.NewDecoder(p).Decode(&d)
		case "attachment":
			var n int64
			n, err = io.Copy(io.Discard, p)
			size = int(n)
		default:
			err = errors.New("unknown part " + p.FormName())
		}
		if err != nil {
			return d, size, err
		}
	}
}

func startFakeSubmit(t *testing.T, maxBody int64) (*fakeSubmit, string) {
	f := &fakeSubmit{maxBody: maxBody, keys: map[string]int{}, to: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestSubmitEndToEnd(t *testing.T) {
	tests := []struct {
		name      string
		size      string
		maxBody   int64
		token     string
		wantErr   error
		want      report
		wantSizes []int
	}{
		{
			name: "accepted", size: "3000", maxBody: 1 << 20, token: "s3cret",
			want:      report{Mode: "submit", Concurrency: 3, Requests: 12, AvgHits: 3},
			wantSizes: []int{3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000},
		},
		{
			name: "no attachment", size: "0", maxBody: 1 << 20, token: "s3cret",
			want: report{Mode: "submit", Concurrency: 3, Requests: 12, AvgHits: 3},
		},
		{
			name: "too large fails the run", size: "5000", maxBody: 4000, token: "s3cret", wantErr: errAllFailed,
			want: report{Mode: "submit", Concurrency: 3, Requests: 12, Errors: 12},
		},
		{
			name: "wrong token fails the run", size: "10", maxBody: 1 << 20, token: "wrong", wantErr: errAllFailed,
			want: report{Mode: "submit", Concurrency: 3, Requests: 12, Errors: 12},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake, url := startFakeSubmit(t, tc.maxBody)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{
				"-mode", "submit", "-url", url, "-c", "3", "-n", "12", "-duration", "0", "-warmup", "0", "-json",
				"-size", tc.size, "-rcpts", "2", "-rcpt-domain", "dane.test",
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
			checkSeen(t, fake, int(tc.want.Requests-tc.want.Errors), tc.wantSizes)
			if strings.Contains(stderr.String(), tc.token) {
				t.Error("token appears in the log")
			}
		})
	}
}

// checkSeen checks that every accepted request had its own Idempotency-Key,
// the generated recipients and the attachment size asked for.
func checkSeen(t *testing.T, f *fakeSubmit, accepted int, sizes []int) {
	t.Helper()
	if len(f.keys) != accepted {
		t.Errorf("%d distinct Idempotency-Keys for %d accepted requests", len(f.keys), accepted)
	}
	for k, n := range f.keys {
		if n != 1 || !strings.HasPrefix(k, "loadgen-") {
			t.Errorf("Idempotency-Key %q used %d times", k, n)
		}
	}
	wantTo := map[string]int{}
	if accepted > 0 {
		wantTo = map[string]int{"bench1@dane.test": accepted, "bench2@dane.test": accepted}
	}
	if diff := cmp.Diff(wantTo, f.to); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sizes, f.attachments); diff != "" {
		t.Errorf("attachment sizes (-want +got):\n%s", diff)
	}
}

func TestSubmitFlagsRefused(t *testing.T) {
	base := []string{"-mode", "submit", "-token", "t", "-rcpt-domain", "dane.test"}
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"remote", []string{"-url", "http://192.0.2.1:8080"}, errNotLoopback},
		{"ldap scheme", []string{"-url", "ldap://127.0.0.1:389"}, errUsage},
		{"no token", []string{"-token", ""}, errUsage},
		{"no domain", []string{"-rcpt-domain", ""}, errUsage},
		{"domain with at", []string{"-rcpt-domain", "a@dane.test"}, errUsage},
		{"empty label", []string{"-rcpt-domain", "dane..test"}, errUsage},
		{"zero recipients", []string{"-rcpts", "0"}, errUsage},
		{"negative size", []string{"-size", "-1"}, errUsage},
		{"huge size", []string{"-size", "2000000000"}, errUsage},
		{"unbounded", []string{"-duration", "0"}, errUsage},
		{"zero workers", []string{"-c", "0"}, errUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, base...), tc.args...)
			if err := run(context.Background(), args, io.Discard, io.Discard); !errors.Is(err, tc.want) {
				t.Errorf("run(%q) = %v, want %v", args, err, tc.want)
			}
		})
	}
}

func TestGeneratePayload(t *testing.T) {
	a, b, c := generatePayload(4096, 1), generatePayload(4096, 1), generatePayload(4096, 2)
	if len(a) != 4096 || !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Errorf("payload: len %d, same seed equal %v, other seed equal %v", len(a), bytes.Equal(a, b), bytes.Equal(a, c))
	}
	if bytes.Count(a, []byte{0}) > 100 {
		t.Error("payload looks compressible (too many zero bytes)")
	}
}
