package external_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	"github.com/veilig/veilig/internal/sms"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/viewer"
)

// canaryPhone is a number no other test uses.
const canaryPhone = "+31643219876"

// TestCanary sends content with a unique string through the whole external
// flow and then looks for it, the phone number and the tokens in every row
// of every table, in every blob file and in the logs: only sealed forms,
// hashes and the masked number may be there.
func TestCanary(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		canary := "KANARIE" + randomHex(t)
		tokens := canaryFlow(t, e, canary)
		phone, err := sms.Normalize(canaryPhone, "NL")
		if err != nil {
			t.Fatal(err)
		}
		secrets := append([]string{canary, canaryPhone, "0643219876", "643219876"}, tokens...)
		where := map[string]string{"database": dumpDB(t, db), "blob files": dumpDir(t, e.blobDir), "logs": e.logs.String()}
		for place, text := range where {
			for i, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("secret %d (%.12s…) found in the %s", i, s, place)
				}
			}
		}
		if !strings.Contains(where["database"], phone.Masked()) {
			t.Errorf("the masked number %q is not stored", phone.Masked())
		}
		selfTest(t, e, canary)
	})
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// canaryFlow sends, opens, downloads and replies with canary; it returns the
// link and session tokens used.
func canaryFlow(t *testing.T, e *env, canary string) []string {
	t.Helper()
	ctx := context.Background()
	set := message.DefaultSettings()
	set.NotifyFirstOpen = true
	e.settings(t, set)
	d := message.Draft{To: []string{outsider}, Subject: "Onderwerp " + canary, Text: "Tekst " + canary + "\n",
		HTML: "<p>" + canary + "</p>", Phones: map[string]string{outsider: canaryPhone},
		Attachments: []compose.Attachment{attachment(canary+".txt", "text/plain", []byte("Bijlage "+canary))}}
	s := e.send(t, d)
	tok := s.links[outsider].token
	wrongSess := e.session(t, tok)
	if err := e.ext.SendCode(ctx, wrongSess, ip); err != nil {
		t.Fatal(err)
	}
	_ = e.ext.VerifyCode(ctx, wrongSess, wrong(e.sms.lastCode(t)), ip)
	sess := e.verified(t, tok)
	c, err := e.ext.Content(ctx, sess)
	if err != nil || !strings.Contains(c.Subject, canary) {
		t.Fatalf("Content = %q, %v", c.Subject, err)
	}
	_, rc, err := e.ext.Attachment(ctx, sess, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); !strings.Contains(string(b), canary) {
		t.Fatalf("attachment %q lacks the canary", b)
	}
	rc.Close()
	r := viewer.Reply{Text: "Antwoord " + canary, Attachments: []viewer.Upload{{Name: canary + ".txt",
		ContentType: "text/plain", Body: strings.NewReader("Antwoordbijlage " + canary)}}}
	if err := e.ext.SendReply(ctx, sess, r); err != nil {
		t.Fatal(err)
	}
	return []string{tok, sess, wrongSess}
}

// dumpDB prints every row of every table of db.
func dumpDB(t *testing.T, db *database.DB) string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if db.Dialect == database.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	var tables []string
	if err := db.Raw(q).Scan(&tables).Error; err != nil || len(tables) < 10 {
		t.Fatalf("list tables: %v, %v", tables, err)
	}
	var sb strings.Builder
	for _, table := range tables {
		sb.WriteString(tableText(t, db, table))
	}
	return sb.String()
}

// dumpDir returns the names and contents of every file under dir.
func dumpDir(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		n++
		sb.WriteString(path + "\n" + string(b) + "\n")
		return err
	})
	if err != nil || n == 0 {
		t.Fatalf("read blob files: %d files, %v", n, err)
	}
	return sb.String()
}

// selfTest plants the canary as text, as bytes and in a file, and checks
// that the search finds each.
func selfTest(t *testing.T, e *env, canary string) {
	t.Helper()
	plants := []struct {
		name  string
		plant func() error
		dump  func() string
	}{
		{"text column", func() error {
			return e.db.Exec("INSERT INTO sms_spend (organisation_id, day, sent) VALUES (?, 'x', 0)", canary+"-text").Error
		}, func() string { return dumpDB(t, e.db) }},
		{"bytes column", func() error {
			if err := e.db.Exec("INSERT INTO otp_subjects (subject) VALUES ('plant')").Error; err != nil {
				return err
			}
			return e.db.Exec("INSERT INTO otp_codes (subject, code_hash, created_at, expires_at) VALUES ('plant', ?, ?, ?)",
				[]byte(canary+"-bytes"), t0, t0).Error
		}, func() string { return dumpDB(t, e.db) }},
		{"blob file", func() error {
			return os.WriteFile(filepath.Join(e.blobDir, "plant"), []byte(canary+"-blob"), 0o600)
		}, func() string { return dumpDir(t, e.blobDir) }},
	}
	for _, p := range plants {
		if err := p.plant(); err != nil {
			t.Fatalf("plant in %s: %v", p.name, err)
		}
		if !strings.Contains(p.dump(), canary+"-"+strings.Fields(p.name)[0]) {
			t.Errorf("the search misses a canary planted in a %s", p.name)
		}
	}
}
