package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on what one event may carry.
const (
	MaxValueBytes     = 1024 // a detail value
	MaxUserAgentBytes = 256
	MaxFieldBytes     = 256 // ids, action, outcome, role, IP
	MaxDetailKeys     = 32
	maxKeyLen         = 30 // "d." + key fits an RFC 5424 PARAM-NAME (32)
)

// timeFormat is how an event's time is written in the canonical form and the
// exports: UTC with microseconds (what PostgreSQL keeps; RFC 5424 TIME-SECFRAC
// allows six digits).
const timeFormat = "2006-01-02T15:04:05.000000Z"

// secretWords make a detail key secret-looking when one of its segments
// (split on '_', '.', '-') is one of them: such keys are dropped.
var secretWords = map[string]bool{"password": true, "passwd": true, "passphrase": true, "secret": true,
	"token": true, "code": true, "otp": true, "pin": true, "apikey": true, "credential": true,
	"credentials": true, "authorization": true, "cookie": true}

// factKeys are allowed although they contain a secret word: they are facts
// (an SMTP reply code, an HTTP status, the channel a code went by).
var factKeys = map[string]bool{"smtp_code": true, "reply_code": true, "status_code": true,
	"code_channel": true, "email_code_allowed": true}

// zeroHash is prev_hash of the first event.
var zeroHash = strings.Repeat("0", 64)

// secretLooking reports whether key names something that must never be logged.
func secretLooking(key string) bool {
	if factKeys[key] {
		return false
	}
	for _, seg := range strings.FieldsFunc(key, func(r rune) bool { return r == '_' || r == '.' || r == '-' }) {
		if secretWords[seg] {
			return true
		}
	}
	return false
}

// validKey reports whether key is 1–30 of [a-z0-9_.-], starting with a letter.
func validKey(key string) bool {
	if key == "" || len(key) > maxKeyLen || key[0] < 'a' || key[0] > 'z' {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// clean makes s valid single-line UTF-8 (control characters become U+FFFD)
// of at most max bytes, cut at a character boundary.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// normalise bounds and cleans e, sets its time (UTC, microseconds) and
// organisation, and returns the detail keys it dropped.
func normalise(e Event, now time.Time) (Event, []string) {
	if e.At.IsZero() {
		e.At = now
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.Action, e.Outcome = clean(e.Action, MaxFieldBytes), clean(e.Outcome, MaxFieldBytes)
	e.Actor = cleanActor(e.Actor)
	e.Object = Object{Type: clean(e.Object.Type, MaxFieldBytes), ID: clean(e.Object.ID, MaxFieldBytes)}
	if e.OrganisationID == "" {
		e.OrganisationID = e.Actor.OrganisationID
	}
	e.OrganisationID = clean(e.OrganisationID, MaxFieldBytes)
	var dropped []string
	e.Detail, dropped = cleanDetail(e.Detail)
	return e, dropped
}

func cleanActor(a Actor) Actor {
	return Actor{UserID: clean(a.UserID, MaxFieldBytes), APIKeyID: clean(a.APIKeyID, MaxFieldBytes),
		OrganisationID: clean(a.OrganisationID, MaxFieldBytes), Role: clean(a.Role, MaxFieldBytes),
		IP: clean(a.IP, MaxFieldBytes), UserAgent: clean(a.UserAgent, MaxUserAgentBytes)}
}

// cleanDetail keeps at most MaxDetailKeys valid, not secret-looking keys (in
// key order) with values cut to MaxValueBytes.
func cleanDetail(d map[string]string) (map[string]string, []string) {
	out := make(map[string]string, len(d))
	var dropped []string
	for _, k := range sortedKeys(d) {
		if !validKey(k) || secretLooking(k) || len(out) == MaxDetailKeys {
			dropped = append(dropped, clean(k, maxKeyLen))
			continue
		}
		out[k] = clean(d[k], MaxValueBytes)
	}
	return out, dropped
}

// messageID is the message an event concerns: the object when it is a
// message, else detail "message_id" (deliveries, codes, downloads), or
// "message" as some callers name it.
func messageID(e Event) string {
	switch {
	case e.Object.Type == "message":
		return e.Object.ID
	case e.Detail["message_id"] != "":
		return e.Detail["message_id"]
	}
	return e.Detail["message"]
}

// canonicalEvent fixes the members and their order of the hashed form.
type canonicalEvent struct {
	V              int               `json:"v"`
	Seq            int64             `json:"seq"`
	At             string            `json:"at"`
	Action         string            `json:"action"`
	Outcome        string            `json:"outcome"`
	Actor          canonicalActor    `json:"actor"`
	Object         Object            `json:"object"`
	OrganisationID string            `json:"organisation_id"`
	MessageID      string            `json:"message_id"`
	Detail         map[string]string `json:"detail"`
}

type canonicalActor struct {
	UserID         string `json:"user_id"`
	APIKeyID       string `json:"api_key_id"`
	OrganisationID string `json:"organisation_id"`
	Role           string `json:"role"`
	IP             string `json:"ip"`
	UserAgent      string `json:"user_agent"`
}

// Canonical is the byte form of event seq whose SHA-256 is its payload hash.
// e must be normalised (as stored).
func Canonical(seq int64, e Event, messageID string) ([]byte, error) {
	d := e.Detail
	if d == nil {
		d = map[string]string{}
	}
	c := canonicalEvent{V: 1, Seq: seq, At: e.At.UTC().Format(timeFormat), Action: e.Action,
		Outcome: e.Outcome, Actor: canonicalActor(e.Actor), Object: e.Object,
		OrganisationID: e.OrganisationID, MessageID: messageID, Detail: d}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("audit: canonical form: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// payloadHash is hex SHA-256 of the canonical form.
func payloadHash(seq int64, e Event, messageID string) (string, error) {
	b, err := Canonical(seq, e, messageID)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// link is hex SHA-256(prev || payload) over the raw digests.
func link(prevHex, payloadHex string) (string, error) {
	prev, err1 := decodeDigest(prevHex)
	payload, err2 := decodeDigest(payloadHex)
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("%w: not a SHA-256 digest", ErrMalformed)
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func decodeDigest(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, ErrMalformed
	}
	return b, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
