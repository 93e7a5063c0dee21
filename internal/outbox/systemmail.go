package outbox

// System mail: plain-text mails Veilig itself sends (an enrolment decision, a
// monitoring alert), one River job per recipient on the delivery queue, sent
// from the null reverse-path (RFC 5321 §4.5.5) with Auto-Submitted:
// auto-generated (RFC 3834 §5) over the same transport as every delivery.
// Temporary failures are retried like deliveries; a job that runs out of
// attempts is discarded by River and logged.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/message/compose"
)

// ErrInvalidSystemMail reports a system mail without recipients, subject or
// text, or with an unusable address.
var ErrInvalidSystemMail = errors.New("outbox: invalid system mail")

// maxSystemMailText bounds the text of one system mail (it is stored with its job).
const maxSystemMailText = 256 << 10

// SystemMail is a plain-text mail Veilig itself sends to people of the
// community (an enrolment decision, a monitoring alert). It carries no
// message content and no secrets: its text is stored with its job.
type SystemMail struct {
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
}

// SystemMailArgs are the arguments of a system mail job: one recipient.
type SystemMailArgs struct {
	To        string `json:"to"`
	Subject   string `json:"subject"`
	Text      string `json:"text"`
	MessageID string `json:"message_id"` // fixed at enqueue, so retries send the same message
}

// Kind names the job kind in river_job.
func (SystemMailArgs) Kind() string { return "veilig_system_mail" }

// InsertOpts puts system mail on the delivery queue.
func (SystemMailArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue} }

// SendSystemMail queues m, one job per recipient; it returns once the jobs
// are stored.
func (o *Outbox) SendSystemMail(ctx context.Context, m SystemMail) error {
	if err := checkSystemMail(m); err != nil {
		return err
	}
	params := make([]river.InsertManyParams, len(m.To))
	for i, to := range m.To {
		params[i] = river.InsertManyParams{Args: SystemMailArgs{To: to, Subject: m.Subject, Text: m.Text,
			MessageID: "<" + uuid.NewString() + "@" + o.cfg.SMTPHostname + ">"}}
	}
	if _, err := o.client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("outbox: queue system mail: %w", err)
	}
	return nil
}

func checkSystemMail(m SystemMail) error {
	switch {
	case len(m.To) == 0 || strings.TrimSpace(m.Subject) == "" || strings.TrimSpace(m.Text) == "":
		return fmt.Errorf("%w: recipients, subject and text are required", ErrInvalidSystemMail)
	case len(m.Text) > maxSystemMailText:
		return fmt.Errorf("%w: text over %d bytes", ErrInvalidSystemMail, maxSystemMailText)
	}
	for _, to := range m.To {
		if _, bad, _ := directory.CheckAddress(to); bad != "" {
			return fmt.Errorf("%w: address %q: %s", ErrInvalidSystemMail, to, bad)
		}
	}
	return nil
}

// systemMailWorker sends system mail jobs.
type systemMailWorker struct {
	river.WorkerDefaults[SystemMailArgs]
	o *Outbox
}

// Work sends one system mail; a temporary failure is returned so River retries.
func (w *systemMailWorker) Work(ctx context.Context, job *river.Job[SystemMailArgs]) error {
	return w.o.sendSystemMail(ctx, job.Args)
}

func (o *Outbox) sendSystemMail(ctx context.Context, a SystemMailArgs) error {
	domain, bad, _ := directory.CheckAddress(a.To)
	if bad != "" {
		return river.JobCancel(fmt.Errorf("%w: %s", ErrInvalidSystemMail, bad))
	}
	var buf bytes.Buffer
	if err := compose.Write(&buf, o.systemMessage(a)); err != nil {
		return river.JobCancel(fmt.Errorf("outbox: compose system mail: %w", err))
	}
	b := buf.Bytes()
	res := o.deliverer.Deliver(ctx, domain, delivery.Envelope{To: []string{a.To}, Size: int64(len(b)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }})
	switch res.Outcome {
	case delivery.Delivered:
		o.log.InfoContext(ctx, "system mail delivered", "domain", domain)
		return nil
	case delivery.Permanent:
		o.log.WarnContext(ctx, "system mail refused", "domain", domain, "reason", res.Reason)
		return river.JobCancel(fmt.Errorf("outbox: system mail refused: %s", res.Reason))
	}
	return fmt.Errorf("outbox: system mail to %s deferred: %s", domain, res.Reason)
}

func (o *Outbox) systemMessage(a SystemMailArgs) compose.Message {
	return compose.Message{
		From:         compose.Address{Name: "Veilig", Addr: "postmaster@" + o.cfg.SMTPHostname},
		To:           []compose.Address{{Addr: a.To}},
		Subject:      a.Subject,
		Text:         strings.ReplaceAll(strings.ReplaceAll(a.Text, "\r\n", "\n"), "\n", "\r\n"),
		MessageID:    a.MessageID,
		Date:         o.now(),
		ExtraHeaders: [][2]string{{"Auto-Submitted", "auto-generated"}},
	}
}
