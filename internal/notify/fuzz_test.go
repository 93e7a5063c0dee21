package notify

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/message/compose"
)

// FuzzNotification renders notifications with arbitrary names and subjects:
// a line break or NUL is rejected, anything else gives a 7-bit mail that
// net/mail and mime/multipart read, whose HTML has no tag from the input.
func FuzzNotification(f *testing.F) {
	f.Add("Jörg Müller", "Gemeente Utrecht", testSubject, true)
	f.Add("<script>alert(1)</script>", `"><img src=x>`, "=?utf-8?q?x?=", false)
	f.Add("a\r\nBcc: x@evil.example", "\u202Eorg", strings.Repeat("é", 300), true)
	r, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, org, subject string, show bool) {
		n := baseNotification()
		n.SenderName, n.OrganisationName, n.Subject, n.ShowSubject = name, org, subject, show
		err := r.Write(&bytes.Buffer{}, n)
		all := name + org + subject
		switch {
		case strings.ContainsAny(all, "\r\n\x00"):
			if !errors.Is(err, compose.ErrHeaderInjection) {
				t.Fatalf("injection not rejected: %v", err)
			}
			return
		case strings.TrimSpace(org) == "" || strings.Contains(all, testToken):
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			return
		case err != nil:
			t.Fatalf("Write: %v", err)
		}
		got := render(t, r, n)
		if strings.Contains(strings.ToLower(got.HTML), "<script") || strings.Contains(got.HTML, "<img") {
			t.Errorf("unescaped input in HTML")
		}
		if w := missing(got.Text, testLink, "(CET)"); w != "" {
			t.Errorf("text lacks %q", w)
		}
	})
}
