package viewer

import (
	"net/http"
	"net/url"
	"testing"
)

// TestCodeChannelTexts: the code step names the channel the code goes by —
// the masked phone for SMS, "your e-mail address" for e-mail — in both
// languages, on the request page, the enter-code page and its format error.
func TestCodeChannelTexts(t *testing.T) {
	type step struct{ want, not []string }
	tests := []struct {
		name, lang  string
		byEmail     bool
		request     step
		verify      step
		formatError step
	}{
		{"sms nl", "nl", false,
			step{[]string{"per sms naar", "6 ****** 78"}, []string{"e-mailadres"}},
			step{[]string{"per sms gestuurd naar", "6 ****** 78", "Code uit de sms", "Geen sms ontvangen?"}, []string{"per e-mail"}},
			step{[]string{"Vul de code uit de sms in"}, []string{"uit de e-mail"}}},
		{"sms en", "en", false,
			step{[]string{"by text message to", "6 ****** 78"}, []string{"e-mail address"}},
			step{[]string{"by text message to", "6 ****** 78", "Code from the text message"}, []string{"by e-mail"}},
			step{[]string{"code from the text message"}, []string{"from the e-mail"}}},
		{"e-mail nl", "nl", true,
			step{[]string{"per e-mail naar uw e-mailadres"}, []string{"sms", "******"}},
			step{[]string{"per e-mail gestuurd naar uw e-mailadres", "Code uit de e-mail", "Geen e-mail ontvangen?"}, []string{"sms", "******"}},
			step{[]string{"Vul de code uit de e-mail in"}, []string{"sms"}}},
		{"e-mail en", "en", true,
			step{[]string{"by e-mail to your e-mail address"}, []string{"text message", "******"}},
			step{[]string{"sent a code by e-mail to your e-mail address", "Code from the e-mail", "No e-mail received?"}, []string{"text message", "******"}},
			step{[]string{"code from the e-mail"}, []string{"text message"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, nil)
			b.header.Set("Accept-Language", tt.lang)
			m := b.fake.add(linkToken, StateActive)
			if tt.byEmail {
				m.visit.CodeByEmail, m.visit.MaskedPhone = true, ""
			}
			checkPage(t, "request page", b.open(linkToken).Body.String(), tt.request)
			if rec := b.post("/v/code", nil); rec.Code != http.StatusSeeOther {
				t.Fatalf("send code: status %d", rec.Code)
			}
			checkPage(t, "enter-code page", b.get("/v/").Body.String(), tt.verify)
			rec := b.post("/v/verify", url.Values{"code": {"abc"}})
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("malformed code: status %d, want 422", rec.Code)
			}
			checkPage(t, "format error", rec.Body.String(), tt.formatError)
		})
	}
}

func checkPage(t *testing.T, what, body string, s struct{ want, not []string }) {
	t.Helper()
	for _, w := range s.want {
		if !contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
	for _, n := range s.not {
		if contains(body, n) {
			t.Errorf("%s says %q", what, n)
		}
	}
}
