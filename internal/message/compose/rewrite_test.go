package compose

import (
	"bytes"
	"errors"
	"io"
	"net/mail"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	sender    = Address{Name: "Jörg Müller", Addr: "jorg@utrecht.example"}
	ourID     = "<generated@veilig.example>"
	rewriteAt = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
)

func rewrite(t *testing.T, raw string) (string, Recipients, error) {
	t.Helper()
	var out bytes.Buffer
	rec, err := RewriteAt(&out, strings.NewReader(raw), sender, ourID, rewriteAt)
	return out.String(), rec, err
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		want       string // the whole rewritten message
		recipients Recipients
	}{
		{
			name: "LF endings, missing Message-ID and Date",
			raw:  "From: someone@else.example\nTo: Piet <piet@ede.example>\nSubject: hoi\n\nregel 1\nregel 2\n",
			want: "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@utrecht.example>\r\n" +
				"Message-ID: <generated@veilig.example>\r\n" +
				"Date: Wed, 01 Apr 2026 12:00:00 +0000\r\n" +
				"To: Piet <piet@ede.example>\r\nSubject: hoi\r\n\r\nregel 1\r\nregel 2\r\n",
			recipients: Recipients{To: []string{"piet@ede.example"}, MessageID: ourID, Subject: "hoi"},
		},
		{
			name: "dropped and kept fields",
			raw: "Received: from client.utrecht.example by mx\r\n" +
				"Return-Path: <bounce@evil.example>\r\n" +
				"DKIM-Signature: v=1; a=rsa-sha256; d=evil.example;\r\n b=abc\r\n" +
				"Authentication-Results: mx.ede.example; dkim=pass\r\n" +
				"ARC-Seal: i=1; cv=none\r\n" +
				"Delivered-To: jorg@utrecht.example\r\n" +
				"Sender: secretary@utrecht.example\r\n" +
				"From: \"Boss\" <boss@utrecht.example>\r\n" +
				"To: a@ede.example,\r\n\tb@ede.example\r\n" +
				"Cc: =?utf-8?q?Ren=C3=A9?= <rene@ede.example>\r\n" +
				"Bcc: hidden@ede.example, other@ede.example\r\n" +
				"Message-ID: <client-123@utrecht.example>\r\n" +
				"Date: Tue, 31 Mar 2026 10:00:00 +0200\r\n" +
				"Subject: =?utf-8?q?=C3=A9=C3=A9n?= vergunning\r\n" +
				"X-Mailer: Thunderbird\r\n" +
				"\r\nbody\r\n",
			want: "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@utrecht.example>\r\n" +
				"Received: from client.utrecht.example by mx\r\n" +
				"To: a@ede.example,\r\n\tb@ede.example\r\n" +
				"Cc: =?utf-8?q?Ren=C3=A9?= <rene@ede.example>\r\n" +
				"Message-ID: <client-123@utrecht.example>\r\n" +
				"Date: Tue, 31 Mar 2026 10:00:00 +0200\r\n" +
				"Subject: =?utf-8?q?=C3=A9=C3=A9n?= vergunning\r\n" +
				"X-Mailer: Thunderbird\r\n" +
				"\r\nbody\r\n",
			recipients: Recipients{To: []string{"a@ede.example", "b@ede.example"}, Cc: []string{"rene@ede.example"},
				Bcc: []string{"hidden@ede.example", "other@ede.example"}, MessageID: "<client-123@utrecht.example>",
				Subject: "één vergunning"},
		},
		{
			name: "invalid Message-ID and Date are replaced",
			raw:  "To: undisclosed-recipients:;\r\nMessage-ID: no-brackets@x\r\nDate: yesterday\r\n\r\n",
			want: "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@utrecht.example>\r\n" +
				"Message-ID: <generated@veilig.example>\r\n" +
				"Date: Wed, 01 Apr 2026 12:00:00 +0000\r\n" +
				"To: undisclosed-recipients:;\r\n\r\n",
			recipients: Recipients{MessageID: ourID},
		},
		{
			name: "header only, no empty line",
			raw:  "Subject: kort\nTo: x@ede.example",
			want: "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@utrecht.example>\r\n" +
				"Message-ID: <generated@veilig.example>\r\n" +
				"Date: Wed, 01 Apr 2026 12:00:00 +0000\r\n" +
				"Subject: kort\r\nTo: x@ede.example\r\n\r\n",
			recipients: Recipients{To: []string{"x@ede.example"}, MessageID: ourID, Subject: "kort"},
		},
		{
			name: "RFC 6532 UTF-8 header and bare CR in the body",
			raw:  "To: jörg@ëde.example\r\nSubject: über\r\n\r\na\rb\r\n\rc\n\r",
			want: "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@utrecht.example>\r\n" +
				"Message-ID: <generated@veilig.example>\r\n" +
				"Date: Wed, 01 Apr 2026 12:00:00 +0000\r\n" +
				"To: jörg@ëde.example\r\nSubject: über\r\n\r\na\r\nb\r\n\r\nc\r\n\r\n",
			recipients: Recipients{To: []string{"jörg@ëde.example"}, MessageID: ourID, Subject: "über"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rec, err := rewrite(t, tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.recipients, rec); diff != "" {
				t.Errorf("recipients (-want +got):\n%s", diff)
			}
			if _, err := mail.ReadMessage(strings.NewReader(got)); err != nil {
				t.Errorf("net/mail cannot read the result: %v", err)
			}
		})
	}
}

func TestRewriteRejects(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"NUL in a field", "Subject: a\x00b\r\n\r\n", ErrHeaderInjection},
		{"bare CR in a field", "Subject: a\rBcc: x@y.example\r\n\r\n", ErrHeaderInjection},
		{"duplicate Subject", "Subject: a\r\nSubject: b\r\n\r\n", ErrMalformed},
		{"duplicate To", "To: a@b.example\r\nto: c@d.example\r\n\r\n", ErrMalformed},
		{"duplicate Content-Type", "Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\n", ErrMalformed},
		{"not a field", "this is not a header\r\n\r\n", ErrMalformed},
		{"space before colon", "Subject : x\r\n\r\n", ErrMalformed},
		{"mbox From line", "From someone Tue Mar 31 2026\r\nSubject: x\r\n\r\n", ErrMalformed},
		{"leading continuation", " folded\r\nSubject: x\r\n\r\n", ErrMalformed},
		{"invalid UTF-8", "Subject: caf\xe9\r\n\r\n", ErrMalformed},
		{"bad address list", "To: <unterminated@x.example\r\n\r\n", ErrMalformed},
		{"header too large", "X-Big: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := rewrite(t, tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if out != "" {
				t.Errorf("wrote %d bytes of a rejected message", len(out))
			}
		})
	}
}

func TestRewriteBadArguments(t *testing.T) {
	var out bytes.Buffer
	if _, err := Rewrite(&out, strings.NewReader("\r\n"), Address{Name: "x\r\nBcc: y", Addr: "a@b.example"}, ourID); !errors.Is(err, ErrHeaderInjection) {
		t.Errorf("injected sender name: err = %v", err)
	}
	if _, err := Rewrite(&out, strings.NewReader("\r\n"), sender, "nope"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad Message-ID: err = %v", err)
	}
}

// endless is an unbounded header: Rewrite must stop reading near the limit.
type endless struct{ read int }

func (e *endless) Read(p []byte) (int, error) {
	const line = "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
	for i := range p {
		p[i] = line[(e.read+i)%len(line)]
	}
	e.read += len(p)
	return len(p), nil
}

func TestRewriteBoundedHeader(t *testing.T) {
	src := &endless{}
	_, err := RewriteAt(io.Discard, src, sender, ourID, rewriteAt)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if src.read > MaxHeaderBytes+64<<10 {
		t.Errorf("read %d bytes of an endless header", src.read)
	}
}

func TestRewriteBodyChunking(t *testing.T) {
	raw := "Subject: x\n\n" + "a\r\nb\nc\rd\r\r\n\n\re" + strings.Repeat("\r", 3)
	want := "a\r\nb\r\nc\r\nd\r\n\r\n\r\n\r\ne\r\n\r\n\r\n"
	for name, r := range map[string]io.Reader{
		"whole":     strings.NewReader(raw),
		"bytewise":  iotest.OneByteReader(strings.NewReader(raw)),
		"half-read": iotest.HalfReader(strings.NewReader(raw)),
	} {
		var out bytes.Buffer
		if _, err := RewriteAt(&out, r, sender, ourID, rewriteAt); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, body, _ := strings.Cut(out.String(), "\r\n\r\n")
		if body != want {
			t.Errorf("%s: body = %q, want %q", name, body, want)
		}
	}
}

func TestRewriteConstantMemory(t *testing.T) {
	const size = 20 << 20
	body := io.MultiReader(strings.NewReader("To: a@ede.example\r\n\r\n"), &patternReader{n: size})
	var out countingWriter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := RewriteAt(&out, body, sender, ourID, rewriteAt); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 1<<20 {
		t.Errorf("rewriting a %d-byte body allocated %d bytes", size, allocated)
	}
	if out.n < size {
		t.Errorf("wrote %d bytes", out.n)
	}
}
