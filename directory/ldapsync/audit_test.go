package ldapsync

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

func TestAuditRecordsSyncRuns(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		sy, err := NewSyncer(Config{}, directory.NewStore(db.DB, time.Now), testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		log := &audit.Memory{}
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
		if diff := cmp.Diff(want, log.Events()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if run.People == 0 {
			t.Error("the import wrote no people; the counts prove nothing")
		}
	})
}
