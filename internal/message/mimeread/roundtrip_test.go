package mimeread

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/message/compose"
)

var testDate = time.Date(2026, 3, 14, 9, 26, 53, 0, time.FixedZone("", 3600))

func file(name, contentType string, data []byte) compose.Attachment {
	return compose.Attachment{Name: name, ContentType: contentType,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

type (
	composeMsg        = compose.Message
	composeAttachment = compose.Attachment
)

func composeMessage(t testing.TB, edit func(m *compose.Message)) []byte {
	t.Helper()
	m := compose.Message{
		From:      compose.Address{Name: "Jörg Müller", Addr: "jorg@utrecht.example"},
		To:        []compose.Address{{Name: "Jansen, Piet", Addr: "piet@ede.example"}, {Addr: "info@ede.example"}},
		Cc:        []compose.Address{{Name: "Ingrid van Dijk", Addr: "ingrid@utrecht.example"}},
		Subject:   "Besluit over uw aanvraag – één bijlage",
		MessageID: "<abc.123@veilig.example>",
		Date:      testDate,
	}
	edit(&m)
	var buf bytes.Buffer
	if err := compose.Write(&buf, m); err != nil {
		t.Fatalf("compose.Write: %v", err)
	}
	return buf.Bytes()
}

// wantAttachment is an attachment with its decoded bytes.
type wantAttachment struct {
	Attachment
	Data []byte
}

func TestComposeRoundTrip(t *testing.T) {
	pdf := bytes.Repeat([]byte("%PDF-1.7\x00\xff\x10binary"), 1000)
	long := "Besluit " + strings.Repeat("über één €-bedrag ", 8) + "📄.pdf"
	tests := []struct {
		name        string
		edit        func(m *compose.Message)
		text, html  string
		attachments []wantAttachment
	}{
		{name: "text only", edit: func(m *compose.Message) { m.Text = "Goedendag,\n\nZie bijlage. Café=€3\n" },
			text: "Goedendag,\n\nZie bijlage. Café=€3\n"},
		{name: "html only", edit: func(m *compose.Message) { m.HTML = "<p>Hallo wereld</p>" },
			html: "<p>Hallo wereld</p>"},
		{name: "text and html", edit: func(m *compose.Message) { m.Text, m.HTML = "Hallo", "<p>Hallo</p>" },
			text: "Hallo", html: "<p>Hallo</p>"},
		{name: "nothing", edit: func(*compose.Message) {}},
		{name: "long lines", edit: func(m *compose.Message) {
			m.Text = strings.Repeat("lange regel met spaties aan het eind   ", 100) + "\n"
		}, text: strings.Repeat("lange regel met spaties aan het eind   ", 100) + "\n"},
		{name: "attachment only", edit: func(m *compose.Message) {
			m.Attachments = []compose.Attachment{file("besluit.pdf", "application/pdf", pdf)}
		}, attachments: []wantAttachment{{Attachment{Name: "besluit.pdf", ContentType: "application/pdf",
			Size: int64(len(pdf))}, pdf}}},
		{name: "everything", edit: func(m *compose.Message) {
			m.Text, m.HTML = strings.Repeat("lange regel ", 40), "<p>Hallo</p>"
			m.Attachments = []compose.Attachment{
				file("Jörg's brief.pdf", "application/pdf", pdf),
				file(long, "", []byte("x")),
				file(`C:\Users\piet\notes.txt`, "text/plain; charset=ISO-8859-1", []byte("caf\xe9")),
				file("doorgestuurd.eml", "message/rfc822", []byte("Subject: x\r\n\r\nbody")),
				file("", "nonsense", nil),
				file("leeg.bin", "application/octet-stream", []byte{}),
			}
		}, text: strings.Repeat("lange regel ", 40), html: "<p>Hallo</p>",
			attachments: []wantAttachment{
				{Attachment{Index: 0, Name: "Jörg's brief.pdf", ContentType: "application/pdf", Size: int64(len(pdf))}, pdf},
				{Attachment{Index: 1, Name: long, ContentType: "application/octet-stream", Size: 1}, []byte("x")},
				{Attachment{Index: 2, Name: "notes.txt", ContentType: "text/plain", Size: 4}, []byte("caf\xe9")},
				{Attachment{Index: 3, Name: "doorgestuurd.eml", ContentType: "application/octet-stream", Size: 18},
					[]byte("Subject: x\r\n\r\nbody")},
				{Attachment{Index: 4, Name: "attachment", ContentType: "application/octet-stream"}, []byte{}},
				{Attachment{Index: 5, Name: "leeg.bin", ContentType: "application/octet-stream"}, []byte{}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := composeMessage(t, tt.edit)
			got := mustRead(t, raw, Limits{})
			want := Content{
				Subject:   "Besluit over uw aanvraag – één bijlage",
				From:      "Jörg Müller <jorg@utrecht.example>",
				To:        "Jansen, Piet <piet@ede.example>, info@ede.example",
				Cc:        "Ingrid van Dijk <ingrid@utrecht.example>",
				Date:      testDate,
				MessageID: "<abc.123@veilig.example>",
				Text:      tt.text,
				HTML:      tt.html,
			}
			for _, a := range tt.attachments {
				want.Attachments = append(want.Attachments, a.Attachment)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
			checkAttachments(t, raw, tt.attachments)
		})
	}
}

func mustRead(t *testing.T, raw []byte, lim Limits) Content {
	t.Helper()
	c, err := Read(bytes.NewReader(raw), lim)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return c
}

// checkAttachments opens each attachment and compares description and bytes.
func checkAttachments(t *testing.T, raw []byte, want []wantAttachment) {
	t.Helper()
	for _, w := range want {
		a, r, err := OpenAttachment(bytes.NewReader(raw), w.Index, Limits{})
		if err != nil {
			t.Fatalf("OpenAttachment(%d): %v", w.Index, err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("attachment %d: read: %v", w.Index, err)
		}
		wantDesc := w.Attachment
		wantDesc.Size = -1
		if diff := cmp.Diff(wantDesc, a); diff != "" {
			t.Errorf("OpenAttachment(%d) (-want +got):\n%s", w.Index, diff)
		}
		if !bytes.Equal(data, w.Data) {
			t.Errorf("attachment %d: got %d bytes %.40q, want %d bytes %.40q", w.Index, len(data), data, len(w.Data), w.Data)
		}
	}
	if _, _, err := OpenAttachment(bytes.NewReader(raw), len(want), Limits{}); err == nil {
		t.Errorf("OpenAttachment(%d) past the last attachment: no error", len(want))
	}
}
