package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeExternal is a server with the dev mailbox as plain data: POST
// /api/v1/messages captures one notification per recipient with a viewer link,
// /dev/mailbox.json lists the captures newest first, and /v/ walks the viewer
// flow (cookie, form token, SMS code, verified message page).
type fakeExternal struct {
	mu       sync.Mutex
	items    []mailItem // newest first
	next     int
	phones   map[string]string // recipient → phone, every message
	attach   []int
	sessions map[string]*fakeSession
	xff      map[string]bool
}

type fakeSession struct {
	code     string
	verified bool
}

func newFakeExternal(t *testing.T) (*fakeExternal, string) {
	f := &fakeExternal{phones: map[string]string{}, sessions: map[string]*fakeSession{}, xff: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/messages", f.submit)
	mux.HandleFunc("GET /dev/mailbox.json", f.mailbox)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /v/{$}", f.state)
	mux.HandleFunc("GET /v/{token}", f.open)
	mux.HandleFunc("POST /v/code", f.code)
	mux.HandleFunc("POST /v/verify", f.verify)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeExternal) capture(it mailItem) {
	f.next++
	it.ID, it.Time = fmt.Sprint(f.next), time.Now()
	f.items = append([]mailItem{it}, f.items...)
}

func (f *fakeExternal) submit(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer s3cret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	draft, size, err := parseNotify(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attach = append(f.attach, size)
	for _, to := range draft.To {
		f.phones[to] = draft.Phones[to]
		f.capture(mailItem{Kind: "email", To: []string{to}, Links: []string{"http://x.test/v/tok-" + fmt.Sprint(f.next+1) + "-0123456789abcdef"}})
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"id":"m1","recipients":[]}`)
}

func parseNotify(r *http.Request) (notifyDraft, int, error) {
	var d notifyDraft
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return d, 0, err
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	size := 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return d, size, nil
		}
		if err != nil {
			return d, 0, err
		}
		b, _ := io.ReadAll(p)
		if p.FormName() == "message" {
			if err := json.Unmarshal(b, &d); err != nil {
				return d, 0, err
			}
		} else {
			size += len(b)
		}
	}
}

func (f *fakeExternal) mailbox(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []mailItem{}
	for _, it := range f.items {
		if strings.Contains(strings.Join(it.To, ","), r.URL.Query().Get("to")) {
			out = append(out, it)
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeExternal) open(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := "sess-" + r.PathValue("token")
	f.sessions[s] = &fakeSession{}
	http.SetCookie(w, &http.Cookie{Name: "veilig_viewer", Value: s, Path: "/v"})
	io.WriteString(w, `<meta http-equiv="refresh" content="0;url=/v/">`)
}

// session returns the request's session, or nil after writing 403.
func (f *fakeExternal) session(w http.ResponseWriter, r *http.Request) *fakeSession {
	ck, err := r.Cookie("veilig_viewer")
	if err == nil && f.sessions[ck.Value] != nil && (r.Method == http.MethodGet || r.PostFormValue("csrf") == "c&amp;"+ck.Value) {
		return f.sessions[ck.Value]
	}
	w.WriteHeader(http.StatusForbidden)
	return nil
}

func (f *fakeExternal) state(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(w, r)
	switch {
	case s == nil:
	case s.verified:
		io.WriteString(w, `<form method="post" action="/v/reply">message</form>`)
	default:
		ck, _ := r.Cookie("veilig_viewer")
		fmt.Fprintf(w, `<form method="post" action="/v/code"><input type="hidden" name="csrf" value="c&amp;amp;%s">`, ck.Value)
	}
}

func (f *fakeExternal) code(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.session(w, r); s != nil {
		f.xff[r.Header.Get("X-Forwarded-For")] = true
		s.code = fmt.Sprintf("%06d", 100000+f.next)
		f.capture(mailItem{Kind: "sms", To: []string{"+31612340001"}, Text: "Veilig: uw code is " + s.code + " (10 min). Your code is " + s.code + "."})
		http.Redirect(w, r, "/v/", http.StatusSeeOther)
	}
}

func (f *fakeExternal) verify(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(w, r)
	switch {
	case s == nil:
	case r.PostFormValue("code") != s.code:
		w.WriteHeader(http.StatusUnprocessableEntity)
	default:
		s.verified = true
		http.Redirect(w, r, "/v/", http.StatusSeeOther)
	}
}

func runJSON(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out, io.Discard)
	return out.Bytes(), err
}

func TestNotifyEndToEnd(t *testing.T) {
	f, url := newFakeExternal(t)
	out, err := runJSON(t, "-mode", "notify", "-url", url, "-token", "s3cret", "-n", "2", "-rcpts", "5",
		"-size", "1000", "-rcpt-domain", "ext.example", "-wait", "5s")
	if err != nil {
		t.Fatalf("notify: %v", err)
	}
	var rep notifyReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.Recipients != 5 || rep.MaxMS < rep.MedianMS {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Runs {
		if r.Notified != 5 || r.FirstMS > r.LastMS || r.AcceptMS < 0 {
			t.Errorf("run %+v", r)
		}
	}
	if diff := cmp.Diff([]int{1000, 1000}, f.attach); diff != "" {
		t.Errorf("attachment sizes (-want +got):\n%s", diff)
	}
	seen := map[string]bool{}
	for to, phone := range f.phones {
		if !strings.HasPrefix(phone, "+3161234") || len(phone) != 12 || !strings.HasSuffix(to, ".ext.example") {
			t.Errorf("recipient %s has phone %q", to, phone)
		}
		seen[phone] = true
	}
	if len(f.phones) != 10 || len(seen) != 5 {
		t.Errorf("%d recipients with %d distinct phones, want 10 and 5", len(f.phones), len(seen))
	}
}

func TestViewerLoginThenPage(t *testing.T) {
	f, url := newFakeExternal(t)
	if _, err := runJSON(t, "-mode", "notify", "-url", url, "-token", "s3cret", "-n", "1", "-rcpts", "3",
		"-size", "0", "-rcpt-domain", "lezer.example"); err != nil {
		t.Fatal(err)
	}
	sessions := filepath.Join(t.TempDir(), "sessions")
	if _, err := runJSON(t, "-mode", "viewer-login", "-url", url, "-rcpts", "3", "-rcpt-domain", "lezer.example",
		"-xff", "-sessions-file", sessions); err != nil {
		t.Fatalf("viewer-login: %v", err)
	}
	checkSessionsFile(t, sessions, 3)
	if len(f.xff) != 3 {
		t.Errorf("codes requested from %d client addresses, want 3", len(f.xff))
	}
	tests := []struct {
		name, path, sessions, expect string
		wantErr                      error
		wantOK                       int64
	}{
		{"message page", "/v/", sessions, replyForm, nil, 30},
		{"baseline", "/healthz", "", "", nil, 30},
		{"no cookie", "/v/", "", "", errAllFailed, 0},
		{"wrong page", "/v/", sessions, "nope", errAllFailed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runJSON(t, "-mode", "page", "-url", url, "-path", tt.path, "-sessions-file", tt.sessions,
				"-expect", tt.expect, "-c", "2", "-n", "30", "-duration", "0", "-warmup", "0", "-json")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			var r report
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatal(err)
			}
			if r.Requests != 30 || r.Requests-r.Errors != tt.wantOK {
				t.Errorf("%d requests, %d errors; want 30 and %d ok", r.Requests, r.Errors, tt.wantOK)
			}
		})
	}
}

func checkSessionsFile(t *testing.T, path string, want int) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("sessions file mode %04o, want 0600", st.Mode().Perm())
	}
	lines, err := readSessions(path)
	if err != nil || len(lines) != want || !strings.HasPrefix(lines[0], "veilig_viewer=sess-") {
		t.Errorf("sessions %q, %v; want %d veilig_viewer cookies", lines, err, want)
	}
}

func TestExternalFlagsRefused(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"notify without token", []string{"-mode", "notify", "-n", "1", "-rcpt-domain", "x.example"}},
		{"notify without -n", []string{"-mode", "notify", "-token", "t", "-rcpt-domain", "x.example"}},
		{"notify bad domain", []string{"-mode", "notify", "-token", "t", "-n", "1", "-rcpt-domain", "a b"}},
		{"notify too many", []string{"-mode", "notify", "-token", "t", "-n", "1", "-rcpts", "1001", "-rcpt-domain", "x.example"}},
		{"login without file", []string{"-mode", "viewer-login", "-rcpt-domain", "x.example"}},
		{"page relative path", []string{"-mode", "page", "-path", "v/"}},
		{"page unbounded", []string{"-mode", "page", "-duration", "0"}},
		{"not loopback", []string{"-mode", "page", "-url", "http://192.0.2.1"}},
		{"zero wait", []string{"-mode", "page", "-wait", "0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runJSON(t, tt.args...)
			if !errors.Is(err, errUsage) && !errors.Is(err, errNotLoopback) {
				t.Fatalf("err %v, want a usage error", err)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestXFFAddr(t *testing.T) {
	seen := map[string]bool{}
	for i := range maxExternalRcpts {
		a := xffAddr(true, i)
		if seen[a] || !strings.HasPrefix(a, "198.18.") || strings.HasSuffix(a, ".0") {
			t.Fatalf("address %d: %q (duplicate or outside 198.18.0.0/15)", i, a)
		}
		seen[a] = true
	}
	if xffAddr(false, 1) != "" {
		t.Error("xffAddr(false) must be empty")
	}
}
