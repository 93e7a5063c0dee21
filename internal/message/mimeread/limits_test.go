package mimeread

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// nested returns a message with depth multiparts inside each other.
func nested(depth int) string {
	var b strings.Builder
	b.WriteString("From: a@b.example\n")
	for i := 0; i < depth; i++ {
		bound := "b" + strings.Repeat("x", i)
		b.WriteString("Content-Type: multipart/mixed; boundary=" + bound + "\n\n--" + bound + "\n")
	}
	b.WriteString("Content-Type: text/plain\n\ndiep\n")
	return b.String()
}

// manyParts returns a multipart/mixed message with n leaf parts.
func manyParts(n int) string {
	var b strings.Builder
	b.WriteString("From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n")
	for range n {
		b.WriteString("--b\nContent-Type: application/octet-stream\n\nx\n")
	}
	b.WriteString("--b--\n")
	return b.String()
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		lim     Limits
		wantErr error // nil: must succeed
	}{
		{"depth at limit", nested(5), Limits{MaxDepth: 5}, nil},
		{"depth over limit", nested(6), Limits{MaxDepth: 5}, ErrLimit},
		{"default depth over limit", nested(DefaultMaxDepth + 1), Limits{}, ErrLimit},
		{"parts at limit", manyParts(9), Limits{MaxParts: 10}, nil},
		{"parts over limit", manyParts(10), Limits{MaxParts: 10}, ErrLimit},
		{"header over limit", "From: a@b.example\nX-Big: " + strings.Repeat("a", MaxHeaderBytes) + "\n\nx", Limits{}, ErrLimit},
		{"part header over limit", "From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" +
			strings.Repeat("X-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", MaxHeaderBytes/40) + "\nx\n--b--\n", Limits{}, ErrLimit},
		{"empty input", "", Limits{}, ErrMalformed},
		{"no header fields", "just some text\nwithout a header\n", Limits{}, ErrMalformed},
		{"binary garbage", "\x00\x01\x02\xff\xfe", Limits{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.raw), tt.lim)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Read error = %v, want %v (and ErrMalformed)", err, tt.wantErr)
			}
			if _, _, err := OpenAttachment(strings.NewReader(tt.raw), 1<<20, tt.lim); !errors.Is(err, tt.wantErr) {
				t.Errorf("OpenAttachment error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestMaxBody(t *testing.T) {
	raw := "From: a@b.example\nContent-Type: multipart/alternative; boundary=b\n\n" +
		"--b\nContent-Type: text/plain; charset=utf-8\n\n" + strings.Repeat("é", 100) + "\n" +
		"--b\nContent-Type: text/html; charset=windows-1252\n\n" + strings.Repeat("\x80", 100) + "\n--b--\n"
	tests := []struct {
		name          string
		max           int64
		text, html    string
		wantTruncated bool
	}{
		{"fits", 1000, strings.Repeat("é", 100), strings.Repeat("€", 100), false},
		{"text cut on a rune boundary", 101, strings.Repeat("é", 50), "", true},
		{"html cut after charset conversion", 250, strings.Repeat("é", 100), strings.Repeat("€", 16), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustRead(t, []byte(raw), Limits{MaxBody: tt.max})
			got := [3]any{c.Text, c.HTML, c.Truncated}
			want := [3]any{tt.text, tt.html, tt.wantTruncated}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if int64(len(c.Text)+len(c.HTML)) > tt.max {
				t.Errorf("kept %d bytes, over MaxBody %d", len(c.Text)+len(c.HTML), tt.max)
			}
		})
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	raw := composeMessage(t, func(m *composeMsg) { m.Text = strings.Repeat("tekst ", 50000) })
	r := io.MultiReader(bytes.NewReader(raw[:len(raw)/2]), iotest.ErrReader(boom))
	if _, err := Read(r, Limits{}); !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Errorf("Read error = %v, want %v and not ErrMalformed", err, boom)
	}
}

func TestOpenAttachmentNotFound(t *testing.T) {
	raw := composeMessage(t, func(m *composeMsg) { m.Text = "geen bijlagen" })
	for _, i := range []int{-1, 0, 1} {
		if _, _, err := OpenAttachment(bytes.NewReader(raw), i, Limits{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenAttachment(%d) error = %v, want ErrNotFound", i, err)
		}
	}
}
