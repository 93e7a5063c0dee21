package viewer

import (
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	const png = "data:image/png;base64,iVBORw0KGgo="
	tests := []struct {
		name    string
		in      string
		want    []string
		notWant []string
		blocked bool
	}{
		{"script dropped", `<p>hi</p><script>alert(1)</script>`, []string{"<p>hi</p>"}, []string{"script", "alert"}, false},
		{"event handler", `<img src="x" onerror="alert(1)"><b onclick="x()">b</b>`, []string{"<b>b</b>"}, []string{"onerror", "onclick", "alert"}, true},
		{"remote image", `<img src="https://tracker.example/p.gif" alt="logo">`, []string{"[logo]"}, []string{"tracker.example", "<img"}, true},
		{"protocol-relative image", `<IMG SRC="//tracker.example/p.gif">`, nil, []string{"tracker.example"}, true},
		{"cid image", `<img src="cid:part1@x">`, nil, []string{"cid:", "<img"}, true},
		{"data image kept", `<img src="` + png + `" alt="x">`, []string{`<img src="` + png + `"`}, nil, false},
		{"svg data image", `<img src="data:image/svg+xml;base64,PHN2Zy8+">`, nil, []string{"svg"}, false},
		{"javascript link", `<a href="javascript:alert(1)">klik</a>`, []string{"klik"}, []string{"javascript", "href"}, false},
		{"data link", `<a href="data:text/html;base64,PHNjcmlwdD4=">klik</a>`, []string{"klik"}, []string{"data:", "href"}, false},
		{"relative link", `<a href="/v/logout">uit</a>`, []string{"uit"}, []string{"/v/logout"}, false},
		{"link shows real URL", `<a href="https://evil.example/login">https://bank.example</a>`,
			[]string{`href="https://evil.example/login"`, `rel="nofollow noreferrer noopener"`, `target="_blank"`,
				`<span class="vl-href"> (https://evil.example/login)</span>`}, nil, false},
		{"plain link not repeated", `<a href="https://gemeente.example/">https://gemeente.example</a>`, nil, []string{"vl-href"}, false},
		{"style attribute", `<p style="background:url(https://t.example/x)">p</p>`, []string{"<p>p</p>"}, []string{"style", "t.example"}, true},
		{"style element", `<style>body{background:url(https://t.example/x)}</style><p>p</p>`, []string{"<p>p</p>"}, []string{"t.example"}, true},
		{"iframe and form", `<iframe src="https://x.example"></iframe><form action="https://x.example"><input name="pw"></form>`, nil, []string{"iframe", "form", "input", "x.example"}, true},
		{"ids removed", `<p id="code">x</p>`, []string{"<p>x</p>"}, []string{`id=`}, false},
		{"headings demoted", `<h1>a</h1><h2>b</h2>`, []string{"<h3>a</h3>", "<h4>b</h4>"}, []string{"<h1>"}, false},
		{"mutation xss", `<noscript><p title="</noscript><img src=x onerror=alert(1)>">`, nil, []string{"onerror", "<img"}, true},
		{"full document", `<html><head><title>T</title><meta http-equiv="refresh" content="0;url=https://x.example"></head><body><p>b</p></body></html>`,
			[]string{"<p>b</p>"}, []string{"refresh", "x.example", "<body"}, false},
	}
	s := newSanitizer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, blocked := s.sanitize(tt.in)
			out := string(got)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(strings.ToLower(out), strings.ToLower(w)) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
			if blocked != tt.blocked {
				t.Errorf("blocked = %v, want %v", blocked, tt.blocked)
			}
		})
	}
}

func TestDisplayName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rapport.pdf", "rapport.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\x\brief.docx`, "brief.docx"},
		{"a\r\nb.txt", "ab.txt"},
		{"\u202egpj.exe", "gpj.exe"},
		{"...hidden", "hidden"},
		{"", "attachment"},
		{"../", "attachment"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100)},
	}
	for _, tt := range tests {
		if got := displayName(tt.in); got != tt.want {
			t.Errorf("displayName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormaliseCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"123456", "123456", true},
		{" 123 456 ", "123456", true},
		{"123-456", "123456", true},
		{"12a456", "", false},
		{"１２３４５６", "", false},
		{"123", "", false},
		{strings.Repeat("1", 13), "", false},
	}
	for _, tt := range tests {
		got, ok := normaliseCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normaliseCode(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

func TestSafeContentType(t *testing.T) {
	tests := []struct{ in, want string }{
		{"application/pdf", "application/pdf"},
		{"IMAGE/PNG; name=x", "image/png"},
		{"text/html", "application/octet-stream"},
		{"image/svg+xml", "application/octet-stream"},
		{"application/javascript", "application/octet-stream"},
		{"", "application/octet-stream"},
		{"text/plain; charset=\"", "application/octet-stream"},
	}
	for _, tt := range tests {
		if got := safeContentType(tt.in); got != tt.want {
			t.Errorf("safeContentType(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
