package outbox

import (
	"encoding/binary"
	"hash/fnv"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// RetryPolicy spaces the runs of a deferred delivery: Base after the first
// failure, doubling each time, never more than Max, each delay shortened by a
// jitter of up to Jitter (a fraction) so that deliveries deferred together do
// not return together. The jitter is derived from the job id and attempt, so the
// worker records the same next-attempt time River schedules.
type RetryPolicy struct {
	Base, Max time.Duration
	Jitter    float64 // 0 ≤ Jitter < 1
}

// DefaultRetryPolicy retries after about 1, 2, 4 … minutes, then hourly.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Base: time.Minute, Max: time.Hour, Jitter: 0.2}
}

// Delay returns the wait after the attempt-th failed run (1 = the first) of job.
func (p RetryPolicy) Delay(jobID int64, attempt int) time.Duration {
	d := p.base(attempt)
	return (d - time.Duration(float64(d)*p.Jitter*unit(jobID, attempt))).Truncate(time.Millisecond)
}

// base is the delay before jitter: Base·2^(attempt-1), at most Max.
func (p RetryPolicy) base(attempt int) time.Duration {
	attempt = max(attempt, 1)
	if attempt > 40 { // Base·2^39 exceeds any sensible Max; avoid the overflow
		return p.Max
	}
	if e := p.Base << (attempt - 1); e > 0 && e < p.Max {
		return e
	}
	return p.Max
}

// unit maps (jobID, attempt) to a fraction in [0, 1).
func unit(jobID int64, attempt int) float64 {
	h := fnv.New64a()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(jobID))
	binary.BigEndian.PutUint64(b[8:], uint64(attempt))
	h.Write(b[:])
	return float64(h.Sum64()>>11) / (1 << 53)
}

// MaxAttempts is the attempt limit River is given: comfortably more runs than
// fit into maxAge, so that the age, not River, ends a delivery (the worker also
// fails a delivery on its last attempt, so nothing is dropped silently).
func (p RetryPolicy) MaxAttempts(maxAge time.Duration) int {
	n, total := 1, time.Duration(0)
	for total < maxAge && n < 10000 {
		total += time.Duration(float64(p.base(n)) * (1 - p.Jitter))
		n++
	}
	return max(n+10, 25)
}

// clientRetryPolicy applies the policy to jobs River retries outside a worker
// (those rescued from a process that died mid-run).
type clientRetryPolicy struct {
	p   RetryPolicy
	now func() time.Time
}

func (c clientRetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return c.now().UTC().Add(c.p.Delay(job.ID, job.Attempt))
}
