package delivery

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// scripted is a raw SMTP server that answers each command line with the next
// scripted reply and records what it received.
type scripted struct {
	greeting string
	replies  []string // one per command line, sent verbatim

	mu    sync.Mutex
	lines []string
}

func (s *scripted) start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		s.serve(c)
	}()
	return l.Addr().String()
}

func (s *scripted) serve(c net.Conn) {
	if s.greeting == "" {
		_, _ = bufio.NewReader(c).ReadString('\n') // never greet; wait for the client to give up
		return
	}
	_, _ = c.Write([]byte(s.greeting))
	r := bufio.NewReader(c)
	for _, reply := range s.replies {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		s.mu.Lock()
		s.lines = append(s.lines, strings.TrimRight(line, "\r\n"))
		s.mu.Unlock()
		_, _ = c.Write([]byte(reply))
	}
	rest, _ := r.ReadString('\n') // anything further the client sends in plaintext
	s.mu.Lock()
	if rest != "" {
		s.lines = append(s.lines, strings.TrimRight(rest, "\r\n"))
	}
	s.mu.Unlock()
}

func (s *scripted) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func TestSessionBeforeTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	tests := []struct {
		name   string
		server *scripted
		err    string
		code   int
		lines  []string // everything the server received in plaintext
	}{
		{name: "STARTTLS not offered", server: &scripted{greeting: "220 mx ESMTP\r\n",
			replies: []string{"250-mx\r\n250 SIZE 1000\r\n"}},
			err: "STARTTLS not offered", lines: []string{"EHLO veilig.test"}},
		{name: "data injected after the STARTTLS reply", server: &scripted{greeting: "220 mx ESMTP\r\n",
			replies: []string{"250-mx\r\n250 STARTTLS\r\n", "220 2.0.0 Go ahead\r\n250 injected\r\n"}},
			err: "data after the STARTTLS reply", lines: []string{"EHLO veilig.test", "STARTTLS"}},
		{name: "greeting refused", server: &scripted{greeting: "554 5.7.1 No service\r\n"},
			err: "greeting: 554", code: 554},
		{name: "STARTTLS refused", server: &scripted{greeting: "220 mx\r\n",
			replies: []string{"250-mx\r\n250 STARTTLS\r\n", "454 4.7.0 TLS not available\r\n"}},
			err: "starttls: 454", code: 454, lines: []string{"EHLO veilig.test", "STARTTLS"}},
		{name: "silent server", server: &scripted{}, err: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, nil, "example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1")
			w.dial["192.0.2.1"] = tc.server.start(t)
			w.cfg.CommandTimeout = 300 * time.Millisecond
			res := deliver(t, w.deliverer(nil))
			if res.Outcome != Temporary || len(res.Attempts) != 1 {
				t.Fatalf("result %+v", res)
			}
			a := res.Attempts[0]
			if !strings.Contains(a.Error, tc.err) || a.Code != tc.code {
				t.Fatalf("attempt %+v, want error %q and code %d", a, tc.err, tc.code)
			}
			if got := tc.server.received(); strings.Join(got, "|") != strings.Join(tc.lines, "|") {
				t.Fatalf("server received %q in plaintext, want %q", got, tc.lines)
			}
		})
	}
}

func TestHasExtension(t *testing.T) {
	tests := []struct {
		ehlo string
		want bool
	}{
		{"mx.test\nPIPELINING\nSTARTTLS", true},
		{"mx.test\nstarttls", true},
		{"mx.test STARTTLS\nSIZE 10", false}, // the greeting line is no extension
		{"mx.test\nSTARTTLSX", false},
		{"mx.test", false},
	}
	for _, tc := range tests {
		if got := hasExtension(tc.ehlo, "STARTTLS"); got != tc.want {
			t.Errorf("hasExtension(%q) = %v, want %v", tc.ehlo, got, tc.want)
		}
	}
}
