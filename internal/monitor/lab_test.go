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

// labMonitor is a monitor with the real check, a real store and a delivery
// route reading its pins, all against one lab resolver and MX port.
type labMonitor struct {
	t        *testing.T
	mon      *monitor.Monitor
	store    *trust.Store
	clock    *clock
	mail     *mailer
	resolver string
	port     int
	ca       *testenv.CA // extra PKIX root; nil: none
}

func newLabMonitor(t *testing.T, resolver string, port int, ca *testenv.CA, pin trust.Pin) *labMonitor {
	t.Helper()
	db := testenv.DB(t, database.SQLite)
	addOrg(t, db, pin.OrganisationID)
	opts := mailcheck.Options{Port: port, EHLOName: "veilig.test", Timeout: 20 * time.Second, AllowPrivate: true}
	if ca != nil {
		opts.Roots = ca.Pool()
	}
	l := &labMonitor{t: t, clock: &clock{t: time.Now()}, mail: &mailer{}, resolver: resolver, port: port, ca: ca}
	l.store = trust.NewStore(db, l.clock.Now)
	checker := mailcheck.NewWithOptions(mailcheck.NewDNS(resolver, 5*time.Second), testenv.Logger(t), opts)
	var err error
	l.mon, err = monitor.New(monitor.Deps{Store: l.store, Checker: checker, Admins: admins{pin.OrganisationID: {"admin@a.test"}},
		Mailer: l.mail, Log: testenv.Logger(t), Now: l.clock.Now}, monitor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pin.NextCheckAt = l.clock.Now()
	if err := l.store.PutPin(context.Background(), pin); err != nil {
		t.Fatal(err)
	}
	return l
}

// checkDue advances the clock past the next check, runs it and returns the pin.
func (l *labMonitor) checkDue(step, domain string) trust.Pin {
	l.t.Helper()
	l.clock.advance(2 * day)
	ctx := context.Background()
	if n, err := l.mon.CheckDue(ctx); n != 1 || err != nil {
		l.t.Fatalf("%s: CheckDue = %d, %v", step, n, err)
	}
	pin, err := l.store.Pin(ctx, domain)
	if err != nil {
		l.t.Fatalf("%s: %v", step, err)
	}
	return pin
}

// deliver sends one message to bob@domain over a fresh delivery route.
func (l *labMonitor) deliver(domain string) delivery.Result {
	l.t.Helper()
	cfg := delivery.Config{Resolver: l.resolver, Port: l.port, Hostname: "veilig.test"}
	if l.ca != nil {
		cfg.ExtraRoots = []*x509.Certificate{l.ca.Cert}
	}
	d, err := delivery.New(cfg, delivery.Deps{Log: testenv.Logger(l.t), Pins: pinSource{l.store}})
	if err != nil {
		l.t.Fatal(err)
	}
	defer d.Close()
	body := "Subject: lab\r\n\r\nmonitor lab\r\n"
	return d.Deliver(context.Background(), domain, delivery.Envelope{From: "alice@veilig.test", To: []string{"bob@" + domain},
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }})
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
	l := newLabMonitor(t, lab.ResolverAddr(), mx.Port(), nil, trust.Pin{Domain: "partner.test", OrganisationID: "org-a",
		Policy: "dane", MXHosts: []string{"mx.partner.test"}})
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
		if pin := l.checkDue(st.name, "partner.test"); pin.State != st.state {
			r, _ := l.store.Report(context.Background(), "partner.test")
			t.Fatalf("%s: pin %+v; want %s; report %+v", st.name, pin, st.state, r)
		}
		if mails := l.mail.take(); (st.event == "") != (len(mails) == 0) {
			t.Fatalf("%s: mails %+v", st.name, mails)
		}
		res := l.deliver("partner.test")
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
	l := newLabMonitor(t, lab.ResolverAddr(), mx.Port(), ca, trust.Pin{Domain: "pkix.test", OrganisationID: "org-a",
		Policy: "pkix", MXHosts: []string{"mx1.pkix.test"}})
	delivered := 0
	deliver := func(step string, want delivery.Outcome) {
		t.Helper()
		if res := l.deliver("pkix.test"); res.Outcome != want {
			t.Fatalf("%s: delivery %+v, want %v", step, res, want)
		}
		if want == delivery.Delivered {
			delivered++
			mx.WaitMessages(t, delivered, 30*time.Second)
		}
	}
	checkDue := func(step, state string) {
		t.Helper()
		if pin := l.checkDue(step, "pkix.test"); pin.State != state {
			r, _ := l.store.Report(context.Background(), "pkix.test")
			t.Fatalf("%s: pin %+v; want %s; report %+v", step, pin, state, r)
		}
	}
	checkDue("pinned host", trust.StateTrusted)
	deliver("pinned host", delivery.Delivered)
	lab.Update(t, "pkix.test", records("mx2"))
	checkDue("moved to mx2", trust.StateSuspended)
	deliver("moved to mx2", delivery.Temporary)
	pin, _, err := l.mon.Repin(context.Background(), "pkix.test", false)
	if err != nil || pin.State != trust.StateTrusted || len(pin.MXHosts) != 1 || pin.MXHosts[0] != "mx2.pkix.test" {
		t.Fatalf("Repin = %+v, %v", pin, err)
	}
	deliver("re-pinned", delivery.Delivered)
}
