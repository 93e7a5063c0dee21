package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/ratelimit"
	"github.com/veilig/veilig/internal/testenv"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func TestTake(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		s := ratelimit.New(db.DB)
		ctx := context.Background()
		steps := []struct {
			at   time.Duration
			key  string
			want time.Duration
		}{
			{0, "a", 0}, {time.Second, "a", 0}, {2 * time.Second, "a", 0},
			{3 * time.Second, "a", time.Minute - 3*time.Second}, // fourth in the window
			{3 * time.Second, "b", 0},                           // another key
			{59 * time.Second, "a", time.Second},                // refusals do not extend the window
			{time.Minute, "a", 0},                               // a new window
			{time.Minute + time.Second, "a", 0},
		}
		for _, st := range steps {
			got, err := s.Take(ctx, t0.Add(st.at), st.key, 3, time.Minute)
			if err != nil || got != st.want {
				t.Errorf("Take(%s, +%s) = %s, %v; want %s", st.key, st.at, got, err, st.want)
			}
		}
	})
}

func TestForgiveAndReset(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		s := ratelimit.New(db.DB)
		ctx := context.Background()
		take := func() time.Duration {
			w, err := s.Take(ctx, t0, "k", 1, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		if take() != 0 || take() == 0 {
			t.Fatal("limit of 1 not applied")
		}
		if err := s.Forgive(ctx, t0, "k"); err != nil {
			t.Fatal(err)
		}
		if take() != 0 {
			t.Error("forgiven attempt still counted")
		}
		if err := s.Reset(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if take() != 0 {
			t.Error("reset key still counted")
		}
	})
}

func TestBackoff(t *testing.T) {
	sched := ratelimit.Schedule{Free: 2, Base: 10 * time.Second, Max: 35 * time.Second}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		s := ratelimit.New(db.DB)
		steps := []struct {
			at, want time.Duration
		}{
			{0, 0},           // failure 1
			{time.Second, 0}, // failure 2: wait 10 s
			{5 * time.Second, 6 * time.Second},
			{11 * time.Second, 0}, // failure 3: wait 20 s
			{30 * time.Second, time.Second},
			{31 * time.Second, 0}, // failure 4: wait 35 s (not 40)
			{65 * time.Second, time.Second},
			{66 * time.Second, 0},  // failure 5: wait 35 s
			{200 * time.Second, 0}, // forgotten after 100 s: failure 1
			{201 * time.Second, 0}, // failure 2
			{202 * time.Second, 9 * time.Second},
		}
		for _, st := range steps {
			got, err := s.Backoff(context.Background(), t0.Add(st.at), "k", sched, 100*time.Second)
			if err != nil || got != st.want {
				t.Errorf("Backoff(+%s) = %s, %v; want %s", st.at, got, err, st.want)
			}
		}
	})
}

func TestScheduleDelay(t *testing.T) {
	s := ratelimit.Schedule{Free: 5, Base: 30 * time.Second, Max: 15 * time.Minute}
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {4, 0}, {5, 30 * time.Second}, {6, time.Minute}, {9, 8 * time.Minute},
		{10, 15 * time.Minute}, {1000, 15 * time.Minute},
	} {
		if got := s.Delay(tc.failures); got != tc.want {
			t.Errorf("Delay(%d) = %s, want %s", tc.failures, got, tc.want)
		}
	}
}

// TestSweep: rows whose windows ended are deleted, so the table holds only live
// keys however many clients came by.
func TestSweep(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		s := ratelimit.New(db.DB)
		ctx := context.Background()
		for i := range 50 {
			if _, err := s.Take(ctx, t0, fmt.Sprintf("c%d", i), 1, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Take(ctx, t0.Add(30*time.Second), "live", 1, time.Hour); err != nil {
			t.Fatal(err)
		}
		n, err := s.Sweep(ctx, t0.Add(time.Minute))
		if err != nil || n != 50 {
			t.Fatalf("Sweep = %d, %v; want 50", n, err)
		}
		var left int64
		if err := db.Raw("SELECT COUNT(*) FROM rate_limits").Scan(&left).Error; err != nil || left != 1 {
			t.Errorf("%d rows left (%v), want 1", left, err)
		}
	})
}

// TestSharedAcrossProcesses: concurrent attempts through two Stores (two serve
// processes) on one database are admitted exactly up to the limit.
func TestSharedAcrossProcesses(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		stores := []*ratelimit.Store{ratelimit.New(db.DB), ratelimit.New(db.DB)}
		lims := []*ratelimit.Limiter{
			ratelimit.NewLimiter(stores[0], "test", 10, time.Hour),
			ratelimit.NewLimiter(stores[1], "test", 10, time.Hour),
		}
		var admitted, backedOff atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				wait, err := lims[i%2].Take(context.Background(), t0, "2001:db8::1")
				if err != nil {
					t.Error(err)
				} else if wait == 0 {
					admitted.Add(1)
				}
				w, err := stores[i%2].Backoff(context.Background(), t0, "pair",
					ratelimit.Schedule{Free: 3, Base: time.Minute, Max: time.Hour}, time.Hour)
				if err == nil && w == 0 {
					backedOff.Add(1)
				}
			})
		}
		wg.Wait()
		if admitted.Load() != 10 || backedOff.Load() != 3 {
			t.Errorf("admitted %d (want 10) and %d failures before backoff (want 3)", admitted.Load(), backedOff.Load())
		}
	})
}

func TestKey(t *testing.T) {
	if ratelimit.Key("a", "b|1:c") == ratelimit.Key("a", "b", "c") {
		t.Error("parts can imitate each other")
	}
	if k := ratelimit.Key("a", string(make([]byte, 4096))); len(k) > 128 {
		t.Errorf("key of %d bytes", len(k))
	}
}

// BenchmarkTake measures one counted hit (one upsert) on each engine.
func BenchmarkTake(b *testing.B) {
	for _, d := range testenv.Dialects {
		b.Run(d, func(b *testing.B) {
			s := ratelimit.New(testenv.DB(b, d).DB)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Take(ctx, t0, fmt.Sprintf("10.0.%d.%d", i/256%256, i%256), 1_000_000, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBackoff measures one failure on an account and client pair.
func BenchmarkBackoff(b *testing.B) {
	sched := ratelimit.Schedule{Free: 1 << 30, Base: time.Second, Max: time.Minute}
	for _, d := range testenv.Dialects {
		b.Run(d, func(b *testing.B) {
			s := ratelimit.New(testenv.DB(b, d).DB)
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Backoff(ctx, t0, fmt.Sprintf("p%d", i%1000), sched, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestBucket(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		s := ratelimit.New(db.DB)
		ctx := context.Background()
		steps := []struct {
			at, want time.Duration
			refill   bool
		}{
			{0, 0, false}, {0, 0, false}, {0, 0, false}, // the burst of 3
			{0, 10 * time.Second, false},
			{5 * time.Second, 5 * time.Second, false},
			{10 * time.Second, 0, false}, // one token back
			{10 * time.Second, 10 * time.Second, true},
			{10 * time.Second, 0, false}, // the refilled token
			{time.Hour, 0, false}, {time.Hour, 0, false}, {time.Hour, 0, false},
			{time.Hour, 10 * time.Second, false},
		}
		for i, st := range steps {
			got, err := s.Bucket(ctx, t0.Add(st.at), "k", 3, 10*time.Second)
			if err != nil || got != st.want {
				t.Errorf("step %d: Bucket(+%s) = %s, %v; want %s", i, st.at, got, err, st.want)
			}
			if st.refill {
				if err := s.Refill(ctx, t0.Add(st.at), "k", 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
