package ldapsync

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// eventLog is an audit.Recorder that keeps what it is given.
type eventLog struct {
	mu     sync.Mutex
	events []audit.Event
}

func (l *eventLog) Record(_ context.Context, e audit.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func TestAuditRecordsSyncRuns(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		sy, err := NewSyncer(Config{}, directory.NewStore(db.DB, time.Now), testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		log := &eventLog{}
		sy.SetAudit(log)
		run, err := sy.Import(ctxT(t), strings.NewReader(fixture()), "canary-file.ldif")
		if err != nil {
			t.Fatal(err)
		}
		itoa := strconv.Itoa
		want := []audit.Event{{Action: audit.ActionSyncRun, Outcome: directory.OutcomeSucceeded,
			Object: audit.Object{Type: "sync-run", ID: strconv.FormatInt(run.ID, 10)},
			Detail: map[string]string{"kind": directory.RunImport, "outcome": directory.OutcomeSucceeded,
				"organisations": itoa(run.Organisations), "people": itoa(run.People), "deleted": itoa(run.Deleted),
				"skipped": itoa(run.Skipped)}}}
		if diff := cmp.Diff(want, log.events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if run.People == 0 {
			t.Error("the import wrote no people; the counts prove nothing")
		}
	})
}
