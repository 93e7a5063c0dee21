package external

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/viewer"
)

// Audit outcomes.
const (
	outcomeSuccess = "success"
	outcomeFailure = "failure"
)

// record appends what an external recipient did with delivery l to the trail
// of the sender's organisation. The recipient has no account: the actor is
// their client (address, user agent). Never a code, token, the address, the
// phone number (the masked form at most), a file name or content.
func (s *Service) record(ctx context.Context, action, outcome, clientIP string, l message.Link,
	detail map[string]string) {
	if s.audit == nil {
		return
	}
	a := audit.ActorFrom(ctx)
	if clientIP != "" {
		a.IP = clientIP
	}
	if detail == nil {
		detail = map[string]string{}
	}
	detail["message"] = l.MessageID
	s.audit.Record(ctx, audit.Event{Action: action, Outcome: outcome, Actor: a,
		Object: audit.Object{Type: "delivery", ID: l.DeliveryID}, OrganisationID: l.OrganisationID, Detail: detail})
}

// recordCodeRequest records a code request on channel, sent or refused.
func (s *Service) recordCodeRequest(ctx context.Context, l message.Link, channel, clientIP string, err error) {
	detail := map[string]string{"channel": channel}
	if channel != message.CodeByEmail && l.PhoneMasked != "" {
		detail["phone"] = l.PhoneMasked
	}
	outcome := outcomeSuccess
	if err != nil {
		outcome, detail["reason"] = outcomeFailure, codeReason(err)
	}
	s.record(ctx, audit.ActionCodeRequested, outcome, clientIP, l, detail)
}

// recordVerify records a code check: verified, or failed and why.
func (s *Service) recordVerify(ctx context.Context, l message.Link, clientIP string, err error) {
	if err == nil {
		s.record(ctx, audit.ActionCodeVerified, outcomeSuccess, clientIP, l, nil)
		return
	}
	s.record(ctx, audit.ActionCodeFailed, outcomeFailure, clientIP, l,
		map[string]string{"reason": codeReason(err)})
}

// codeReason names a refusal, as the viewer shows it, without its detail.
func codeReason(err error) string {
	var le *viewer.LimitError
	var ce *viewer.CodeError
	switch {
	case errors.As(err, &le):
		return "rate_limited"
	case errors.Is(err, viewer.ErrCodeExpired):
		return "expired"
	case errors.As(err, &ce) && ce.Remaining == 0:
		return "locked"
	case errors.As(err, &ce):
		return "wrong_code; " + strconv.Itoa(ce.Remaining) + " left"
	}
	return "error"
}

// auditedDownload records the download of attachment index when its body is
// closed, with the bytes sent and whether it was read to the end.
func (s *Service) auditedDownload(ctx context.Context, l message.Link, index int, body io.ReadCloser) io.ReadCloser {
	if s.audit == nil {
		return body
	}
	ctx = context.WithoutCancel(ctx)
	return &countedBody{ReadCloser: body, done: func(n int64, complete bool) {
		s.record(ctx, audit.ActionDownload, outcomeSuccess, "", l, map[string]string{"index": strconv.Itoa(index),
			"size": strconv.FormatInt(n, 10), "complete": strconv.FormatBool(complete)})
	}}
}

// countedBody counts what is read and reports it once, on Close.
type countedBody struct {
	io.ReadCloser
	n    int64
	eof  bool
	done func(n int64, complete bool)
	once sync.Once
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *countedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.done(b.n, b.eof) })
	return err
}
