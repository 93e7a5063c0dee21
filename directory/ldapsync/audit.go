package ldapsync

import (
	"context"
	"strconv"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
)

// SetAudit makes the syncer record each finished run in the audit trail r
// (nil records nothing). Call it before the first run.
func (sy *Syncer) SetAudit(r audit.Recorder) { sy.audit = r }

// recordRun records a finished run in the operators' trail: its kind, outcome
// and counts. Not its error text or source (they may name entries).
func (sy *Syncer) recordRun(ctx context.Context, run directory.SyncRun) {
	if sy.audit == nil {
		return
	}
	sy.audit.Record(ctx, audit.Event{Action: audit.ActionSyncRun, Outcome: run.Outcome, Actor: audit.ActorFrom(ctx),
		Object: audit.Object{Type: "sync-run", ID: strconv.FormatInt(run.ID, 10)}, Detail: map[string]string{
			"kind": run.Kind, "outcome": run.Outcome, "organisations": strconv.Itoa(run.Organisations),
			"people": strconv.Itoa(run.People), "deleted": strconv.Itoa(run.Deleted),
			"skipped": strconv.Itoa(run.Skipped)}})
}
