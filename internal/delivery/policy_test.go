package delivery

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

var twoMX = []string{
	"example.test. 60 IN MX 10 mx.example.test.", "mx.example.test. 60 IN A 192.0.2.1",
	"example.test. 60 IN MX 20 mx2.example.test.", "mx2.example.test. 60 IN A 192.0.2.2",
}

func stsRecord(id string) string { return `_mta-sts.example.test. 60 IN TXT "v=STSv1; id=` + id + `"` }

// stsWorld has two PKIX-valid MX hosts and an MTA-STS policy server.
func stsWorld(t *testing.T, policy string, extra ...string) (*world, *testenv.MTASTS, *peer, *peer) {
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test", "mx2.example.test")
	w := newWorld(t, ca, nil, append(append([]string(nil), twoMX...), extra...)...)
	sts := testenv.StartMTASTS(t, ca, map[string]string{"example.test": policy})
	w.http = sts.Client()
	return w, sts, w.mx("192.0.2.1", peerOptions{cert: &cert}), w.mx("192.0.2.2", peerOptions{cert: &cert})
}

func TestMTASTSEnforce(t *testing.T) {
	t.Parallel()
	enforce := testenv.MTASTSPolicy("enforce", 24*time.Hour, "mx2.example.test")
	w, sts, rogue, listed := stsWorld(t, enforce, stsRecord("1"))
	d := w.deliverer(nil)
	want := []wantAttempt{{mx: "mx.example.test", policy: PolicyMTASTS, err: "not listed in the MTA-STS policy"},
		{mx: "mx2.example.test", policy: PolicyMTASTS, code: 250}}
	checkResult(t, deliver(t, d), Delivered, want)
	if rogue.connections() != 0 || len(listed.messages()) != 1 {
		t.Fatalf("unlisted MX had %d connections, listed MX %d messages", rogue.connections(), len(listed.messages()))
	}
	if got := d.Preview(context.Background(), "example.test"); got.Mode != TransportMTASTS {
		t.Fatalf("Preview = %+v", got)
	}

	t.Run("cached while the id is unchanged", func(t *testing.T) {
		w.clock.advance(2 * time.Minute) // past the DNS TTLs
		checkResult(t, deliver(t, d), Delivered, want)
		if n := sts.Fetches("example.test"); n != 1 {
			t.Fatalf("%d policy fetches, want 1", n)
		}
	})
	t.Run("cached policy survives a missing record and a failing server", func(t *testing.T) {
		w.dns.set(twoMX...)
		sts.SetPolicy("example.test", "")
		w.clock.advance(2 * time.Minute)
		checkResult(t, deliver(t, d), Delivered, want)
	})
	t.Run("a new id fetches again", func(t *testing.T) {
		w.dns.set(append(append([]string(nil), twoMX...), stsRecord("2"))...)
		sts.SetPolicy("example.test", testenv.MTASTSPolicy("enforce", 24*time.Hour, "*.example.test"))
		w.clock.advance(2 * time.Minute)
		res := deliver(t, d)
		checkResult(t, res, Delivered, []wantAttempt{{mx: "mx.example.test", policy: PolicyMTASTS, code: 250}})
		if n := sts.Fetches("example.test"); n != 2 {
			t.Fatalf("%d policy fetches, want 2", n)
		}
	})
}

func TestMTASTSNotApplied(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  string
		records []string
	}{
		{"testing mode", testenv.MTASTSPolicy("testing", time.Hour, "mx2.example.test"), []string{stsRecord("1")}},
		{"no record", testenv.MTASTSPolicy("enforce", time.Hour, "mx2.example.test"), nil},
		{"no policy served", "", []string{stsRecord("1")}},
		{"unparsable policy", "version: STSv1\r\nmode: enforce\r\n", []string{stsRecord("1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, _, first, _ := stsWorld(t, tc.policy, tc.records...)
			checkResult(t, deliver(t, w.deliverer(nil)), Delivered,
				[]wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, code: 250}})
			if len(first.messages()) != 1 {
				t.Fatal("not delivered to the first MX")
			}
		})
	}
}

// daneWorld is example.test signed with a DANE-EE record for its one MX, whose
// certificate is also PKIX-valid.
func daneWorld(t *testing.T) (*world, *peer, []string) {
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	base := twoMX[:2]
	withTLSA := append(append([]string(nil), base...), tlsa(t, "mx.example.test", 3, 1, 1, cert.Leaf))
	w := newWorld(t, ca, []string{"example.test"}, withTLSA...)
	return w, w.mx("192.0.2.1", peerOptions{cert: &cert}), base
}

func TestDowngrade(t *testing.T) {
	t.Parallel()
	w, p, withoutTLSA := daneWorld(t)
	d := w.deliverer(nil)
	checkResult(t, deliver(t, d), Delivered, []wantAttempt{{mx: "mx.example.test", policy: PolicyDANEEE, match: "3 1 1", code: 250}})

	w.dns.set(withoutTLSA...)
	if got := d.Preview(context.Background(), "example.test"); got.Mode != TransportDANE {
		t.Fatalf("Preview within the TTL = %+v, want the cached dane", got)
	}
	w.clock.advance(2 * time.Minute)
	res := deliver(t, d)
	if res.Outcome != Temporary || !res.Suspicious || !strings.Contains(res.Reason, "DANE") || len(res.Attempts) != 0 {
		t.Fatalf("after losing DANE: %+v", res)
	}
	if len(p.messages()) != 1 {
		t.Fatal("delivered after the downgrade")
	}
	if got := d.Preview(context.Background(), "example.test"); got.Mode != TransportUnavailable || !strings.Contains(got.Reason, "downgrade") {
		t.Fatalf("Preview = %+v", got)
	}
	if err := d.Forget(context.Background(), "example.test"); err != nil {
		t.Fatal(err)
	}
	checkResult(t, deliver(t, d), Delivered, []wantAttempt{{mx: "mx.example.test", policy: PolicyPKIX, code: 250}})
}

func TestDowngradeMTASTS(t *testing.T) {
	t.Parallel()
	enforce := testenv.MTASTSPolicy("enforce", 24*time.Hour, "mx.example.test", "mx2.example.test")
	tests := []struct {
		name       string
		next       string // policy served afterwards
		record     string // TXT afterwards
		suspicious bool
	}{
		{"record and policy gone after max_age", "", "", true},
		{"withdrawn with mode none (RFC 8461 §8.3)", testenv.MTASTSPolicy("none", time.Hour), stsRecord("2"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, sts, _, _ := stsWorld(t, enforce, stsRecord("1"))
			d := w.deliverer(nil)
			checkResult(t, deliver(t, d), Delivered, []wantAttempt{{mx: "mx.example.test", policy: PolicyMTASTS, code: 250}})
			sts.SetPolicy("example.test", tc.next)
			recs := append([]string(nil), twoMX...)
			if tc.record != "" {
				recs = append(recs, tc.record)
			}
			w.dns.set(recs...)
			w.clock.advance(25 * time.Hour)
			res := deliver(t, d)
			if res.Suspicious != tc.suspicious || (res.Outcome == Delivered) == tc.suspicious {
				t.Fatalf("result %+v, want suspicious %v", res, tc.suspicious)
			}
		})
	}
}

func TestPreview(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	signed := []string{"example.test"}
	withTLSA := append(append([]string(nil), twoMX[:2]...), tlsa(t, "mx.example.test", 3, 1, 1, cert.Leaf))
	tests := []struct {
		name     string
		signed   []string
		records  []string
		servfail []string
		mode     string
		reason   string
	}{
		{"DANE", signed, withTLSA, nil, TransportDANE, "TLSA"},
		{"TLSA in an unsigned zone", nil, withTLSA, nil, TransportPKIX, "mx.example.test"},
		{"PKIX", nil, twoMX, nil, TransportPKIX, "mx.example.test"},
		{"null MX", nil, []string{"example.test. 60 IN MX 0 ."}, nil, TransportUnavailable, "null MX"},
		{"no MX and no address", nil, []string{"example.test. 60 IN TXT \"x\""}, nil, TransportUnavailable, "neither MX nor address"},
		{"no such domain", nil, []string{"other.test. 60 IN A 192.0.2.1"}, nil, TransportUnavailable, "does not exist"},
		{"bogus DNSSEC", signed, withTLSA, []string{"example.test"}, TransportUnavailable, "SERVFAIL"},
		{"every TLSA lookup fails", signed, twoMX, []string{"_25._tcp.mx.example.test", "_25._tcp.mx2.example.test"},
			TransportUnavailable, "SERVFAIL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, ca, tc.signed, tc.records...)
			w.dns.failing(tc.servfail...)
			p := w.mx("192.0.2.1", peerOptions{cert: &cert})
			d := w.deliverer(nil)
			got := d.Preview(context.Background(), "example.test")
			if got.Mode != tc.mode || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("Preview = %+v, want mode %s with %q", got, tc.mode, tc.reason)
			}
			queries := w.dns.count()
			if again := d.Preview(context.Background(), "example.test"); again != got {
				t.Fatalf("second Preview = %+v", again)
			}
			if tc.servfail == nil && w.dns.count() != queries {
				t.Fatalf("second Preview asked DNS again (%d → %d queries)", queries, w.dns.count())
			}
			if p.connections() != 0 {
				t.Fatal("Preview connected to a mail server")
			}
		})
	}
}

func TestHistoryPersists(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		w, p, withoutTLSA := daneWorld(t)
		if res := deliver(t, w.deliverer(db.DB)); res.Outcome != Delivered {
			t.Fatalf("first delivery: %+v", res)
		}
		w.dns.set(withoutTLSA...)
		restarted := w.deliverer(db.DB) // empty caches, same database
		if res := deliver(t, restarted); !res.Suspicious || res.Outcome != Temporary {
			t.Fatalf("after losing DANE: %+v", res)
		}
		if err := restarted.Forget(context.Background(), "example.test"); err != nil {
			t.Fatal(err)
		}
		if res := deliver(t, w.deliverer(db.DB)); res.Outcome != Delivered || res.Attempts[0].Policy != PolicyPKIX {
			t.Fatalf("after Forget: %+v", res)
		}
		if len(p.messages()) != 2 {
			t.Fatalf("%d messages, want 2", len(p.messages()))
		}
	})
}

func TestMTASTSPersists(t *testing.T) {
	t.Parallel()
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		enforce := testenv.MTASTSPolicy("enforce", 24*time.Hour, "mx2.example.test")
		w, sts, rogue, _ := stsWorld(t, enforce, stsRecord("1"))
		if res := deliver(t, w.deliverer(db.DB)); res.Outcome != Delivered {
			t.Fatalf("first delivery: %+v", res)
		}
		sts.SetPolicy("example.test", "") // the server fails from now on
		res := deliver(t, w.deliverer(db.DB))
		want := []wantAttempt{{mx: "mx.example.test", policy: PolicyMTASTS, err: "not listed"},
			{mx: "mx2.example.test", policy: PolicyMTASTS, code: 250}}
		checkResult(t, res, Delivered, want)
		if rogue.connections() != 0 || sts.Fetches("example.test") != 1 {
			t.Fatalf("unlisted MX connections %d, fetches %d", rogue.connections(), sts.Fetches("example.test"))
		}
	})
}

func TestNewConfig(t *testing.T) {
	log := testenv.Discard()
	tests := []struct {
		name string
		cfg  Config
		deps Deps
		ok   bool
	}{
		{"minimal", Config{Resolver: "127.0.0.1:53", Hostname: "veilig.test"}, Deps{Log: log}, true},
		{"no logger", Config{Resolver: "127.0.0.1:53"}, Deps{}, false},
		{"no resolver", Config{Hostname: "veilig.test"}, Deps{Log: log}, false},
		{"resolver without port", Config{Resolver: "127.0.0.1", Hostname: "veilig.test"}, Deps{Log: log}, false},
		{"relay without password", Config{Relay: "relay.test:587", RelayUsername: "u", Hostname: "veilig.test"}, Deps{Log: log}, false},
		{"relay", Config{Relay: "relay.test:587", RelayUsername: "u", RelayPassword: "p", Hostname: "veilig.test"}, Deps{Log: log}, true},
		{"bad port", Config{Resolver: "127.0.0.1:53", Port: 70000, Hostname: "veilig.test"}, Deps{Log: log}, false},
		{"CRLF in hostname", Config{Resolver: "127.0.0.1:53", Hostname: "a\r\nMAIL"}, Deps{Log: log}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.deps)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestLoadRoots(t *testing.T) {
	ca := testenv.NewCA(t)
	certs, err := LoadRoots(ca.WriteFile(t))
	if err != nil || len(certs) != 1 || !certs[0].Equal(ca.Cert) {
		t.Fatalf("LoadRoots = %v, %v", certs, err)
	}
	if _, err := LoadRoots(t.TempDir() + "/missing.pem"); err == nil {
		t.Fatal("no error for a missing file")
	}
	if certs, err := LoadRoots(""); err != nil || certs != nil {
		t.Fatalf("empty path: %v, %v", certs, err)
	}
}

func TestCipherSuites(t *testing.T) {
	for _, id := range cipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
			t.Errorf("cipher suite %s is not ECDHE with AEAD", name)
		}
	}
}

func TestMTASTSRecordFails(t *testing.T) {
	t.Parallel()
	enforce := testenv.MTASTSPolicy("enforce", 24*time.Hour, "mx2.example.test")
	listed := []wantAttempt{{mx: "mx.example.test", policy: PolicyMTASTS, err: "not listed"},
		{mx: "mx2.example.test", policy: PolicyMTASTS, code: 250}}

	t.Run("without a cached policy the delivery is deferred", func(t *testing.T) {
		t.Parallel()
		w, _, first, second := stsWorld(t, enforce, stsRecord("1"))
		w.dns.failing("_mta-sts.example.test")
		checkResult(t, deliver(t, w.deliverer(nil)), Temporary, []wantAttempt{
			{mx: "mx.example.test", policy: PolicyPKIX, err: "SERVFAIL"}, {mx: "mx2.example.test", policy: PolicyPKIX, err: "SERVFAIL"}})
		if first.connections()+second.connections() != 0 {
			t.Fatal("connected although the MTA-STS record could not be looked up")
		}
	})
	t.Run("a cached policy stays in effect", func(t *testing.T) {
		t.Parallel()
		w, _, _, _ := stsWorld(t, enforce, stsRecord("1"))
		d := w.deliverer(nil)
		checkResult(t, deliver(t, d), Delivered, listed)
		w.dns.failing("_mta-sts.example.test")
		w.clock.advance(2 * time.Minute)
		checkResult(t, deliver(t, d), Delivered, listed)
	})
}

// The default policy client resolves mta-sts.<domain> through the deliverer's
// resolver (VEILIG_DNS_RESOLVER), not the system's, and connects with its
// dialer: example.test exists only in the test resolver.
func TestMTASTSPolicyHostResolvedByTheResolver(t *testing.T) {
	t.Parallel()
	enforce := testenv.MTASTSPolicy("enforce", 24*time.Hour, "mx2.example.test")
	w, sts, rogue, listed := stsWorld(t, enforce, stsRecord("1"), "mta-sts.example.test. 60 IN A 192.0.2.80")
	w.http = nil
	w.dial["192.0.2.80"] = sts.Addr()
	checkResult(t, deliver(t, w.deliverer(nil)), Delivered,
		[]wantAttempt{{mx: "mx.example.test", policy: PolicyMTASTS, err: "not listed in the MTA-STS policy"},
			{mx: "mx2.example.test", policy: PolicyMTASTS, code: 250}})
	if n := sts.Fetches("example.test"); n != 1 || rogue.connections() != 0 || len(listed.messages()) != 1 {
		t.Fatalf("%d policy fetches, unlisted MX %d connections, listed MX %d messages", n,
			rogue.connections(), len(listed.messages()))
	}
}
