package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// awkward has every character an SD-PARAM value must escape, and more.
const awkward = `a "quoted" ] bracket \ backslash é ✓`

func exportTrail(t *testing.T) (*audit.Trail, []audit.Stored) {
	t.Helper()
	db := testenv.DB(t, database.SQLite)
	tr, _ := newTrail(t, db, 1000)
	events := []audit.Event{event(1),
		{Action: audit.ActionSignIn, Outcome: "failure", Actor: audit.Actor{IP: "2001:db8::1", UserAgent: awkward},
			Detail: map[string]string{"reason": awkward}},
		{Action: audit.ActionSyncRun}}
	for _, e := range events {
		if _, err := tr.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := tr.List(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return tr, all
}

func TestExportJSONLines(t *testing.T) {
	tr, all := exportTrail(t)
	var buf bytes.Buffer
	n, err := tr.Export(context.Background(), &buf, audit.ExportOptions{Format: audit.FormatJSONL})
	if err != nil || n != 3 {
		t.Fatalf("export = %d, %v", n, err)
	}
	sc := bufio.NewScanner(&buf)
	for i := 0; sc.Scan(); i++ {
		var got struct {
			Seq    int64             `json:"seq"`
			Hash   string            `json:"hash"`
			At     time.Time         `json:"at"`
			Action string            `json:"action"`
			Actor  audit.Actor       `json:"actor"`
			Detail map[string]string `json:"detail"`
		}
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		want := all[i]
		if got.Seq != want.Seq || got.Hash != want.Hash || !got.At.Equal(want.Event.At) ||
			got.Action != want.Event.Action || got.Actor != want.Event.Actor || len(got.Detail) != len(want.Event.Detail) {
			t.Errorf("line %d = %+v, want %+v", i, got, want)
		}
	}
}

func TestExportRejectsAnUnknownFormat(t *testing.T) {
	tr, _ := exportTrail(t)
	if _, err := tr.Export(context.Background(), &bytes.Buffer{}, audit.ExportOptions{Format: "csv"}); !errors.Is(err, audit.ErrFormat) {
		t.Fatalf("err = %v", err)
	}
}

func TestExportSyslogParsesBack(t *testing.T) {
	tr, all := exportTrail(t)
	var buf bytes.Buffer
	if _, err := tr.Export(context.Background(), &buf, audit.ExportOptions{Format: audit.FormatSyslog, Hostname: "veilig-1"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(all) {
		t.Fatalf("%d lines for %d events", len(lines), len(all))
	}
	for i, line := range lines {
		m, err := parse5424(line)
		if err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		want := all[i]
		sev := 6
		if want.Event.Outcome == "failure" {
			sev = 5
		}
		wantHeader := syslogMsg{PRI: 13*8 + sev, Version: 1, Time: want.Event.At.Format("2006-01-02T15:04:05.000000Z"),
			Host: "veilig-1", App: "veilig", ProcID: "-", MsgID: want.Event.Action, SDID: audit.SDID}
		got := m
		got.Params = nil
		if diff := cmp.Diff(wantHeader, got); diff != "" {
			t.Errorf("line %d header (-want +got):\n%s", i, diff)
		}
		for k, v := range map[string]string{"seq": strconv.FormatInt(want.Seq, 10), "hash": want.Hash,
			"actor_user_agent": want.Event.Actor.UserAgent, "d.reason": want.Event.Detail["reason"],
			"actor_ip": want.Event.Actor.IP, "d.mx": want.Event.Detail["mx"]} {
			if m.Params[k] != v {
				t.Errorf("line %d: %s = %q, want %q", i, k, m.Params[k], v)
			}
		}
	}
}

// syslogMsg is the part of an RFC 5424 message the test checks.
type syslogMsg struct {
	PRI, Version                         int
	Time, Host, App, ProcID, MsgID, SDID string
	Params                               map[string]string
}

var header5424 = regexp.MustCompile(`^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) \[`)

// parse5424 parses a message with one SD-ELEMENT (RFC 5424 §6), unescaping
// PARAM-VALUEs (§6.3.3).
func parse5424(line string) (syslogMsg, error) {
	h := header5424.FindStringSubmatch(line)
	if h == nil {
		return syslogMsg{}, errors.New("no RFC 5424 header")
	}
	pri, _ := strconv.Atoi(h[1])
	ver, _ := strconv.Atoi(h[2])
	if _, err := time.Parse(time.RFC3339Nano, h[3]); err != nil {
		return syslogMsg{}, err
	}
	m := syslogMsg{PRI: pri, Version: ver, Time: h[3], Host: h[4], App: h[5], ProcID: h[6], MsgID: h[7],
		Params: map[string]string{}}
	rest := line[len(h[0]):]
	id, rest, _ := strings.Cut(rest, " ")
	m.SDID = id
	for rest != "" && rest[0] != ']' {
		var err error
		if rest, err = parseParam(rest, m.Params); err != nil {
			return m, err
		}
	}
	if !strings.HasPrefix(rest, "] ") {
		return m, errors.New("SD-ELEMENT not closed before MSG")
	}
	return m, nil
}

// parseParam reads `NAME="VALUE"` and an optional following space.
func parseParam(s string, into map[string]string) (string, error) {
	name, s, ok := strings.Cut(s, `="`)
	if !ok || name == "" || len(name) > 32 || strings.ContainsAny(name, ` ]"=`) {
		return "", fmt.Errorf("bad PARAM-NAME in %q", s)
	}
	var v strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(`"\]`, s[i+1]) >= 0:
			v.WriteByte(s[i+1])
			i++
		case c == '"':
			into[name] = v.String()
			return strings.TrimPrefix(s[i+1:], " "), nil
		case c == ']':
			return "", errors.New("unescaped ] in PARAM-VALUE")
		default:
			v.WriteByte(c)
		}
	}
	return "", errors.New("unterminated PARAM-VALUE")
}
