package audit

import (
	"context"
	"fmt"
	"strconv"
)

// Problem kinds.
const (
	ProblemGap        = "gap"        // events missing (deleted)
	ProblemLink       = "link"       // prev_hash is not the previous event's hash
	ProblemHash       = "hash"       // hash is not SHA-256(prev_hash || payload_hash)
	ProblemPayload    = "payload"    // the event's content does not match its payload hash (edited)
	ProblemMalformed  = "malformed"  // a row that cannot be read
	ProblemCheckpoint = "checkpoint" // a bad signature, or the chain no longer has the signed hash
	ProblemHead       = "head"       // the chain head does not match the last event (tail removed)
)

// maxProblems bounds a report; the rest are only counted.
const maxProblems = 100

// Problem is one thing Verify found wrong.
type Problem struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Report is what Verify found.
type Report struct {
	Events       int64     `json:"events"`
	Purged       int64     `json:"purged"`
	Checkpoints  int64     `json:"checkpoints"`
	LastSeq      int64     `json:"last_seq"`
	Problems     []Problem `json:"problems"`
	MoreProblems int64     `json:"more_problems,omitempty"`
}

// OK reports whether the trail verified.
func (r Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(seq int64, kind, detail string) {
	if len(r.Problems) == maxProblems {
		r.MoreProblems++
		return
	}
	r.Problems = append(r.Problems, Problem{Seq: seq, Kind: kind, Detail: detail})
}

// verifyPage is how many rows Verify reads at a time.
const verifyPage = 1000

// Verify walks the whole chain and every checkpoint. An error means the
// trail could not be read; what is wrong with it is in the report.
func (t *Trail) Verify(ctx context.Context) (Report, error) {
	var rep Report
	var h head
	err := t.db.WithContext(ctx).Raw("SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1").Scan(&h).Error
	if err != nil {
		return rep, fmt.Errorf("%w: verify: %w", ErrStore, err)
	}
	w := walker{rep: &rep, prevHash: zeroHash}
	for done := false; !done; {
		if done, err = t.verifyPage(ctx, &w, h.Seq); err != nil {
			return rep, err
		}
	}
	if w.prevSeq != h.Seq || w.prevHash != h.Hash {
		rep.add(w.prevSeq, ProblemHead, "the chain head is at seq "+strconv.FormatInt(h.Seq, 10)+
			" with another hash than the last event: events were removed or edited at the end")
	}
	rep.LastSeq = w.prevSeq
	return rep, t.verifyCheckpoints(ctx, &rep)
}

// walker carries the chain walk from page to page.
type walker struct {
	rep      *Report
	prevSeq  int64
	prevHash string
}

func (t *Trail) verifyPage(ctx context.Context, w *walker, headSeq int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var rows []row
	err := t.db.WithContext(ctx).Table("audit_events").Select(eventColumns).
		Where("seq > ? AND seq <= ?", w.prevSeq, headSeq).Order("seq").Limit(verifyPage).Find(&rows).Error
	if err != nil {
		return true, fmt.Errorf("%w: verify: %w", ErrStore, err)
	}
	for _, r := range rows {
		w.check(r)
	}
	return len(rows) < verifyPage, nil
}

// check verifies one row against the previous one.
func (w *walker) check(r row) {
	w.rep.Events++
	switch {
	case r.Seq != w.prevSeq+1:
		w.rep.add(r.Seq, ProblemGap, fmt.Sprintf("events %d to %d are missing", w.prevSeq+1, r.Seq-1))
	case r.PrevHash != w.prevHash:
		w.rep.add(r.Seq, ProblemLink, "prev_hash is not the hash of event "+strconv.FormatInt(w.prevSeq, 10))
	}
	if r.PurgedAt != nil {
		w.rep.Purged++
	} else {
		w.checkPayload(r)
	}
	if h, err := link(r.PrevHash, r.PayloadHash); err != nil || h != r.Hash {
		w.rep.add(r.Seq, ProblemHash, "hash is not SHA-256(prev_hash || payload_hash)")
	}
	w.prevSeq, w.prevHash = r.Seq, r.Hash
}

func (w *walker) checkPayload(r row) {
	s, err := r.stored()
	if err != nil {
		w.rep.add(r.Seq, ProblemMalformed, "the event cannot be read")
		return
	}
	if ph, err := payloadHash(s.Seq, s.Event, s.MessageID); err != nil || ph != r.PayloadHash {
		w.rep.add(r.Seq, ProblemPayload, "the event does not match its payload hash: edited")
	}
}

// verifyCheckpoints checks every signature and that the chain still holds
// every signed hash.
func (t *Trail) verifyCheckpoints(ctx context.Context, rep *Report) error {
	var after int64
	for {
		cps, err := t.checkpointPage(ctx, after)
		if err != nil {
			return err
		}
		if err := t.checkCheckpoints(ctx, rep, cps); err != nil {
			return err
		}
		if len(cps) < verifyPage {
			return nil
		}
		after = cps[len(cps)-1].Seq
	}
}

func (t *Trail) checkpointPage(ctx context.Context, after int64) ([]Checkpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var cps []Checkpoint
	err := t.db.WithContext(ctx).Table("audit_checkpoints").Where("seq > ?", after).
		Order("seq").Limit(verifyPage).Find(&cps).Error
	if err != nil {
		return nil, fmt.Errorf("%w: verify checkpoints: %w", ErrStore, err)
	}
	return cps, nil
}

func (t *Trail) checkCheckpoints(ctx context.Context, rep *Report, cps []Checkpoint) error {
	hashes, err := t.hashesAt(ctx, cps)
	if err != nil {
		return err
	}
	for _, c := range cps {
		rep.Checkpoints++
		if why := t.verifySignature(c); why != "" {
			rep.add(c.Seq, ProblemCheckpoint, "checkpoint "+why)
			continue
		}
		switch h, ok := hashes[c.Seq]; {
		case !ok:
			rep.add(c.Seq, ProblemCheckpoint, "the checkpointed event is missing: events were removed")
		case h != c.Hash:
			rep.add(c.Seq, ProblemCheckpoint, "the chain no longer has the checkpointed hash: events were rewritten")
		}
	}
	return nil
}

// hashesAt returns the hash of the event at each checkpoint's seq.
func (t *Trail) hashesAt(ctx context.Context, cps []Checkpoint) (map[int64]string, error) {
	out := make(map[int64]string, len(cps))
	if len(cps) == 0 {
		return out, nil
	}
	seqs := make([]int64, len(cps))
	for i, c := range cps {
		seqs[i] = c.Seq
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var rows []struct {
		Seq  int64  `gorm:"column:seq"`
		Hash string `gorm:"column:hash"`
	}
	if err := t.db.WithContext(ctx).Raw("SELECT seq, hash FROM audit_events WHERE seq IN ?", seqs).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("%w: verify checkpoints: %w", ErrStore, err)
	}
	for _, r := range rows {
		out[r.Seq] = r.Hash
	}
	return out, nil
}
