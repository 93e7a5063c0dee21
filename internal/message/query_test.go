package message_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

func TestOnlyTheSenderSeesAMessage(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		acc, err := e.svc.Accept(ctx, e.sender(senderA), draft(recipient), "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := e.svc.Get(ctx, e.sender(senderA), acc.ID)
		if err != nil || st.ID != acc.ID || st.State != message.StateSending || len(st.Recipients) != 2 {
			t.Fatalf("Get by the sender = %+v, %v", st, err)
		}
		if r := st.Recipients[1]; r.Kind != message.KindSelfCopy || r.Address != senderA || r.Status != message.StatusQueued {
			t.Errorf("second delivery = %+v, want the queued self-copy", r)
		}
		for _, id := range []string{acc.ID, "no-such-id", "'; DROP TABLE messages; --"} {
			if _, err := e.svc.Get(ctx, e.sender(senderA2), id); !errors.Is(err, message.ErrNotFound) {
				t.Errorf("Get(%q) by another sender: %v, want ErrNotFound", id, err)
			}
		}
		list, _, err := e.svc.List(ctx, e.sender(senderA2), "", 10)
		if err != nil || len(list) != 0 {
			t.Errorf("another sender's list = %v, %v; want empty", list, err)
		}
	})
}

func TestListPaginatesNewestFirst(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		var want []string // newest first
		for i := range 7 {
			if i%3 == 0 { // several messages share a timestamp: the id breaks ties
				e.clock.Add(time.Second + 1234*time.Nanosecond)
			}
			acc, err := e.svc.Accept(ctx, e.sender(senderA), draft(recipient), "")
			if err != nil {
				t.Fatal(err)
			}
			want = append([]string{acc.ID}, want...)
		}
		if _, err := e.svc.Accept(ctx, e.sender(senderA2), draft(recipient), ""); err != nil {
			t.Fatal(err)
		}
		got := listAll(t, e, 3)
		if len(got) != len(want) {
			t.Fatalf("listed %d messages, want %d", len(got), len(want))
		}
		// Ties are ordered by id, descending; check the order by time and that
		// every message appears once.
		seen := map[string]bool{}
		for i, s := range got {
			seen[s.ID] = true
			if i > 0 && s.CreatedAt.After(got[i-1].CreatedAt) {
				t.Errorf("entry %d is newer than entry %d", i, i-1)
			}
			if len(s.Recipients) != 1 || s.Recipients[0].Address != recipient {
				t.Errorf("summary recipients = %+v", s.Recipients)
			}
		}
		for _, id := range want {
			if !seen[id] {
				t.Errorf("message %s missing from the listing", id)
			}
		}
	})
}

func listAll(t *testing.T, e *env, limit int) []message.Summary {
	t.Helper()
	var (
		out    []message.Summary
		cursor string
	)
	for page := 0; page < 10; page++ {
		list, next, err := e.svc.List(context.Background(), e.sender(senderA), cursor, limit)
		if err != nil {
			t.Fatalf("List page %d: %v", page, err)
		}
		if len(list) > limit {
			t.Fatalf("page of %d, limit %d", len(list), limit)
		}
		out = append(out, list...)
		if next == "" {
			return out
		}
		cursor = next
	}
	t.Fatal("List never ended")
	return nil
}

func TestListRefusesAForgedCursor(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		for _, c := range []string{"x", "eyJ0IjoiMjAyNiJ9", "%%%"} {
			_, _, err := e.svc.List(context.Background(), e.sender(senderA), c, 10)
			var inv *message.InvalidError
			if !errors.As(err, &inv) || inv.Field != "cursor" {
				t.Errorf("List(cursor %q) = %v, want InvalidError on cursor", c, err)
			}
		}
	})
}
