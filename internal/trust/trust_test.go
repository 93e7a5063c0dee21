package trust_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/trust"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func addOrg(t *testing.T, db *database.DB, id string) {
	t.Helper()
	err := db.Exec("INSERT INTO organisations (id, source_id, name, status, created_at, updated_at) "+
		"VALUES (?, ?, ?, 'active', ?, ?)", id, "src-"+id, "Org "+id, t0, t0).Error
	if err != nil {
		t.Fatal(err)
	}
}

func TestPins(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		addOrg(t, db, "org-a")
		addOrg(t, db, "org-b")
		s := trust.NewStore(db, func() time.Time { return t0 })
		if _, err := s.Pin(ctx, "a.test"); !errors.Is(err, trust.ErrNotFound) {
			t.Fatalf("Pin of unknown domain: %v", err)
		}
		pins := []trust.Pin{
			{Domain: "A.test.", OrganisationID: "org-a", Policy: "dane", MXHosts: []string{"MX.a.test.", "mx.a.test"}},
			{Domain: "b.test", OrganisationID: "org-a", Policy: "pkix", MXHosts: []string{"mx.b.test"},
				NextCheckAt: t0.Add(time.Hour)},
			{Domain: "c.test", OrganisationID: "org-b", Policy: "mta-sts", NextCheckAt: t0.Add(-time.Hour)},
		}
		for _, p := range pins {
			if err := s.PutPin(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Pin(ctx, "a.test")
		if err != nil {
			t.Fatal(err)
		}
		want := trust.Pin{Domain: "a.test", OrganisationID: "org-a", Policy: "dane", MXHosts: []string{"mx.a.test"},
			State: "trusted", NextCheckAt: t0}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Pin (-want +got):\n%s", diff)
		}
		of, err := s.PinsOf(ctx, "org-a")
		if err != nil || len(of) != 2 || of[0].Domain != "a.test" || of[1].Domain != "b.test" {
			t.Fatalf("PinsOf = %+v, %v", of, err)
		}
		due, err := s.DuePins(ctx, t0, 10)
		if err != nil || len(due) != 2 || due[0].Domain != "c.test" || due[1].Domain != "a.test" {
			t.Fatalf("DuePins = %+v, %v", due, err)
		}
		if due, _ := s.DuePins(ctx, t0, 1); len(due) != 1 {
			t.Fatalf("DuePins limit 1 = %d pins", len(due))
		}
		names, err := s.PinnedDomains(ctx)
		if err != nil || !cmp.Equal(names, []string{"a.test", "b.test", "c.test"}) {
			t.Fatalf("PinnedDomains = %v, %v", names, err)
		}
		if err := s.Checked(ctx, "a.test", t0, t0.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Pin(ctx, "a.test"); got.CheckedAt == nil || !got.CheckedAt.Equal(t0) ||
			!got.NextCheckAt.Equal(t0.Add(24*time.Hour)) {
			t.Fatalf("after Checked: %+v", got)
		}
		if err := s.Checked(ctx, "none.test", t0, t0); !errors.Is(err, trust.ErrNotFound) {
			t.Fatalf("Checked unknown: %v", err)
		}
	})
}

func TestPinInvalid(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		addOrg(t, db, "org-a")
		s := trust.NewStore(db, nil)
		for _, p := range []trust.Pin{
			{Domain: "a.test", OrganisationID: "org-a", Policy: "none"},
			{Domain: "", OrganisationID: "org-a", Policy: "dane"},
			{Domain: "a.test", Policy: "dane"},
			{Domain: "a.test", OrganisationID: "org-a", Policy: "dane", State: "odd"},
		} {
			if err := s.PutPin(context.Background(), p); !errors.Is(err, trust.ErrInvalid) {
				t.Errorf("PutPin(%+v) = %v, want ErrInvalid", p, err)
			}
		}
	})
}

func TestSuspendRestore(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		addOrg(t, db, "org-a")
		s := trust.NewStore(db, nil)
		pin := trust.Pin{Domain: "a.test", OrganisationID: "org-a", Policy: "dane", MXHosts: []string{"MX.a.test."}}
		if err := s.PutPin(ctx, pin); err != nil {
			t.Fatal(err)
		}
		repinned := pin
		repinned.MXHosts = []string{"mx2.a.test"}
		steps := []struct {
			name    string
			op      func() (bool, error)
			changed bool
			state   string
		}{
			{"restore a trusted pin", func() (bool, error) { return s.Restore(ctx, pin) }, false, "trusted"},
			{"suspend", func() (bool, error) { return s.Suspend(ctx, pin, "DANE gone") }, true, "suspended"},
			{"suspend again", func() (bool, error) { return s.Suspend(ctx, pin, "DANE gone") }, false, "suspended"},
			{"restore", func() (bool, error) { return s.Restore(ctx, pin) }, true, "trusted"},
			{"re-pinned meanwhile", func() (bool, error) {
				if err := s.PutPin(ctx, repinned); err != nil {
					return false, err
				}
				return s.Suspend(ctx, pin, "judged on the old MX hosts")
			}, false, "trusted"},
			{"the new pin", func() (bool, error) { return s.Suspend(ctx, repinned, "DANE gone") }, true, "suspended"},
		}
		for _, st := range steps {
			changed, err := st.op()
			if err != nil || changed != st.changed {
				t.Fatalf("%s: changed %v, %v; want %v", st.name, changed, err, st.changed)
			}
			if p, _ := s.Pin(ctx, "a.test"); p.State != st.state || p.Suspended() != (st.state == "suspended") {
				t.Fatalf("%s: state %q, want %q", st.name, p.State, st.state)
			}
		}
		if _, err := s.Suspend(ctx, trust.Pin{Domain: "none.test"}, "x"); !errors.Is(err, trust.ErrNotFound) {
			t.Fatalf("Suspend unknown: %v", err)
		}
	})
}

func TestReports(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := trust.NewStore(db, nil)
		if _, err := s.Report(ctx, "a.test"); !errors.Is(err, trust.ErrNotFound) {
			t.Fatalf("Report of unknown domain: %v", err)
		}
		r := mailcheck.Report{Domain: "a.test", CheckedAt: t0, Status: mailcheck.StatusFail, MXHosts: []string{"mx.a.test"},
			Tests: []mailcheck.Result{{Test: "dane", Host: "mx.a.test", Status: mailcheck.StatusFail,
				Summary: map[string]string{"en": "no TLSA", "nl": "geen TLSA"}}},
			Transport: mailcheck.Transport{DNSSEC: true, Policy: "pkix"}}
		for _, rep := range []mailcheck.Report{{Domain: "a.test", CheckedAt: t0.Add(-time.Hour), Status: mailcheck.StatusPass}, r} {
			if err := s.SaveReport(ctx, rep); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Report(ctx, "A.test")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Fatalf("Report (-want +got):\n%s", diff)
		}
		times, err := s.ReportTimes(ctx)
		if err != nil || len(times) != 1 || !times["a.test"].Equal(t0) {
			t.Fatalf("ReportTimes = %v, %v", times, err)
		}
		if err := s.SaveReport(ctx, mailcheck.Report{Domain: "a.test"}); !errors.Is(err, trust.ErrInvalid) {
			t.Fatalf("report without status: %v", err)
		}
	})
}

func TestEvents(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		s := trust.NewStore(db, nil)
		for i, kind := range []string{"suspended", "check-error", "recovered"} {
			e := trust.Event{Domain: "a.test", OrganisationID: "org-a", Kind: kind, Detail: "d",
				CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
			if err := s.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Events(ctx, t0.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range got {
			kinds = append(kinds, e.Kind)
			if e.ID == 0 || e.Domain != "a.test" || e.OrganisationID != "org-a" {
				t.Errorf("event %+v", e)
			}
		}
		if !cmp.Equal(kinds, []string{"recovered", "check-error"}) {
			t.Fatalf("Events kinds = %v", kinds)
		}
		if got, _ := s.Events(ctx, t0, 1); len(got) != 1 {
			t.Fatalf("Events limit 1 = %d", len(got))
		}
	})
}
