package message

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/veilig/veilig/internal/blob"
	"github.com/veilig/veilig/internal/message/compose"
)

// errSignerStopped tells the composer that the signer stopped reading.
var errSignerStopped = errors.New("message: signer stopped reading")

// pending is a composed and signed message whose blob is not yet committed.
type pending struct {
	w         blob.Writer
	size      int64
	signature string
	found     compose.Recipients // the recipients named in a raw message's header
}

// commit makes the blob durable (the blob store fsyncs before Commit returns).
func (p *pending) commit() error {
	if err := p.w.Commit(); err != nil {
		return fmt.Errorf("message: commit blob: %w", err)
	}
	return nil
}

func (p *pending) abort() { _ = p.w.Abort() }

// countingWriter counts the octets written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeSigned writes a message with write into a new blob under key while the
// same octets stream through signer (one pass, constant memory). The blob is
// left uncommitted; Commit or Abort it.
func writeSigned(ctx context.Context, blobs blob.Store, key string, signer func(io.Reader) (string, error),
	write func(io.Writer) error) (w blob.Writer, size int64, signature string, err error) {
	bw, err := blobs.Create(ctx, key)
	if err != nil {
		return nil, 0, "", fmt.Errorf("message: create blob: %w", err)
	}
	pr, pw := io.Pipe()
	cw := &countingWriter{w: io.MultiWriter(bw, pw)}
	done := make(chan error, 1)
	go func() {
		err := write(cw)
		pw.CloseWithError(err) // nil: the signer reads EOF
		done <- err
	}()
	sig, signErr := signer(pr)
	pr.CloseWithError(errSignerStopped) // unblocks a writer the signer abandoned
	if err := pipelineError(<-done, signErr); err != nil {
		_ = bw.Abort()
		return nil, 0, "", err
	}
	return bw, cw.n, sig, nil
}

// pipelineError picks the error that explains a failed compose-and-sign pass.
func pipelineError(writeErr, signErr error) error {
	switch {
	case writeErr != nil && !errors.Is(writeErr, errSignerStopped):
		return fmt.Errorf("message: compose: %w", writeErr)
	case signErr != nil:
		return fmt.Errorf("message: DKIM sign: %w", signErr)
	case writeErr != nil:
		return fmt.Errorf("message: compose: %w", writeErr)
	}
	return nil
}

// composed holds what Accept needs to write a message.
type composed struct {
	store          blob.Store // sealed under the message's data key
	key, messageID string
	date           time.Time
	from           compose.Address
	to, cc         []compose.Address
	signOrg        string
	signDomain     string
}

// write composes d (fields or raw) into a pending blob.
func (s *Service) write(ctx context.Context, c composed, d Draft) (*pending, error) {
	var found compose.Recipients
	writeFn := func(w io.Writer) error {
		return compose.Write(w, compose.Message{From: c.from, To: c.to, Cc: c.cc, Subject: d.Subject,
			Text: d.Text, HTML: d.HTML, MessageID: c.messageID, Date: c.date, Attachments: d.Attachments,
			ExtraHeaders: d.headers})
	}
	if d.Raw != nil {
		writeFn = func(w io.Writer) error {
			var err error
			found, err = compose.RewriteAt(w, d.Raw, c.from, c.messageID, c.date)
			return err
		}
	}
	sign := func(r io.Reader) (string, error) { return s.signer.Sign(ctx, c.signOrg, c.signDomain, r) }
	w, size, sig, err := writeSigned(ctx, c.store, c.key, sign, writeFn)
	if err != nil {
		return nil, err
	}
	return &pending{w: w, size: size, signature: sig, found: found}, nil
}

// addresses turns recipients of one kind into header addresses.
func addresses(rcpts []recipient, kind string) []compose.Address {
	var out []compose.Address
	for _, r := range rcpts {
		if r.kind == kind {
			out = append(out, compose.Address{Addr: r.address})
		}
	}
	return out
}
