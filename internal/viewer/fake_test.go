package viewer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// fakeBackend is an in-memory Backend: links hold messages, sessions point
// at links. Fields ending in Err inject failures.
type fakeBackend struct {
	mu       sync.Mutex
	links    map[string]*fakeMessage
	sessions map[string]*fakeSession
	next     int

	sendErr, verifyErr, replyErr, newLinkErr, contentErr, startErr error

	onReply func() // called in SendReply before the files are read

	codesSent   int
	replies     []recordedReply
	newLinks    int
	endSessions int
}

type fakeMessage struct {
	visit   Visit
	content Content
	files   map[int][]byte
}

type fakeSession struct {
	link               string
	codeSent, verified bool
}

type recordedReply struct {
	Text  string
	Files []recordedFile
}

type recordedFile struct{ Name, ContentType, Body string }

const (
	goodCode  = "123456"
	linkToken = "LinkTokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

var _ Backend = (*fakeBackend)(nil)

func newFake() *fakeBackend {
	return &fakeBackend{links: map[string]*fakeMessage{}, sessions: map[string]*fakeSession{}}
}

// add registers a link in state with a standard message.
func (f *fakeBackend) add(token, state string) *fakeMessage {
	vis := Visit{
		State: state, SenderName: "Anna de Vries", SenderOrganisation: "Gemeente Voorbeeld",
		SenderEmail: "anna@gemeente.example", ExpiresAt: time.Date(2026, 3, 2, 13, 4, 0, 0, time.UTC),
		MaskedPhone: "+31 6 ****** 78",
	}
	m := &fakeMessage{visit: vis, files: map[int][]byte{0: []byte("%PDF-1.7 test")}}
	m.content = Content{
		Subject: "Uw aanvraag", Date: time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC),
		Text: "Beste meneer,\nregel twee", HTML: `<p>Hallo <b>daar</b></p>`,
		Attachments: []Attachment{{Index: 0, Name: "besluit.pdf", ContentType: "application/pdf", Size: 13}},
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[token] = m
	return m
}

func (f *fakeBackend) Resolve(_ context.Context, token string) (Visit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.links[token]
	if !ok {
		return Visit{}, ErrUnknownLink
	}
	return m.visit, nil
}

func (f *fakeBackend) StartSession(_ context.Context, token string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return "", f.startErr
	}
	if _, ok := f.links[token]; !ok {
		return "", ErrUnknownLink
	}
	f.next++
	s := fmt.Sprintf("SessionToken%032d", f.next)
	f.sessions[s] = &fakeSession{link: token}
	return s, nil
}

// lookup returns the session and its message; callers hold mu.
func (f *fakeBackend) lookup(session string) (*fakeSession, *fakeMessage, error) {
	s, ok := f.sessions[session]
	if !ok {
		return nil, nil, ErrNoSession
	}
	return s, f.links[s.link], nil
}

func (f *fakeBackend) Session(_ context.Context, session string) (Visit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, m, err := f.lookup(session)
	if err != nil {
		return Visit{}, err
	}
	vis := m.visit
	vis.CodeSent, vis.Verified = s.codeSent, s.verified
	return vis, nil
}

func (f *fakeBackend) EndSession(_ context.Context, session string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endSessions++
	delete(f.sessions, session)
	return nil
}

func (f *fakeBackend) SendCode(_ context.Context, session, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, _, err := f.lookup(session)
	if err != nil {
		return err
	}
	if f.sendErr != nil {
		return f.sendErr
	}
	f.codesSent++
	s.codeSent = true
	return nil
}

func (f *fakeBackend) VerifyCode(_ context.Context, session, code, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, _, err := f.lookup(session)
	if err != nil {
		return err
	}
	if f.verifyErr != nil {
		return f.verifyErr
	}
	if code != goodCode {
		return &CodeError{Remaining: 2}
	}
	s.verified = true
	return nil
}

func (f *fakeBackend) Content(_ context.Context, session string) (Content, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, m, err := f.lookup(session)
	if err != nil {
		return Content{}, err
	}
	if !s.verified {
		return Content{}, ErrNotVerified
	}
	if f.contentErr != nil {
		return Content{}, f.contentErr
	}
	c := m.content
	c.Visit = m.visit
	c.Verified = true
	return c, nil
}

func (f *fakeBackend) Attachment(_ context.Context, session string, index int) (Attachment, io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, m, err := f.lookup(session)
	if err != nil {
		return Attachment{}, nil, err
	}
	if !s.verified {
		return Attachment{}, nil, ErrNotVerified
	}
	if index >= len(m.content.Attachments) {
		return Attachment{}, nil, ErrNotFound
	}
	return m.content.Attachments[index], io.NopCloser(bytes.NewReader(m.files[index])), nil
}

func (f *fakeBackend) SendReply(_ context.Context, session string, r Reply) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, _, err := f.lookup(session)
	if err != nil {
		return err
	}
	if !s.verified {
		return ErrNotVerified
	}
	if f.onReply != nil {
		f.onReply()
	}
	if f.replyErr != nil {
		return f.replyErr
	}
	rec := recordedReply{Text: r.Text}
	for _, u := range r.Attachments {
		b, err := io.ReadAll(u.Body)
		if err != nil {
			return err
		}
		rec.Files = append(rec.Files, recordedFile{u.Name, u.ContentType, string(b)})
	}
	f.replies = append(f.replies, rec)
	return nil
}

func (f *fakeBackend) RequestNewLink(_ context.Context, session string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, m, err := f.lookup(session)
	if err != nil {
		return err
	}
	if f.newLinkErr != nil {
		return f.newLinkErr
	}
	if m.visit.State != StateExpired {
		return ErrInvalid
	}
	f.newLinks++
	return nil
}

// contains is strings.Contains for readable test tables.
func contains(s, sub string) bool { return strings.Contains(s, sub) }
