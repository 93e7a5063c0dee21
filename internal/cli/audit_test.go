package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/seal"
	"github.com/veilig/veilig/internal/testenv"
)

// auditFixture migrates a database in dir and appends n events with the key
// the CLI derives from the key ring in dir.
func auditFixture(t *testing.T, dir string, n int) *database.DB {
	t.Helper()
	ctx := context.Background()
	if out, err := runCLI(t, ctx, dir, "", "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	ring, err := seal.GenerateKeyRing(filepath.Join(dir, "data", "master-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := ring.DeriveSecret(auditSeedPurpose)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(ctx, filepath.Join(dir, "veilig.db"), testenv.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tr, err := audit.New(db, audit.Config{Seed: seed, CheckpointEvery: 5}, testenv.Discard(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := audit.Event{Action: audit.ActionSignIn, Outcome: "success", Actor: audit.Actor{UserID: "u" + string(rune('a'+i))}}
		if _, err := tr.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestAuditVerify(t *testing.T) {
	tests := []struct {
		name, tamper, want string
	}{
		{"intact", "", "the trail verifies"},
		{"deleted event", "DELETE FROM audit_events WHERE seq = 3", "seq 4: gap"},
		{"edited event", "UPDATE audit_events SET actor_user_id = 'mallory' WHERE seq = 2", "seq 2: payload"},
		{"edited hash", "UPDATE audit_events SET hash = prev_hash WHERE seq = 6", "seq 6: hash"},
		{"truncated after a checkpoint", "DELETE FROM audit_events WHERE seq >= 5", "seq 5: checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := auditFixture(t, dir, 8)
			if tc.tamper != "" {
				if err := db.Exec(tc.tamper).Error; err != nil {
					t.Fatal(err)
				}
			}
			out, err := runCLI(t, context.Background(), dir, "", "audit", "verify")
			if (tc.tamper == "") != (err == nil) || (err != nil && (!errors.Is(err, errAuditBroken) || ExitCode(err) != 1)) {
				t.Fatalf("err = %v\n%s", err, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestAuditExportAndPurge(t *testing.T) {
	dir := t.TempDir()
	auditFixture(t, dir, 3)
	ctx := context.Background()
	tests := []struct {
		args    []string
		wantErr error
		want    string
	}{
		{[]string{"audit", "export"}, nil, `"seq":3`},
		{[]string{"audit", "export", "--format", "syslog", "--hostname", "h1"}, nil, "<110>1 "},
		{[]string{"audit", "export", "--since", "2999-01-01T00:00:00Z"}, nil, ""},
		{[]string{"audit", "export", "--format", "csv"}, ErrUsage, ""},
		{[]string{"audit", "export", "--since", "yesterday"}, ErrUsage, ""},
		{[]string{"audit", "purge"}, nil, "purged the payload of 0 events"},
	}
	for _, tc := range tests {
		out, err := runCLI(t, ctx, dir, "", tc.args...)
		if !errors.Is(err, tc.wantErr) || !strings.Contains(out, tc.want) {
			t.Errorf("%v: err %v, output %q", tc.args, err, out)
		}
		if strings.Contains(strings.Join(tc.args, " "), "2999") && strings.Contains(out, `"seq"`) {
			t.Errorf("--since in the future exported events: %s", out)
		}
	}
}

// TestOperatorCommandsAudited: commands an operator runs are in the trail,
// with the command line as the actor, and the trail still verifies.
func TestOperatorCommandsAudited(t *testing.T) {
	dir := t.TempDir()
	auditFixture(t, dir, 2)
	ctx := context.Background()
	for _, args := range [][]string{{"keys", "rotate"}, {"audit", "export"}, {"audit", "purge"}, {"keys", "rewrap"}} {
		if out, err := runCLI(t, ctx, dir, "", args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	out, err := runCLI(t, ctx, dir, "", "audit", "export")
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []struct{ action, agent, detail string }{
		{audit.ActionKeysRotated, "veilig keys rotate", `"master_key":"k2"`},
		{audit.ActionAuditExported, "veilig audit export", `"events":"3"`},
		{audit.ActionAuditPurged, "veilig audit purge", `"events":"0"`},
		{audit.ActionKeysRewrapped, "veilig keys rewrap", `"rewrapped":"0"`},
	}
	if len(lines) != 2+len(want) {
		t.Fatalf("%d events exported, want %d:\n%s", len(lines), 2+len(want), out)
	}
	for i, w := range want {
		l := lines[2+i]
		for _, part := range []string{`"action":"` + w.action + `"`, `"role":"cli"`, `"user_agent":"` + w.agent + `"`, w.detail} {
			if !strings.Contains(l, part) {
				t.Errorf("event %d lacks %s: %s", 3+i, part, l)
			}
		}
	}
	if out, err := runCLI(t, ctx, dir, "", "audit", "verify"); err != nil {
		t.Errorf("verify: %v\n%s", err, out)
	}
}
