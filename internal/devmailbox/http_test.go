package devmailbox

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/sms"
)

const hostileMail = "From: a@veilig.test\r\nSubject: =?UTF-8?Q?Bericht_<b>vet</b>?=\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"<script>alert(1)</script> Open: https://veilig.localhost/v/tok=\r\nen?a=3D1&b=3D2\r\n" +
	"javascript:alert(2)\r\n"

// filled returns a router serving a mailbox with one e-mail and one SMS.
func filled(t *testing.T) (http.Handler, *Mailbox) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	mb := New(10, nil)
	mb.Deliver(context.Background(), "extern.example", envelope(hostileMail))
	n, err := sms.Normalize("+31612345678", "NL")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Send(context.Background(), sms.Message{To: n, Text: "Code: 424242", Reference: "r"}); err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	mb.Register(r)
	return r, mb
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestPages(t *testing.T) {
	h, _ := filled(t)
	tests := []struct {
		path       string
		status     int
		want, deny []string
	}{
		{"/dev/mailbox", 200, []string{
			"Ontwikkelpostvak — niets wordt echt verzonden / Dev mailbox — nothing is really sent",
			"Bericht &lt;b&gt;vet&lt;/b&gt;", `href="mailbox/1"`, `href="mailbox/2"`, "Code: 424242",
			"&#43;31612345678", "bob@extern.example", "Onderwerp / Subject"}, []string{"<b>vet"}},
		{"/dev/mailbox/1", 200, []string{
			`<a href="https://veilig.localhost/v/token?a=1&amp;b=2">https://veilig.localhost/v/token?a=1&amp;b=2</a>`,
			"&lt;script&gt;alert(1)&lt;/script&gt;", "Content-Transfer-Encoding", "Bron / Source",
			"tok=\r\nen?a=3D1"}, []string{"<script>", `href="javascript`}},
		{"/dev/mailbox/2", 200, []string{"Code: 424242", "SMS"}, []string{"Bron / Source"}},
		{"/dev/mailbox/99", 404, []string{"Niet gevonden / Not found"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := get(t, h, tt.path)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			body := rec.Body.String()
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.deny {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q", s)
				}
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'sha256-") {
				t.Errorf("CSP = %q", csp)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	h, _ := filled(t)
	tests := []struct {
		query string
		want  []string // id:kind:first link or text
	}{
		{"", []string{"2:sms:Code: 424242", "1:email:https://veilig.localhost/v/token?a=1&b=2"}},
		{"?to=BOB@", []string{"1:email:https://veilig.localhost/v/token?a=1&b=2"}},
		{"?to=%2B316", []string{"2:sms:Code: 424242"}},
		{"?to=nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := get(t, h, "/dev/mailbox.json"+tt.query)
			if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			var items []Item
			if err := json.Unmarshal(rec.Body.Bytes(), &items); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range items {
				s := it.Text
				if it.Kind == KindEmail {
					s = it.Links[0]
				}
				got = append(got, it.ID+":"+it.Kind+":"+s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("items (-want +got):\n%s", diff)
			}
			if strings.Contains(rec.Body.String(), `"Raw"`) || strings.Contains(rec.Body.String(), "Content-Transfer") {
				t.Error("JSON carries the raw source")
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	New(0, nil).Register(r)
	if body := get(t, r, "/dev/mailbox.json").Body.String(); body != "[]" {
		t.Errorf("JSON = %q, want []", body)
	}
	if body := get(t, r, "/dev/mailbox").Body.String(); !strings.Contains(body, "Nog niets ontvangen / Nothing captured yet") {
		t.Errorf("list lacks the empty note:\n%s", body)
	}
}
