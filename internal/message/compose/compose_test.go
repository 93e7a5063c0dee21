package compose

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testDate = time.Date(2026, 3, 14, 9, 26, 53, 0, time.FixedZone("CET", 3600))

// fileAttachment is an attachment with the given content.
func fileAttachment(name, contentType string, content []byte) Attachment {
	return Attachment{Name: name, ContentType: contentType, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}}
}

func baseMessage() Message {
	return Message{
		From:      Address{Name: "Jörg Müller-Lüdenscheidt", Addr: "jorg@utrecht.example"},
		To:        []Address{{Name: "Jansen, Piet \"PJ\"", Addr: "piet@ede.example"}, {Addr: "info@ede.example"}},
		Cc:        []Address{{Name: "Ingrid van Dijk", Addr: "ingrid@utrecht.example"}},
		Subject:   "Besluit op uw aanvraag — één vergunning",
		MessageID: "<0c4a1f@veilig.example>",
		Date:      testDate,
	}
}

// parsed is a message as Go's own parsers read it back.
type parsed struct {
	From, To, Cc []string // "Name <addr>" as net/mail decodes them
	Subject      string
	MessageID    string
	Date         time.Time
	Header       mail.Header
	Parts        []parsedPart // leaves, depth first
}

type parsedPart struct {
	ContentType string // media type
	Filename    string
	Body        string // decoded
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	checkLines(t, raw)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode Subject: %v", err)
	}
	date, err := msg.Header.Date()
	if err != nil {
		t.Fatalf("Date: %v", err)
	}
	p := parsed{From: addresses(t, msg.Header, "From"), To: addresses(t, msg.Header, "To"),
		Cc: addresses(t, msg.Header, "Cc"), Subject: subject, MessageID: msg.Header.Get("Message-ID"),
		Date: date, Header: msg.Header}
	p.Parts = leaves(t, msg.Header, msg.Body)
	return p
}

func addresses(t *testing.T, h mail.Header, name string) []string {
	t.Helper()
	if h.Get(name) == "" {
		return nil
	}
	list, err := h.AddressList(name)
	if err != nil {
		t.Fatalf("%s: %v (%q)", name, err, h.Get(name))
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Name+" <"+a.Address+">")
	}
	return out
}

// leaves walks the MIME tree with mime/multipart and decodes every leaf.
func leaves(t *testing.T, h map[string][]string, body io.Reader) []parsedPart {
	t.Helper()
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	mediaType, params, err := mime.ParseMediaType(get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", get("Content-Type"), err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		var out []parsedPart
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			out = append(out, leaves(t, part.Header, part)...)
		}
	}
	return []parsedPart{decodeLeaf(t, mediaType, get("Content-Transfer-Encoding"), get("Content-Disposition"), body)}
}

func decodeLeaf(t *testing.T, mediaType, cte, disposition string, body io.Reader) parsedPart {
	t.Helper()
	switch strings.ToLower(cte) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("decode %s body: %v", cte, err)
	}
	p := parsedPart{ContentType: mediaType, Body: string(b)}
	if disposition != "" {
		_, params, err := mime.ParseMediaType(disposition)
		if err != nil {
			t.Fatalf("Content-Disposition %q: %v", disposition, err)
		}
		p.Filename = params["filename"]
	}
	return p
}

// checkLines asserts CRLF line endings and the RFC 5322 line limits.
func checkLines(t *testing.T, raw []byte) {
	t.Helper()
	for i, b := range raw {
		if b == '\n' && (i == 0 || raw[i-1] != '\r') || b == '\r' && (i+1 == len(raw) || raw[i+1] != '\n') {
			t.Fatalf("bare CR or LF at byte %d", i)
		}
	}
	header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d bytes", len(line))
		}
	}
	for _, line := range strings.Split(string(header), "\r\n") {
		if len(line) > softLineLimit {
			t.Errorf("header line of %d bytes: %q", len(line), line)
		}
		if strings.TrimSpace(line) == "" {
			t.Errorf("whitespace-only header line")
		}
	}
}

func write(t *testing.T, m Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func TestWriteRoundTrip(t *testing.T) {
	pdf := bytes.Repeat([]byte("%PDF-1.7\x00\xff\x10binary"), 1000)
	longName := "Besluit " + strings.Repeat("über één €-bedrag ", 8) + "📄.pdf"
	tests := []struct {
		name  string
		edit  func(m *Message)
		parts []parsedPart
	}{
		{"text only", func(m *Message) { m.Text = "Goedendag,\n\nZie bijlage. Café=€3\n" },
			[]parsedPart{{ContentType: "text/plain", Body: "Goedendag,\r\n\r\nZie bijlage. Café=€3\r\n"}}},
		{"html only", func(m *Message) { m.HTML = "<p>Hallo wereld</p>" },
			[]parsedPart{{ContentType: "text/html", Body: "<p>Hallo wereld</p>"}}},
		{"text and html", func(m *Message) { m.Text, m.HTML = "Hallo", "<p>Hallo</p>" },
			[]parsedPart{{ContentType: "text/plain", Body: "Hallo"}, {ContentType: "text/html", Body: "<p>Hallo</p>"}}},
		{"nothing", func(*Message) {}, []parsedPart{{ContentType: "text/plain"}}},
		{"attachments only", func(m *Message) {
			m.Attachments = []Attachment{fileAttachment("besluit.pdf", "application/pdf", pdf)}
		}, []parsedPart{{ContentType: "application/pdf", Filename: "besluit.pdf", Body: string(pdf)}}},
		{"everything", func(m *Message) {
			m.Text, m.HTML = strings.Repeat("lange regel ", 40), "<p>Hallo</p>"
			m.Attachments = []Attachment{
				fileAttachment("Jörg's brief.pdf", "application/pdf", pdf),
				fileAttachment(longName, "", []byte("x")),
				fileAttachment("C:\\Users\\piet\\..\\notes.txt", "text/plain; charset=ISO-8859-1", []byte("caf\xe9")),
				fileAttachment("doorgestuurd.eml", "message/rfc822", []byte("Subject: x\r\n\r\nbody")),
				fileAttachment("", "nonsense", nil),
			}
		}, []parsedPart{
			{ContentType: "text/plain", Body: strings.Repeat("lange regel ", 40)},
			{ContentType: "text/html", Body: "<p>Hallo</p>"},
			{ContentType: "application/pdf", Filename: "Jörg's brief.pdf", Body: string(pdf)},
			{ContentType: "application/octet-stream", Filename: longName, Body: "x"},
			{ContentType: "text/plain", Filename: "notes.txt", Body: "caf\xe9"},
			{ContentType: "application/octet-stream", Filename: "doorgestuurd.eml", Body: "Subject: x\r\n\r\nbody"},
			{ContentType: "application/octet-stream", Filename: "attachment"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseMessage()
			tt.edit(&m)
			got := parse(t, write(t, m))
			want := parsed{
				From:      []string{"Jörg Müller-Lüdenscheidt <jorg@utrecht.example>"},
				To:        []string{`Jansen, Piet "PJ" <piet@ede.example>`, " <info@ede.example>"},
				Cc:        []string{"Ingrid van Dijk <ingrid@utrecht.example>"},
				Subject:   m.Subject,
				MessageID: m.MessageID,
				Date:      testDate,
				Parts:     tt.parts,
			}
			if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool {
				return p.Last().String() == ".Header"
			}, cmp.Ignore())); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if got.Header.Get("MIME-Version") != "1.0" {
				t.Errorf("MIME-Version = %q", got.Header.Get("MIME-Version"))
			}
		})
	}
}

func TestWriteHeaderDetails(t *testing.T) {
	m := baseMessage()
	m.To, m.Cc = nil, nil
	m.Subject = "Re: " + strings.Repeat("a long ASCII subject ", 10) + "=?utf-8?q?not-a-word?="
	m.ExtraHeaders = [][2]string{{"Auto-Submitted", "auto-replied"}, {"In-Reply-To", "<x@y.example>"}}
	raw := write(t, m)
	got := parse(t, raw)
	if got.Subject != m.Subject {
		t.Errorf("Subject = %q, want %q", got.Subject, m.Subject)
	}
	if v := got.Header.Get("To"); v != "undisclosed-recipients:;" {
		t.Errorf("To = %q, want the empty group", v)
	}
	for k, want := range map[string]string{"Auto-Submitted": "auto-replied", "In-Reply-To": "<x@y.example>", "Bcc": ""} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if !bytes.Equal(raw, write(t, m)) {
		t.Error("Write is not deterministic")
	}
}

func TestWriteRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Message)
		want error
	}{
		{"CRLF in subject", func(m *Message) { m.Subject = "hi\r\nBcc: victim@evil.example" }, ErrHeaderInjection},
		{"LF in from name", func(m *Message) { m.From.Name = "a\nb" }, ErrHeaderInjection},
		{"NUL in to address", func(m *Message) { m.To[0].Addr = "piet@ede.example\x00" }, ErrHeaderInjection},
		{"CR in cc name", func(m *Message) { m.Cc[0].Name = "x\ry" }, ErrHeaderInjection},
		{"LF in message id", func(m *Message) { m.MessageID = "<a@b>\n" }, ErrHeaderInjection},
		{"LF in attachment name", func(m *Message) {
			m.Attachments = []Attachment{fileAttachment("a\n.pdf", "", nil)}
		}, ErrHeaderInjection},
		{"CRLF in content type", func(m *Message) {
			m.Attachments = []Attachment{fileAttachment("a.pdf", "text/plain\r\nX: y", nil)}
		}, ErrHeaderInjection},
		{"CRLF in extra header", func(m *Message) { m.ExtraHeaders = [][2]string{{"X-A", "b\r\nc"}} }, ErrHeaderInjection},
		{"no date", func(m *Message) { m.Date = time.Time{} }, ErrInvalid},
		{"bare message id", func(m *Message) { m.MessageID = "abc@host" }, ErrInvalid},
		{"message id with space", func(m *Message) { m.MessageID = "<a b@host>" }, ErrInvalid},
		{"from without at", func(m *Message) { m.From.Addr = "jorg" }, ErrInvalid},
		{"to without domain", func(m *Message) { m.To[0].Addr = "piet@" }, ErrInvalid},
		{"to without local part", func(m *Message) { m.To[0].Addr = "@ede.example" }, ErrInvalid},
		{"extra Bcc", func(m *Message) { m.ExtraHeaders = [][2]string{{"Bcc", "x@y.example"}} }, ErrInvalid},
		{"extra content type", func(m *Message) { m.ExtraHeaders = [][2]string{{"content-type", "text/html"}} }, ErrInvalid},
		{"extra bad name", func(m *Message) { m.ExtraHeaders = [][2]string{{"X A", "b"}} }, ErrInvalid},
		{"extra non-ASCII", func(m *Message) { m.ExtraHeaders = [][2]string{{"X-A", "é"}} }, ErrInvalid},
		{"attachment without content", func(m *Message) {
			m.Attachments = []Attachment{{Name: "a.pdf"}}
		}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseMessage()
			tt.edit(&m)
			var buf bytes.Buffer
			if err := Write(&buf, m); !errors.Is(err, tt.want) {
				t.Fatalf("Write err = %v, want %v", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes of an invalid message", buf.Len())
			}
		})
	}
}

func TestWriteAttachmentErrors(t *testing.T) {
	boom := errors.New("spool file gone")
	m := baseMessage()
	m.Attachments = []Attachment{{Name: "a.pdf", Open: func() (io.ReadCloser, error) { return nil, boom }}}
	if err := Write(io.Discard, m); !errors.Is(err, boom) {
		t.Errorf("open failure: err = %v", err)
	}
	m.Attachments = []Attachment{{Name: "a.pdf", Open: func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("part"), errReader{boom})), nil
	}}}
	if err := Write(io.Discard, m); !errors.Is(err, boom) {
		t.Errorf("read failure: err = %v", err)
	}
	if err := Write(errWriter{boom}, baseMessage()); !errors.Is(err, boom) {
		t.Errorf("write failure: err = %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// patternReader yields n bytes of a fixed pattern without allocating.
type patternReader struct{ n, off int }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range k {
		p[i] = byte((r.off + i) * 7)
	}
	r.off += k
	r.n -= k
	return k, nil
}

// countingWriter counts bytes and checks base64 line lengths are at most 76.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// TestWriteConstantMemory streams a 20 MB attachment: the bytes allocated
// while writing stay far below its size.
func TestWriteConstantMemory(t *testing.T) {
	const size = 20 << 20
	m := baseMessage()
	m.Text = "zie bijlage"
	m.Attachments = []Attachment{{Name: "groot.bin", Open: func() (io.ReadCloser, error) {
		return io.NopCloser(&patternReader{n: size}), nil
	}}}
	var out countingWriter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := Write(&out, m); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	if allocated > 1<<20 {
		t.Errorf("writing a %d-byte attachment allocated %d bytes", size, allocated)
	}
	if minOut := int64(size) * 4 / 3; out.n < minOut {
		t.Errorf("wrote %d bytes, want at least %d", out.n, minOut)
	}
}

func TestBase64Lines(t *testing.T) {
	m := baseMessage()
	m.Attachments = []Attachment{fileAttachment("a.bin", "", bytes.Repeat([]byte{0xA5}, 1000))}
	raw := write(t, m)
	_, body, _ := bytes.Cut(raw, []byte("Content-Transfer-Encoding: base64\r\n\r\n"))
	body, _, _ = bytes.Cut(body, []byte("\r\n--"))
	lines := strings.Split(string(body), "\r\n")
	for i, l := range lines {
		if len(l) != 76 && i != len(lines)-1 {
			t.Fatalf("base64 line %d has %d characters", i, len(l))
		}
	}
	if len(lines) != 18 { // 1000 bytes → 1336 characters → 17 full lines and 44
		t.Errorf("%d base64 lines, want 18", len(lines))
	}
}

func TestExtendedParam(t *testing.T) {
	for _, name := range []string{"é.pdf", strings.Repeat("ŝ", 200) + ".txt", "日本語の書類.docx"} {
		tokens := withParams("attachment", nameParams("filename", name))
		_, params, err := mime.ParseMediaType(strings.Join(tokens, " "))
		if err != nil || params["filename"] != name {
			t.Errorf("%q: parsed %q, %v", name, params["filename"], err)
		}
		for _, tok := range tokens {
			if len(tok) > 75 && !strings.HasPrefix(tok, `filename="`) {
				t.Errorf("%q: token of %d bytes", name, len(tok))
			}
		}
	}
}

func TestAsciiFallback(t *testing.T) {
	tests := map[string]string{
		"plain.pdf":    "plain.pdf",
		"Één café.pdf": "Een cafe.pdf",
		"日本.pdf":       "attachment.pdf",
		"a€b":          "a_b",
	}
	for in, want := range tests {
		if got := asciiFallback(in); got != want {
			t.Errorf("asciiFallback(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSanitizeFilename(t *testing.T) {
	long := strings.Repeat("é", 200) + ".pdf" // 404 bytes
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Windows\system32\evil.exe`, "evil.exe"},
		{"mixed/..\\x.txt", "x.txt"},
		{"dir/", "attachment"},
		{"", "attachment"},
		{"..", "attachment"},
		{"...hidden", "hidden"},
		{" .bashrc", "bashrc"},
		{"trailing.exe. . ", "trailing.exe"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"a\u2066b\u2069c\u200Ed\u200Fe\u202Af\u061Cg", "abcdefg"},
		{"tab\there\x00nul\x7fdel\u0085nel", "tabherenuldelnel"},
		{"bom\uFEFF.txt", "bom.txt"},
		{`what?<is>"this":*|.txt`, "what__is__this____.txt"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
		{"cafe\u0301.txt", "café.txt"}, // NFC
		{"\u202E", "attachment"},
		{long, strings.Repeat("é", 125) + ".pdf"},
		{strings.Repeat("a", 300), strings.Repeat("a", 255)},
		{strings.Repeat("a", 300) + ".verylongextension-part", strings.Repeat("a", 255)},
	}
	for _, tt := range tests {
		got := SanitizeFilename(tt.in)
		if got != tt.want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if len(got) > 255 || SanitizeFilename(got) != got {
			t.Errorf("SanitizeFilename(%q) = %q: too long or not stable", tt.in, got)
		}
	}
}

func TestCheckHeaderValue(t *testing.T) {
	for v, bad := range map[string]bool{"plain": false, "tab\tok": false, "ünï": false, "a\rb": true, "a\nb": true, "a\x00": true} {
		err := CheckHeaderValue("Subject", v)
		if got := errors.Is(err, ErrHeaderInjection); got != bad {
			t.Errorf("CheckHeaderValue(%q) = %v", v, err)
		}
	}
}
