package devmailbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/sms"
)

func TestAllowed(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://localhost:8080", true},
		{"http://veilig.example", true},
		{"http://192.0.2.1", true},
		{"https://localhost:8443", true},
		{"https://LOCALHOST.", true},
		{"https://app.localhost", true},
		{"https://127.0.0.1", true},
		{"https://127.0.0.2:8443/x", true},
		{"https://[::1]:8443", true},
		{"https://veilig.example", false},
		{"https://localhost.example", false},
		{"https://192.0.2.1", false},
		{"https://[2001:db8::1]", false},
		{"ftp://localhost", false},
		{"", false},
		{"://bad", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := Allowed(tt.url)
			if tt.ok && err != nil {
				t.Fatalf("Allowed(%q) = %v, want nil", tt.url, err)
			}
			if !tt.ok && !errors.Is(err, ErrNotAllowed) {
				t.Fatalf("Allowed(%q) = %v, want ErrNotAllowed", tt.url, err)
			}
		})
	}
}

func envelope(raw string) delivery.Envelope {
	return delivery.Envelope{From: "alice@veilig.test", To: []string{"bob@extern.example"}, Size: int64(len(raw)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(raw)), nil }}
}

func composed(t *testing.T, m compose.Message) string {
	t.Helper()
	var buf bytes.Buffer
	if err := compose.Write(&buf, m); err != nil {
		t.Fatalf("compose: %v", err)
	}
	return buf.String()
}

func TestDeliverRecordsDelivered(t *testing.T) {
	mb := New(10, nil)
	res := mb.Deliver(context.Background(), "extern.example", envelope("Subject: hi\r\n\r\nbody\r\n"))
	if res.Outcome != delivery.Delivered || len(res.Attempts) != 1 {
		t.Fatalf("result = %+v, want delivered with one attempt", res)
	}
	a := res.Attempts[0]
	if a.Policy != "dev-mailbox" || a.Code != 250 || a.Enhanced != "2.0.0" || a.Error != "" {
		t.Fatalf("attempt = %+v", a)
	}
	items := mb.Items()
	if len(items) != 1 || items[0].From != "alice@veilig.test" || items[0].To[0] != "bob@extern.example" {
		t.Fatalf("items = %+v", items)
	}
}

func TestDeliverFailures(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		env  delivery.Envelope
	}{
		{"open fails", context.Background(), delivery.Envelope{Open: func() (io.ReadCloser, error) {
			return nil, errors.New("blob gone")
		}}},
		{"no open", context.Background(), delivery.Envelope{}},
		{"read fails", context.Background(), delivery.Envelope{Open: func() (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(strings.NewReader("Subject: x\r\n"), errReader{})), nil
		}}},
		{"cancelled", cancelled, envelope("Subject: x\r\n\r\nx")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := New(10, nil)
			res := mb.Deliver(tt.ctx, "extern.example", tt.env)
			if res.Outcome != delivery.Temporary || res.Reason == "" {
				t.Fatalf("result = %+v, want temporary with a reason", res)
			}
			if n := len(mb.Items()); n != 0 {
				t.Fatalf("%d items captured, want 0", n)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk error") }

func TestDeliverTruncates(t *testing.T) {
	mb := New(10, nil)
	raw := "Subject: big\r\n\r\n" + strings.Repeat("x", MaxMessageBytes)
	if res := mb.Deliver(context.Background(), "extern.example", envelope(raw)); res.Outcome != delivery.Delivered {
		t.Fatalf("outcome = %v", res.Outcome)
	}
	it := mb.Items()[0]
	if !it.Truncated || len(it.Raw) != MaxMessageBytes {
		t.Fatalf("truncated = %v, raw %d bytes, want true and %d", it.Truncated, len(it.Raw), MaxMessageBytes)
	}
}

func TestBoundedNewestFirst(t *testing.T) {
	mb := New(3, nil)
	for _, s := range []string{"one", "two", "three", "four", "five"} {
		mb.Deliver(context.Background(), "extern.example", envelope("Subject: "+s+"\r\n\r\nx"))
	}
	var got []string
	for _, it := range mb.Items() {
		got = append(got, it.ID+":"+it.Subject)
	}
	if diff := cmp.Diff([]string{"5:five", "4:four", "3:three"}, got); diff != "" {
		t.Fatalf("items (-want +got):\n%s", diff)
	}
	if _, ok := mb.Get("1"); ok {
		t.Fatal("evicted item 1 still found")
	}
}

func TestParseEmail(t *testing.T) {
	date := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	link := "https://veilig.localhost/v/AbC_123-xyz"
	longLine := "Open het bericht / open the message: " + link + ". " + strings.Repeat("ééé ", 30)
	tests := []struct {
		name, raw, subject, text string
		links                    []string
	}{
		{"composed multipart/alternative, qp and RFC 2047",
			composed(t, compose.Message{From: compose.Address{Name: "Gemeente Ütrecht", Addr: "noreply@veilig.test"},
				To: []compose.Address{{Addr: "bob@extern.example"}}, Subject: "Beveiligd bericht — één",
				Text: longLine, HTML: "<p>html</p>", MessageID: "<1@veilig.test>", Date: date}),
			"Beveiligd bericht — één", longLine, []string{link}},
		{"no content type",
			"Subject: plain\r\n\r\nline one\r\nsee http://localhost:8080/v/x).\r\n",
			"plain", "line one\nsee http://localhost:8080/v/x).\n", []string{"http://localhost:8080/v/x"}},
		{"base64 latin-1 in mixed with attachment first",
			"Subject: =?ISO-8859-1?Q?caf=E9?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
				"--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nattached\r\n" +
				"--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				"Y2Fm6SBodHRw\r\nczovL2EuZXhhbXBsZS94\r\n--b1--\r\n",
			"café", "café https://a.example/x", []string{"https://a.example/x"}},
		{"html only", "Subject: h\r\nContent-Type: text/html\r\n\r\n<p>x</p>", "h", "", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := parseEmail([]byte(tt.raw))
			if it.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", it.Subject, tt.subject)
			}
			if strings.TrimRight(it.Text, "\n") != strings.TrimRight(tt.text, "\n") {
				t.Errorf("text = %q, want %q", it.Text, tt.text)
			}
			if diff := cmp.Diff(tt.links, it.Links); diff != "" {
				t.Errorf("links (-want +got):\n%s", diff)
			}
			if it.Raw != tt.raw {
				t.Error("raw source not kept")
			}
		})
	}
}

func TestHeaderFieldsOrderedUnfoldedDecoded(t *testing.T) {
	raw := "From: =?UTF-8?Q?Gemeente_=C3=9Ctrecht?= <a@veilig.test>\r\nSubject: a\r\n long\r\nX-B: 2\r\n\r\nbody"
	want := []Header{{"From", "Gemeente Ütrecht <a@veilig.test>"}, {"Subject", "a long"}, {"X-B", "2"}}
	if diff := cmp.Diff(want, headerFields([]byte(raw))); diff != "" {
		t.Fatalf("headers (-want +got):\n%s", diff)
	}
}

func TestSegments(t *testing.T) {
	got := segments("a http://x.example/1, b https://y.example/2")
	want := []segment{{Text: "a "}, {URL: "http://x.example/1"}, {Text: ", b "}, {URL: "https://y.example/2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
}

func TestSend(t *testing.T) {
	mb := New(10, nil)
	n, err := sms.Normalize("+31612345678", "NL")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := mb.Send(context.Background(), sms.Message{To: n, Text: "Uw code / your code: 123456", Reference: "r1"})
	if err != nil || rc.ProviderID != "dev-1" {
		t.Fatalf("Send = %+v, %v", rc, err)
	}
	it := mb.Items()[0]
	if it.Kind != KindSMS || it.To[0] != "+31612345678" || !strings.Contains(it.Text, "123456") {
		t.Fatalf("item = %+v", it)
	}
	if _, err := mb.Send(context.Background(), sms.Message{Text: "x"}); sms.IsTemporary(err) || err == nil {
		t.Fatalf("Send without recipient = %v, want permanent error", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mb.Send(cancelled, sms.Message{To: n, Text: "x"}); !sms.IsTemporary(err) {
		t.Fatalf("Send on cancelled context = %v, want temporary error", err)
	}
}

func TestConcurrentCapture(t *testing.T) {
	mb := New(5, nil)
	n, err := sms.Normalize("+31612345678", "NL")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			mb.Deliver(context.Background(), "extern.example", envelope("Subject: x\r\n\r\nx"))
			_, _ = mb.Send(context.Background(), sms.Message{To: n, Text: "x"})
			_ = mb.Items()
		})
	}
	wg.Wait()
	items := mb.Items()
	if len(items) != 5 || items[0].ID != "40" {
		t.Fatalf("%d items, newest %q; want 5, newest 40", len(items), items[0].ID)
	}
}
