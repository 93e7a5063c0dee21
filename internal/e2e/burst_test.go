package e2e

// Scenario 4: kill -9 of the server during a burst of submissions, then a
// restart on the same database and data directory. Every message answered 202
// must be delivered (at least once); duplicates are counted and reported; no
// message that was never accepted may arrive.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

const (
	burstSize      = 500
	burstClients   = 8
	burstKillAfter = 150
	burstReplays   = 5 // accepted requests sent again, as a client unsure of its answer would
	burstWait      = 4 * time.Minute
	maildirWait    = time.Minute
	burstPoll      = 2 * time.Second // listing 500 messages is not free
)

// restartSettings make a delivery claimed by the killed process run again soon.
func restartSettings() map[string]string {
	return map[string]string{"VEILIG_DELIVERY_JOB_TIMEOUT": "20s", "VEILIG_DELIVERY_RESCUE_AFTER": "25s"}
}

// burstResult is what one request got: a status, or no answer at all.
type burstResult struct {
	status   int // 0: no answer (connection refused or cut)
	id       string
	replayed bool
	err      error
}

func burstKey(i int) string { return fmt.Sprintf("burst-%04d", i) }

// post sends message i with its Idempotency-Key.
func postBurst(c *testenv.APIClient, i int) burstResult {
	body, ctype, err := testenv.MultipartMessage(testenv.Draft{To: []string{burstRcpt}, Subject: burstKey(i), Text: "Bericht " + burstKey(i) + ".\n"})
	if err != nil {
		return burstResult{err: err}
	}
	resp, raw, err := c.Send(http.MethodPost, "/api/v1/messages", ctype, bytes.NewReader(body),
		http.Header{"Idempotency-Key": {burstKey(i)}})
	if err != nil {
		return burstResult{err: err}
	}
	r := burstResult{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	var acc testenv.Accepted
	if r.status == http.StatusAccepted {
		if err := json.Unmarshal(raw, &acc); err != nil || acc.ID == "" {
			return burstResult{status: r.status, err: fmt.Errorf("202 without an id: %s", raw)}
		}
		r.id = acc.ID
	} else {
		r.err = fmt.Errorf("%d %s", resp.StatusCode, raw)
	}
	return r
}

// runBurst posts the messages in idx with burstClients concurrent clients into
// results; after each answer it calls observe (which may be nil).
func runBurst(c *testenv.APIClient, idx []int, results []burstResult, observe func(burstResult)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range burstClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] = postBurst(c, i)
				if observe != nil {
					observe(results[i])
				}
			}
		}()
	}
	for _, i := range idx {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

func (e *env) burst(t *testing.T) {
	begin := time.Now()
	first := e.burstUntilKilled(t)
	killed := time.Now()
	e.srv = e.v.Start(t, "serve-2", restartSettings())
	c := testenv.Login(t, e.srv.URL, burstUser, e.password)
	ids := e.resubmit(t, c, first)
	resubmitted := time.Now()

	byMessageID := checkStored(t, c, ids)
	waitAllDelivered(t, c, ids)
	waitSelfCopies(t, c, ids)
	settled := time.Now()
	dups := e.checkBurstMaildir(t, ids, byMessageID)
	t.Logf("burst: accept until kill %s, restart and resubmission %s, until every delivery was final %s",
		killed.Sub(begin).Round(time.Millisecond), resubmitted.Sub(killed).Round(time.Millisecond),
		settled.Sub(resubmitted).Round(time.Millisecond))
	t.Logf("burst: DUPLICATES: %d extra cop(y/ies) of %d deliveries (at-least-once)%s", len(dups), 2*burstSize,
		dupList(dups))
}

// burstUntilKilled runs the whole burst against the first server and kills it
// with SIGKILL once burstKillAfter messages were accepted; the clients go on
// and get no answer for the rest.
func (e *env) burstUntilKilled(t *testing.T) []burstResult {
	t.Helper()
	c := testenv.Login(t, e.srv.URL, burstUser, e.password)
	results := make([]burstResult, burstSize)
	all := make([]int, burstSize)
	for i := range all {
		all[i] = i
	}
	var n atomic.Int32
	reached, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		runBurst(c, all, results, func(r burstResult) {
			if r.status == http.StatusAccepted && n.Add(1) == burstKillAfter {
				close(reached)
			}
		})
	}()
	select {
	case <-reached:
		e.srv.Kill()
	case <-done:
	}
	<-done
	var ok, none, other int
	for i, r := range results {
		switch {
		case r.status == http.StatusAccepted:
			ok++
		case r.status == 0:
			none++
		default:
			other++
			t.Errorf("%s: %v", burstKey(i), r.err)
		}
	}
	t.Logf("burst: %d accepted (202) before and while the server was killed, %d without an answer, %d refused", ok, none, other)
	if ok < burstKillAfter || ok == burstSize {
		t.Fatalf("the server was not killed in the middle of the burst (%d of %d accepted)", ok, burstSize)
	}
	return results
}

// resubmit sends every request without a 202 again with the same key, and a
// few accepted ones too; it returns key index → message id.
func (e *env) resubmit(t *testing.T, c *testenv.APIClient, first []burstResult) []string {
	t.Helper()
	var again, seen []int
	for i, r := range first {
		if r.status != http.StatusAccepted {
			again = append(again, i)
		} else if len(seen) < burstReplays {
			seen = append(seen, i)
		}
	}
	second := make([]burstResult, burstSize)
	runBurst(c, append(again, seen...), second, nil)
	ids := make([]string, burstSize)
	replayed := 0
	for i := range first {
		ids[i] = first[i].id
		if r := second[i]; r.status != 0 || r.err != nil {
			switch {
			case r.status != http.StatusAccepted:
				t.Errorf("%s resubmitted: %d %v", burstKey(i), r.status, r.err)
			case first[i].id != "" && (r.id != first[i].id || !r.replayed):
				t.Errorf("%s sent again after its 202: id %s (replayed %v), first %s", burstKey(i), r.id, r.replayed, first[i].id)
			case first[i].id == "" && r.replayed:
				replayed++
			}
			if first[i].id == "" {
				ids[i] = r.id
			}
		}
	}
	t.Logf("burst: %d resubmitted with the same Idempotency-Key: %d were stored before the kill although "+
		"their client got no answer (replayed), %d stored now; %d accepted ones sent again answered as replays",
		len(again), replayed, len(again)-replayed, len(seen))
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// checkStored: the sender's list holds exactly the accepted messages, each once;
// it returns Message-ID → key index.
func checkStored(t *testing.T, c *testenv.APIClient, ids []string) map[string]int {
	t.Helper()
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	list := c.List(t)
	byMessageID := make(map[string]int, len(list))
	for _, s := range list {
		i, ok := index[s.ID]
		if !ok {
			t.Errorf("stored message %s (%s) was never accepted", s.ID, s.MessageID)
			continue
		}
		byMessageID[s.MessageID] = i
	}
	if len(list) != len(ids) || len(byMessageID) != len(ids) {
		t.Fatalf("the sender has %d messages (%d distinct Message-IDs) stored; %d were accepted",
			len(list), len(byMessageID), len(ids))
	}
	return byMessageID
}

// waitAllDelivered waits until every accepted message is delivered to its
// recipient by the server's own account.
func waitAllDelivered(t *testing.T, c *testenv.APIClient, ids []string) {
	t.Helper()
	testenv.Poll(t, burstWait, burstPoll, "every burst message delivered", func() (bool, string) {
		states := map[string]int{}
		for _, s := range c.List(t) {
			states[s.State]++
		}
		return states["delivered"] == len(ids), fmt.Sprint(states)
	})
}

// waitSelfCopies waits until the sender's own copy of every message is final.
func waitSelfCopies(t *testing.T, c *testenv.APIClient, ids []string) {
	t.Helper()
	pending := ids
	testenv.Poll(t, burstWait, burstPoll, "every self-copy delivered", func() (bool, string) {
		var still []string
		for _, id := range pending {
			if r, ok := c.Message(t, id).Recipient(burstUser, "self-copy"); !ok || r.State != "delivered" {
				still = append(still, id)
			}
		}
		pending = still
		return len(still) == 0, fmt.Sprintf("%d self-copies not delivered", len(still))
	})
}

// copyKey is one delivery as seen in the Maildir.
type copyKey struct{ rcpt, messageID string }

// checkBurstMaildir waits until every accepted message is in the Maildir for
// both the recipient and the sender's copy, requires that nothing else arrived,
// and returns the duplicates.
func (e *env) checkBurstMaildir(t *testing.T, ids []string, byMessageID map[string]int) map[copyKey]int {
	t.Helper()
	var counts map[copyKey]int
	testenv.Poll(t, maildirWait, burstPoll, "every accepted message in the Maildir", func() (bool, string) {
		counts = e.burstCopies(t, byMessageID)
		missing := 0
		for mid := range byMessageID {
			for _, rcpt := range []string{burstRcpt, burstUser} {
				if counts[copyKey{rcpt, mid}] == 0 {
					missing++
				}
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d copies missing", missing, 2*len(ids))
	})
	dups := map[copyKey]int{}
	for k, n := range counts {
		if n > 1 {
			dups[k] = n - 1
		}
	}
	return dups
}

// burstCopies counts the Maildir's messages per recipient and Message-ID and
// fails the test for any message that was never accepted.
func (e *env) burstCopies(t *testing.T, byMessageID map[string]int) map[copyKey]int {
	t.Helper()
	counts := map[copyKey]int{}
	for _, m := range e.lab.burst.Messages(t) {
		mid := strings.TrimSpace(m.Header.Get("Message-Id"))
		i, ok := byMessageID[mid]
		rcpt := strings.ToLower(m.Recipient)
		if !ok || m.Header.Get("Subject") != burstKey(i) || (rcpt != burstRcpt && rcpt != burstUser) {
			t.Fatalf("a message that was never accepted arrived: Message-ID %s, Subject %q, for %s",
				mid, m.Header.Get("Subject"), m.Recipient)
		}
		counts[copyKey{rcpt, mid}]++
	}
	return counts
}

func dupList(dups map[copyKey]int) string {
	if len(dups) == 0 {
		return ""
	}
	var lines []string
	for k, n := range dups {
		lines = append(lines, fmt.Sprintf("%s to %s: %d extra", k.messageID, k.rcpt, n))
	}
	sort.Strings(lines)
	return "\n  " + strings.Join(lines, "\n  ")
}
