package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

var seed = []byte("0123456789abcdef0123456789abcdef")

// clock is a fixed time that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func newTrail(t *testing.T, db *database.DB, every int64) (*audit.Trail, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)}
	tr, err := audit.New(db, audit.Config{Seed: seed, CheckpointEvery: every}, testenv.Discard(), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return tr, c
}

func event(i int) audit.Event {
	return audit.Event{Action: audit.ActionDeliveryAttempt, Outcome: "delivered",
		Actor:          audit.Actor{UserID: "u1", OrganisationID: "org-a", Role: "sender", IP: "192.0.2.1", UserAgent: "test"},
		Object:         audit.Object{Type: "delivery", ID: fmt.Sprintf("d%d", i)},
		Detail:         map[string]string{"message_id": "m1", "mx": "mx.example.test", "smtp_code": "250"},
		OrganisationID: "org-a"}
}

func appendN(t *testing.T, tr *audit.Trail, n int) {
	t.Helper()
	for i := range n {
		if _, err := tr.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, tr *audit.Trail) audit.Report {
	t.Helper()
	rep, err := tr.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestNewRejectsABadSeed(t *testing.T) {
	if _, err := audit.New(nil, audit.Config{Seed: seed[:31]}, testenv.Discard(), time.Now); err == nil {
		t.Fatal("a 31-byte seed was accepted")
	}
}

func TestConcurrentAppendsStayLinear(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		tr, _ := newTrail(t, db, 50)
		const workers, each = 8, 25
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					tr.Record(context.Background(), event(w*each+i))
				}
			})
		}
		wg.Wait()
		if tr.Failures() != 0 {
			t.Fatalf("%d events were not recorded", tr.Failures())
		}
		rep := verify(t, tr)
		if !rep.OK() || rep.Events != workers*each || rep.LastSeq != workers*each || rep.Checkpoints != 4 {
			t.Fatalf("report = %+v", rep)
		}
		all, err := tr.List(context.Background(), audit.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range all {
			if s.Seq != int64(i+1) || (i > 0 && s.PrevHash != all[i-1].Hash) {
				t.Fatalf("event %d: seq %d, prev %s", i, s.Seq, s.PrevHash)
			}
		}
	})
}

func TestCheckpointSignsTheHeadOnce(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		tr, _ := newTrail(t, db, 1000)
		ctx := context.Background()
		if seq, err := tr.Checkpoint(ctx); err != nil || seq != 0 {
			t.Fatalf("empty chain: checkpoint %d, %v", seq, err)
		}
		appendN(t, tr, 3)
		for i, want := range []int64{3, 0} {
			if seq, err := tr.Checkpoint(ctx); err != nil || seq != want {
				t.Fatalf("checkpoint %d = %d, %v; want %d", i, seq, err, want)
			}
		}
		if rep := verify(t, tr); !rep.OK() || rep.Checkpoints != 1 {
			t.Fatalf("report = %+v", rep)
		}
	})
}

// rehash recomputes the chain from seq from on, as an attacker with
// database access would after editing an event.
func rehash(t *testing.T, db *database.DB, tr *audit.Trail, from int64) {
	t.Helper()
	all, err := tr.List(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	prev := all[from-2].Hash
	for _, s := range all[from-1:] {
		c, err := audit.Canonical(s.Seq, s.Event, s.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		ph := sha256.Sum256(c)
		p, _ := hex.DecodeString(prev)
		h := sha256.Sum256(append(p, ph[:]...))
		prev = hex.EncodeToString(h[:])
		exec(t, db, "UPDATE audit_events SET payload_hash = ?, prev_hash = ?, hash = ? WHERE seq = ?",
			hex.EncodeToString(ph[:]), s.PrevHash, prev, s.Seq)
		if s.Seq > from {
			exec(t, db, "UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE seq = ?) WHERE seq = ?", s.Seq-1, s.Seq)
		}
	}
	exec(t, db, "UPDATE audit_head SET hash = ? WHERE id = 1", prev)
}

func exec(t *testing.T, db *database.DB, q string, args ...any) {
	t.Helper()
	if err := db.Exec(q, args...).Error; err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(t *testing.T, db *database.DB, tr *audit.Trail)
		wantKind string
		wantSeq  int64
	}{
		{"nothing", func(*testing.T, *database.DB, *audit.Trail) {}, "", 0},
		{"deleted event", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			exec(t, db, "DELETE FROM audit_events WHERE seq = 15")
		}, audit.ProblemGap, 16},
		{"deleted first event", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			exec(t, db, "DELETE FROM audit_events WHERE seq = 1")
		}, audit.ProblemGap, 2},
		{"edited detail", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			exec(t, db, `UPDATE audit_events SET detail = '{"message_id":"m1","mx":"evil.example.test","smtp_code":"250"}' WHERE seq = 5`)
		}, audit.ProblemPayload, 5},
		{"edited actor", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			exec(t, db, "UPDATE audit_events SET actor_ip = '198.51.100.7' WHERE seq = 6")
		}, audit.ProblemPayload, 6},
		{"edited time", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			exec(t, db, "UPDATE audit_events SET at = ? WHERE seq = 8", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		}, audit.ProblemPayload, 8},
		{"edited hash", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			exec(t, db, "UPDATE audit_events SET hash = ? WHERE seq = 7", zeros)
		}, audit.ProblemHash, 7},
		{"edited event with the chain recomputed", func(t *testing.T, db *database.DB, tr *audit.Trail) {
			exec(t, db, "UPDATE audit_events SET outcome = 'failed' WHERE seq = 12")
			rehash(t, db, tr, 12)
		}, audit.ProblemCheckpoint, 20},
		{"tail removed after a checkpoint, head rewound", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			var h string
			if err := db.Raw("SELECT hash FROM audit_events WHERE seq = 15").Scan(&h).Error; err != nil {
				t.Fatal(err)
			}
			exec(t, db, "DELETE FROM audit_events WHERE seq > 15")
			exec(t, db, "UPDATE audit_head SET seq = 15, hash = ?, checkpoint_seq = 10 WHERE id = 1", h)
		}, audit.ProblemCheckpoint, 20},
		{"tail removed", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			exec(t, db, "DELETE FROM audit_events WHERE seq > 25")
		}, audit.ProblemHead, 25},
		{"forged checkpoint signature", func(t *testing.T, db *database.DB, _ *audit.Trail) {
			exec(t, db, "UPDATE audit_checkpoints SET hash = ? WHERE seq = 10", zeros)
		}, audit.ProblemCheckpoint, 10},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				exec(t, db, "DELETE FROM audit_events")
				exec(t, db, "DELETE FROM audit_checkpoints")
				exec(t, db, "UPDATE audit_head SET seq = 0, hash = ?, checkpoint_seq = 0 WHERE id = 1", zeros)
				tr, _ := newTrail(t, db, 10)
				appendN(t, tr, 30)
				tc.tamper(t, db, tr)
				rep := verify(t, tr)
				if tc.wantKind == "" {
					if !rep.OK() || rep.Checkpoints != 3 {
						t.Fatalf("clean trail: %+v", rep)
					}
					return
				}
				if !hasProblem(rep, tc.wantKind, tc.wantSeq) {
					t.Fatalf("want %s at %d, report %+v", tc.wantKind, tc.wantSeq, rep)
				}
			})
		}
	})
}

var zeros = fmt.Sprintf("%064d", 0)

func hasProblem(rep audit.Report, kind string, seq int64) bool {
	for _, p := range rep.Problems {
		if p.Kind == kind && p.Seq == seq {
			return true
		}
	}
	return false
}
