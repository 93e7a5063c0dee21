package monitor_test

// Against the real lab (internal/testenv): Knot serving a DNSSEC-signed
// partner zone behind a validating Unbound, Postfix as the partner's MX, the
// real mail-standards check, and the delivery route reading the pins.

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/monitor"
	"github.com/veilig/veilig/internal/testenv"
	"github.com/veilig/veilig/internal/trust"
)

// pinSource adapts trust.Store to delivery.PinSource, as the lead's wiring does.
type pinSource struct{ s *trust.Store }

func (p pinSource) Pin(ctx context.Context, domain string) (delivery.Pin, bool, error) {
	pin, err := p.s.Pin(ctx, domain)
	if errors.Is(err, trust.ErrNotFound) {
		return delivery.Pin{}, false, nil
	}
	if err != nil {
		return delivery.Pin{}, false, err
	}
	return delivery.Pin{Policy: pin.Policy, MXHosts: pin.MXHosts, Suspended: pin.Suspended(), Reason: pin.Reason}, true, nil
}

func TestLabDowngradeAndRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	mx := testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx.partner.test", IP: "127.0.0.41"})
	wrong, err := testenv.TLSA(3, 1, 1, testenv.SelfSigned(t, "mx.partner.test").Leaf)
	if err != nil {
		t.Fatal(err)
	}
	records := func(tlsa string) []string {
		return []string{"@ MX 10 mx", "mx A 127.0.0.41", "_" + strconv.Itoa(mx.Port()) + "._tcp.mx TLSA " + tlsa}
	}
	lab := testenv.StartDNS(t, []testenv.Zone{{Name: "partner.test", Signed: true, Records: records(mx.TLSA(3, 1, 1))}})
	db := testenv.DB(t, database.SQLite)
	addOrg(t, db, "org-a")
	log := testenv.Logger(t)
	checker := mailcheck.NewWithOptions(mailcheck.NewDNS(lab.ResolverAddr(), 5*time.Second), log,
		mailcheck.Options{Port: mx.Port(), EHLOName: "veilig.test", Timeout: 20 * time.Second, AllowPrivate: true})
	c := &clock{t: time.Now()}
	store := trust.NewStore(db, c.Now)
	ml := &mailer{}
	mon, err := monitor.New(monitor.Deps{Store: store, Checker: checker, Admins: admins{"org-a": {"admin@a.test"}},
		Mailer: ml, Log: log, Now: c.Now}, monitor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.PutPin(ctx, trust.Pin{Domain: "partner.test", OrganisationID: "org-a", Policy: "dane",
		MXHosts: []string{"mx.partner.test"}, NextCheckAt: c.Now()}); err != nil {
		t.Fatal(err)
	}
	deliver := func() delivery.Result {
		t.Helper()
		d, err := delivery.New(delivery.Config{Resolver: lab.ResolverAddr(), Port: mx.Port(), Hostname: "veilig.test"},
			delivery.Deps{Log: log, Pins: pinSource{store}})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		body := "Subject: lab\r\n\r\nmonitor lab\r\n"
		return d.Deliver(ctx, "partner.test", delivery.Envelope{From: "alice@veilig.test", To: []string{"bob@partner.test"},
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }})
	}
	steps := []struct {
		name    string
		tlsa    string // "" keeps the zone
		state   string
		outcome delivery.Outcome
		event   string
	}{
		{name: "DANE verifies", state: "trusted", outcome: delivery.Delivered},
		{name: "TLSA no longer matches", tlsa: wrong, state: "suspended", outcome: delivery.Temporary, event: "suspended"},
		{name: "TLSA fixed", tlsa: mx.TLSA(3, 1, 1), state: "trusted", outcome: delivery.Delivered, event: "recovered"},
	}
	delivered := 0
	for _, st := range steps {
		if st.tlsa != "" {
			lab.Update(t, "partner.test", records(st.tlsa))
		}
		c.advance(2 * day)
		if n, err := mon.CheckDue(ctx); n != 1 || err != nil {
			t.Fatalf("%s: CheckDue = %d, %v", st.name, n, err)
		}
		pin, err := store.Pin(ctx, "partner.test")
		if err != nil || pin.State != st.state {
			r, _ := store.Report(ctx, "partner.test")
			t.Fatalf("%s: pin %+v, %v; want %s; report %+v", st.name, pin, err, st.state, r)
		}
		if mails := ml.take(); (st.event == "") != (len(mails) == 0) {
			t.Fatalf("%s: mails %+v", st.name, mails)
		}
		res := deliver()
		if res.Outcome != st.outcome {
			t.Fatalf("%s: delivery %+v, want %v", st.name, res, st.outcome)
		}
		if res.Outcome == delivery.Delivered {
			delivered++
			mx.WaitMessages(t, delivered, 30*time.Second)
		} else if !strings.Contains(res.Reason, "suspended") {
			t.Fatalf("%s: deferred for %q, want the suspension", st.name, res.Reason)
		}
	}
}

// TestLabPKIXMXChangeAndRepin: a partner on an unsigned zone, pinned to PKIX
// and its MX host, moves its mail to another host name. Monitoring suspends
// it and deliveries defer (the unsigned MX answer could be forged); an
// operator's re-pin trusts the new host and deliveries resume.
func TestLabPKIXMXChangeAndRepin(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx1.pkix.test", "mx2.pkix.test")
	mx := testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx1.pkix.test", IP: "127.0.0.42", Certificate: &cert})
	records := func(host string) []string { return []string{"@ MX 10 " + host, host + " A 127.0.0.42"} }
	lab := testenv.StartDNS(t, []testenv.Zone{{Name: "pkix.test", Records: records("mx1")}})
	db := testenv.DB(t, database.SQLite)
	addOrg(t, db, "org-a")
	log := testenv.Logger(t)
	checker := mailcheck.NewWithOptions(mailcheck.NewDNS(lab.ResolverAddr(), 5*time.Second), log,
		mailcheck.Options{Port: mx.Port(), EHLOName: "veilig.test", Roots: ca.Pool(), Timeout: 20 * time.Second, AllowPrivate: true})
	c := &clock{t: time.Now()}
	store := trust.NewStore(db, c.Now)
	mon, err := monitor.New(monitor.Deps{Store: store, Checker: checker, Admins: admins{"org-a": {"admin@a.test"}},
		Mailer: &mailer{}, Log: log, Now: c.Now}, monitor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.PutPin(ctx, trust.Pin{Domain: "pkix.test", OrganisationID: "org-a", Policy: "pkix",
		MXHosts: []string{"mx1.pkix.test"}, NextCheckAt: c.Now()}); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	deliver := func(step string, want delivery.Outcome) {
		t.Helper()
		d, err := delivery.New(delivery.Config{Resolver: lab.ResolverAddr(), Port: mx.Port(), Hostname: "veilig.test",
			ExtraRoots: []*x509.Certificate{ca.Cert}}, delivery.Deps{Log: log, Pins: pinSource{store}})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		body := "Subject: lab\r\n\r\npkix lab\r\n"
		res := d.Deliver(ctx, "pkix.test", delivery.Envelope{From: "alice@veilig.test", To: []string{"bob@pkix.test"},
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }})
		if res.Outcome != want {
			t.Fatalf("%s: delivery %+v, want %v", step, res, want)
		}
		if want == delivery.Delivered {
			delivered++
			mx.WaitMessages(t, delivered, 30*time.Second)
		}
	}
	checkDue := func(step, state string) {
		t.Helper()
		c.advance(2 * day)
		if n, err := mon.CheckDue(ctx); n != 1 || err != nil {
			t.Fatalf("%s: CheckDue = %d, %v", step, n, err)
		}
		if pin, err := store.Pin(ctx, "pkix.test"); err != nil || pin.State != state {
			r, _ := store.Report(ctx, "pkix.test")
			t.Fatalf("%s: pin %+v, %v; want %s; report %+v", step, pin, err, state, r)
		}
	}
	checkDue("pinned host", trust.StateTrusted)
	deliver("pinned host", delivery.Delivered)
	lab.Update(t, "pkix.test", records("mx2"))
	checkDue("moved to mx2", trust.StateSuspended)
	deliver("moved to mx2", delivery.Temporary)
	pin, _, err := mon.Repin(ctx, "pkix.test", false)
	if err != nil || pin.State != trust.StateTrusted || len(pin.MXHosts) != 1 || pin.MXHosts[0] != "mx2.pkix.test" {
		t.Fatalf("Repin = %+v, %v", pin, err)
	}
	deliver("re-pinned", delivery.Delivered)
}
