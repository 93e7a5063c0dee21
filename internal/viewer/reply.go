package viewer

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"mime/multipart"

	"github.com/veilig/veilig/internal/spool"
)

// Reply form limits. The whole body is capped by Config.MaxReplyBytes.
const (
	maxReplyFiles = 20      // files one reply may carry
	maxReplyText  = 1 << 20 // the "text" field, held in memory
	maxReplyToken = 1 << 10 // the form token field; real tokens are 43 bytes
	maxReplyParts = 1000    // parts of any kind, as net/http's ReadForm allows
)

// Reply form errors; the handler maps each to a page.
var (
	errReplyForbidden = errors.New("viewer: reply form token invalid")
	errReplyTooLarge  = errors.New("viewer: reply field too large")
	errReplyMalformed = errors.New("viewer: reply form malformed")
)

// replyForm is a reply read from its multipart/form-data body (RFC 7578).
// Files are sealed in a spool (internal/spool): their plaintext never reaches
// the disk.
type replyForm struct {
	token, text string
	hasToken    bool
	hasText     bool
	files       []replyFile
	tooMany     bool // more than maxReplyFiles files; the rest was discarded
	parts       int
	tokenValid  func(string) bool
	sp          *spool.Spool
}

type replyFile struct {
	name, contentType string
	file              spool.File
}

// readReplyForm streams every part of mr: the form token is checked as soon
// as it arrives, so with the token first (as the page sends it) a forged
// request is refused before any file is spooled; files sent before the token
// are spooled sealed and checked against the token at the end.
func readReplyForm(mr *multipart.Reader, sp *spool.Spool, tokenValid func(string) bool) (*replyForm, error) {
	f := &replyForm{sp: sp, tokenValid: tokenValid}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errReplyMalformed, err)
		}
		err = f.readPart(part)
		_ = part.Close()
		if err != nil {
			return nil, err
		}
	}
	if !f.hasToken || !tokenValid(f.token) {
		return nil, errReplyForbidden
	}
	return f, nil
}

// readPart keeps the first "csrf" and "text" values and every "files" file;
// other parts are read and dropped, as ParseMultipartForm's callers ignored them.
func (f *replyForm) readPart(part *multipart.Part) error {
	if f.parts++; f.parts > maxReplyParts {
		return fmt.Errorf("%w: %w", errReplyMalformed, multipart.ErrMessageTooLarge)
	}
	name, file := part.FormName(), part.FileName()
	switch {
	case name == csrfField && file == "" && !f.hasToken:
		return f.readToken(part)
	case name == "text" && file == "" && !f.hasText:
		text, err := readField(part, maxReplyText)
		f.text, f.hasText = text, true
		return err
	case name == "files" && file != "":
		return f.readFile(part)
	default: // an empty file input arrives as a "files" part without a file name
		return discard(part)
	}
}

func (f *replyForm) readToken(part *multipart.Part) error {
	token, err := readField(part, maxReplyToken)
	if errors.Is(err, errReplyTooLarge) {
		return errReplyForbidden
	}
	if err != nil {
		return err
	}
	if !f.tokenValid(token) {
		return errReplyForbidden
	}
	f.token, f.hasToken = token, true
	return nil
}

// readFile spools one file sealed; past maxReplyFiles files are discarded.
func (f *replyForm) readFile(part *multipart.Part) error {
	if len(f.files) >= maxReplyFiles {
		f.tooMany = true
		return discard(part)
	}
	sf, err := f.sp.Write(part)
	if err != nil {
		if errors.Is(err, spool.ErrStorage) {
			return fmt.Errorf("viewer: reply: %w", err)
		}
		return fmt.Errorf("%w: %w", errReplyMalformed, err)
	}
	f.files = append(f.files, replyFile{
		name: displayName(part.FileName()), contentType: part.Header.Get("Content-Type"), file: sf})
	return nil
}

// readField reads a form value of at most limit bytes.
func readField(r io.Reader, limit int64) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %w", errReplyMalformed, err)
	case int64(len(b)) > limit:
		return "", errReplyTooLarge
	}
	return string(b), nil
}

func discard(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("%w: %w", errReplyMalformed, err)
	}
	return nil
}

// uploads opens every spooled file for the backend; the spool closes them.
func (f *replyForm) uploads() ([]Upload, error) {
	out := make([]Upload, 0, len(f.files))
	for _, rf := range f.files {
		body, err := rf.file.Open()
		if err != nil {
			return nil, fmt.Errorf("viewer: reply: %w", err)
		}
		out = append(out, Upload{Name: rf.name, ContentType: rf.contentType, Body: body})
	}
	return out, nil
}

// tokenMatches compares a form token with the session's in constant time.
func (v *Viewer) tokenMatches(session, got string) bool {
	return hmac.Equal([]byte(got), []byte(v.csrfToken(session)))
}
