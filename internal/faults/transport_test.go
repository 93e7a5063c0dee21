package faults

// Scenarios 3 and 4 (the recipient's MX down, the resolver down) and 6 (kill -9
// of one of two serve processes).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/veilig/veilig/internal/testenv"
)

const (
	transportBatch = 8   // messages sent while a peer is down
	killBurst      = 160 // messages of the two-process burst
	killAfter      = 40  // accepted by the first process before it is killed
)

// peersDown takes the recipient's MX and the resolver down at once (the two
// outages overlap, so the suite waits for one retry interval, not two), then
// brings both back and checks each.
//
// MX down: the MX refuses connections; every delivery defers with the failed
// attempt recorded and nothing arrives; once it listens again each message
// arrives exactly once, over DANE.
//
// Resolver down while a DANE domain is first looked up: its deliveries defer
// (no connection is made without the TLSA answer: no PKIX, no plaintext), then
// go out over DANE once it is back.
func (e *env) peersDown(t *testing.T) {
	e.lab.relay.down()
	mx := e.submitBatch(t, "mx", mxDownRcpt)
	t.Logf("mx down: %d deliveries deferred; evidence of the first: %s", len(mx), e.waitDeferred(t, mx, mxDownRcpt))
	e.lab.dnsFwd.down()
	dns := e.submitBatch(t, "dns", dnsDownRcpt)
	t.Logf("dns down: %d deliveries deferred; evidence of the first: %s", len(dns), e.waitDeferred(t, dns, dnsDownRcpt))
	e.checkNoConnection(t, dns, dnsDownRcpt)
	for _, o := range []struct {
		rcpt, prefix string
		ids          map[string]string
	}{{mxDownRcpt, "mx-", mx}, {dnsDownRcpt, "dns-", dns}} {
		if got := e.lab.copies(t, o.rcpt, o.prefix, subjects(o.ids)); len(got) != 0 {
			t.Fatalf("%d message(s) for %s arrived during the outage", len(got), o.rcpt)
		}
	}
	if err := e.lab.relay.up(); err != nil {
		t.Fatalf("MX relay back up: %v", err)
	}
	e.lab.dnsFwd.up(t)
	t.Run("recipient MX back", func(t *testing.T) {
		report(t, "recipient MX down", e.lab.count(t, mxDownRcpt, "mx-", subjects(mx)), false)
		e.checkFinalPolicy(t, mx, mxDownRcpt, "dane-ee")
	})
	t.Run("resolver back", func(t *testing.T) {
		report(t, "DNS resolver down", e.lab.count(t, dnsDownRcpt, "dns-", subjects(dns)), false)
		e.checkFinalPolicy(t, dns, dnsDownRcpt, "dane-ee")
	})
}

// submitBatch submits transportBatch messages to rcpt; it returns subject → id.
func (e *env) submitBatch(t *testing.T, prefix, rcpt string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for i := range transportBatch {
		key := fmt.Sprintf("%s-%04d", prefix, i)
		r := post(e.c, key, rcpt)
		if r.status != http.StatusAccepted || r.err != nil {
			t.Fatalf("submit %s: %d %v %s", key, r.status, r.err, r.body)
		}
		ids[key] = r.id
	}
	return ids
}

func subjects(ids map[string]string) map[string]bool {
	out := make(map[string]bool, len(ids))
	for k := range ids {
		out[k] = true
	}
	return out
}

// waitDeferred waits until every delivery to rcpt is deferred with at least
// one attempt recorded, and returns the first one's last attempt as JSON.
func (e *env) waitDeferred(t *testing.T, ids map[string]string, rcpt string) string {
	t.Helper()
	var evidence string
	testenv.WaitFor(t, settleWait, "every delivery to "+rcpt+" deferred with evidence", func() (bool, string) {
		pending := 0
		for _, id := range ids {
			r, ok := e.c.Message(t, id).Recipient(rcpt, "to")
			if !ok || r.State != "deferred" || len(r.Attempts) == 0 {
				pending++
				continue
			}
			if evidence == "" {
				js, _ := json.Marshal(r.Attempts[len(r.Attempts)-1])
				evidence = string(js)
			}
		}
		return pending == 0, fmt.Sprintf("%d of %d not yet deferred with an attempt", pending, len(ids))
	})
	return evidence
}

// checkNoConnection: no recorded attempt reached an MX (no policy, no reply),
// so nothing went out under a weaker policy than DANE.
func (e *env) checkNoConnection(t *testing.T, ids map[string]string, rcpt string) {
	t.Helper()
	for key, id := range ids {
		r, _ := e.c.Message(t, id).Recipient(rcpt, "to")
		for _, a := range r.Attempts {
			if a.Policy != "" || a.Code != 0 || a.Outcome == "delivered" {
				t.Errorf("%s: attempt while the resolver was down reached a server: %+v", key, a)
			}
		}
	}
}

// checkFinalPolicy: each delivery to rcpt was made under policy.
func (e *env) checkFinalPolicy(t *testing.T, ids map[string]string, rcpt, policy string) {
	t.Helper()
	for key, id := range ids {
		m := e.c.WaitRecipient(t, id, rcpt, "to", "delivered", settleWait)
		r, _ := m.Recipient(rcpt, "to")
		if last := r.Attempts[len(r.Attempts)-1]; last.Policy != policy || last.Outcome != "delivered" {
			t.Errorf("%s: delivered with %+v, want policy %s", key, last, policy)
		}
	}
}

// killOneOfTwo: two serve processes share PostgreSQL; the first is killed with
// SIGKILL during a burst sent to both. The second keeps accepting, takes over
// what the first had claimed once its claims expire, and every accepted message
// is delivered.
func (e *env) killOneOfTwo(t *testing.T) {
	second := e.v.Start(t, "serve-2", nil)
	c2 := testenv.Login(t, second.URL, sender, e.password)
	var n atomic.Int32
	reached := make(chan struct{})
	half := killBurst / 2
	firstDone := make(chan map[string]result)
	go func() {
		firstDone <- load(e.c, inbox, counter("kill-a", half, nil), func(_ string, r result) {
			if r.status == http.StatusAccepted && n.Add(1) == killAfter {
				close(reached)
			}
		})
	}()
	secondDone := make(chan map[string]result)
	go func() { secondDone <- load(c2, inbox, counter("kill-b", half, nil), nil) }()
	<-reached
	e.srv.Kill()
	first, onSecond := <-firstDone, <-secondDone
	if status, _, raw := get(second.URL, "/readyz"); status != http.StatusOK {
		t.Errorf("the surviving process is not ready: %d %s", status, raw)
	}
	accepted, ids := map[string]bool{}, map[string]string{}
	acceptedSet(first, accepted, ids)
	killedWith := len(accepted)
	for k, r := range onSecond {
		if r.status != http.StatusAccepted {
			t.Errorf("%s to the surviving process: %d %v %s", k, r.status, r.err, r.body)
		}
	}
	acceptedSet(onSecond, accepted, ids)
	e.c = c2
	e.retryRefused(t, first, accepted, ids)
	t.Logf("kill -9: first process accepted %d of %d before it died, second %d of %d; %d sent again to the second",
		killedWith, half, len(onSecond), half, len(accepted)-killedWith-len(onSecond))
	e.checkWhole(t, "kill-", len(accepted))
	// At-least-once across a crash: duplicates are counted and reported.
	report(t, "kill -9 of one of two serve processes", e.lab.count(t, inbox, "kill-", accepted), true)
}
