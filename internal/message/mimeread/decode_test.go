package mimeread

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestTransferDecoder(t *testing.T) {
	tests := []struct {
		name, cte, in, want string
	}{
		{"base64 lines", "base64", "SGVs\r\nbG8=\r\n", "Hello"},
		{"base64 no padding", "base64", "SGVsbG8", "Hello"},
		{"base64 garbage and spaces", "base64", "SG Vs*bG\t8!", "Hello"},
		{"base64 concatenated", "base64", "SGk=SGk=", "HiHi"},
		{"base64 url-safe", "base64", "-_8=", "\xfb\xff"},
		{"base64 lone char", "base64", "SGVsb", "Hel"},
		{"qp soft breaks", "quoted-printable", "a=\r\nb=\nc\r\n", "abc\r\n"},
		{"qp lowercase hex", "quoted-printable", "caf=e9", "caf\xe9"},
		{"qp literal =", "quoted-printable", "1 =ZZ 2 = 3 =4", "1 =ZZ 2 = 3 =4"},
		{"qp trailing space dropped", "quoted-printable", "a  \t\r\nb \n", "a\r\nb\n"},
		{"qp soft break at the end", "quoted-printable", "abc=", "abc"},
		{"qp control bytes kept", "quoted-printable", "a\x00\x0cb", "a\x00\x0cb"},
		{"qp long line", "quoted-printable", strings.Repeat("=41", 5000) + "=\r\nB", strings.Repeat("A", 5000) + "B"},
		{"7bit", "7bit", "as is=41", "as is=41"},
		{"unknown", "x-uuencode", "as is", "as is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range map[string]io.Reader{
				"whole": strings.NewReader(tt.in),
				"bytes": iotest.OneByteReader(strings.NewReader(tt.in)),
			} {
				got, err := io.ReadAll(transferDecoder(tt.cte, r))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestDecodeCharset(t *testing.T) {
	tests := []struct{ in, charset, want string }{
		{"caf\xe9 \x80", "windows-1252", "café €"},
		{"caf\xe9", "ISO-8859-1", "café"},
		{"caf\xe9", "", "café"},
		{"café", "", "café"},
		{"café", "us-ascii", "café"},
		{"caf\xe9", "utf-8", "caf\uFFFD"},
		{"caf\xc3\xa9", "x-unknown", "café"},
		{"\x82\xa0", "shift_jis", "あ"},
		{"\xd6\xd0", "gb2312", "中"},
	}
	for _, tt := range tests {
		if got := decodeCharset([]byte(tt.in), tt.charset); got != tt.want {
			t.Errorf("decodeCharset(%q, %q) = %q, want %q", tt.in, tt.charset, got, tt.want)
		}
	}
}

func TestUnflow(t *testing.T) {
	tests := []struct {
		name, in string
		delsp    bool
		want     string
	}{
		{"joins", "een \ntwee \ndrie\nvier", false, "een twee drie\nvier"},
		{"delsp", "een\u00a0 \ntwee", true, "een\u00a0twee"},
		{"signature", "tekst\n-- \nPiet", false, "tekst\n-- \nPiet"},
		{"quotes", "> a \n> b\n>> c \n> d", false, "> a b\n>> c\n> d"},
		{"stuffing", " From me\n >not a quote", false, "From me\n>not a quote"},
		{"trailing newline", "a \nb\n", false, "a b\n"},
	}
	for _, tt := range tests {
		if got := unflow(tt.in, tt.delsp); got != tt.want {
			t.Errorf("%s: unflow(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		raw, wantType string
		want          map[string]string
	}{
		{`Text/Plain; Charset="UTF-8"`, "text/plain", map[string]string{"charset": "UTF-8"}},
		{`multipart/mixed; boundary=----=_Part_1; foo`, "multipart/mixed", map[string]string{"boundary": "----=_Part_1"}},
		{`attachment; filename="a.pdf"; filename="b.pdf"`, "attachment", map[string]string{"filename": "a.pdf"}},
		{`attachment; filename="fallback.txt"; filename*=iso-8859-1'nl'caf%E9.txt`, "attachment",
			map[string]string{"filename": "café.txt"}},
		{`attachment; filename*0*=utf-8''%E2%82%AC; filename*1="\"x\".txt"`, "attachment",
			map[string]string{"filename": `€"x".txt`}},
		{`attachment; filename*1=b; filename*0=a`, "attachment", map[string]string{"filename": "ab"}},
		{`attachment; filename="unterminated`, "attachment", map[string]string{"filename": "unterminated"}},
		{`inline; filename="=?iso-8859-1?Q?caf=E9?=.txt"`, "inline", map[string]string{"filename": "café.txt"}},
		{``, "", map[string]string{}},
	}
	for _, tt := range tests {
		gotType, got := parseParams(tt.raw)
		if gotType != tt.wantType {
			t.Errorf("parseParams(%q) type = %q, want %q", tt.raw, gotType, tt.wantType)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseParams(%q) (-want +got):\n%s", tt.raw, diff)
		}
	}
}

func TestMatchBoundary(t *testing.T) {
	bounds := []string{"abc", "abc_1"}
	tests := []struct {
		line        string
		start       bool
		wantI       int
		wantClosing bool
		wantOK      bool
	}{
		{"--abc\r\n", true, 0, false, true},
		{"--abc--\r\n", true, 0, true, true},
		{"--abc_1 \t\r\n", true, 1, false, true},
		{"--abc_1--\n", true, 1, true, true},
		{"--abc_2\r\n", true, 0, false, false},
		{"--abc\r\n", false, 0, false, false},
		{"x--abc\r\n", true, 0, false, false},
	}
	for _, tt := range tests {
		i, closing, ok := matchBoundary(chunk{b: []byte(tt.line), start: tt.start, eol: true}, bounds)
		if i != tt.wantI || closing != tt.wantClosing || ok != tt.wantOK {
			t.Errorf("matchBoundary(%q) = %d, %v, %v; want %d, %v, %v", tt.line, i, closing, ok,
				tt.wantI, tt.wantClosing, tt.wantOK)
		}
	}
}

func TestHeaderText(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"=?iso-8859-1?Q?Caf=E9?= =?utf-8?B?4oKs?=", "Café€"},
		{"=?windows-1252?Q?=80_10?=", "€ 10"},
		{"=?x-unknown?Q?abc?=", "abc"},
		{"Réunion (RFC 6532)", "Réunion (RFC 6532)"},
		{"R\xe9union", "Réunion"},
		{"a\x00b\tc", "ab c"},
		{"=?utf-8?B?w6k?=", "é"},
		{"=?utf-8?Q?broken", "=?utf-8?Q?broken"},
	}
	for _, tt := range tests {
		if got := decodeText(tt.raw); got != tt.want {
			t.Errorf("decodeText(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
