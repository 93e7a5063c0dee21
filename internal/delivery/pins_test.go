package delivery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// fakePins is a PinSource over a map; err fails every lookup.
type fakePins struct {
	mu      sync.Mutex
	pins    map[string]Pin
	err     error
	lookups int
}

func (f *fakePins) Pin(_ context.Context, domain string) (Pin, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return Pin{}, false, f.err
	}
	p, ok := f.pins[domain]
	return p, ok, nil
}

func (f *fakePins) set(domain string, p Pin) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pins[domain] = p
}

func (f *fakePins) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// pinned returns a Deliverer of w that reads pins from a fake holding pin
// for example.test.
func pinned(w *world, pin *Pin) (*Deliverer, *fakePins) {
	w.t.Helper()
	f := &fakePins{pins: map[string]Pin{}}
	if pin != nil {
		f.pins["example.test"] = *pin
	}
	d, err := New(w.cfg, Deps{Log: testenv.Logger(w.t), Now: w.clock.Now, HTTPClient: w.http, Dialer: w.dial,
		DNS: w.dns, Pins: f})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(d.Close)
	return d, f
}

func TestPins(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test", "mx2.example.test")
	withTLSA := append(append([]string(nil), twoMX[:2]...), tlsa(t, "mx.example.test", 3, 1, 1, cert.Leaf))
	signed := []string{"example.test"}
	tests := []struct {
		name       string
		signed     []string
		records    []string
		pin        *Pin
		want       Outcome
		reason     string // substring of Result.Reason
		suspicious bool
		attempts   []wantAttempt
	}{
		{name: "no pin: PKIX as before", records: twoMX, want: Delivered,
			attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, code: 250}}},
		{name: "suspended pin defers before any lookup", signed: signed, records: withTLSA,
			pin: &Pin{Policy: PinDANE, Suspended: true, Reason: "DANE broke"}, want: Temporary,
			reason: "partner's transport security is suspended"},
		{name: "DANE pin with DANE", signed: signed, records: withTLSA, pin: &Pin{Policy: PinDANE}, want: Delivered,
			attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}}},
		{name: "DANE pin without DANE defers", records: withTLSA, pin: &Pin{Policy: PinDANE}, want: Temporary,
			reason: "pinned to DANE", suspicious: true},
		{name: "DANE pin skips a host without DANE", signed: signed,
			records: append(append([]string(nil), withTLSA...), twoMX[2:]...), pin: &Pin{Policy: PinDANE},
			want: Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}}},
		{name: "MTA-STS pin satisfied by DANE", signed: signed, records: withTLSA, pin: &Pin{Policy: PinMTASTS},
			want: Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}}},
		{name: "MTA-STS pin with PKIX only defers", records: twoMX, pin: &Pin{Policy: PinMTASTS}, want: Temporary,
			reason: "pinned to MTA-STS", suspicious: true},
		{name: "PKIX pin goes to pinned hosts only", records: twoMX,
			pin: &Pin{Policy: PinPKIX, MXHosts: []string{"MX2.example.test."}}, want: Delivered,
			attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "not one of the domain's pinned MX hosts"},
				{mx: "mx2.example.test", policy: PolicyPKIX, code: 250}}},
		{name: "PKIX pin with no pinned host left", records: twoMX[:2],
			pin: &Pin{Policy: PinPKIX, MXHosts: []string{"mx9.example.test"}}, want: Temporary,
			attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "pinned MX hosts"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, tc.signed, tc.records...)
			mx1 := w.mx("192.0.2.1", peerOptions{cert: &cert})
			mx2 := w.mx("192.0.2.2", peerOptions{cert: &cert})
			d, _ := pinned(w, tc.pin)
			res := deliver(t, d)
			checkResult(t, res, tc.want, tc.attempts)
			if !strings.Contains(res.Reason, tc.reason) || res.Suspicious != tc.suspicious {
				t.Fatalf("result %+v, want reason with %q, suspicious %v", res, tc.reason, tc.suspicious)
			}
			delivered := len(mx1.messages()) + len(mx2.messages())
			if (delivered == 1) != (tc.want == Delivered) {
				t.Fatalf("%d messages delivered, outcome %v", delivered, res.Outcome)
			}
			if tc.want != Delivered && len(tc.attempts) == 0 && mx1.connections()+mx2.connections() != 0 {
				t.Fatal("a deferred pinned domain was connected to")
			}
			if tc.want == Temporary && len(tc.attempts) == 0 {
				if got := d.Preview(context.Background(), "example.test"); got.Mode != TransportUnavailable ||
					!strings.Contains(got.Reason, "pinned") && !strings.Contains(got.Reason, "suspended") {
					t.Fatalf("Preview = %+v", got)
				}
			}
		})
	}
}

func TestPinCache(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	w := newWorld(t, ca, nil, twoMX[:2]...)
	p := w.mx("192.0.2.1", peerOptions{cert: &cert})
	d, pins := pinned(w, &Pin{Policy: PinPKIX, MXHosts: []string{"mx.example.test"}})
	checkResult(t, deliver(t, d), Delivered, []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, code: 250}})

	pins.set("example.test", Pin{Policy: PinPKIX, Suspended: true})
	w.clock.advance(defaultPinCacheTTL / 2)
	checkResult(t, deliver(t, d), Delivered, []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, code: 250}})
	if n := pins.count(); n != 1 {
		t.Fatalf("%d pin lookups within the TTL, want 1", n)
	}
	w.clock.advance(defaultPinCacheTTL)
	if res := deliver(t, d); res.Outcome != Temporary || !strings.Contains(res.Reason, "suspended") {
		t.Fatalf("after the TTL: %+v", res)
	}
	if len(p.messages()) != 2 {
		t.Fatalf("%d messages, want 2", len(p.messages()))
	}

	pins.mu.Lock()
	pins.err = errors.New("database down")
	pins.mu.Unlock()
	w.clock.advance(time.Minute)
	if res := deliver(t, d); res.Outcome != Temporary || !strings.Contains(res.Reason, "cannot read the partner's transport pin") {
		t.Fatalf("with a failing pin source: %+v", res)
	}
}

func TestPinCacheBound(t *testing.T) {
	t.Parallel()
	src := &fakePins{pins: map[string]Pin{}}
	c := newPinCache(src, time.Minute, 3, time.Now)
	for _, dom := range []string{"a.test", "b.test", "c.test", "d.test", "e.test"} {
		if _, _, err := c.get(context.Background(), dom); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.mem); n != 3 {
		t.Fatalf("%d cached pins, want the bound 3", n)
	}
}
