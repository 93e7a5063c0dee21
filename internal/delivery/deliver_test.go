package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/testenv"
)

const (
	sender = "alice@veilig.test"
	rcpt   = "bob@example.test"
	body   = "Subject: test\r\n\r\nmarker-body\r\n"
)

// world is a recipient domain's DNS and mail servers for one test.
type world struct {
	t     *testing.T
	ca    *testenv.CA
	dns   *fakeDNS
	dial  mapDialer
	clock *clock
	http  *http.Client
	cfg   Config
}

func newWorld(t *testing.T, ca *testenv.CA, signed []string, records ...string) *world {
	return &world{t: t, ca: ca, dns: newFakeDNS(t, signed, records...), dial: mapDialer{}, clock: newClock(),
		cfg: Config{Hostname: "veilig.test", ExtraRoots: []*x509.Certificate{ca.Cert},
			CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second}}
}

// mx starts a peer reached at ip (any port).
func (w *world) mx(ip string, opts peerOptions) *peer {
	p := startPeer(w.t, opts)
	w.dial[ip] = p.addr
	return p
}

func (w *world) deliverer(db *gorm.DB) *Deliverer {
	w.t.Helper()
	d, err := New(w.cfg, Deps{Log: testenv.Logger(w.t), Now: w.clock.Now, DB: db, HTTPClient: w.http,
		Dialer: w.dial, DNS: w.dns})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(d.Close)
	return d
}

func deliver(t *testing.T, d *Deliverer, to ...string) Result {
	t.Helper()
	if len(to) == 0 {
		to = []string{rcpt}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return d.Deliver(ctx, "example.test", message(sender, body, to...))
}

func tlsa(t testing.TB, host string, usage, selector, matching uint8, cert *x509.Certificate) string {
	t.Helper()
	rdata, err := testenv.TLSA(usage, selector, matching, cert)
	if err != nil {
		t.Fatal(err)
	}
	return "_25._tcp." + host + ". 60 IN TLSA " + rdata
}

// wantAttempt is the evidence expected of one attempt.
type wantAttempt struct {
	mx     string
	policy Policy
	match  string // TLSAMatch
	err    string // substring of Error; "" means none
	code   int
}

func checkResult(t *testing.T, res Result, want Outcome, attempts []wantAttempt) {
	t.Helper()
	if res.Outcome != want {
		t.Errorf("outcome %v (%s), want %v", res.Outcome, res.Reason, want)
	}
	if len(res.Attempts) != len(attempts) {
		t.Fatalf("%d attempts, want %d: %+v", len(res.Attempts), len(attempts), res.Attempts)
	}
	for i, w := range attempts {
		a := res.Attempts[i]
		if a.MX != w.mx || a.Policy != w.policy || a.TLSAMatch != w.match || a.Code != w.code ||
			(w.err == "") != (a.Error == "") || !strings.Contains(a.Error, w.err) {
			t.Errorf("attempt %d: %+v\nwant %+v", i, a, w)
		}
		if a.Error == "" && (a.TLSVersion == "" || a.Cipher == "" || a.IP == "") {
			t.Errorf("attempt %d: delivered without TLS evidence: %+v", i, a)
		}
	}
}

func TestDeliverPolicies(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	pkixCert := ca.Issue(t, "mx.example.test", "mx2.example.test", "example.test")
	wrongName := ca.Issue(t, "mx.elsewhere.test")
	self := testenv.SelfSigned(t, "mx.example.test")
	other := testenv.SelfSigned(t, "mx.example.test")
	taCert := ca.Issue(t, "mx.example.test")
	taCert.Certificate = append(taCert.Certificate, ca.Cert.Raw)
	mx1 := []string{"example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1"}
	mx2 := []string{"example.test. 60 IN MX 20 mx2.example.test.", "mx2.example.test. 60 IN A 192.0.2.2"}
	signed := []string{"example.test"}
	modern := func(c tls.Certificate) peerOptions { return peerOptions{cert: &c} }

	tests := []struct {
		name      string
		signed    []string
		records   []string
		servfail  []string
		peers     map[string]peerOptions
		want      Outcome
		attempts  []wantAttempt
		delivered map[string]int // IP → messages
	}{
		{name: "PKIX in an unsigned zone", records: mx1, peers: map[string]peerOptions{"192.0.2.1": modern(pkixCert)},
			want: Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, code: 250}},
			delivered: map[string]int{"192.0.2.1": 1}},
		{name: "PKIX certificate for the wrong name", records: mx1, peers: map[string]peerOptions{"192.0.2.1": modern(wrongName)},
			want: Temporary, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "certificate"}}},
		{name: "self-signed without DANE", records: mx1, peers: map[string]peerOptions{"192.0.2.1": modern(self)},
			want: Temporary, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "TLS handshake failed"}}},
		{name: "STARTTLS not offered", records: mx1, peers: map[string]peerOptions{"192.0.2.1": {}},
			want: Temporary, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "STARTTLS not offered"}}},
		{name: "TLS 1.1 only", records: mx1,
			peers: map[string]peerOptions{"192.0.2.1": {cert: &pkixCert, maxVersion: tls.VersionTLS11}},
			want:  Temporary, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "TLS handshake failed"}}},
		{name: "DANE-EE", signed: signed, records: append(mx1, tlsa(t, "mx.example.test", 3, 1, 1, self.Leaf)),
			peers: map[string]peerOptions{"192.0.2.1": modern(self)},
			want:  Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}},
			delivered: map[string]int{"192.0.2.1": 1}},
		{name: "DANE-TA", signed: signed, records: append(mx1, tlsa(t, "mx.example.test", 2, 0, 1, ca.Cert)),
			peers: map[string]peerOptions{"192.0.2.1": modern(taCert)},
			want:  Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyDANETA, match: "2 0 1", code: 250}},
			delivered: map[string]int{"192.0.2.1": 1}},
		{name: "TLSA mismatch, PKIX-valid certificate is no fallback", signed: signed,
			records: append(mx1, tlsa(t, "mx.example.test", 3, 1, 1, other.Leaf)),
			peers:   map[string]peerOptions{"192.0.2.1": modern(pkixCert)},
			want:    Temporary, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyDANEEE, err: "DANE verification failed"}}},
		{name: "next MX after a DANE mismatch", signed: signed,
			records: append(append(mx1, mx2...), tlsa(t, "mx.example.test", 3, 1, 1, other.Leaf),
				tlsa(t, "mx2.example.test", 3, 1, 1, self.Leaf)),
			peers: map[string]peerOptions{"192.0.2.1": modern(self), "192.0.2.2": modern(self)},
			want:  Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyDANEEE, err: "DANE"},
				{mx: "mx2.example.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}},
			delivered: map[string]int{"192.0.2.2": 1}},
		{name: "TLSA lookup fails", signed: signed, records: mx1, servfail: []string{"_25._tcp.mx.example.test"},
			peers: map[string]peerOptions{"192.0.2.1": modern(pkixCert)},
			want:  Temporary, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "SERVFAIL"}}},
		{name: "TLSA in an unsigned zone is ignored", records: append(mx1, tlsa(t, "mx.example.test", 3, 1, 1, self.Leaf)),
			peers: map[string]peerOptions{"192.0.2.1": modern(self)},
			want:  Temporary, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "TLS handshake failed"}}},
		{name: "only unusable TLSA records: PKIX", signed: signed, records: append(mx1, tlsa(t, "mx.example.test", 1, 1, 1, pkixCert.Leaf)),
			peers: map[string]peerOptions{"192.0.2.1": modern(pkixCert)},
			want:  Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, code: 250}},
			delivered: map[string]int{"192.0.2.1": 1}},
		{name: "bogus MX", signed: signed, records: mx1, servfail: []string{"example.test"}, want: Temporary},
		{name: "null MX", records: []string{"example.test. 60 IN MX 0 ."}, want: Permanent},
		{name: "no such domain", records: []string{"elsewhere.test. 60 IN A 192.0.2.9"}, want: Permanent},
		{name: "no MX and no address", records: []string{"example.test. 60 IN TXT \"v=spf1 -all\""}, want: Permanent},
		{name: "implicit MX", records: []string{"example.test. 60 IN A 192.0.2.1"},
			peers: map[string]peerOptions{"192.0.2.1": modern(pkixCert)},
			want:  Delivered, attempts: []wantAttempt{{mx: "example.test", policy: PolicyPKIX, code: 250}},
			delivered: map[string]int{"192.0.2.1": 1}},
		{name: "MX host without address, next MX", records: append([]string{mx1[0]}, mx2...),
			peers: map[string]peerOptions{"192.0.2.2": modern(pkixCert)},
			want:  Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "no address"},
				{mx: "mx2.example.test", policy: PolicyPKIX, code: 250}},
			delivered: map[string]int{"192.0.2.2": 1}},
		{name: "unreachable MX, next MX", records: append(mx1, mx2...),
			peers: map[string]peerOptions{"192.0.2.2": modern(pkixCert)},
			want:  Delivered, attempts: []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, err: "connect"},
				{mx: "mx2.example.test", policy: PolicyPKIX, code: 250}},
			delivered: map[string]int{"192.0.2.2": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, tc.signed, tc.records...)
			w.dns.failing(tc.servfail...)
			peers := map[string]*peer{}
			for ip, o := range tc.peers {
				peers[ip] = w.mx(ip, o)
			}
			res := deliver(t, w.deliverer(nil))
			checkResult(t, res, tc.want, tc.attempts)
			for ip, p := range peers {
				if got := len(p.messages()); got != tc.delivered[ip] {
					t.Errorf("%s received %d messages, want %d", ip, got, tc.delivered[ip])
				}
			}
		})
	}
}

func TestDeliverReplies(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test", "mx2.example.test")
	records := []string{"example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1",
		"example.test. 60 IN MX 20 mx2.example.test.", "mx2.example.test. 60 IN A 192.0.2.2"}
	reply := func(code, a, b, c int, msg string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{a, b, c}, Message: msg}
	}
	tests := []struct {
		name     string
		rcpt     map[string]*smtp.SMTPError
		data     *smtp.SMTPError
		want     Outcome
		attempts int // MX hosts tried
		code     int
		enhanced string
	}{
		{"RCPT 450 tries the next MX", map[string]*smtp.SMTPError{rcpt: reply(450, 4, 2, 1, "Mailbox busy")}, nil, Temporary, 2, 450, "4.2.1"},
		{"RCPT 550 stops", map[string]*smtp.SMTPError{rcpt: reply(550, 5, 1, 1, "No such user")}, nil, Permanent, 1, 550, "5.1.1"},
		{"RCPT 421", map[string]*smtp.SMTPError{rcpt: reply(421, 4, 3, 2, "Closing")}, nil, Temporary, 2, 421, "4.3.2"},
		{"DATA 554 stops", nil, reply(554, 5, 6, 0, "Content rejected"), Permanent, 1, 554, "5.6.0"},
		{"DATA 451", nil, reply(451, 4, 3, 0, "Try later"), Temporary, 2, 451, "4.3.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, nil, records...)
			opts := peerOptions{cert: &cert, rcpt: tc.rcpt, data: tc.data}
			p1, p2 := w.mx("192.0.2.1", opts), w.mx("192.0.2.2", opts)
			res := deliver(t, w.deliverer(nil))
			if res.Outcome != tc.want || len(res.Attempts) != tc.attempts {
				t.Fatalf("outcome %v after %d attempts, want %v after %d: %+v", res.Outcome, len(res.Attempts),
					tc.want, tc.attempts, res)
			}
			a := res.Attempts[0]
			if a.Code != tc.code || a.Enhanced != tc.enhanced || !strings.HasPrefix(a.Reply, strconv.Itoa(tc.code)) {
				t.Errorf("attempt %+v: want code %d, enhanced %s", a, tc.code, tc.enhanced)
			}
			if n := len(p1.messages()) + len(p2.messages()); n != 0 {
				t.Errorf("%d messages accepted", n)
			}
		})
	}
}

func TestDeliverPerRecipient(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	w := newWorld(t, ca, nil, "example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1")
	p := w.mx("192.0.2.1", peerOptions{cert: &cert, rcpt: map[string]*smtp.SMTPError{
		"gone@example.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}}})
	res := deliver(t, w.deliverer(nil), rcpt, "gone@example.test")
	want := map[string]Outcome{rcpt: Delivered, "gone@example.test": Permanent}
	if res.Outcome != Permanent || len(res.PerRecipient) != 2 || res.PerRecipient[rcpt] != want[rcpt] ||
		res.PerRecipient["gone@example.test"] != Permanent {
		t.Fatalf("result %+v, want per recipient %v", res, want)
	}
	if m := p.messages(); len(m) != 1 || len(m[0].to) != 1 || m[0].to[0] != rcpt {
		t.Fatalf("received %+v", m)
	}
}

func TestDeliverMessageHandling(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	records := []string{"example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1"}
	failing := func() (io.ReadCloser, error) { return nil, errors.New("blob gone") }
	broken := func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("Subject: x\r\n\r\npartial"), errReader{})), nil
	}
	tests := []struct {
		name string
		env  Envelope
		want Outcome
	}{
		{"message cannot be opened", Envelope{From: sender, To: []string{rcpt}, Open: failing}, Temporary},
		{"message breaks while streaming", Envelope{From: sender, To: []string{rcpt}, Open: broken}, Temporary},
		{"recipient at another domain", message(sender, body, "eve@elsewhere.test"), Permanent},
		{"no recipients", message(sender, body), Permanent},
		{"CRLF in the sender", message("a@b.test\r\nRCPT TO:<x@y.test>", body, rcpt), Permanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, nil, records...)
			p := w.mx("192.0.2.1", peerOptions{cert: &cert})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res := w.deliverer(nil).Deliver(ctx, "example.test", tc.env)
			if res.Outcome != tc.want {
				t.Fatalf("outcome %v (%s), want %v", res.Outcome, res.Reason, tc.want)
			}
			if n := len(p.messages()); n != 0 {
				t.Fatalf("%d messages accepted, want none (a partial message must never be completed)", n)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk error") }

func TestDeliverCanceled(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	w := newWorld(t, ca, nil, "example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1")
	p := w.mx("192.0.2.1", peerOptions{cert: &cert})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := w.deliverer(nil).Deliver(ctx, "example.test", message(sender, body, rcpt))
	if res.Outcome != Temporary || len(p.messages()) != 0 {
		t.Fatalf("canceled delivery: %+v, %d messages", res, len(p.messages()))
	}
}

func TestDeliverRequireTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	self := testenv.SelfSigned(t, "mx.example.test")
	base := []string{"example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1"}
	tests := []struct {
		name    string
		signed  []string
		records []string
		cert    tls.Certificate
		want    bool
	}{
		{"DANE hop requests REQUIRETLS", []string{"example.test"}, append(base, tlsa(t, "mx.example.test", 3, 1, 1, self.Leaf)), self, true},
		{"PKIX hop does not", nil, base, cert, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, tc.signed, tc.records...)
			p := w.mx("192.0.2.1", peerOptions{cert: &tc.cert, requireTLS: true})
			if res := deliver(t, w.deliverer(nil)); res.Outcome != Delivered {
				t.Fatalf("outcome %v: %s", res.Outcome, res.Reason)
			}
			if m := p.messages(); len(m) != 1 || m[0].requireTLS != tc.want || !m[0].tls {
				t.Fatalf("received %+v, want REQUIRETLS %v over TLS", m, tc.want)
			}
		})
	}
}

func TestDeliverRelay(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "relay.test")
	users := map[string]string{"veilig": "s3cret"}
	tests := []struct {
		name     string
		opts     peerOptions
		password string
		want     Outcome
		err      string
	}{
		{"AUTH PLAIN over TLS", peerOptions{cert: &cert, users: users}, "s3cret", Delivered, ""},
		{"wrong password", peerOptions{cert: &cert, users: users}, "wrong", Temporary, "535"},
		{"no AUTH offered", peerOptions{cert: &cert}, "s3cret", Temporary, "no AUTH PLAIN"},
		{"no STARTTLS", peerOptions{users: users}, "s3cret", Temporary, "STARTTLS not offered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, nil) // the relay needs no recipient DNS
			p := w.mx("relay.test", tc.opts)
			w.cfg.Relay, w.cfg.RelayUsername, w.cfg.RelayPassword = "relay.test:587", "veilig", tc.password
			d := w.deliverer(nil)
			res := deliver(t, d)
			if res.Outcome != tc.want || len(res.Attempts) != 1 || res.Attempts[0].Policy != PolicyRelay ||
				!strings.Contains(res.Attempts[0].Error, tc.err) {
				t.Fatalf("result %+v", res)
			}
			if tc.want == Delivered && (len(p.messages()) != 1 || p.messages()[0].user != "veilig") {
				t.Fatalf("relay received %+v", p.messages())
			}
			if got := d.Preview(context.Background(), "example.test"); got.Mode != TransportRelay {
				t.Fatalf("Preview = %+v", got)
			}
		})
	}
}
