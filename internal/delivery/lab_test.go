package delivery

// Integration tests against real peers from the lab (internal/testenv): Knot
// serving DNSSEC-signed, unsigned and bogus zones behind a validating Unbound,
// Postfix as the recipient MX, an HTTPS MTA-STS policy server.

import (
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const labTimeout = 30 * time.Second

// lab is the mail-transport lab shared by the subtests of TestLab.
type lab struct {
	ca                      *testenv.CA
	dns                     *testenv.DNS
	sts                     *testenv.MTASTS
	db                      *database.DB
	ee, ta, off, old, pkix  *testenv.Postfix
	rogue                   *testenv.Postfix
	port                    int
	eeTLSA, wrongTLSA, taRR string
}

func startLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{ca: testenv.NewCA(t)}
	// Every MX listens on the same port (Config.Port) at its own loopback address.
	l.ee = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx.dane-ee.test", IP: "127.0.0.2"})
	l.port = l.ee.Port()
	l.ta = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx.dane-ta.test", CA: l.ca, ChainWithCA: true,
		IP: "127.0.0.3", Port: l.port})
	l.off = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx.nostarttls.test", TLS: testenv.PostfixTLSOff,
		IP: "127.0.0.4", Port: l.port})
	l.old = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx.old.test", CA: l.ca,
		TLS: testenv.PostfixTLS11Only, IP: "127.0.0.5", Port: l.port})
	pkixCert := l.ca.Issue(t, "mx.pkix.test", "mx.sts.test")
	l.pkix = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx.pkix.test", Certificate: &pkixCert,
		IP: "127.0.0.6", Port: l.port, RecipientReplies: map[string]string{
			"busy@pkix.test": "450 4.2.1 Mailbox busy",
			"gone@pkix.test": "550 5.1.1 No such user",
			"drop@pkix.test": "421 4.3.2 Closing",
		}})
	l.rogue = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "rogue.sts.test", CA: l.ca,
		IP: "127.0.0.7", Port: l.port})
	l.records(t)
	l.dns = testenv.StartDNS(t, l.zones())
	l.sts = testenv.StartMTASTS(t, l.ca, map[string]string{
		"sts.test": testenv.MTASTSPolicy("enforce", 24*time.Hour, "mx.sts.test"),
	})
	l.db = testenv.DB(t, database.SQLite)
	return l
}

func (l *lab) records(t *testing.T) {
	t.Helper()
	var err error
	l.eeTLSA = l.ee.TLSA(3, 1, 1)
	if l.wrongTLSA, err = testenv.TLSA(3, 1, 1, testenv.SelfSigned(t, "mx.dane-ee.test").Leaf); err != nil {
		t.Fatal(err)
	}
	if l.taRR, err = testenv.TLSA(2, 1, 1, l.ca.Cert); err != nil {
		t.Fatal(err)
	}
}

// tlsaLine is a TLSA record for host (relative to its zone) on the lab's port.
func (l *lab) tlsaLine(host, rdata string) string {
	return "_" + strconv.Itoa(l.port) + "._tcp." + host + " TLSA " + rdata
}

func (l *lab) loseRecords(withTLSA bool) []string {
	r := []string{"@ MX 10 mx.lose.test.", "mx A 127.0.0.2"}
	if withTLSA {
		r = append(r, l.tlsaLine("mx", l.eeTLSA))
	}
	return r
}

func (l *lab) zones() []testenv.Zone {
	mx := func(ip string, extra ...string) []string {
		return append([]string{"@ MX 10 mx", "mx A " + ip}, extra...)
	}
	return []testenv.Zone{
		{Name: "dane-ee.test", Signed: true, Records: mx("127.0.0.2", l.tlsaLine("mx", l.eeTLSA))},
		{Name: "dane-ta.test", Signed: true, Records: mx("127.0.0.3", l.tlsaLine("mx", l.taRR))},
		{Name: "dane-bad.test", Signed: true, Records: mx("127.0.0.2", l.tlsaLine("mx", l.wrongTLSA))},
		{Name: "fallback.test", Signed: true, Records: []string{"@ MX 10 mx1", "@ MX 20 mx2",
			"mx1 A 127.0.0.2", "mx2 A 127.0.0.2", l.tlsaLine("mx1", l.wrongTLSA), l.tlsaLine("mx2", l.eeTLSA)}},
		{Name: "lose.test", Signed: true, Records: l.loseRecords(true)},
		{Name: "nostarttls.test", Records: mx("127.0.0.4")},
		{Name: "old.test", Records: mx("127.0.0.5")},
		{Name: "pkix.test", Records: mx("127.0.0.6")},
		{Name: "wrongname.test", Records: mx("127.0.0.6")},
		{Name: "bogus.test", Bogus: true, Records: mx("127.0.0.6")},
		{Name: "sts.test", Records: []string{"@ MX 10 rogue", "@ MX 20 mx", "rogue A 127.0.0.7", "mx A 127.0.0.6",
			`_mta-sts TXT "v=STSv1; id=20261101"`}},
	}
}

// deliverer returns a Deliverer with empty caches on the lab's database.
func (l *lab) deliverer(t *testing.T) *Deliverer {
	t.Helper()
	d, err := New(Config{Resolver: l.dns.ResolverAddr(), Port: l.port, Hostname: "veilig.test",
		ExtraRoots: []*x509.Certificate{l.ca.Cert}}, Deps{Log: testenv.Logger(t), DB: l.db.DB, HTTPClient: l.sts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// send delivers a message with a unique marker to to and returns the result.
func send(t *testing.T, d *Deliverer, to, marker string) Result {
	t.Helper()
	_, domain, _ := strings.Cut(to, "@")
	ctx, cancel := context.WithTimeout(context.Background(), 2*labTimeout)
	defer cancel()
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: lab\r\nMessage-ID: <%s@veilig.test>\r\n\r\n%s\r\n",
		sender, to, marker, marker)
	return d.Deliver(ctx, domain, message(sender, msg, to))
}

// holds reports whether p received a message carrying marker.
func holds(t *testing.T, p *testenv.Postfix, marker string) bool {
	t.Helper()
	for _, m := range p.Messages(t) {
		if strings.Contains(string(m.Raw), marker) {
			return true
		}
	}
	return false
}

// waitFor waits until p holds marker and returns the message's Received header.
func waitFor(t *testing.T, p *testenv.Postfix, marker string) string {
	t.Helper()
	deadline := time.Now().Add(labTimeout)
	for time.Now().Before(deadline) {
		for _, m := range p.Messages(t) {
			if strings.Contains(string(m.Raw), marker) {
				return m.Header.Get("Received")
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: no message %s; log:\n%s", p.Hostname(), marker, p.Log())
	return ""
}

func TestLab(t *testing.T) {
	l := startLab(t)
	d := l.deliverer(t)
	all := []*testenv.Postfix{l.ee, l.ta, l.off, l.old, l.pkix, l.rogue}

	delivered := []struct {
		name  string
		to    string
		mx    *testenv.Postfix
		want  []wantAttempt
		using string // in Postfix's Received header
	}{
		{"DANE-EE", "jan@dane-ee.test", l.ee,
			[]wantAttempt{{mx: "mx.dane-ee.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}}, "using TLSv1.3"},
		{"DANE-TA", "jan@dane-ta.test", l.ta,
			[]wantAttempt{{mx: "mx.dane-ta.test", policy: PolicyDANETA, match: "2 1 1", code: 250}}, "using TLSv1.3"},
		{"insecure zone, PKIX-valid certificate", "jan@pkix.test", l.pkix,
			[]wantAttempt{{mx: "mx.pkix.test", policy: PolicyPKIX, code: 250}}, "using TLSv1.3"},
		{"next MX after a DANE mismatch", "jan@fallback.test", l.ee,
			[]wantAttempt{{mx: "mx1.fallback.test", policy: PolicyDANEEE, err: "DANE verification failed"},
				{mx: "mx2.fallback.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}}, "using TLSv1.3"},
		{"MTA-STS enforce: only the listed MX", "jan@sts.test", l.pkix,
			[]wantAttempt{{mx: "rogue.sts.test", policy: PolicyMTASTS, err: "not listed in the MTA-STS policy"},
				{mx: "mx.sts.test", policy: PolicyMTASTS, code: 250}}, "using TLSv1.3"},
	}
	for _, tc := range delivered {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker := "marker-" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			res := send(t, d, tc.to, marker)
			checkResult(t, res, Delivered, tc.want)
			if rcv := waitFor(t, tc.mx, marker); !strings.Contains(rcv, tc.using) {
				t.Fatalf("Received: %s", rcv)
			}
			// The MX outside the MTA-STS policy (preference 10, a valid certificate,
			// accepting every domain) never saw a session.
			if l.rogue.Count() != 0 || strings.Contains(l.rogue.Log(), "starttls") {
				t.Fatalf("the unlisted MX was used:\n%s", l.rogue.Log())
			}
		})
	}

	deferred := []struct {
		name string
		to   string
		want Outcome
		err  string // in the last attempt's Error or the Reason
		code int
	}{
		{"TLSA mismatch", "jan@dane-bad.test", Temporary, "DANE verification failed", 0},
		{"STARTTLS not offered", "jan@nostarttls.test", Temporary, "STARTTLS not offered", 0},
		{"TLS 1.1-only server", "jan@old.test", Temporary, "TLS handshake failed", 0},
		{"bogus DNSSEC", "jan@bogus.test", Temporary, "SERVFAIL", 0},
		{"certificate for the wrong name", "jan@wrongname.test", Temporary, "not mx.wrongname.test", 0},
		{"RCPT 450", "busy@pkix.test", Temporary, "Mailbox busy", 450},
		{"RCPT 550", "gone@pkix.test", Permanent, "No such user", 550},
		{"RCPT 421 and disconnect", "drop@pkix.test", Temporary, "Closing", 421},
	}
	for _, tc := range deferred {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker := "marker-" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			res := send(t, d, tc.to, marker)
			last := Attempt{}
			if n := len(res.Attempts); n > 0 {
				last = res.Attempts[n-1]
			}
			if res.Outcome != tc.want || !strings.Contains(last.Error+res.Reason, tc.err) || last.Code != tc.code {
				t.Fatalf("result %+v", res)
			}
			for _, p := range all {
				if holds(t, p, marker) {
					t.Fatalf("%s received the message", p.Hostname())
				}
			}
		})
	}

	t.Run("Preview", func(t *testing.T) {
		t.Parallel()
		for domain, mode := range map[string]string{"dane-ee.test": TransportDANE, "sts.test": TransportMTASTS,
			"pkix.test": TransportPKIX, "bogus.test": TransportUnavailable, "nowhere.test": TransportUnavailable} {
			if got := d.Preview(context.Background(), domain); got.Mode != mode {
				t.Errorf("Preview(%s) = %+v, want %s", domain, got, mode)
			}
		}
	})

	// Not parallel: it runs before the parallel subtests above resume, so the
	// DANE-EE Postfix's log shows its connections alone.
	t.Run("verified sessions reused", func(t *testing.T) { testLabReuse(t, l) })

	t.Run("domain loses DANE", func(t *testing.T) {
		t.Parallel()
		res := send(t, d, "jan@lose.test", "marker-lose-before")
		checkResult(t, res, Delivered, []wantAttempt{{mx: "mx.lose.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}})
		waitFor(t, l.ee, "marker-lose-before")
		l.dns.Update(t, "lose.test", l.loseRecords(false))
		res = send(t, l.deliverer(t), "jan@lose.test", "marker-lose-after") // fresh caches, same database
		if res.Outcome != Temporary || !res.Suspicious || len(res.Attempts) != 0 {
			t.Fatalf("after losing DANE: %+v", res)
		}
		if holds(t, l.ee, "marker-lose-after") {
			t.Fatal("delivered after the downgrade")
		}
	})
}

// testLabReuse sends 20 messages to the DANE-EE Postfix from 4 workers and
// counts the connections in Postfix's log: fewer than the messages, each
// delivery under dane-ee, every connection ended by QUIT after Close.
func testLabReuse(t *testing.T, l *lab) {
	const workers, each = 4, 5
	d := l.deliverer(t)
	connects, disconnects := smtpdLog(l.ee)
	results := make([]Result, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w * each; i < (w+1)*each; i++ {
				results[i] = send(t, d, "jan@dane-ee.test", fmt.Sprintf("marker-reuse-%d", i))
			}
		})
	}
	wg.Wait()
	reused := 0
	for i, res := range results {
		checkResult(t, res, Delivered, []wantAttempt{{mx: "mx.dane-ee.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}})
		if rcv := waitFor(t, l.ee, fmt.Sprintf("marker-reuse-%d", i)); !strings.Contains(rcv, "using TLSv1.3") {
			t.Fatalf("Received: %s", rcv)
		}
		if res.Attempts[0].Reused {
			reused++
		}
	}
	d.Close()
	var opened, ended int
	for deadline := time.Now().Add(labTimeout); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		c, dc := smtpdLog(l.ee)
		if opened, ended = c-connects, dc-disconnects; opened > 0 && ended == opened {
			break
		}
	}
	t.Logf("%d deliveries over %d connections (%d on reused sessions)", len(results), opened, reused)
	if opened >= len(results) || opened+reused != len(results) || ended != opened {
		t.Fatalf("%d deliveries, %d reused, %d connections opened, %d ended; log:\n%s",
			len(results), reused, opened, ended, l.ee.Log())
	}
}

// smtpdLog counts the connections Postfix's smtpd logged as opened and ended.
func smtpdLog(p *testenv.Postfix) (connects, disconnects int) {
	log := p.Log()
	return strings.Count(log, "]: connect from "), strings.Count(log, "]: disconnect from ")
}
