package outbox

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

func TestAuditRecordsEachAttempt(t *testing.T) {
	tests := []struct {
		name    string
		result  delivery.Result
		outcome string
		detail  map[string]string
	}{
		{"delivered", delivered, message.OutcomeDelivered, map[string]string{"kind": "to", "route": "internal",
			"domain": "b.example", "run": "1", "status": "delivered", "mx": "mx.b.example", "ip": "192.0.2.25",
			"policy": "dane-ee", "tls": "TLS 1.3", "cipher": "TLS_AES_128_GCM_SHA256", "tlsa": "3 1 1",
			"code": "250", "enhanced": "2.0.0"}},
		{"permanent", permanent, message.OutcomePermanent, map[string]string{"kind": "to", "route": "internal",
			"domain": "b.example", "run": "1", "status": "failed", "mx": "mx.b.example", "code": "550",
			"enhanced": "5.1.1"}},
		{"no server reached", dnsFailure, message.OutcomeTemporary, map[string]string{"kind": "to",
			"route": "internal", "domain": "b.example", "run": "1", "status": "deferred"}},
	}
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, testConfig(), nil)
		log := &audit.Memory{}
		e.o.audit = log
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.fake.set(tt.result)
				msgID, id := e.send(t)
				_ = e.o.work(context.Background(), run{JobID: 7, Attempt: 1, MaxAttempts: 100, DeliveryID: id})
				tt.detail["message"] = msgID
				want := []audit.Event{{Action: audit.ActionDeliveryAttempt, Outcome: tt.outcome,
					Object: audit.Object{Type: "delivery", ID: id}, OrganisationID: e.from.OrganisationID,
					Detail: tt.detail}}
				got := log.Take()
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("events (-want +got):\n%s", d)
				}
				testenv.AssertNoSecrets(t, got, recipient, "Onderwerp", "Tekst", "queued as", "no such user")
			})
		}
	})
}

func TestAuditRecordsNotification(t *testing.T) {
	tests := []struct {
		name  string
		d     message.Delivery
		out   message.Outcome
		notif bool
	}{
		{"external delivered", message.Delivery{Route: directory.RouteExternal, Kind: message.KindTo},
			message.Outcome{Status: message.StatusDelivered}, true},
		{"external deferred", message.Delivery{Route: directory.RouteExternal, Kind: message.KindTo},
			message.Outcome{Status: message.StatusDeferred}, false},
		{"external notice", message.Delivery{Route: directory.RouteExternal, Kind: message.KindNotice},
			message.Outcome{Status: message.StatusDelivered}, false},
		{"internal delivered", message.Delivery{Route: directory.RouteInternal, Kind: message.KindTo},
			message.Outcome{Status: message.StatusDelivered}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &audit.Memory{}
			o := &Outbox{audit: log}
			tt.d.ID, tt.d.MessageID, tt.d.SenderOrganisationID, tt.d.Domain = "d1", "m1", "org-a", "x.example"
			o.recordAudit(context.Background(), tt.d, tt.out)
			var want []audit.Event
			if tt.notif {
				want = []audit.Event{{Action: audit.ActionNotification, Outcome: "success",
					Object: audit.Object{Type: "delivery", ID: "d1"}, OrganisationID: "org-a",
					Detail: map[string]string{"message": "m1", "domain": "x.example"}}}
			}
			if d := cmp.Diff(want, log.Take()); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
		})
	}
}
