package faults

// The decoded text of a delivered message (RFC 2045, RFC 2046): what a mail
// client shows, so a link split by quoted-printable soft breaks is whole again.

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
)

// maxParts bounds the parts read from one message.
const maxParts = 64

// textParts returns the decoded text/* parts of a raw message, single-part too.
func textParts(t *testing.T, raw []byte) []string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse a delivered message: %v", err)
	}
	var out []string
	walkParts(t, msg.Header, msg.Body, 0, func(h mail.Header, body io.Reader) {
		out = append(out, decodeText(t, h, body))
	})
	return out
}

// walkParts calls fn for each text/* leaf under the entity with header h.
func walkParts(t *testing.T, h mail.Header, body io.Reader, depth int, fn func(mail.Header, io.Reader)) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain" // RFC 2045 §5.2: the default
	}
	if !strings.HasPrefix(mt, "multipart/") {
		if strings.HasPrefix(mt, "text/") {
			fn(h, body)
		}
		return
	}
	if depth > 4 {
		t.Fatalf("MIME nested deeper than 4 levels")
	}
	mr := multipart.NewReader(body, params["boundary"])
	for range maxParts {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("MIME: %v", err)
		}
		walkParts(t, mail.Header(p.Header), p, depth+1, fn)
	}
}

func decodeText(t *testing.T, h mail.Header, body io.Reader) string {
	t.Helper()
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(io.LimitReader(body, 4<<20))
	if err != nil {
		t.Fatalf("decode a text part: %v", err)
	}
	return string(b)
}
