package security

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func decodeInto(b []byte, v any) error { return json.Unmarshal(b, v) }

// jsonRoutes are every route that takes a JSON body, with a valid body and
// the user who may call it.
func (x *suite) jsonRoutes() []struct{ method, path, who, body string } {
	s := x.s
	orgA := "/api/v1/organisations/" + s.orgs[domainA]
	return []struct{ method, path, who, body string }{
		{"POST", "/api/v1/auth/token", "", `{"grant_type":"password","username":"a@b.test","password":"x"}`},
		{"POST", "/api/v1/auth/revoke", "", `{"token":"x"}`},
		{"POST", "/api/v1/recipients/resolve", senderA, `{"addresses":["` + senderB + `"]}`},
		{"POST", "/api/v1/detect", senderA, `{"text":"x"}`},
		{"PUT", orgA + "/settings", adminA, `{"self_copy":true}`},
		{"POST", orgA + "/users", adminA, `{"email":"nieuw@alfa.test","role":"sender"}`},
		{"POST", orgA + "/api-keys", adminA, `{"name":"x","user_id":"` + x.userA + `","scopes":["messages:send"]}`},
		{"POST", "/api/v1/auth/invitations/accept", "", `{"token":"x","password":"Lang-genoeg-wachtwoord-1"}`},
		{"POST", "/api/v1/enrolments", "", `{"organisation":{"name":"X"},"domains":["x.partner.test"],"admin":{"name":"B","email":"b@x.partner.test","phone":"+31612345678"}}`},
		{"POST", "/api/v1/admin/enrolments/00000000-0000-4000-8000-000000000000/reject", operatorMail, `{"reason":"x"}`},
	}
}

// bodies: on every JSON route, a wrong media type is 415, a body over
// MAX_BODY_BYTES (64 KiB here) 413, and JSON nested 20,000 deep 400 (Go's
// decoder stops at depth 10,000, so memory stays bounded).
func (x *suite) bodies(t *testing.T) {
	s := x.s
	big := []byte(`{"x":"` + strings.Repeat("a", 70<<10) + `"}`)
	nested := []byte(`{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`)
	x.unchanged(t, func() {
		for _, rt := range x.jsonRoutes() {
			tok := s.tokens[rt.who]
			for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json-patch+json", ""} {
				r := s.do(call{method: rt.method, path: rt.path, token: tok, ctype: ct, body: []byte(rt.body)})
				expect(t, rt.path+" as "+ct, r, http.StatusUnsupportedMediaType)
			}
			expect(t, rt.path+" oversized", s.do(call{method: rt.method, path: rt.path, token: tok, ctype: "application/json", body: big, chunked: true}), http.StatusRequestEntityTooLarge)
			expect(t, rt.path+" nested", s.do(call{method: rt.method, path: rt.path, token: tok, ctype: "application/json", body: nested}), http.StatusBadRequest)
			expect(t, rt.path+" two objects", s.do(call{method: rt.method, path: rt.path, token: tok, ctype: "application/json", body: []byte(rt.body + rt.body)}), http.StatusBadRequest)
		}
		// The message route: its cap is MAX_MESSAGE_BYTES (1 MiB here); its
		// media types are multipart/form-data and message/rfc822.
		tok := s.tokens[senderA]
		huge, ct := multipartBody(t, `{"to":["`+senderB+`"],"text":"x"}`, attachment{"groot.bin", "application/octet-stream", make([]byte, 1100<<10)})
		expect(t, "message oversized", s.do(call{method: "POST", path: "/api/v1/messages", token: tok, ctype: ct, body: huge, chunked: true}), http.StatusRequestEntityTooLarge)
		expect(t, "message as JSON", s.do(call{method: "POST", path: "/api/v1/messages", token: tok, ctype: "application/json", body: []byte(`{"to":["` + senderB + `"]}`)}), http.StatusUnsupportedMediaType)
		deep, ct := multipartBody(t, `{"to":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}`)
		expect(t, "message nested", s.do(call{method: "POST", path: "/api/v1/messages", token: tok, ctype: ct, body: deep}), http.StatusBadRequest)
	})
}

// headerInjection: CR/LF in every field that becomes a header line. The API
// refuses them (400) or the composed message carries them folded into the
// field's own value; never as a header line of their own.
func (x *suite) headerInjection(t *testing.T) {
	s := x.s
	tok := s.tokens[senderA]
	inj := "\r\nX-Injected: yes\r\nBcc: evil@evil.test"
	x.unchanged(t, func() {
		for _, msg := range []map[string]any{
			{"to": []string{senderB + inj}, "text": "x"},
			{"to": []string{"\"Bob" + inj + "\" <" + senderB + ">"}, "text": "x"},
			{"to": []string{senderB}, "cc": []string{"a@alfa.test\nX-Injected: yes"}, "text": "x"},
			{"to": []string{"extern@extern.test"}, "phones": map[string]string{"extern@extern.test": "+31612345678" + inj}, "text": "x"},
			{"to": []string{senderB}, "text": "x", "client_message_id": "abc" + inj},
		} {
			expect(t, "message with CR/LF in an address field", x.submit(t, tok, msg, nil), http.StatusBadRequest)
		}
		// CR, LF and other controls in a header value never leave Go's client
		// (and end the header line at the server); these are what can arrive.
		for _, key := range []string{strings.Repeat("k", 256), "sleutel met spatie", "ключ", "a\tb"} {
			expect(t, fmt.Sprintf("Idempotency-Key %.6q", key), x.submit(t, tok, map[string]any{"to": []string{senderB}, "text": "x"},
				http.Header{"Idempotency-Key": {key}}), http.StatusBadRequest)
		}
	})
	// Subject and attachment name reach the composer: whatever it does with
	// them, the delivered message has no header line of theirs.
	subject := "Onderwerp" + inj
	r := x.submit(t, tok, map[string]any{"to": []string{senderB}, "subject": subject, "text": "tekst"}, nil,
		attachment{"brief\r\nX-Injected: yes.pdf", "application/pdf", []byte("%PDF-1.7")})
	switch r.status {
	case http.StatusBadRequest:
		return
	case http.StatusAccepted:
	default:
		t.Fatalf("subject with CR/LF: %s, want 400 or 202", r)
	}
	var id struct{ ID string }
	_ = decodeInto(r.body, &id)
	raw := x.delivered(t, senderB, "Onderwerp")
	for _, line := range strings.Split(raw, "\n") {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "x-injected:") || strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Errorf("the composed message has an injected header line %q", line)
		}
	}
}

var rawSection = regexp.MustCompile(`(?s)<h2>Bron / Source</h2><pre>(.*?)</pre>`)

// delivered returns the source of the e-mail to rcpt whose subject contains
// subject, as the dev mailbox captured it (HTML-escaped).
func (x *suite) delivered(t *testing.T, rcpt, subject string) string {
	t.Helper()
	var id string
	waitFor(t, "delivery to "+rcpt, func() bool {
		for _, it := range x.s.mailbox() {
			if it.Kind == "email" && strings.Contains(it.Subject, subject) && strings.Contains(strings.Join(it.To, ","), rcpt) {
				id = it.ID
				return true
			}
		}
		return false
	})
	r := x.s.do(call{method: "GET", path: "/dev/mailbox/" + id})
	m := rawSection.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("dev mailbox item %s has no source: %s", id, r)
	}
	return strings.ReplaceAll(string(m[1]), "\r", "")
}
