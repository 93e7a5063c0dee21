package compose

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCompose writes messages with arbitrary subjects, display names, bodies
// and attachment names. Write must fail only on a line break or NUL in a
// header-bound value; otherwise its output must be CRLF-only, within the line
// limit of RFC 5322 §2.1.1, readable by net/mail and mime/multipart, and must
// give back what went in.
func FuzzCompose(f *testing.F) {
	f.Add("Besluit", "Jörg Müller", "Piet", "Hallo\n", "<p>Hallo</p>", "besluit.pdf", []byte("%PDF"))
	f.Add("=?utf-8?q?x?= Re:  a\tb ", `"Jansen, Piet"`, "", "a\r\nb\rc\n.\n", "", "../x\u202Egpj.exe", []byte{})
	f.Add(strings.Repeat("lang", 300), strings.Repeat("é", 100), "x\x01y", "", "é", strings.Repeat("ü", 200), []byte{0xff})
	f.Add("a\r\nBcc: victim@evil.example", "b", "c", "d", "e", "f", []byte("g"))
	f.Fuzz(func(t *testing.T, subject, fromName, toName, text, html, attName string, att []byte) {
		m := Message{
			From:      Address{Name: fromName, Addr: "jorg@utrecht.example"},
			To:        []Address{{Name: toName, Addr: "piet@ede.example"}},
			Subject:   subject,
			Text:      text,
			HTML:      html,
			MessageID: "<fuzz@veilig.example>",
			Date:      testDate,
		}
		if attName != "" || len(att) > 0 {
			m.Attachments = []Attachment{fileAttachment(attName, "application/pdf", att)}
		}
		var buf bytes.Buffer
		err := Write(&buf, m)
		injection := strings.ContainsAny(subject+fromName+toName+attName, "\r\n\x00")
		switch {
		case injection && !errors.Is(err, ErrHeaderInjection):
			t.Fatalf("header injection not rejected: err = %v", err)
		case !injection && err != nil:
			t.Fatalf("Write: %v", err)
		case injection:
			return
		}
		checkFuzzOutput(t, buf.Bytes(), m)
	})
}

// checkFuzzOutput asserts the line rules, then reads the message back.
func checkFuzzOutput(t *testing.T, raw []byte, m Message) {
	t.Helper()
	for i, b := range raw {
		if b == '\n' && (i == 0 || raw[i-1] != '\r') || b == '\r' && (i+1 == len(raw) || raw[i+1] != '\n') {
			t.Fatalf("bare CR or LF at byte %d", i)
		}
	}
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line of %d octets: %.80q…", len(line), line)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	checkFuzzHeader(t, msg.Header, m)
	parts := leaves(t, msg.Header, msg.Body)
	checkFuzzParts(t, parts, m)
}

func checkFuzzHeader(t *testing.T, h mail.Header, m Message) {
	t.Helper()
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatalf("decode Subject %q: %v", h.Get("Subject"), err)
	}
	if got, want := strings.Fields(subject), strings.Fields(strings.ToValidUTF8(m.Subject, "\uFFFD")); !equalWords(got, want) {
		t.Errorf("Subject = %q, want %q", subject, m.Subject)
	}
	for field, a := range map[string]Address{"From": m.From, "To": m.To[0]} {
		got, err := mail.ParseAddress(h.Get(field))
		if err != nil {
			t.Fatalf("%s %q: %v", field, h.Get(field), err)
		}
		if got.Address != a.Addr {
			t.Errorf("%s address = %q, want %q", field, got.Address, a.Addr)
		}
		if !equalWords(strings.Fields(got.Name), strings.Fields(strings.ToValidUTF8(a.Name, "\uFFFD"))) {
			t.Errorf("%s name = %q, want %q", field, got.Name, a.Name)
		}
	}
}

func checkFuzzParts(t *testing.T, parts []parsedPart, m Message) {
	t.Helper()
	want := []string{newlines(m.Text), newlines(m.HTML)}
	if m.Text == "" || m.HTML == "" {
		want = []string{newlines(m.Text + m.HTML)}
		if len(m.Attachments) > 0 && m.Text+m.HTML == "" {
			want = nil
		}
	}
	if len(parts) != len(want)+len(m.Attachments) {
		t.Fatalf("%d parts, want %d", len(parts), len(want)+len(m.Attachments))
	}
	for i, w := range want {
		if got := newlines(parts[i].Body); got != strings.ToValidUTF8(w, "\uFFFD") {
			t.Errorf("part %d body = %q, want %q", i, got, w)
		}
	}
	if len(m.Attachments) == 0 {
		return
	}
	att := parts[len(parts)-1]
	if att.Filename != SanitizeFilename(m.Attachments[0].Name) {
		t.Errorf("filename = %q, want %q", att.Filename, SanitizeFilename(m.Attachments[0].Name))
	}
}

// newlines turns CRLF and bare CR into LF: quoted-printable text has CRLF line
// breaks whatever the input had.
func newlines(s string) string {
	return strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
}

func equalWords(a, b []string) bool {
	return strings.Join(a, " ") == strings.Join(b, " ")
}

// FuzzFilename checks the promises of SanitizeFilename for any input.
func FuzzFilename(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../etc/passwd", `C:\x\y.exe`, "invoice\u202Efdp.exe",
		"cafe\u0301.txt", "bad\xffutf8", "...", strings.Repeat("é", 200) + ".pdf", "a\u037E\u212A.txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := SanitizeFilename(name)
		if err := checkFilename(got); err != "" {
			t.Fatalf("SanitizeFilename(%q) = %q: %s", name, got, err)
		}
		if again := SanitizeFilename(got); again != got {
			t.Errorf("not stable: %q → %q → %q", name, got, again)
		}
		if fb := asciiFallback(got); fb == "" || needsEncoding(fb) || strings.ContainsAny(fb, `/\`) {
			t.Errorf("asciiFallback(%q) = %q", got, fb)
		}
	})
}

// checkFilename returns what is wrong with a sanitised name, or "".
func checkFilename(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > maxFilenameBytes:
		return "too long"
	case !utf8.ValidString(s):
		return "invalid UTF-8"
	case strings.ContainsAny(s, `/\<>:"|?*`):
		return "path separator or reserved character"
	case strings.TrimLeft(s, ". ") != s || strings.TrimRight(s, ". ") != s:
		return "leading or trailing dot or space"
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\uFEFF' {
			return "control or bidi character"
		}
	}
	return ""
}
