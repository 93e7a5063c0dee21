package message

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"

	"github.com/veilig/veilig/internal/message/compose"
)

// digest is the fingerprint of a request for Idempotency-Key checks: SHA-256 over
// the draft's fields and the SHA-256 of each attachment's content (or of the raw
// message). The content hashes are taken while the message is composed, so the
// content is read once; only a retried request reads it a second time.
type digest struct {
	fields []byte
	parts  []hash.Hash // one per attachment, or one for Raw
}

// canonicalDraft is the hashed form of a draft's fields.
type canonicalDraft struct {
	Version     int               `json:"v"`
	To          []string          `json:"to"`
	Cc          []string          `json:"cc"`
	Bcc         []string          `json:"bcc"`
	Subject     string            `json:"subject"`
	Text        string            `json:"text"`
	HTML        string            `json:"html"`
	Phones      map[string]string `json:"phones"` // encoding/json sorts the keys
	Expires     int               `json:"expires"`
	Client      string            `json:"client"`
	Envelope    []string          `json:"envelope"`
	Raw         bool              `json:"raw"`
	Attachments [][2]string       `json:"attachments"` // name, content type
}

func newDigest(d Draft) *digest {
	c := canonicalDraft{Version: 1, To: d.To, Cc: d.Cc, Bcc: d.Bcc, Subject: d.Subject, Text: d.Text,
		HTML: d.HTML, Phones: d.Phones, Expires: d.ExpiresInDays, Client: d.ClientMessageID,
		Envelope: d.EnvelopeRecipients, Raw: d.Raw != nil}
	n := 1
	if d.Raw == nil {
		n = len(d.Attachments)
		for _, a := range d.Attachments {
			c.Attachments = append(c.Attachments, [2]string{a.Name, a.ContentType})
		}
	}
	fields, _ := json.Marshal(c) // plain strings and ints: cannot fail
	g := &digest{fields: fields, parts: make([]hash.Hash, n)}
	for i := range g.parts {
		g.parts[i] = sha256.New()
	}
	return g
}

// sum returns the fingerprint as hex.
func (g *digest) sum() string {
	h := sha256.New()
	h.Write(g.fields)
	for _, p := range g.parts {
		h.Write(p.Sum(nil))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tee returns d with its content hashed as it is read: Raw through a TeeReader,
// each attachment's Open wrapped (a re-opened attachment starts its hash afresh).
func (g *digest) tee(d Draft) Draft {
	if d.Raw != nil {
		d.Raw = io.TeeReader(d.Raw, g.parts[0])
		return d
	}
	atts := make([]compose.Attachment, len(d.Attachments))
	for i, a := range d.Attachments {
		atts[i] = a
		atts[i].Open = g.hashingOpen(a.Open, i)
	}
	d.Attachments = atts
	return d
}

func (g *digest) hashingOpen(open func() (io.ReadCloser, error), i int) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		rc, err := open()
		if err != nil {
			return nil, err
		}
		g.parts[i].Reset()
		return teeReadCloser{Reader: io.TeeReader(rc, g.parts[i]), Closer: rc}, nil
	}
}

type teeReadCloser struct {
	io.Reader
	io.Closer
}

// drain hashes what the composer left unread of a tee'd Raw.
func (g *digest) drain(teed Draft) error {
	if teed.Raw == nil {
		return nil
	}
	if _, err := io.Copy(io.Discard, teed.Raw); err != nil {
		return fmt.Errorf("message: read raw message: %w", err)
	}
	return nil
}

// readAll hashes the content of d without composing it (a retried request).
func (g *digest) readAll(d Draft) error {
	teed := g.tee(d)
	if teed.Raw != nil {
		return g.drain(teed)
	}
	for i, a := range teed.Attachments {
		if err := hashAttachment(a); err != nil {
			return fmt.Errorf("message: read attachment %d: %w", i+1, err)
		}
	}
	return nil
}

func hashAttachment(a compose.Attachment) error {
	rc, err := a.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}
