package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// env is what the scenarios share.
type env struct {
	lab      *lab
	pg       *testenv.Postgres
	v        *testenv.Veilig
	srv      *testenv.Serve
	password string
	c        *testenv.APIClient // the sender on srv
}

func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite runs the binary against real peers; it is not short")
	}
	begin := time.Now()
	e := &env{lab: startLab(t), pg: testenv.StartPostgres(t), password: "faults-" + randomHex(t)}
	e.v = prepare(t, e.lab, e.pg.URL(), e.password)
	e.srv = e.v.Start(t, "serve-1", nil)
	e.c = testenv.Login(t, e.srv.URL, sender, e.password)
	t.Logf("lab, build, migrate, import and start: %s", time.Since(begin).Round(time.Millisecond))
	scenarios := []struct {
		name string
		run  func(*testing.T)
	}{
		{"PostgreSQL stopped under load", e.postgresDown},
		{"LDAP killed mid-sync", e.ldapKilled},
		{"recipient MX and DNS resolver down, then back", e.peersDown},
		{"SMS provider timing out", e.smsTimeout},
		{"kill -9 of one of two serve processes", e.killOneOfTwo},
	}
	for _, sc := range scenarios {
		start := time.Now()
		t.Run(sc.name, sc.run)
		t.Logf("scenario %q: %s", sc.name, time.Since(start).Round(time.Millisecond))
	}
}

// Scenario 1.
const (
	pgStopAfter  = 30 // accepted before PostgreSQL is stopped
	pgDownAnswer = 40 // answers collected while it is down
	readyWait    = 2 * time.Minute
)

// driverText matches what must never reach a client: driver, network and SQL
// details.
var driverText = regexp.MustCompile(`(?i)sqlstate|pgconn|pgx|gorm|postgres|dial |connect(ion)? refused|` +
	`127\.0\.0\.1|broken pipe|unexpected eof|sql:|driver|terminating connection|shutdown`)

// postgresDown: PostgreSQL stops at once under a send load. The API answers 503
// problem+json without driver text, /readyz says 503; after PostgreSQL is back
// the same process serves again, a retry with the same Idempotency-Key is
// accepted, no message is half-written and everything accepted is delivered.
func (e *env) postgresDown(t *testing.T) {
	pid := e.srv.PID()
	first, stoppedAt := e.loadUntilDown(t)
	e.checkUnavailable(t, first, stoppedAt)
	e.pg.Start()
	testenv.WaitFor(t, readyWait, "/readyz 200 after PostgreSQL is back", func() (bool, string) {
		status, _, raw := get(e.srv.URL, "/readyz")
		return status == http.StatusOK, fmt.Sprintf("%d %s", status, raw)
	})
	if !e.srv.Alive() || e.srv.PID() != pid {
		t.Fatalf("serve did not survive the outage (alive %v)", e.srv.Alive())
	}
	accepted, ids := map[string]bool{}, map[string]string{}
	acceptedSet(first, accepted, ids)
	before := len(accepted)
	e.retryRefused(t, first, accepted, ids)
	t.Logf("postgres: %d accepted before and during the outage, %d accepted on retry after it", before, len(accepted)-before)
	e.checkWhole(t, "pg-", len(accepted))
	// A delivery whose 250 could not be recorded because PostgreSQL went away
	// runs again: at-least-once, so duplicates are counted, not failed.
	report(t, "postgres stopped under load", e.lab.count(t, inbox, "pg-", accepted), true)
}

// loadUntilDown runs the load, stops PostgreSQL once pgStopAfter messages were
// accepted and ends the load after pgDownAnswer answers during the outage.
func (e *env) loadUntilDown(t *testing.T) (map[string]result, int) {
	t.Helper()
	stop, reached := make(chan struct{}), make(chan struct{})
	var accepted, after atomic.Int32
	var down atomic.Bool
	var once sync.Once
	done := make(chan map[string]result)
	go func() {
		done <- load(e.c, inbox, counter("pg", 0, stop), func(_ string, r result) {
			if r.status == http.StatusAccepted && accepted.Add(1) == pgStopAfter {
				close(reached)
			}
			if down.Load() && after.Add(1) == pgDownAnswer {
				once.Do(func() { close(stop) })
			}
		})
	}()
	select {
	case <-reached:
	case <-time.After(settleWait):
		close(stop)
		t.Fatalf("only %d messages accepted before the outage", accepted.Load())
	}
	e.pg.StopImmediate()
	n := int(accepted.Load())
	down.Store(true)
	results := <-done
	return results, n
}

// checkUnavailable: every answer but 202 is 503 problem+json without driver
// text, and so are /readyz and a read while PostgreSQL is down.
func (e *env) checkUnavailable(t *testing.T, results map[string]result, stoppedAt int) {
	t.Helper()
	statuses := map[int]int{}
	for key, r := range results {
		statuses[r.status]++
		if r.status != http.StatusAccepted {
			checkProblem(t, "POST "+key, r.status, r.ctype, r.body)
		}
	}
	t.Logf("postgres: stopped after %d accepted; answers to %d submissions: %v", stoppedAt, len(results), statuses)
	status, ctype, raw := get(e.srv.URL, "/readyz")
	checkProblem(t, "GET /readyz", status, ctype, raw)
	resp, body, err := e.c.Send(http.MethodGet, "/api/v1/messages?limit=5", "", nil, nil)
	if err != nil {
		t.Fatalf("GET /api/v1/messages: %v", err)
	}
	checkProblem(t, "GET /api/v1/messages", resp.StatusCode, resp.Header.Get("Content-Type"), body)
}

// checkProblem requires 503 problem+json (RFC 9457) whose text reveals nothing
// of the driver.
func checkProblem(t *testing.T, what string, status int, ctype string, body []byte) {
	t.Helper()
	var p struct {
		Type, Title, Detail string
		Status              int
	}
	if status != http.StatusServiceUnavailable {
		t.Errorf("%s while PostgreSQL is down: %d, want 503; body %s", what, status, body)
	}
	if !strings.HasPrefix(ctype, "application/problem+json") || json.Unmarshal(body, &p) != nil || p.Status != status {
		t.Errorf("%s: not problem+json (%q): %s", what, ctype, body)
	}
	if m := driverText.Find(body); m != nil {
		t.Errorf("%s: the answer reveals %q: %s", what, m, body)
	}
}

// retryRefused sends every submission without a 202 again with its
// Idempotency-Key, as a client does after a 503; each must now be accepted.
func (e *env) retryRefused(t *testing.T, first map[string]result, accepted map[string]bool, ids map[string]string) {
	t.Helper()
	var again []string
	for k := range first {
		if !accepted[k] {
			again = append(again, k)
		}
	}
	sort.Strings(again)
	second := load(e.c, inbox, keys(again), nil)
	for k, r := range second {
		if r.status != http.StatusAccepted || r.err != nil {
			t.Errorf("%s sent again after the outage: %d %v %s", k, r.status, r.err, r.body)
		}
	}
	acceptedSet(second, accepted, ids)
}

// checkWhole: the database holds exactly n messages with the prefix, each with
// both its deliveries (recipient and sender's copy), none half-written.
func (e *env) checkWhole(t *testing.T, prefix string, n int) {
	t.Helper()
	db := e.openDB(t)
	var stored, partial int64
	q := db.WithContext(t.Context())
	if err := q.Raw("SELECT count(*) FROM messages WHERE idempotency_key LIKE ?", prefix+"%").Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if err := q.Raw(`SELECT count(*) FROM messages m WHERE m.idempotency_key LIKE ? AND
		(SELECT count(*) FROM deliveries d WHERE d.message_id = m.id) <> 2`, prefix+"%").Scan(&partial).Error; err != nil {
		t.Fatal(err)
	}
	if stored != int64(n) || partial != 0 {
		t.Errorf("stored %d messages (%d accepted), %d without exactly their 2 deliveries", stored, n, partial)
	}
}

func (e *env) openDB(t *testing.T) *database.DB {
	t.Helper()
	return openURL(t, e.pg.URL())
}

// openURL opens the database at url for the test's own queries.
func openURL(t *testing.T, url string) *database.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.Open(ctx, url, testenv.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// get fetches base+path without a token; status 0 is no answer.
func get(base, path string) (status int, ctype string, body []byte) {
	resp, raw, err := testenv.NewAPIClient(base, "").Send(http.MethodGet, path, "", nil, nil)
	if err != nil {
		return 0, "", []byte(err.Error())
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
