package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Export formats.
const (
	FormatJSONL  = "jsonl"  // one JSON object per line
	FormatSyslog = "syslog" // RFC 5424, one message per line
)

// ErrFormat reports an unknown export format.
var ErrFormat = errors.New("audit: unknown export format (jsonl or syslog)")

// Syslog constants (RFC 5424).
const (
	// FacilityLogAudit is facility 13, "log audit" (RFC 5424 §6.2.1, table 1).
	FacilityLogAudit = 13
	severityNotice   = 5
	severityInfo     = 6
	// SDID names the structured data element. 32473 is the private enterprise
	// number reserved for documentation (RFC 5612); Veilig has none of its own.
	SDID    = "veilig-audit@32473"
	appName = "veilig"
)

// ExportOptions select and shape an export.
type ExportOptions struct {
	Format   string
	Since    time.Time // events at or after; zero = all
	Hostname string    // syslog HOSTNAME; "" = "-" (nil value)
}

// Export writes the events since opts.Since in chain order to w and reports
// how many it wrote. Memory is bounded: events are read a page at a time.
func (t *Trail) Export(ctx context.Context, w io.Writer, opts ExportOptions) (int64, error) {
	var line func(Stored) ([]byte, error)
	switch opts.Format {
	case FormatJSONL:
		line = JSONLine
	case FormatSyslog:
		host := opts.Hostname
		line = func(s Stored) ([]byte, error) { return SyslogLine(s, host), nil }
	default:
		return 0, fmt.Errorf("%w: %q", ErrFormat, clean(opts.Format, 32))
	}
	bw := bufio.NewWriter(w)
	n, err := t.exportPages(ctx, bw, opts.Since, line)
	if ferr := bw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("audit: export: %w", ferr)
	}
	return n, err
}

func (t *Trail) exportPages(ctx context.Context, w io.Writer, since time.Time, line func(Stored) ([]byte, error)) (int64, error) {
	var n int64
	f := Filter{Since: since, Limit: MaxListLimit}
	for {
		page, err := t.List(ctx, f)
		if err != nil {
			return n, err
		}
		for _, s := range page {
			b, err := line(s)
			if err != nil {
				return n, err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return n, fmt.Errorf("audit: export: %w", err)
			}
			n++
		}
		if len(page) < f.Limit {
			return n, nil
		}
		f.After = page[len(page)-1].Seq
	}
}

// jsonEvent is the JSON form of a stored event (export and API).
type jsonEvent struct {
	Seq            int64             `json:"seq"`
	At             string            `json:"at"`
	Action         string            `json:"action"`
	Outcome        string            `json:"outcome,omitempty"`
	Actor          Actor             `json:"actor"`
	Object         Object            `json:"object"`
	OrganisationID string            `json:"organisation_id,omitempty"`
	MessageID      string            `json:"message_id,omitempty"`
	Detail         map[string]string `json:"detail,omitempty"`
	PayloadHash    string            `json:"payload_hash"`
	PrevHash       string            `json:"prev_hash"`
	Hash           string            `json:"hash"`
	PurgedAt       string            `json:"purged_at,omitempty"`
}

// MarshalJSON writes the event, its seq and its hashes.
func (s Stored) MarshalJSON() ([]byte, error) {
	e := s.Event
	j := jsonEvent{Seq: s.Seq, At: e.At.UTC().Format(timeFormat), Action: e.Action, Outcome: e.Outcome,
		Actor: e.Actor, Object: e.Object, OrganisationID: e.OrganisationID, MessageID: s.MessageID,
		Detail: e.Detail, PayloadHash: s.PayloadHash, PrevHash: s.PrevHash, Hash: s.Hash}
	if s.PurgedAt != nil {
		j.PurgedAt = s.PurgedAt.UTC().Format(timeFormat)
	}
	return json.Marshal(j)
}

// JSONLine is s as one line of JSON (without the newline).
func JSONLine(s Stored) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("audit: export: %w", err)
	}
	return b, nil
}

// SyslogLine is s as an RFC 5424 message (without the newline): PRI with
// facility 13, the event time, HOSTNAME, APP-NAME "veilig", no PROCID, the
// action as MSGID, and every field as a PARAM of one SD-ELEMENT.
func SyslogLine(s Stored, hostname string) []byte {
	var b strings.Builder
	pri := FacilityLogAudit*8 + severity(s.Event)
	b.WriteString("<" + strconv.Itoa(pri) + ">1 " + s.Event.At.UTC().Format(timeFormat) + " ")
	b.WriteString(headerField(hostname, 255) + " " + appName + " - " + headerField(s.Event.Action, 32) + " [" + SDID)
	for _, p := range sdParams(s) {
		if p[1] != "" {
			b.WriteString(" " + p[0] + `="` + escapeParam(p[1]) + `"`)
		}
	}
	b.WriteString("] " + headerField(s.Event.Action, 64))
	if s.Event.Outcome != "" {
		b.WriteString(" " + headerField(s.Event.Outcome, 64))
	}
	return []byte(b.String())
}

func severity(e Event) int {
	if e.Outcome == "failure" || e.Action == ActionTokenReuse {
		return severityNotice
	}
	return severityInfo
}

// sdParams are the PARAM-NAME/PARAM-VALUE pairs of s, in a fixed order.
func sdParams(s Stored) [][2]string {
	e, a := s.Event, s.Event.Actor
	ps := [][2]string{{"seq", strconv.FormatInt(s.Seq, 10)}, {"hash", s.Hash}, {"payload_hash", s.PayloadHash},
		{"prev_hash", s.PrevHash}, {"action", e.Action}, {"outcome", e.Outcome}, {"organisation", e.OrganisationID},
		{"actor_user", a.UserID}, {"actor_api_key", a.APIKeyID}, {"actor_organisation", a.OrganisationID},
		{"actor_role", a.Role}, {"actor_ip", a.IP}, {"actor_user_agent", a.UserAgent},
		{"object_type", e.Object.Type}, {"object_id", e.Object.ID}, {"message", s.MessageID}}
	if s.PurgedAt != nil {
		ps = append(ps, [2]string{"purged_at", s.PurgedAt.UTC().Format(timeFormat)})
	}
	for _, k := range sortedKeys(e.Detail) {
		if validKey(k) { // always, for stored events; guards the PARAM-NAME syntax
			ps = append(ps, [2]string{"d." + k, e.Detail[k]})
		}
	}
	return ps
}

// escapeParam escapes a PARAM-VALUE: '"', '\' and ']' (RFC 5424 §6.3.3).
// Control characters were replaced when the event was recorded.
func escapeParam(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(clean(v, MaxValueBytes))
}

// headerField is v as a header field: printable US-ASCII without spaces, at
// most max characters, "-" when empty.
func headerField(v string, max int) string {
	out := []byte{}
	for i := 0; i < len(v) && len(out) < max; i++ {
		c := v[i]
		if c <= 32 || c >= 127 {
			c = '_'
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}
