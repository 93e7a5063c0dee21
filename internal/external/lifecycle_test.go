package external_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/viewer"
)

func TestWithdrawnAndExpired(t *testing.T) {
	tests := []struct {
		name  string
		end   func(t *testing.T, e *env, s sent)
		state string
	}{
		{"revoked", func(t *testing.T, e *env, s sent) {
			if err := e.msgs.Revoke(context.Background(), e.anna, s.id); !errors.Is(err, message.ErrNotFound) {
				t.Errorf("Revoke by another sender = %v, want ErrNotFound", err)
			}
			if err := e.msgs.Revoke(context.Background(), e.alice, s.id); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
		}, viewer.StateWithdrawn},
		{"expired", func(t *testing.T, e *env, s sent) {
			e.clock.Add(expiry*24*time.Hour - time.Second)
			if n, err := e.store.Expire(context.Background()); err != nil || n != 0 {
				t.Fatalf("Expire a second early = %d, %v; want 0", n, err)
			}
			e.clock.Add(time.Second)
			if n, err := e.store.Expire(context.Background()); err != nil || n != 1 {
				t.Fatalf("Expire = %d, %v; want 1", n, err)
			}
		}, viewer.StateExpired},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newEnv(t, db)
				ctx := context.Background()
				s := e.send(t, richDraft())
				l := s.links[outsider]
				sess := e.verified(t, l.token)
				tt.end(t, e, s)
				if v, err := e.ext.Resolve(ctx, l.token); err != nil || v.State != tt.state {
					t.Errorf("Resolve = %q, %v; want %q", v.State, err, tt.state)
				}
				fresh := e.session(t, l.token)
				if v, err := e.ext.Session(ctx, fresh); err != nil || v.State != tt.state {
					t.Errorf("Session = %q, %v; want %q", v.State, err, tt.state)
				}
				checkGone(t, e, s, sess, fresh)
			})
		}
	})
}

// checkGone: nothing of a shredded message can be read any more.
func checkGone(t *testing.T, e *env, s sent, sessions ...string) {
	t.Helper()
	ctx := context.Background()
	for _, sess := range sessions {
		if _, err := e.ext.Content(ctx, sess); !gone(err) {
			t.Errorf("Content = %v, want ErrInactive or ErrNoSession", err)
		}
		if _, _, err := e.ext.Attachment(ctx, sess, 0); !gone(err) {
			t.Errorf("Attachment = %v, want ErrInactive or ErrNoSession", err)
		}
		if err := e.ext.SendCode(ctx, sess, "198.51.100.3"); !gone(err) {
			t.Errorf("SendCode = %v, want ErrInactive or ErrNoSession", err)
		}
		if err := e.ext.SendReply(ctx, sess, viewer.Reply{Text: "x"}); !gone(err) {
			t.Errorf("SendReply = %v, want ErrInactive or ErrNoSession", err)
		}
	}
	if n := e.count(t, "SELECT COUNT(*) FROM data_keys WHERE message_id = ?", s.id); n != 0 {
		t.Errorf("%d data keys left", n)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM deliveries WHERE message_id = ? AND status IN (?, ?)", s.id,
		message.StatusQueued, message.StatusDeferred); n != 0 {
		t.Errorf("%d deliveries still pending", n)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM deliveries WHERE id = ? AND status = ?", s.links[outsider].deliveryID,
		message.StatusFailed); n != 1 {
		t.Error("the notification delivery has not failed")
	}
	if _, err := e.store.OpenBlob(ctx, "messages/"+s.id); !errors.Is(err, message.ErrPurged) {
		t.Errorf("OpenBlob = %v, want ErrPurged", err)
	}
}

func TestRequestNewLink(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		active, withdrawn, expired := e.send(t, draft()), e.send(t, draft()), e.send(t, draft())
		if err := e.msgs.Revoke(ctx, e.alice, withdrawn.id); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			s    sent
			err  error
		}{
			{"active", active, viewer.ErrInvalid},
			{"withdrawn", withdrawn, viewer.ErrInvalid},
		}
		for _, tt := range tests {
			if err := e.ext.RequestNewLink(ctx, e.session(t, tt.s.links[outsider].token)); !errors.Is(err, tt.err) {
				t.Errorf("RequestNewLink on %s = %v, want %v", tt.name, err, tt.err)
			}
		}
		e.clock.Set(t0.AddDate(0, 0, expiry)) // active expires with it
		l := expired.links[outsider]
		for i := range 3 {
			if i == 1 { // the lifecycle tick shreds the expired messages after the first request
				if _, err := e.store.Expire(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.ext.RequestNewLink(ctx, e.session(t, l.token)); err != nil {
				t.Errorf("RequestNewLink %d on expired: %v", i+1, err)
			}
		}
		got := e.notices(t, expired.id, message.NoticeNewLink+":"+l.deliveryID)
		if len(got) != 1 || got[0].Address != senderA || got[0].Status != message.StatusQueued {
			t.Errorf("new-link notices %+v, want one queued to %s", got, senderA)
		}
		if st := e.external(t, e.alice, expired.id, outsider); st.NewLinkRequestedAt == nil {
			t.Error("new_link_requested_at not set")
		}
		if err := e.ext.RequestNewLink(ctx, "no-such-session"); !errors.Is(err, viewer.ErrNoSession) {
			t.Errorf("RequestNewLink without a session = %v, want ErrNoSession", err)
		}
	})
}

func TestPurgeContent(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		keep, gone := e.send(t, richDraft()), e.send(t, richDraft())
		before := e.blobKeys(t)
		goneKeys := []string{"messages/" + gone.id, "notifications/" + gone.links[outsider].deliveryID}
		keepKeys := []string{"messages/" + keep.id, "notifications/" + keep.links[outsider].deliveryID}
		for _, k := range append(goneKeys, keepKeys...) {
			if !slices.Contains(before, k) {
				t.Fatalf("blob %s missing before the purge: %v", k, before)
			}
		}
		if err := e.msgs.Revoke(ctx, e.alice, gone.id); err != nil {
			t.Fatal(err)
		}
		if n, err := e.store.PurgeContent(ctx); err != nil || n != 2 {
			t.Errorf("PurgeContent = %d, %v; want 2 blobs", n, err)
		}
		after := e.blobKeys(t)
		for _, k := range goneKeys {
			if slices.Contains(after, k) {
				t.Errorf("blob %s of the withdrawn message survived", k)
			}
		}
		for _, k := range keepKeys {
			if !slices.Contains(after, k) {
				t.Errorf("blob %s of a live message purged", k)
			}
		}
		if n, err := e.store.PurgeContent(ctx); err != nil || n != 0 {
			t.Errorf("second PurgeContent = %d, %v; want 0", n, err)
		}
		if v, err := e.ext.Resolve(ctx, gone.links[outsider].token); err != nil || v.State != viewer.StateWithdrawn {
			t.Errorf("Resolve after purge = %q, %v; want withdrawn", v.State, err)
		}
	})
}

func (e *env) blobKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	err := e.blobs.Walk(context.Background(), func(key string, _ time.Time) error {
		keys = append(keys, strings.TrimPrefix(key, "/"))
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return keys
}

// gone: the link is not active any more, or the session timed out meanwhile.
func gone(err error) bool {
	return errors.Is(err, viewer.ErrInactive) || errors.Is(err, viewer.ErrNoSession)
}
