package mimeread

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzRead checks that any input gives a result or an error, never a panic;
// that the kept text stays within MaxBody and the attachments within
// MaxParts; and that OpenAttachment agrees with Read on every attachment.
func FuzzRead(f *testing.F) {
	for _, seed := range []string{outlookNested, crlf(outlookNested), appleAlternativeRelated, continuedFilename,
		forwardedMessage, latin1NoContentType, flowed, quirks[:2000], digest, nested(4), manyParts(3)} {
		f.Add([]byte(seed))
	}
	f.Add(composeMessage(f, func(m *composeMsg) {
		m.Text, m.HTML = "Hallo\n", "<p>Hallo</p>"
		m.Attachments = []composeAttachment{file("a.pdf", "application/pdf", []byte("%PDF"))}
	}))
	lim := Limits{MaxBody: 1 << 10, MaxParts: 50, MaxDepth: 8}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Read(bytes.NewReader(raw), lim)
		if err != nil {
			return
		}
		if n := int64(len(c.Text) + len(c.HTML)); n > lim.MaxBody {
			t.Fatalf("kept %d bytes of text, over MaxBody", n)
		}
		if len(c.Attachments) > lim.MaxParts {
			t.Fatalf("%d attachments, over MaxParts", len(c.Attachments))
		}
		for i, want := range c.Attachments {
			checkFuzzAttachment(t, raw, lim, i, want)
		}
	})
}

func checkFuzzAttachment(t *testing.T, raw []byte, lim Limits, i int, want Attachment) {
	got, r, err := OpenAttachment(bytes.NewReader(raw), i, lim)
	if err != nil {
		t.Fatalf("OpenAttachment(%d): %v", i, err)
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		t.Fatalf("attachment %d: %v", i, err)
	}
	got.Size = n
	if got != want {
		t.Fatalf("OpenAttachment(%d) = %+v, Read said %+v", i, got, want)
	}
	if got.Name == "" || strings.ContainsAny(got.Name, "/\\\x00") {
		t.Fatalf("attachment %d: unsafe name %q", i, got.Name)
	}
}
