package monitor_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/monitor"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/trust"
)

// pkixAt is a report of an unsigned domain with STARTTLS only, at mx hosts.
func pkixAt(domain string, mx ...string) mailcheck.Report {
	r := good(domain)
	r.MXHosts = mx
	r.Transport = mailcheck.Transport{Policy: "pkix"}
	return r
}

func mtaSTSOnly(domain string) mailcheck.Report {
	r := good(domain)
	r.Transport.DANE, r.Transport.Policy = false, "mta-sts"
	return r
}

// A PKIX-pinned partner that moves to MX hosts none of which was pinned is
// suspended (an unsigned MX answer is not to be trusted); an operator's
// re-pin after confirming the change trusts the new hosts and tells the
// administrators.
func TestPKIXMXChangeAndRepin(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		addOrg(t, db, "org-a")
		e := newEnv(t, db, monitor.Config{}, nil)
		log := &audit.Memory{}
		m, err := monitor.New(monitor.Deps{Store: e.store, Checker: e.checker, Admins: admins{"org-a": {"admin@a.test"}},
			Mailer: e.mailer, Log: testenv.Logger(t), Now: e.clock.Now, Audit: log}, monitor.Config{})
		if err != nil {
			t.Fatal(err)
		}
		e.mon = m
		ctx := context.Background()
		put(t, e, trust.Pin{Domain: "p.test", OrganisationID: "org-a", Policy: "pkix",
			MXHosts: []string{"mx1.p.test", "mx2.p.test"}, NextCheckAt: e.clock.Now()})
		for _, st := range []struct {
			name  string
			mx    []string
			state string
			mail  string // in the one mail sent; "" none
		}{
			{"pinned hosts", []string{"mx1.p.test", "mx2.p.test"}, "trusted", ""},
			{"a new host beside a pinned one", []string{"mx2.p.test", "mx3.p.test"}, "trusted",
				"new MX hosts that are not pinned: mx3.p.test"},
			{"the same hosts again: told once", []string{"mx2.p.test", "mx3.p.test"}, "trusted", ""},
			{"no pinned host left", []string{"MX3.p.test.", "mx4.p.test"}, "suspended", "none of which is an MX host now"},
		} {
			e.checker.set("p.test", pkixAt("p.test", st.mx...))
			e.checkDue(t, 1)
			if p, _ := e.store.Pin(ctx, "p.test"); p.State != st.state {
				t.Fatalf("%s: pin %+v, want %s", st.name, p, st.state)
			}
			mails := e.mailer.take()
			if (st.mail == "") != (len(mails) == 0) || len(mails) > 1 || (len(mails) == 1 && !strings.Contains(mails[0].Text, st.mail)) {
				t.Fatalf("%s: mails %+v, want one saying %q", st.name, mails, st.mail)
			}
			e.clock.advance(day + day/10)
		}
		e.checker.set("p.test", pkixAt("p.test", "mx3.p.test", "mx4.p.test"))
		operator := audit.WithActor(ctx, audit.Actor{UserID: "op-1", Role: "operator"})
		pin, _, err := e.mon.Repin(operator, "p.test", false)
		if err != nil || pin.State != trust.StateTrusted || !slices.Equal(pin.MXHosts, []string{"mx3.p.test", "mx4.p.test"}) {
			t.Fatalf("Repin = %+v, %v", pin, err)
		}
		if got, _ := e.store.Pin(ctx, "p.test"); got.State != trust.StateTrusted || !got.NextCheckAt.After(e.clock.Now()) {
			t.Fatalf("stored pin %+v", got)
		}
		if kinds := e.kinds(t); !slices.Equal(kinds, []string{"degraded", "suspended", "repinned"}) {
			t.Fatalf("events %v", kinds)
		}
		mails := e.mailer.take()
		if len(mails) != 1 || !strings.Contains(mails[0].Subject, "opnieuw vastgelegd") ||
			!strings.Contains(mails[0].Text, "mx1.p.test, mx2.p.test → mx3.p.test, mx4.p.test") {
			t.Fatalf("mails %+v", mails)
		}
		last := log.Events()[len(log.Events())-1]
		if last.Action != audit.ActionMonitor+trust.KindRepinned || last.Actor.UserID != "op-1" {
			t.Fatalf("audit event %+v, want the operator's re-pin", last)
		}
	})
}

func TestRepinRefusals(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		addOrg(t, db, "org-a")
		e := newEnv(t, db, monitor.Config{}, nil)
		ctx := context.Background()
		tests := []struct {
			name         string
			pinned       string // "" no pin
			report       mailcheck.Report
			acceptWeaker bool
			wantErr      error
			wantPolicy   string
		}{
			{"not pinned", "", good("d0.test"), false, monitor.ErrNotPinned, ""},
			{"check cannot run", "dane", failed("d1.test", "resolver timeout"), false, monitor.ErrCheckIncomplete, "dane"},
			{"DNSSEC bogus", "pkix", bogusDNSSEC("d2.test"), true, monitor.ErrWeaker, "pkix"},
			{"weaker policy", "dane", mtaSTSOnly("d3.test"), false, monitor.ErrWeaker, "dane"},
			{"weaker policy accepted", "dane", mtaSTSOnly("d4.test"), true, nil, "mta-sts"},
			{"stronger policy", "pkix", good("d5.test"), false, nil, "dane"},
			{"no MX hosts", "pkix", pkixAt("d6.test"), true, monitor.ErrWeaker, "pkix"},
		}
		for i, tc := range tests {
			domain := tc.report.Domain
			if tc.pinned != "" {
				put(t, e, trust.Pin{Domain: domain, OrganisationID: "org-a", Policy: tc.pinned,
					NextCheckAt: e.clock.Now().Add(time.Hour)})
			}
			e.checker.set(domain, tc.report)
			_, _, err := e.mon.Repin(ctx, domain, tc.acceptWeaker)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("%d %s: err = %v, want %v", i, tc.name, err, tc.wantErr)
			}
			if p, err := e.store.Pin(ctx, domain); tc.pinned != "" && (err != nil || p.Policy != tc.wantPolicy) {
				t.Errorf("%s: pin %+v, %v; want policy %s", tc.name, p, err, tc.wantPolicy)
			}
			// A complete check is the latest report, re-pinned or not; one that
			// could not run leaves none behind here.
			_, rerr := e.store.Report(ctx, domain)
			if saved := rerr == nil; tc.pinned != "" && saved == errors.Is(err, monitor.ErrCheckIncomplete) {
				t.Errorf("%s: report saved %v (err %v)", tc.name, saved, rerr)
			}
			var we *monitor.WeakerError
			if errors.Is(err, monitor.ErrWeaker) && (!errors.As(err, &we) || we.Reason == "") {
				t.Errorf("%s: %v says no reason", tc.name, err)
			}
		}
	})
}

func put(t *testing.T, e *env, p trust.Pin) {
	t.Helper()
	if err := e.store.PutPin(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// A re-pin while a periodic check of the same domain is running wins: the
// check judged the old pin, so its suspension is not applied.
func TestRepinDuringACheckWins(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		addOrg(t, db, "org-a")
		e := newEnv(t, db, monitor.Config{}, nil)
		ctx := context.Background()
		put(t, e, trust.Pin{Domain: "p.test", OrganisationID: "org-a", Policy: "pkix", MXHosts: []string{"mx1.p.test"},
			NextCheckAt: e.clock.Now()})
		e.checker.set("p.test", pkixAt("p.test", "mx2.p.test"))
		e.checker.gate = func() { // the operator's re-pin lands while the check runs
			e.checker.gate = nil
			put(t, e, trust.Pin{Domain: "p.test", OrganisationID: "org-a", Policy: "pkix", MXHosts: []string{"mx2.p.test"},
				NextCheckAt: e.clock.Now().Add(day)})
		}
		e.checkDue(t, 1)
		if p, _ := e.store.Pin(ctx, "p.test"); p.State != trust.StateTrusted || !slices.Equal(p.MXHosts, []string{"mx2.p.test"}) {
			t.Fatalf("pin %+v, want the re-pinned one, trusted", p)
		}
		if kinds := e.kinds(t); len(kinds) != 0 || len(e.mailer.take()) != 0 {
			t.Fatalf("events %v or mails after a check that judged the old pin", kinds)
		}
	})
}
