package external_test

import (
	"context"
	"io"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/external"
)

var _ external.CodeMailer = (*mailBox)(nil)

// mailCodeRE finds the code on its own indented line of the text part.
var mailCodeRE = regexp.MustCompile(`\n {4}(\d{6})\r\n`)

// mailBox is an in-memory CodeMailer that records what it delivers; outcome,
// when set, is returned instead of delivering.
type mailBox struct {
	mu      sync.Mutex
	sent    []sentMail
	outcome delivery.Outcome
}

type sentMail struct {
	domain, from string
	to           []string
	raw          string
}

func (b *mailBox) Deliver(_ context.Context, domain string, env delivery.Envelope) delivery.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.outcome != 0 && b.outcome != delivery.Delivered {
		return delivery.Result{Outcome: b.outcome, Reason: "injected"}
	}
	rc, err := env.Open()
	if err != nil {
		return delivery.Result{Outcome: delivery.Temporary, Reason: err.Error()}
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil || int64(len(raw)) != env.Size {
		return delivery.Result{Outcome: delivery.Temporary, Reason: "size mismatch"}
	}
	b.sent = append(b.sent, sentMail{domain: domain, from: env.From, to: env.To, raw: string(raw)})
	return delivery.Result{Outcome: delivery.Delivered}
}

func (b *mailBox) fail(o delivery.Outcome) { b.mu.Lock(); defer b.mu.Unlock(); b.outcome = o }

func (b *mailBox) all() []sentMail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sentMail(nil), b.sent...)
}

// lastCode returns the code of the last mail (its text part); the test fails
// without one.
func (b *mailBox) lastCode(t *testing.T) string {
	t.Helper()
	all := b.all()
	if len(all) == 0 {
		t.Fatal("no code e-mail sent")
	}
	msg, err := mail.ReadMessage(strings.NewReader(all[len(all)-1].raw))
	if err != nil {
		t.Fatalf("code e-mail: %v", err)
	}
	body, _ := io.ReadAll(msg.Body)
	m := mailCodeRE.FindStringSubmatch(strings.ReplaceAll(string(body), "=\r\n", ""))
	if m == nil {
		t.Fatal("code e-mail has no 6-digit code")
	}
	return m[1]
}
