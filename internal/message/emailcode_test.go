package message_test

import (
	"context"
	"errors"
	"testing"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

// TestCodeChannelAtSubmission: an external recipient without a phone number
// is refused unless the sender's organisation allows the code by e-mail; a
// phone number given always means SMS, and an unusable one is refused even
// then. Each external recipient records its channel.
func TestCodeChannelAtSubmission(t *testing.T) {
	const jan, piet = "jan@extern.example", "piet@extern.example"
	tests := []struct {
		name    string
		allowed bool
		phones  map[string]string
		want    map[string]string // channel by address; nil: refused on "phones"
	}{
		{"setting off, phone", false, map[string]string{jan: "+31612345678", piet: "+31687654321"},
			map[string]string{jan: message.CodeBySMS, piet: message.CodeBySMS}},
		{"setting off, no phone", false, map[string]string{jan: "+31612345678"}, nil},
		{"setting on, phones", true, map[string]string{jan: "+31612345678", piet: "+31687654321"},
			map[string]string{jan: message.CodeBySMS, piet: message.CodeBySMS}},
		{"setting on, one phone", true, map[string]string{jan: "+31612345678"},
			map[string]string{jan: message.CodeBySMS, piet: message.CodeByEmail}},
		{"setting on, no phones", true, nil, map[string]string{jan: message.CodeByEmail, piet: message.CodeByEmail}},
		{"setting on, unusable phone", true, map[string]string{jan: "+12025550123"}, nil},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, db)
				svc := e.externalService(t)
				ctx := context.Background()
				set := message.DefaultSettings()
				set.EmailCodeAllowed = tc.allowed
				if err := e.store.PutOrganisationSettings(ctx, e.orgA, set); err != nil {
					t.Fatal(err)
				}
				before := e.counts(t)
				d := draft(jan, piet)
				d.Phones = tc.phones
				acc, err := svc.Accept(ctx, e.sender(senderA), d, "")
				if tc.want == nil {
					var inv *message.InvalidError
					if !errors.As(err, &inv) || inv.Field != "phones" {
						t.Fatalf("err = %v, want InvalidError on phones", err)
					}
					if got := e.counts(t); got != before {
						t.Errorf("stored %v after a refusal (before %v)", got, before)
					}
					return
				}
				if err != nil {
					t.Fatalf("Accept: %v", err)
				}
				e.checkChannels(t, svc, acc.ID, tc.want)
			})
		}
	})
}

// checkChannels compares each external recipient's channel, and that only SMS
// recipients have a phone number stored (sealed) and shown (masked).
func (e *env) checkChannels(t *testing.T, svc *message.Service, id string, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	st, err := svc.Get(ctx, e.sender(senderA), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range st.Recipients {
		if r.Route != "external" {
			continue
		}
		n++
		var row struct {
			ID, CodeChannel string
			Sealed          int
		}
		if err := e.db.Raw(`SELECT d.id, x.code_channel, CASE WHEN x.phone_sealed IS NULL THEN 0 ELSE 1 END AS sealed
			FROM deliveries d JOIN external_recipients x ON x.delivery_id = d.id
			WHERE d.message_id = ? AND d.address = ?`, id, r.Address).Scan(&row).Error; err != nil {
			t.Fatal(err)
		}
		got, err := e.store.CodeChannel(ctx, row.ID)
		if err != nil || got != want[r.Address] || row.CodeChannel != want[r.Address] {
			t.Errorf("%s: channel %q (column %q), %v; want %q", r.Address, got, row.CodeChannel, err, want[r.Address])
		}
		sms := want[r.Address] == message.CodeBySMS
		if r.External == nil || (r.External.Phone != "") != sms || (row.Sealed == 1) != sms || r.External.CodeBy != want[r.Address] {
			t.Errorf("%s: external %+v, phone sealed %d; want a phone only for SMS", r.Address, r.External, row.Sealed)
		}
	}
	if n != len(want) {
		t.Errorf("%d external recipients, want %d", n, len(want))
	}
}

func TestCodeChannelUnknown(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db)
		if _, err := e.store.CodeChannel(context.Background(), "no-such-delivery"); !errors.Is(err, message.ErrNotFound) {
			t.Errorf("CodeChannel = %v, want ErrNotFound", err)
		}
	})
}
