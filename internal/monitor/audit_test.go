package monitor_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/monitor"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/trust"
)

func TestAuditSuspendAndRecover(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		addOrg(t, db, "org-a")
		e := newEnv(t, db, monitor.Config{}, nil)
		log := &audit.Memory{}
		m, err := monitor.New(monitor.Deps{Store: e.store, Checker: e.checker, Log: testenv.Logger(t),
			Now: e.clock.Now, Audit: log}, monitor.Config{})
		if err != nil {
			t.Fatal(err)
		}
		e.mon = m
		e.pin(t, "a.test", "dane")
		for _, r := range []struct {
			report mailcheck.Report
			wait   time.Duration
		}{{good("a.test"), 0}, {noDANE("a.test"), day + day/10}, {good("a.test"), time.Hour}} {
			e.clock.advance(r.wait)
			e.checker.set("a.test", r.report)
			e.checkDue(t, 1)
		}
		obj := audit.Object{Type: "domain", ID: "a.test"}
		want := []audit.Event{
			{Action: audit.ActionMonitor + trust.KindSuspended, Outcome: "success", Object: obj, OrganisationID: "org-a"},
			{Action: audit.ActionMonitor + trust.KindRecovered, Outcome: "success", Object: obj, OrganisationID: "org-a"},
		}
		if diff := cmp.Diff(want, log.Events(), cmpopts.IgnoreFields(audit.Event{}, "Detail")); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if len(log.Events()) == 2 && (log.Events()[0].Detail["reason"] == "" || log.Events()[1].Detail != nil) {
			t.Errorf("details %v, %v; want the suspension's reason only", log.Events()[0].Detail, log.Events()[1].Detail)
		}
	})
}
