package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
	spoolpkg "github.com/veilig/veilig/internal/spool"
)

// Messages accepts, stores and reports the messages a sender submits
// (internal/message.Service). Get and List see the sender's own messages only.
type Messages interface {
	Accept(ctx context.Context, from message.Sender, d message.Draft, idempotencyKey string) (message.Accepted, error)
	Get(ctx context.Context, from message.Sender, id string) (message.Status, error)
	List(ctx context.Context, from message.Sender, cursor string, limit int) ([]message.Summary, string, error)
}

// Submission limits (issue 3 §1–2).
const (
	maxDraftBytes     = 1 << 20 // the JSON "message" part
	maxAttachments    = 100     // attachment parts per message
	maxIdempotencyKey = 255
	acceptTimeout     = 2 * time.Minute // store blobs, rows and jobs
	uploadIdle        = time.Minute     // the longest pause while a message streams in
	messageDBTimeout  = 10 * time.Second
	defaultListLimit  = 20
	maxListLimit      = 100
	maxMessageIDLen   = 64
	maxCursorLen      = 512
	replayedHeader    = "Idempotent-Replayed"
	mediaMultipart    = "multipart/form-data"
	mediaRFC822       = "message/rfc822"
	mediaJSON         = "application/json"
	mediaOctetStream  = "application/octet-stream"
)

// draftRequest is the JSON "message" part. Unknown fields are refused (no mass
// assignment); the From is always the authenticated sender.
type draftRequest struct {
	To              []string          `json:"to"`
	Cc              []string          `json:"cc"`
	Bcc             []string          `json:"bcc"`
	Subject         string            `json:"subject"`
	Text            string            `json:"text"`
	HTML            string            `json:"html"`
	Phones          map[string]string `json:"phones"`
	ExpiresInDays   int               `json:"expires_in_days"`
	ClientMessageID string            `json:"client_message_id"`
}

type recipientStatus struct {
	Address string `json:"address"`
	Route   string `json:"route"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
}

type acceptedResponse struct {
	ID         string            `json:"id"`
	Recipients []recipientStatus `json:"recipients"`
}

// submit is POST /api/v1/messages: a multipart/form-data draft with attachments,
// or a whole RFC 5322 message (message/rfc822). Answers 202 once the message, its
// deliveries and their jobs are committed; a replay of an Idempotency-Key answers
// the first request's body again, also 202, with "Idempotent-Replayed: true".
func (h *handlers) submit(c *gin.Context) {
	key, err := h.checkSubmit(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	sp := &spool{dir: h.opts.SpoolDir}
	defer sp.remove(h.Log)
	draft, err := h.readDraft(c, sp)
	if err != nil {
		h.uploadFailed(c, err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), acceptTimeout)
	defer cancel()
	acc, err := h.Messages.Accept(ctx, h.sender(c), draft, key)
	if err != nil {
		_ = c.Error(err)
		return
	}
	writeAccepted(c, acc)
}

// checkSubmit does every check that needs no body: role, Idempotency-Key, media
// type and declared length. It returns the idempotency key.
func (h *handlers) checkSubmit(c *gin.Context) (string, error) {
	if err := maySend(principal(c)); err != nil {
		return "", err
	}
	key, err := idempotencyKey(c.Request.Header.Values("Idempotency-Key"))
	if err != nil {
		return "", err
	}
	if _, _, err := submitMediaType(c.GetHeader("Content-Type")); err != nil {
		return "", err
	}
	if c.Request.ContentLength > h.opts.MaxMessageBytes {
		c.Header("Connection", "close")
		return "", tooLarge(h.opts.MaxMessageBytes)
	}
	return key, nil
}

// maySend: only senders and organisation administrators send, for their own
// organisation; operators belong to none.
func maySend(p auth.Principal) error {
	if (p.Role == auth.RoleSender || p.Role == auth.RoleOrgAdmin) && p.OrganisationID != "" {
		return nil
	}
	return newError(kindForbidden, "only senders and organisation administrators may send messages")
}

// idempotencyKey checks the optional Idempotency-Key header: one value of 1–255
// visible US-ASCII characters.
func idempotencyKey(values []string) (string, error) {
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1 || !validKey(values[0]):
		return "", newError(kindInvalidParameter, "Idempotency-Key must be one value of 1 to 255 visible ASCII characters").
			withFields(FieldProblem{Field: "Idempotency-Key", Detail: "1–255 characters from ! to ~"})
	default:
		return values[0], nil
	}
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '!' || k[i] > '~' {
			return false
		}
	}
	return true
}

func submitMediaType(header string) (string, map[string]string, error) {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || (mt != mediaMultipart && mt != mediaRFC822) {
		return "", nil, newError(kindUnsupportedMedia, "send multipart/form-data or message/rfc822")
	}
	if mt == mediaMultipart && params["boundary"] == "" {
		return "", nil, newError(kindBadRequest, "the multipart boundary is missing")
	}
	return mt, params, nil
}

func tooLarge(limit int64) *Error {
	return newError(kindTooLarge, "the message exceeds "+strconv.FormatInt(limit, 10)+" bytes")
}

// readDraft streams the body, counted against MaxMessageBytes, into a Draft whose
// attachments (or raw message) live in spool files.
func (h *handlers) readDraft(c *gin.Context, sp *spool) (message.Draft, error) {
	mt, params, _ := submitMediaType(c.GetHeader("Content-Type"))
	rc := http.NewResponseController(c.Writer)
	slow := &deadlineBody{r: c.Request.Body, rc: rc}
	body := http.MaxBytesReader(unwrapWriter(c.Writer), slow, h.opts.MaxMessageBytes)
	defer func() { _ = rc.SetWriteDeadline(time.Now().Add(acceptTimeout + uploadIdle)) }()
	if mt == mediaRFC822 {
		return readRaw(body, sp)
	}
	return readMultipart(multipart.NewReader(body, params["boundary"]), sp)
}

// deadlineBody keeps pushing the connection's read deadline on while a message
// streams in, so that the server's ReadTimeout bounds a stall, not the transfer
// of a large message; servers without deadlines (tests) are left alone.
type deadlineBody struct {
	r    io.ReadCloser
	rc   *http.ResponseController
	last time.Time
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.last) > time.Second {
		d.last = now
		_ = d.rc.SetReadDeadline(now.Add(uploadIdle))
		_ = d.rc.SetWriteDeadline(now.Add(uploadIdle + acceptTimeout))
	}
	return d.r.Read(p)
}

func (d *deadlineBody) Close() error { return d.r.Close() }

// unwrapWriter returns net/http's own ResponseWriter, so that MaxBytesReader can
// tell the server to close the connection instead of draining the body.
func unwrapWriter(w http.ResponseWriter) http.ResponseWriter {
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
		return u.Unwrap()
	}
	return w
}

// uploadFailed reports a failed upload; past the size limit the connection is
// closed without reading the rest of the body.
func (h *handlers) uploadFailed(c *gin.Context, err error) {
	var big *http.MaxBytesError
	if errors.As(err, &big) {
		c.Header("Connection", "close")
		err = tooLarge(big.Limit)
	}
	_ = c.Error(err)
}

func readRaw(body io.Reader, sp *spool) (message.Draft, error) {
	f, err := sp.write(body)
	if err != nil {
		return message.Draft{}, err
	}
	raw, err := f.Open() // closed by sp.remove
	if err != nil {
		return message.Draft{}, fmt.Errorf("api: %w", err)
	}
	return message.Draft{Raw: raw}, nil
}

func readMultipart(mr *multipart.Reader, sp *spool) (message.Draft, error) {
	var (
		d    message.Draft
		seen bool
	)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return d, bodyError(err)
		}
		err = readPart(part, &d, &seen, sp)
		_ = part.Close()
		if err != nil {
			return d, err
		}
	}
	if !seen {
		return d, newError(kindBadRequest, `the "message" part is missing`)
	}
	return d, nil
}

func readPart(part *multipart.Part, d *message.Draft, seen *bool, sp *spool) error {
	switch name := part.FormName(); name {
	case "message":
		if *seen {
			return newError(kindBadRequest, `send one "message" part`)
		}
		*seen = true
		return decodeDraft(part, d)
	case "attachment":
		if len(d.Attachments) >= maxAttachments {
			return newError(kindInvalidParameter, "at most "+strconv.Itoa(maxAttachments)+" attachments").
				withFields(FieldProblem{Field: "attachment", Detail: "at most " + strconv.Itoa(maxAttachments)})
		}
		a, err := sp.attachment(part)
		if err != nil {
			return err
		}
		d.Attachments = append(d.Attachments, a)
		return nil
	default:
		return newError(kindBadRequest, fmt.Sprintf("unknown part %q; send \"message\" and \"attachment\" parts", truncate(name, 40)))
	}
}

// bodyError turns a read error of the request body into a problem; size errors
// pass through for uploadFailed.
func bodyError(err error) error {
	var big *http.MaxBytesError
	switch {
	case errors.As(err, &big):
		return err
	case errors.Is(err, multipart.ErrMessageTooLarge):
		return newError(kindBadRequest, "a part has too many or too large headers")
	default:
		return newError(kindBadRequest, "the request body could not be read as multipart/form-data").withCause(err)
	}
}

// decodeDraft reads the JSON "message" part (≤ 1 MiB, strict) into d and checks
// every field that becomes a header.
func decodeDraft(part *multipart.Part, d *message.Draft) error {
	if ct := part.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != mediaJSON {
			return newError(kindUnsupportedMedia, `send the "message" part as application/json`)
		}
	}
	lr := &io.LimitedReader{R: part, N: maxDraftBytes + 1}
	var req draftRequest
	if err := strictJSON(lr, &req); err != nil {
		if lr.N <= 0 {
			return newError(kindTooLarge, `the "message" part exceeds 1 MiB`)
		}
		return err
	}
	if err := checkHeaderFields(req); err != nil {
		return err
	}
	d.To, d.Cc, d.Bcc = req.To, req.Cc, req.Bcc
	d.Subject, d.Text, d.HTML = req.Subject, req.Text, req.HTML
	d.Phones, d.ExpiresInDays, d.ClientMessageID = req.Phones, req.ExpiresInDays, req.ClientMessageID
	return nil
}

// strictJSON decodes exactly one JSON object with no unknown fields.
func strictJSON(r io.Reader, dst any) error {
	var big *http.MaxBytesError
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if errors.As(err, &big) {
			return err // the whole body is too large: uploadFailed answers 413
		}
		return jsonError(err)
	}
	switch err := dec.Decode(&struct{}{}); {
	case errors.As(err, &big):
		return err
	case !errors.Is(err, io.EOF):
		return newError(kindBadRequest, "the message part must hold exactly one JSON object")
	}
	return nil
}

// checkHeaderFields refuses CR, LF and NUL in every field that ends up in a
// header (RFC 5322 §2.2; OWASP ASVS 1.3.11), before anything is stored.
func checkHeaderFields(req draftRequest) error {
	var bad []FieldProblem
	add := func(field, v string) {
		if strings.ContainsAny(v, "\r\n\x00") {
			bad = append(bad, FieldProblem{Field: field, Detail: "contains CR, LF or NUL"})
		}
	}
	add("subject", req.Subject)
	add("client_message_id", req.ClientMessageID)
	for field, list := range map[string][]string{"to": req.To, "cc": req.Cc, "bcc": req.Bcc} {
		for i, a := range list {
			add(field+"["+strconv.Itoa(i)+"]", a)
		}
	}
	if len(bad) > 0 {
		return newError(kindInvalidParameter, "header fields must not contain CR, LF or NUL").withFields(bad...)
	}
	return nil
}

func writeAccepted(c *gin.Context, acc message.Accepted) {
	out := acceptedResponse{ID: acc.ID, Recipients: toStatuses(acc.Recipients)}
	if acc.Replayed {
		c.Header(replayedHeader, "true")
	}
	c.Header("Location", "/api/v1/messages/"+acc.ID)
	c.JSON(http.StatusAccepted, out)
}

// sender is the authenticated user as the message's From; the display name comes
// from the directory when the person is in it.
func (h *handlers) sender(c *gin.Context) message.Sender {
	p := principal(c)
	return message.Sender{UserID: p.UserID, Email: p.Email, OrganisationID: p.OrganisationID,
		Name: displayName(h.Directory, p.Email)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// spool keeps one request's uploads in sealed files ($DataDir/spool, 0600,
// encrypted under a key that lives only in memory) and removes them when the
// request ends, whatever happened.
type spool struct {
	dir string
	sp  *spoolpkg.Spool // made by the first write
}

// write streams r into a new sealed spool file. Size errors pass through for
// uploadFailed; a failing disk is an internal error.
func (s *spool) write(r io.Reader) (spoolpkg.File, error) {
	if s.sp == nil {
		sp, err := spoolpkg.New(s.dir)
		if err != nil {
			return spoolpkg.File{}, fmt.Errorf("api: %w", err)
		}
		s.sp = sp
	}
	f, err := s.sp.Write(r)
	switch {
	case errors.Is(err, spoolpkg.ErrStorage):
		return spoolpkg.File{}, fmt.Errorf("api: %w", err)
	case err != nil:
		return spoolpkg.File{}, bodyError(err)
	}
	return f, nil
}

// attachment spools one attachment part. Its name must not carry CR, LF or NUL;
// paths, control and bidi characters are removed later by compose.SanitizeFilename.
func (s *spool) attachment(part *multipart.Part) (compose.Attachment, error) {
	name := part.FileName()
	if name == "" {
		return compose.Attachment{}, newError(kindBadRequest, "an attachment part needs a filename")
	}
	if strings.ContainsAny(name, "\r\n\x00") {
		return compose.Attachment{}, newError(kindInvalidParameter, "attachment names must not contain CR, LF or NUL").
			withFields(FieldProblem{Field: "attachment", Detail: "filename contains CR, LF or NUL"})
	}
	ct := mediaOctetStream
	if mt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err == nil && strings.Contains(mt, "/") {
		ct = mt
	}
	f, err := s.write(part)
	if err != nil {
		return compose.Attachment{}, err
	}
	return compose.Attachment{Name: name, ContentType: ct, Open: f.Open}, nil
}

// remove closes and deletes every spool file of the request.
func (s *spool) remove(log *slog.Logger) {
	if s.sp == nil {
		return
	}
	if err := s.sp.Remove(); err != nil {
		log.Error("removing spool files failed", "err", err)
	}
}

// getMessage is GET /api/v1/messages/{id}: the sender's own message with the
// state, attempts and evidence of every recipient; anyone else gets 404.
func (h *handlers) getMessage(c *gin.Context) {
	id := c.Param("id")
	if len(id) == 0 || len(id) > maxMessageIDLen {
		_ = c.Error(newError(kindNotFound, "no such message"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), messageDBTimeout)
	defer cancel()
	st, err := h.Messages.Get(ctx, h.sender(c), id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toMessageView(st))
}

// listMessages is GET /api/v1/messages: the sender's own messages, newest first,
// paginated by an opaque cursor.
func (h *handlers) listMessages(c *gin.Context) {
	limit, err := parseListLimit(c.Query("limit"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	cursor := c.Query("cursor")
	if len(cursor) > maxCursorLen {
		_ = c.Error(newError(kindInvalidParameter, "cursor is not valid").withFields(FieldProblem{Field: "cursor", Detail: "use next_cursor as given"}))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), messageDBTimeout)
	defer cancel()
	list, next, err := h.Messages.List(ctx, h.sender(c), cursor, limit)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toListView(list, next))
}

func parseListLimit(s string) (int, error) {
	if s == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, newError(kindInvalidParameter, "limit must be a whole number from 1 to 100").
			withFields(FieldProblem{Field: "limit", Detail: "1–100"})
	}
	return n, nil
}

// Views of message.Status and message.Summary (api/openapi.yaml MessageStatus,
// MessageList): the API's own names, so that the store can change under them.
type attemptView struct {
	Run        int       `json:"run"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	MX         string    `json:"mx"`
	IP         string    `json:"ip"`
	Policy     string    `json:"policy"`
	TLSVersion string    `json:"tls_version"`
	Cipher     string    `json:"cipher"`
	TLSAMatch  string    `json:"tlsa_match"`
	Code       int       `json:"code"`
	Enhanced   string    `json:"enhanced_code"`
	Reply      string    `json:"reply"`
	Error      string    `json:"error"`
	Outcome    string    `json:"outcome"`
}

type recipientView struct {
	Address       string        `json:"address"`
	Kind          string        `json:"kind"`
	Route         string        `json:"route"`
	Reason        string        `json:"reason"`
	State         string        `json:"state"`
	Runs          int           `json:"runs"`
	LastError     string        `json:"last_error"`
	NextAttemptAt *time.Time    `json:"next_attempt_at"`
	DeliveredAt   *time.Time    `json:"delivered_at"`
	Suspicious    bool          `json:"suspicious"`
	UpdatedAt     time.Time     `json:"updated_at"`
	Attempts      []attemptView `json:"attempts"`
	External      *externalView `json:"external,omitempty"`
}

// externalView is an external recipient's progress through the viewer.
type externalView struct {
	Phone              string     `json:"phone"`
	SMSStatus          string     `json:"sms_status"`
	Locked             bool       `json:"locked"`
	NotifiedAt         *time.Time `json:"notified_at"`
	CodeSentAt         *time.Time `json:"code_sent_at"`
	OpenedAt           *time.Time `json:"opened_at"`
	DownloadedAt       *time.Time `json:"downloaded_at"`
	RepliedAt          *time.Time `json:"replied_at"`
	RemindedAt         *time.Time `json:"reminded_at"`
	NewLinkRequestedAt *time.Time `json:"new_link_requested_at"`
}

type messageView struct {
	ID              string          `json:"id"`
	MessageID       string          `json:"message_id"`
	ClientMessageID string          `json:"client_message_id"`
	State           string          `json:"state"`
	Size            int64           `json:"size"`
	CreatedAt       time.Time       `json:"created_at"`
	ExpiresAt       *time.Time      `json:"expires_at"`
	RevokedAt       *time.Time      `json:"revoked_at"`
	PurgedAt        *time.Time      `json:"purged_at"`
	Recipients      []recipientView `json:"recipients"`
}

type summaryView struct {
	ID              string            `json:"id"`
	MessageID       string            `json:"message_id"`
	ClientMessageID string            `json:"client_message_id"`
	State           string            `json:"state"`
	Size            int64             `json:"size"`
	CreatedAt       time.Time         `json:"created_at"`
	Recipients      []recipientStatus `json:"recipients"`
}

type listView struct {
	Messages   []summaryView `json:"messages"`
	NextCursor *string       `json:"next_cursor"`
}

func toMessageView(st message.Status) messageView {
	v := messageView{ID: st.ID, MessageID: st.MessageID, ClientMessageID: st.ClientMessageID, State: st.State,
		Size: st.Size, CreatedAt: st.CreatedAt, ExpiresAt: st.ExpiresAt, RevokedAt: st.RevokedAt, PurgedAt: st.PurgedAt,
		Recipients: make([]recipientView, len(st.Recipients))}
	for i, r := range st.Recipients {
		v.Recipients[i] = toRecipientView(r)
	}
	return v
}

func toRecipientView(r message.Recipient) recipientView {
	v := recipientView{Address: r.Address, Kind: r.Kind, Route: r.Route, Reason: r.Reason, State: r.Status,
		Runs: r.Attempts, LastError: r.LastError, NextAttemptAt: r.NextAttemptAt, DeliveredAt: r.DeliveredAt,
		Suspicious: r.Suspicious, UpdatedAt: r.UpdatedAt, Attempts: make([]attemptView, len(r.Evidence))}
	for i, a := range r.Evidence {
		v.Attempts[i] = attemptView{Run: a.Run, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt, MX: a.MX, IP: a.IP,
			Policy: a.Policy, TLSVersion: a.TLSVersion, Cipher: a.Cipher, TLSAMatch: a.TLSAMatch, Code: a.Code,
			Enhanced: a.Enhanced, Reply: a.Reply, Error: a.Error, Outcome: a.Outcome}
	}
	if e := r.External; e != nil {
		v.External = &externalView{Phone: e.Phone, SMSStatus: e.SMSStatus, Locked: e.Locked, NotifiedAt: e.NotifiedAt, CodeSentAt: e.CodeSentAt,
			OpenedAt: e.OpenedAt, DownloadedAt: e.DownloadedAt, RepliedAt: e.RepliedAt, RemindedAt: e.RemindedAt,
			NewLinkRequestedAt: e.NewLinkRequestedAt}
	}
	return v
}

func toListView(list []message.Summary, next string) listView {
	v := listView{Messages: make([]summaryView, len(list))}
	for i, s := range list {
		v.Messages[i] = summaryView{ID: s.ID, MessageID: s.MessageID, ClientMessageID: s.ClientMessageID, State: s.State,
			Size: s.Size, CreatedAt: s.CreatedAt, Recipients: toStatuses(s.Recipients)}
	}
	if next != "" {
		v.NextCursor = &next
	}
	return v
}

func toStatuses(rs []message.RecipientStatus) []recipientStatus {
	out := make([]recipientStatus, len(rs))
	for i, r := range rs {
		out[i] = recipientStatus{Address: r.Address, Route: r.Route, Status: r.Status, Reason: r.Reason}
	}
	return out
}
