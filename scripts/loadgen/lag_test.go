package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func status(t *testing.T, raw string) messageStatus {
	t.Helper()
	var st messageStatus
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMessageLag(t *testing.T) {
	tests := map[string]struct {
		raw       string
		wantFinal bool
		wantLag   time.Duration
		wantOK    bool
	}{
		"delivered: last recipient counts": {
			raw: `{"state":"delivered","created_at":"2026-01-01T10:00:00Z","recipients":[
				{"state":"delivered","delivered_at":"2026-01-01T10:00:01.5Z"},
				{"state":"delivered","delivered_at":"2026-01-01T10:00:00.25Z"}]}`,
			wantFinal: true, wantLag: 1500 * time.Millisecond, wantOK: true,
		},
		"sending: partial lag so far": {
			raw: `{"state":"sending","created_at":"2026-01-01T10:00:00Z","recipients":[
				{"state":"queued","delivered_at":null},
				{"state":"delivered","delivered_at":"2026-01-01T10:00:02Z"}]}`,
			wantFinal: false, wantLag: 2 * time.Second, wantOK: true,
		},
		"failed: nothing delivered": {
			raw:       `{"state":"failed","created_at":"2026-01-01T10:00:00Z","recipients":[{"state":"failed","delivered_at":null}]}`,
			wantFinal: true,
		},
		"empty answer": {raw: `{}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := status(t, tc.raw)
			lag, ok := st.lag()
			if st.final() != tc.wantFinal || lag != tc.wantLag || ok != tc.wantOK {
				t.Fatalf("final, lag, ok = %v, %v, %v; want %v, %v, %v", st.final(), lag, ok, tc.wantFinal, tc.wantLag, tc.wantOK)
			}
		})
	}
}

func TestNearestRank(t *testing.T) {
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := map[string]struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		"empty":     {nil, 50, 0},
		"one":       {[]time.Duration{7}, 99, 7},
		"p50 of 10": {ten, 50, 5},
		"p99 of 10": {ten, 99, 10},
		"p10 of 10": {ten, 10, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := nearestRank(tc.in, tc.p); got != tc.want {
				t.Fatalf("nearestRank(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

// fakeOutbox answers GET /api/v1/messages/{id}: "slow" is sending for its
// first two polls, "gone" is 404, every other id is delivered 250 ms after it
// was created.
type fakeOutbox struct {
	mu    sync.Mutex
	polls map[string]int
}

func (f *fakeOutbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/api/v1/messages/")
	if !ok || r.Header.Get("Authorization") != "Bearer s3cret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	f.polls[id]++
	n := f.polls[id]
	f.mu.Unlock()
	switch {
	case id == "gone":
		w.WriteHeader(http.StatusNotFound)
	case id == "slow" && n <= 2:
		fmt.Fprint(w, `{"state":"sending","created_at":"2026-01-01T10:00:00Z","recipients":[{"state":"queued","delivered_at":null}]}`)
	default:
		fmt.Fprint(w, `{"state":"delivered","created_at":"2026-01-01T10:00:00Z","recipients":[{"state":"delivered","delivered_at":"2026-01-01T10:00:00.25Z"}]}`)
	}
}

func TestLagEndToEnd(t *testing.T) {
	f := &fakeOutbox{polls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	ids := writeFile(t, "ids", "a\nslow\n\nb\na\n")
	tok := writeFile(t, "tok", "s3cret\n")
	out, err := runJSON(t, "-mode", "lag", "-url", srv.URL, "-token-file", tok, "-ids-file", ids, "-wait", "30s", "-c", "2")
	if err != nil {
		t.Fatalf("lag: %v", err)
	}
	var got lagReport
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	got.WaitedS = 0
	want := lagReport{Mode: "lag", Messages: 3, SendingFirst: 1, States: map[string]int{"delivered": 3},
		P50MS: 250, P99MS: 250, MaxMS: 250}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("report (-want +got):\n%s", d)
	}
	if f.polls["slow"] != 3 || f.polls["a"] != 1 {
		t.Fatalf("polls = %v, want slow 3 times and a once", f.polls)
	}
}

func TestLagGivesUp(t *testing.T) {
	f := &fakeOutbox{polls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	ids := writeFile(t, "ids", "gone\na\n")
	tok := writeFile(t, "tok", "s3cret")
	out, err := runJSON(t, "-mode", "lag", "-url", srv.URL, "-token-file", tok, "-ids-file", ids, "-wait", "1ms")
	if err != nil {
		t.Fatalf("lag: %v", err)
	}
	var got lagReport
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if got.Sending != 1 || got.Unreadable != 1 || got.States["delivered"] != 1 {
		t.Fatalf("report = %+v, want the 404 still pending and unreadable", got)
	}
}

func TestPrefixesMode(t *testing.T) {
	ldif := writeFile(t, "p.ldif", "dn: cn=Anna de Vries,o=x\ncn: Anna de Vries\nmail: anna@example.test\n")
	out, err := runJSON(t, "-mode", "prefixes", "-ldif", ldif, "-prefixes", "2")
	if err != nil {
		t.Fatalf("prefixes: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		t.Fatalf("prefixes = %q, want 2 lines", out)
	}
	for _, l := range lines {
		if !strings.HasPrefix("anna de vries", l) && !strings.HasPrefix("anna@example.test", l) {
			t.Fatalf("prefix %q is not a prefix of the LDIF values", l)
		}
	}
}

func TestLagFlagsRefused(t *testing.T) {
	for name, args := range map[string][]string{
		"no ids file":   {"-mode", "lag", "-token", "x"},
		"no token":      {"-mode", "lag", "-ids-file", "ids"},
		"not loopback":  {"-mode", "lag", "-token", "x", "-ids-file", "ids", "-url", "http://192.0.2.1"},
		"prefixes bare": {"-mode", "prefixes"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := runJSON(t, args...); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
