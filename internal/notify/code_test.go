package notify

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var _ Mail = Code{}

const testCode = "482913"

func baseCode() Code {
	return Code{SenderName: "Jörg Müller", SenderEmail: "jorg@utrecht.example", OrganisationName: "Gemeente Utrecht",
		RecipientAddress: "piet@ede.example", Code: testCode, ValidFor: 10 * time.Minute, Host: "veilig.example",
		MessageID: "<c1@veilig.example>", Date: testDate}
}

// TestCode: the code is in both bodies and in no header field; the mail is
// bilingual, from the sender "via Veilig", auto-generated.
func TestCode(t *testing.T) {
	got := render(t, newRenderer(t), baseCode())
	if got.Subject != "Uw code / Your code" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if got.From.Name != "Jörg Müller (via Veilig)" || got.From.Address != "jorg@utrecht.example" ||
		got.To.Address != "piet@ede.example" {
		t.Errorf("From = %v, To = %v", got.From, got.To)
	}
	if a := got.Header.Get("Auto-Submitted"); a != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", a)
	}
	for name, values := range got.Header {
		if strings.Contains(strings.Join(values, " "), testCode) {
			t.Errorf("header %s carries the code", name)
		}
	}
	tests := []struct{ part, body string }{{"text", got.Text}, {"html", got.HTML}}
	for _, tt := range tests {
		if m := missing(tt.body, testCode, "Uw eenmalige code", "Your one-time code", "10 minuten", "10 minutes",
			"veilig.example", "Gemeente Utrecht"); m != "" {
			t.Errorf("%s part lacks %q", tt.part, m)
		}
		if strings.Contains(tt.body, "/v/") {
			t.Errorf("%s part carries a link", tt.part)
		}
	}
}

func TestCodeInvalid(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Code)
		want error
	}{
		{"no code", func(c *Code) { c.Code = "" }, ErrInvalid},
		{"letters", func(c *Code) { c.Code = "12a456" }, ErrInvalid},
		{"too short", func(c *Code) { c.Code = "123" }, ErrInvalid},
		{"too long", func(c *Code) { c.Code = "1234567890123" }, ErrInvalid},
		{"no validity", func(c *Code) { c.ValidFor = 0 }, ErrInvalid},
		{"no host", func(c *Code) { c.Host = "" }, ErrInvalid},
		{"no organisation", func(c *Code) { c.OrganisationName = " " }, ErrInvalid},
		{"bad recipient", func(c *Code) { c.RecipientAddress = "piet" }, ErrInvalid},
		{"bad Message-ID", func(c *Code) { c.MessageID = "c1" }, ErrInvalid},
		{"no date", func(c *Code) { c.Date = time.Time{} }, ErrInvalid},
		{"header injection", func(c *Code) { c.SenderName = "x\r\nBcc: a@b.example" }, nil},
	}
	r := newRenderer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseCode()
			tt.mod(&c)
			var buf bytes.Buffer
			err := r.Write(&buf, c)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Write = %v, want %v", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Error("something was written")
			}
		})
	}
}
