package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestDetailIsBoundedAndSecretsDropped(t *testing.T) {
	tests := []struct {
		key, value string
		want       string // "" = dropped
	}{
		{"password", "hunter2", ""},
		{"token", "eyJhbGciOi", ""},
		{"refresh_token", "x", ""},
		{"code", "123456", ""},
		{"otp_code", "123456", ""},
		{"client_secret", "s", ""},
		{"api-key.apikey", "k", ""},
		{"Bad Key", "v", ""},
		{"9lives", "v", ""},
		{"smtp_code", "250", "250"},
		{"code_channel", "sms", "sms"},
		{"email_code_allowed", "true", "true"},
		{"mx", "mx.example.test", "mx.example.test"},
		{"long", strings.Repeat("é", 600), strings.Repeat("é", 512)},
		{"control", "a\nb\x00c", "a\uFFFDb\uFFFDc"},
		{"invalid_utf8", "a\xffb", "a\uFFFDb"},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		tr, _ := newTrail(t, db, 1000)
		d := map[string]string{}
		for _, tc := range tests {
			d[tc.key] = tc.value
		}
		e := audit.Event{Action: audit.ActionSignIn, Outcome: "success", Detail: d,
			Actor: audit.Actor{UserID: "u1", UserAgent: strings.Repeat("Mozilla/5.0 ", 100)}}
		if _, err := tr.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		got, err := tr.List(context.Background(), audit.Filter{})
		if err != nil || len(got) != 1 {
			t.Fatalf("list: %v, %d events", err, len(got))
		}
		for _, tc := range tests {
			if v, ok := got[0].Event.Detail[tc.key]; v != tc.want || ok != (tc.want != "") {
				t.Errorf("detail %q = %q (present %v), want %q", tc.key, v, ok, tc.want)
			}
		}
		if ua := got[0].Event.Actor.UserAgent; len(ua) > audit.MaxUserAgentBytes || !strings.HasPrefix(ua, "Mozilla/5.0") {
			t.Errorf("user agent kept %d bytes", len(ua))
		}
		if rep := verify(t, tr); !rep.OK() {
			t.Errorf("report %+v", rep)
		}
	})
}

func TestRecordNeverFailsTheCaller(t *testing.T) {
	db := testenv.DB(t, database.SQLite)
	tr, _ := newTrail(t, db, 1000)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a caller that hung up
	tr.Record(ctx, event(1))
	if tr.Failures() != 1 {
		t.Fatalf("failures = %d, want 1", tr.Failures())
	}
}

func TestRecordOutlivesTheCallersCancellation(t *testing.T) {
	db := testenv.DB(t, database.SQLite)
	tr, _ := newTrail(t, db, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr.Record(ctx, event(1))
	if got, err := tr.List(context.Background(), audit.Filter{}); err != nil || len(got) != 1 || tr.Failures() != 0 {
		t.Fatalf("list: %d events, %v; failures %d", len(got), err, tr.Failures())
	}
}

func TestListFilters(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		tr, c := newTrail(t, db, 1000)
		ctx := context.Background()
		start := c.now()
		events := []audit.Event{
			{Action: audit.ActionMessageSubmit, Actor: audit.Actor{UserID: "u1", OrganisationID: "org-a"},
				Object: audit.Object{Type: "message", ID: "m1"}},
			{Action: audit.ActionDeliveryAttempt, Object: audit.Object{Type: "delivery", ID: "d1"},
				OrganisationID: "org-a", Detail: map[string]string{"message_id": "m1"}},
			{Action: audit.ActionSignIn, Actor: audit.Actor{UserID: "u2", OrganisationID: "org-b"}},
			{Action: audit.ActionMessageSubmit, Actor: audit.Actor{UserID: "u2", OrganisationID: "org-b"},
				Object: audit.Object{Type: "message", ID: "m2"}, At: start.Add(time.Hour)},
		}
		for _, e := range events {
			if _, err := tr.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			f    audit.Filter
			want []int64
		}{
			{"all", audit.Filter{}, []int64{1, 2, 3, 4}},
			{"organisation", audit.Filter{OrganisationID: "org-a"}, []int64{1, 2}},
			{"message", audit.Filter{MessageID: "m1"}, []int64{1, 2}},
			{"object", audit.Filter{ObjectType: "delivery", ObjectID: "d1"}, []int64{2}},
			{"actor", audit.Filter{ActorUserID: "u2"}, []int64{3, 4}},
			{"action", audit.Filter{Action: audit.ActionSignIn}, []int64{3}},
			{"since", audit.Filter{Since: start.Add(time.Minute)}, []int64{4}},
			{"until", audit.Filter{Until: start.Add(time.Minute)}, []int64{1, 2, 3}},
			{"cursor", audit.Filter{After: 1, Limit: 2}, []int64{2, 3}},
		}
		for _, tc := range tests {
			got, err := tr.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if seqs := seqsOf(got); !equal(seqs, tc.want) {
				t.Errorf("%s: seqs %v, want %v", tc.name, seqs, tc.want)
			}
		}
		for id, want := range map[string]string{"m1": "u1", "m2": "u2", "m3": ""} {
			if got, err := tr.Submitter(ctx, id); err != nil || got != want {
				t.Errorf("Submitter(%s) = %q, %v; want %q", id, got, err, want)
			}
		}
	})
}

func seqsOf(s []audit.Stored) []int64 {
	out := []int64{}
	for _, e := range s {
		out = append(out, e.Seq)
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
