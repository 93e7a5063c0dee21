package outbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

var (
	delivered = delivery.Result{Outcome: delivery.Delivered, Attempts: []delivery.Attempt{{
		StartedAt: t0, FinishedAt: t0.Add(time.Second), MX: "mx.b.example", IP: "192.0.2.25",
		Policy: delivery.PolicyDANEEE, TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", TLSAMatch: "3 1 1",
		Code: 250, Enhanced: "2.0.0", Reply: "queued as 1234"}}}
	temporary = delivery.Result{Outcome: delivery.Temporary, Reason: "451 4.3.0 try again later",
		Attempts: []delivery.Attempt{{StartedAt: t0, FinishedAt: t0, MX: "mx.b.example", IP: "192.0.2.25",
			Policy: delivery.PolicyPKIX, Code: 451, Enhanced: "4.3.0", Reply: "try again later", Error: "451"}}}
	permanent = delivery.Result{Outcome: delivery.Permanent, Reason: "550 5.1.1 no such user",
		Attempts: []delivery.Attempt{{MX: "mx.b.example", Code: 550, Enhanced: "5.1.1", Reply: "no such user",
			Error: "550"}}}
	dnsFailure = delivery.Result{Outcome: delivery.Temporary, Reason: "SERVFAIL for b.example MX",
		Suspicious: true}
)

func TestWorkerStateMachine(t *testing.T) {
	tests := []struct {
		name       string
		results    []delivery.Result
		runs       int           // runs of the job
		age        time.Duration // clock advance before the last run
		maxAtt     int
		status     string
		state      string // the message's
		evidence   int
		notice     bool
		suspicious bool
	}{
		{"delivered", []delivery.Result{delivered}, 1, 0, 100, message.StatusDelivered, message.StateDelivered, 1, false, false},
		{"temporary", []delivery.Result{temporary}, 1, 0, 100, message.StatusDeferred, message.StateSending, 1, false, false},
		{"temporary then delivered", []delivery.Result{temporary, delivered}, 2, 0, 100, message.StatusDelivered, message.StateDelivered, 2, false, false},
		{"no server reached", []delivery.Result{dnsFailure}, 1, 0, 100, message.StatusDeferred, message.StateSending, 1, false, true},
		{"permanent", []delivery.Result{permanent}, 1, 0, 100, message.StatusFailed, message.StateFailed, 1, true, false},
		{"too old", []delivery.Result{temporary}, 2, 49 * time.Hour, 100, message.StatusFailed, message.StateFailed, 2, true, false},
		{"last attempt", []delivery.Result{temporary}, 3, 0, 3, message.StatusFailed, message.StateFailed, 3, true, false},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.fake.set(tt.results...)
				msgID, id := e.send(t)
				var err error
				for i := 1; i <= tt.runs; i++ {
					if i == tt.runs {
						e.clock.Add(tt.age)
					}
					err = e.o.work(context.Background(), run{JobID: 7, Attempt: i, MaxAttempts: tt.maxAtt, DeliveryID: id})
				}
				checkRun(t, e, err, tt.status)
				st, r := e.recipientStatus(t, msgID, message.KindTo)
				if r.Status != tt.status || st.State != tt.state || r.Attempts != tt.runs ||
					len(r.Evidence) != tt.evidence || r.Suspicious != tt.suspicious {
					t.Errorf("recipient %+v in state %s; want %s/%s, %d runs, %d attempts, suspicious %v",
						r, st.State, tt.status, tt.state, tt.runs, tt.evidence, tt.suspicious)
				}
				if _, n := e.recipientStatus(t, msgID, message.KindNotice); (n.Address != "") != tt.notice {
					t.Errorf("notice %+v, want one: %v", n, tt.notice)
				}
			})
		}
	})
}

// checkRun checks what a run returns to River: an error exactly when deferred.
func checkRun(t *testing.T, e *env, err error, status string) {
	t.Helper()
	var de *DeferredError
	if status == message.StatusDeferred {
		want := e.clock.Now().Add(e.o.cfg.Retry.Delay(7, 1))
		if !errors.As(err, &de) || !de.Next.Equal(want) {
			t.Errorf("run = %v, want deferred until %s", err, want)
		}
		return
	}
	if err != nil {
		t.Errorf("run = %v, want nil", err)
	}
}

func TestDeferredRecordsNextAttemptAndEvidence(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		e.fake.set(temporary)
		msgID, id := e.send(t)
		_ = e.o.work(context.Background(), run{JobID: 42, Attempt: 1, MaxAttempts: 100, DeliveryID: id})
		_, r := e.recipientStatus(t, msgID, message.KindTo)
		want := t0.Add(e.o.cfg.Retry.Delay(42, 1)).Truncate(time.Microsecond)
		if r.NextAttemptAt == nil || !r.NextAttemptAt.Equal(want) || r.LastError != temporary.Reason {
			t.Errorf("next attempt %v, last error %q; want %s, %q", r.NextAttemptAt, r.LastError, want, temporary.Reason)
		}
		a := r.Evidence[0]
		if a.Run != 1 || a.MX != "mx.b.example" || a.Policy != "pkix" || a.Code != 451 || a.Outcome != message.OutcomeTemporary {
			t.Errorf("evidence %+v", a)
		}
	})
}

func TestWorkerSkipsAFinalDelivery(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		e.fake.set(delivered)
		_, id := e.send(t)
		for i := 1; i <= 2; i++ { // River runs a job again after a crash: at-least-once
			if err := e.o.work(context.Background(), run{JobID: 1, Attempt: i, MaxAttempts: 100, DeliveryID: id}); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		if n := len(e.fake.called()); n != 1 {
			t.Errorf("delivered %d times, want once", n)
		}
	})
}

func TestEnvelopeCarriesSignedMessage(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		e.fake.set(delivered)
		msgID, id := e.send(t)
		if err := e.o.work(context.Background(), run{JobID: 1, Attempt: 1, MaxAttempts: 100, DeliveryID: id}); err != nil {
			t.Fatal(err)
		}
		c := e.fake.called()[0]
		var key string
		e.db.Raw("SELECT blob_key FROM messages WHERE id = ?", msgID).Scan(&key)
		body := fakeSig + e.blobText(t, key)
		if c.domain != "b.example" || c.from != sender || len(c.to) != 1 || c.to[0] != recipient ||
			c.body != body || c.size != int64(len(body)) {
			t.Errorf("envelope %+v, want from %s to %s with the signed blob", c, sender, recipient)
		}
	})
}

func TestNoticeGoesToTheSenderAndIsNeverBounced(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		e.fake.set(permanent)
		msgID, id := e.send(t)
		jobs := e.jobs(t)
		if err := e.o.work(context.Background(), run{JobID: 1, Attempt: 1, MaxAttempts: 100, DeliveryID: id}); err != nil {
			t.Fatal(err)
		}
		if got := e.jobs(t); got != jobs+1 {
			t.Errorf("%d jobs after the failure, want %d (the notice's)", got, jobs+1)
		}
		noticeID := e.deliveryID(t, msgID, message.KindNotice)
		if err := e.o.work(context.Background(), run{JobID: 2, Attempt: 1, MaxAttempts: 100, DeliveryID: noticeID}); err != nil {
			t.Fatal(err)
		}
		c := e.fake.called()[1]
		wantIn := []string{"From: Veilig <postmaster@" + host + ">", "To: <" + sender + ">", "Auto-Submitted: auto-replied",
			"In-Reply-To: <" + msgID + "@" + host + ">", recipient, "550 5.1.1 no such user"}
		if c.from != "" || c.to[0] != sender || !contains(c.body, wantIn...) || contains(c.body, "DKIM-Signature") {
			t.Errorf("notice envelope from %q to %v, body:\n%s", c.from, c.to, c.body)
		}
		if contains(c.body, "Onderwerp") {
			t.Error("the notice quotes the message's subject")
		}
		_, n := e.recipientStatus(t, msgID, message.KindNotice)
		if n.Status != message.StatusFailed || e.jobs(t) != jobs+1 {
			t.Errorf("failed notice: %+v, %d jobs; want failed and no notice about it", n, e.jobs(t))
		}
	})
}

func TestMissingDeliveryCancelsTheJob(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		err := e.o.work(context.Background(), run{JobID: 1, Attempt: 1, MaxAttempts: 100, DeliveryID: "gone"})
		if !errors.Is(err, message.ErrNotFound) || len(e.fake.called()) != 0 {
			t.Errorf("run = %v, want a cancel wrapping ErrNotFound and no delivery", err)
		}
	})
}

// TestSharedTransaction: the recipients of one message at one domain go in one
// SMTP transaction; each gets its own outcome from the per-recipient replies,
// their own jobs then find them final; the sender's copy at another domain is
// its own transaction.
func TestSharedTransaction(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		acc, err := e.svc.Accept(ctx, e.from, message.Draft{To: []string{"bob@b.example", "carol@b.example"},
			Cc: []string{"dave@b.example"}, Subject: "Onderwerp", Text: "Tekst"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		var rows []struct{ Address, ID string }
		e.db.Raw("SELECT address, id FROM deliveries WHERE message_id = ?", acc.ID).Scan(&rows)
		for _, r := range rows {
			ids[r.Address] = r.ID
		}
		mixed := delivered
		mixed.Outcome, mixed.Reason = delivery.Permanent, "550 5.1.1 no such user"
		mixed.PerRecipient = map[string]delivery.Outcome{"bob@b.example": delivery.Delivered,
			"carol@b.example": delivery.Permanent, "dave@b.example": delivery.Delivered}
		e.fake.set(mixed, delivered)
		for _, addr := range []string{"bob@b.example", "carol@b.example", "dave@b.example", e.from.Email} {
			if err := e.o.work(ctx, run{JobID: 1, Attempt: 1, MaxAttempts: 100, DeliveryID: ids[addr]}); err != nil {
				t.Fatalf("job of %s: %v", addr, err)
			}
		}
		e.fake.mu.Lock()
		calls := e.fake.calls
		e.fake.mu.Unlock()
		if len(calls) != 2 || calls[0].domain != "b.example" ||
			strings.Join(calls[0].to, ",") != "bob@b.example,carol@b.example,dave@b.example" ||
			strings.Join(calls[1].to, ",") != e.from.Email {
			t.Fatalf("transactions %+v, want one to the three at b.example and the sender's copy", calls)
		}
		st, err := e.svc.Get(ctx, e.from, acc.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"bob@b.example": message.StatusDelivered, "carol@b.example": message.StatusFailed,
			"dave@b.example": message.StatusDelivered}
		for _, r := range st.Recipients {
			if w, ok := want[r.Address]; ok && (r.Status != w || len(r.Evidence) != 1) {
				t.Errorf("%s: %s with %d attempts, want %s with 1", r.Address, r.Status, len(r.Evidence), w)
			}
		}
		if _, n := e.recipientStatus(t, acc.ID, message.KindNotice); n.Address != e.from.Email {
			t.Errorf("notice %+v, want one for carol's failure", n)
		}
	})
}

// TestClaimedDeliveryWaits: a job whose delivery another job is sending snoozes
// and sends nothing; once the claim is gone it delivers.
func TestClaimedDeliveryWaits(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		e.fake.set(delivered)
		_, id := e.send(t)
		d, err := e.store.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Claim(ctx, d, 0, time.Now().Add(time.Hour), 1); err != nil {
			t.Fatal(err)
		}
		err = e.o.work(ctx, run{JobID: 1, Attempt: 1, MaxAttempts: 100, DeliveryID: id})
		var snooze *river.JobSnoozeError
		if !errors.As(err, &snooze) || len(e.fake.calls) != 0 {
			t.Fatalf("run while claimed = %v with %d sends, want a snooze and none", err, len(e.fake.calls))
		}
		if err := e.store.Release(ctx, []string{id}); err != nil {
			t.Fatal(err)
		}
		if err := e.o.work(ctx, run{JobID: 1, Attempt: 1, MaxAttempts: 100, DeliveryID: id}); err != nil || len(e.fake.calls) != 1 {
			t.Fatalf("run after release = %v with %d sends, want delivered once", err, len(e.fake.calls))
		}
	})
}

// TestClaimOfDeadJobIsTakenOver: a claim whose job is not running (its process
// died and River set the job back) does not hold the delivery.
func TestClaimOfDeadJobIsTakenOver(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		e.fake.set(delivered)
		_, id := e.send(t)
		d, err := e.store.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Claim(ctx, d, 424242, time.Now().Add(time.Hour), 1); err != nil {
			t.Fatal(err)
		}
		if err := e.o.work(ctx, run{JobID: 1, Attempt: 2, MaxAttempts: 100, DeliveryID: id}); err != nil || len(e.fake.calls) != 1 {
			t.Fatalf("run = %v with %d sends, want the dead job's claim taken over and one delivery", err, len(e.fake.calls))
		}
	})
}

// TestClaimAfterAnotherSent: a delivery read as queued but sent by another job
// before this one claims it is not sent again (no duplicate).
func TestClaimAfterAnotherSent(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		ctx := context.Background()
		_, id := e.send(t)
		d, err := e.store.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.db.Exec("UPDATE deliveries SET status = 'delivered' WHERE id = ?", id).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Claim(ctx, d, 0, time.Now().Add(time.Hour), 10); !errors.Is(err, message.ErrFinal) {
			t.Fatalf("Claim of a delivery sent meanwhile = %v, want ErrFinal", err)
		}
		var claims int64
		e.db.Raw("SELECT COUNT(*) FROM delivery_claims").Scan(&claims)
		if claims != 0 {
			t.Errorf("%d claims left behind", claims)
		}
	})
}
