package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/message"
)

// errPurged: the message's data key is destroyed (withdrawn or expired).
var errPurged = errors.New("content destroyed")

// purgedReason is the recorded reason of a delivery whose content is gone.
const purgedReason = "the message was withdrawn or has expired; its content is destroyed"

// Shared SMTP transactions: at most maxBatch recipients per transaction (RFC
// 5321 §4.5.3.1.8 requires servers to take 100); a claim outlives the job's
// timeout by claimMargin; a job whose delivery another job is sending looks
// again after claimedSnooze.
const (
	maxBatch      = 50
	claimMargin   = time.Minute
	claimedSnooze = 10 * time.Second
)

// recordTimeout bounds recording a run's outcome, which happens even when the
// run's own context was cancelled by a stop.
const recordTimeout = 30 * time.Second

// worker is the River worker of delivery jobs.
type worker struct {
	river.WorkerDefaults[DeliverArgs]
	o *Outbox
}

// Work runs one delivery. A deferred delivery returns an error, so that River
// schedules the next run at NextRetry.
func (w *worker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.o.work(ctx, run{JobID: job.ID, Attempt: job.Attempt, MaxAttempts: job.MaxAttempts,
		DeliveryID: job.Args.DeliveryID})
}

// NextRetry schedules the next run of a deferred delivery by the policy.
func (w *worker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	return w.o.now().UTC().Add(w.o.cfg.Retry.Delay(job.ID, job.Attempt))
}

// run identifies one run of a delivery job.
type run struct {
	JobID                int64
	Attempt, MaxAttempts int // River's: 1 on the first run
	DeliveryID           string
}

// DeferredError is what a run returns when the delivery is deferred.
type DeferredError struct {
	Reason string
	Next   time.Time
}

func (e *DeferredError) Error() string {
	return fmt.Sprintf("outbox: delivery deferred until %s: %s", e.Next.UTC().Format(time.RFC3339), e.Reason)
}

// work loads the delivery, skips it when final, delivers it, and records the
// outcome (and a bounce notice when it failed).
func (o *Outbox) work(ctx context.Context, r run) error {
	d, err := o.store.Delivery(ctx, r.DeliveryID)
	if errors.Is(err, message.ErrNotFound) {
		o.log.Warn("delivery job without delivery; dropped", "delivery", r.DeliveryID)
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if d.Final() {
		o.log.Info("delivery already final; run skipped", "delivery", d.ID, "status", d.Status)
		return nil
	}
	if d.Content == nil && (d.BlobKey != "" || d.Kind != message.KindNotice) {
		return o.record(ctx, d, message.Outcome{Status: message.StatusFailed, Reason: purgedReason})
	}
	if wait := o.notDue(d, r); wait > 0 {
		return river.JobSnooze(wait) // deferred by another job's shared transaction
	}
	batch, err := o.store.Claim(ctx, d, r.JobID, o.now().Add(o.cfg.JobTimeout+claimMargin), maxBatch)
	if errors.Is(err, message.ErrClaimed) {
		return river.JobSnooze(claimedSnooze) // another job is sending it right now
	}
	if errors.Is(err, message.ErrFinal) {
		o.log.Info("delivery already final; run skipped", "delivery", d.ID)
		return nil
	}
	if err != nil {
		return err
	}
	defer o.release(ctx, batch)
	return o.deliverBatch(ctx, r, batch)
}

// deliverBatch sends batch (d first, then other recipients of its message at
// its domain) in one SMTP transaction and records each one's outcome. The
// result is the first's: the others' own jobs find them final, or deferred and
// due later.
func (o *Outbox) deliverBatch(ctx context.Context, r run, batch []message.Delivery) error {
	env, err := o.envelope(ctx, batch[0])
	if err != nil {
		return err // retried by River
	}
	env.To = make([]string, len(batch))
	for i, d := range batch {
		env.To[i] = d.Address
	}
	started := o.now()
	res := o.deliverer.Deliver(ctx, batch[0].Domain, env)
	first := o.record(ctx, batch[0], o.decide(batch[0], r, resultFor(res, batch[0].Address), started))
	for _, d := range batch[1:] {
		err := o.record(ctx, d, o.decide(d, r, resultFor(res, d.Address), started))
		var deferred *DeferredError
		if err != nil && !errors.As(err, &deferred) {
			o.log.Error("could not record a shared delivery; its own job runs it again", "delivery", d.ID, "err", err)
		}
	}
	return first
}

// resultFor is the result for one recipient of a shared transaction.
func resultFor(res delivery.Result, address string) delivery.Result {
	out, ok := res.PerRecipient[address]
	if !ok {
		return res
	}
	res.Outcome, res.PerRecipient = out, nil
	if out == delivery.Delivered {
		res.Reason = ""
	}
	return res
}

// notDue is how long a deferred delivery still waits when its job runs for the
// first time although the delivery was tried already: another job's shared
// transaction deferred it. (A job's own retries River schedules when due.)
func (o *Outbox) notDue(d message.Delivery, r run) time.Duration {
	if r.Attempt > 1 || d.Status != message.StatusDeferred || d.NextAttemptAt == nil {
		return 0
	}
	if wait := d.NextAttemptAt.Sub(o.now()); wait > time.Second {
		return wait
	}
	return 0
}

// release ends the batch's claims once its outcomes are recorded.
func (o *Outbox) release(ctx context.Context, batch []message.Delivery) {
	ids := make([]string, len(batch))
	for i, d := range batch {
		ids[i] = d.ID
	}
	if err := o.store.Release(context.WithoutCancel(ctx), ids); err != nil {
		o.log.Warn("could not release delivery claims; they expire by themselves", "err", err)
	}
}

// envelope is what goes to the transport: the blob with the DKIM-Signature
// header field before it, from the sender — or from the null reverse-path for a
// notice, which must never cause a bounce itself (RFC 5321 §4.5.5, RFC 3834 §3.3).
func (o *Outbox) envelope(ctx context.Context, d message.Delivery) (delivery.Envelope, error) {
	from := d.SenderEmail
	if d.Kind == message.KindNotice {
		from = ""
	}
	if d.Kind == message.KindNotice && d.BlobKey == "" {
		return o.rendered(ctx, d)
	}
	return delivery.Envelope{From: from, To: []string{d.Address}, Size: int64(len(d.DKIMSignature)) + d.Size,
		Open: func() (io.ReadCloser, error) {
			if d.Content == nil {
				return nil, fmt.Errorf("outbox: message %s: %w", d.MessageID, errPurged)
			}
			rc, err := d.Content.Open(ctx, d.BlobKey)
			if err != nil {
				return nil, fmt.Errorf("outbox: open message %s: %w", d.MessageID, err)
			}
			return readCloser{Reader: io.MultiReader(strings.NewReader(d.DKIMSignature), rc), Closer: rc}, nil
		}}, nil
}

// rendered is a notice rendered now from the record (it has no blob).
func (o *Outbox) rendered(ctx context.Context, d message.Delivery) (delivery.Envelope, error) {
	if o.notices == nil {
		return delivery.Envelope{}, fmt.Errorf("outbox: notice %s has no content and no renderer", d.ID)
	}
	b, err := o.notices.RenderNotice(ctx, d)
	if err != nil {
		return delivery.Envelope{}, fmt.Errorf("outbox: render notice %s: %w", d.ID, err)
	}
	return delivery.Envelope{To: []string{d.Address}, Size: int64(len(b)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// decide turns a transport result into the delivery's next state.
func (o *Outbox) decide(d message.Delivery, r run, res delivery.Result, started time.Time) message.Outcome {
	now := o.now()
	out := message.Outcome{Reason: res.Reason, Suspicious: res.Suspicious}
	age := now.Sub(d.MessageCreatedAt)
	switch {
	case res.Outcome == delivery.Delivered:
		out.Status, out.Reason = message.StatusDelivered, ""
	case res.Outcome == delivery.Permanent:
		out.Status = message.StatusFailed
	case age >= o.cfg.MaxAge:
		out.Status = message.StatusFailed
		out.Reason = fmt.Sprintf("no delivery within %s: %s", o.cfg.MaxAge, res.Reason)
	case r.MaxAttempts > 0 && r.Attempt >= r.MaxAttempts:
		out.Status = message.StatusFailed
		out.Reason = fmt.Sprintf("no delivery in %d attempts: %s", r.Attempt, res.Reason)
	default:
		out.Status = message.StatusDeferred
		out.NextAttemptAt = now.Add(o.cfg.Retry.Delay(r.JobID, r.Attempt))
	}
	out.Evidence = evidence(res, outcomeName(out.Status), started, now)
	return out
}

// evidence converts the transport's attempts; the last carries the run's
// outcome, earlier ones their own reply's. A run that never reached a server
// (DNS failure, policy refusal) gets one entry naming why.
func evidence(res delivery.Result, outcome string, started, now time.Time) []message.Attempt {
	if len(res.Attempts) == 0 {
		return []message.Attempt{{StartedAt: started, FinishedAt: now, Error: res.Reason, Outcome: outcome}}
	}
	out := make([]message.Attempt, len(res.Attempts))
	for i, a := range res.Attempts {
		out[i] = message.Attempt{StartedAt: a.StartedAt, FinishedAt: a.FinishedAt, MX: a.MX, IP: a.IP,
			Policy: string(a.Policy), TLSVersion: a.TLSVersion, Cipher: a.Cipher, TLSAMatch: a.TLSAMatch,
			Code: a.Code, Enhanced: a.Enhanced, Reply: a.Reply, Error: a.Error, Outcome: replyOutcome(a)}
	}
	out[len(out)-1].Outcome = outcome
	return out
}

func replyOutcome(a delivery.Attempt) string {
	switch {
	case a.Code >= 500:
		return message.OutcomePermanent
	case a.Code >= 200 && a.Code < 300 && a.Error == "":
		return message.OutcomeDelivered
	}
	return message.OutcomeTemporary
}

func outcomeName(status string) string {
	switch status {
	case message.StatusDelivered:
		return message.OutcomeDelivered
	case message.StatusFailed:
		return message.OutcomePermanent
	}
	return message.OutcomeTemporary
}

// record stores the outcome; a failed delivery of a recipient gets its notice in
// the same transaction. A deferred delivery returns a *DeferredError.
func (o *Outbox) record(ctx context.Context, d message.Delivery, out message.Outcome) error {
	var notice *message.Notice
	if out.Status == message.StatusFailed && wantsNotice(d.Kind) {
		n, err := o.writeNotice(ctx, d, out)
		if err != nil {
			return err // the run is retried; nothing was recorded
		}
		notice = &n
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	ok, err := o.store.Record(rctx, d, out, notice, o)
	if (err != nil || !ok) && notice != nil {
		o.deleteBlob(rctx, d.Content, notice.BlobKey)
	}
	if err != nil || !ok {
		return err
	}
	o.logOutcome(d, out)
	o.recordAudit(rctx, d, out)
	if out.Status == message.StatusDeferred {
		return &DeferredError{Reason: out.Reason, Next: out.NextAttemptAt}
	}
	return nil
}

// wantsNotice: recipients' failures are reported; the sender's own copy and
// notices are not (a notice about them would go to the same mailbox).
func wantsNotice(kind string) bool {
	return kind == message.KindTo || kind == message.KindCc || kind == message.KindBcc
}

func (o *Outbox) logOutcome(d message.Delivery, out message.Outcome) {
	attrs := []any{"delivery", d.ID, "message", d.MessageID, "kind", d.Kind, "domain", d.Domain,
		"status", out.Status, "run", d.Attempts + 1}
	switch out.Status {
	case message.StatusDeferred:
		o.log.Info("delivery deferred", append(attrs, "reason", out.Reason, "next", out.NextAttemptAt)...)
	case message.StatusFailed:
		o.log.Warn("delivery failed", append(attrs, "reason", out.Reason)...)
	default:
		o.log.Info("delivered", attrs...)
	}
}

func (o *Outbox) deleteBlob(ctx context.Context, blobs blob.Store, key string) {
	if err := blobs.Delete(ctx, key); err != nil {
		o.log.Warn("could not delete an unreferenced blob", "key", key, "err", err)
	}
}
