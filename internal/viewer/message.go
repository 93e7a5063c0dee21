package viewer

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/spool"
)

// messageExtras are what a POST adds to the message page.
type messageExtras struct {
	errKey    string
	replyText string
}

// renderMessage shows the opened message with its attachments and the reply form.
func (v *Viewer) renderMessage(c *gin.Context, status int, session string, x messageExtras) {
	ctx, cancel := v.ctx(c)
	defer cancel()
	msg, err := v.backend.Content(ctx, session)
	if err != nil {
		v.renderError(c, "content", err)
		return
	}
	if msg.State != StateActive && msg.State != "" {
		v.renderState(c, session, msg.Visit)
		return
	}
	v.render(c, status, "message", v.messagePage(c, session, &msg, x))
}

func (v *Viewer) messagePage(c *gin.Context, session string, msg *Content, x messageExtras) pageData {
	p := v.page(c, session)
	p.Message, p.Visit = msg, msg.Visit
	p.Subject = msg.Subject
	if strings.TrimSpace(p.Subject) == "" {
		p.Subject = p.T("no_subject")
	}
	p.Title = p.Subject
	p.Date = formatDate(p.Lang, msg.Date, v.cfg.Location)
	p.Expires = formatDate(p.Lang, msg.ExpiresAt, v.cfg.Location)
	if msg.HTML != "" {
		p.HTMLBody, p.RemoteBlocked = v.policy.sanitize(msg.HTML)
	} else {
		p.TextBody = msg.Text
	}
	for _, a := range msg.Attachments {
		p.Files = append(p.Files, fileView{
			URL:  "/v/attachments/" + strconv.Itoa(a.Index),
			Name: displayName(a.Name), Size: formatSize(p.Lang, a.Size),
		})
	}
	p.MaxReply = formatSize(p.Lang, v.cfg.MaxReplyBytes)
	p.ReplyText = x.replyText
	if x.errKey != "" {
		p.Error = p.T(x.errKey)
	}
	if c.Query("done") == "reply" {
		p.Notice = p.T("reply_sent")
	}
	return p
}

// attachment handles GET /v/attachments/:index: always a download, never
// rendered by the browser.
func (v *Viewer) attachment(c *gin.Context) {
	session := v.sessionToken(c)
	if session == "" {
		v.render(c, http.StatusForbidden, "notice", v.notice(c, "nosession"))
		return
	}
	index, err := strconv.Atoi(c.Param("index"))
	if err != nil || index < 0 {
		v.renderError(c, "attachment", ErrNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), v.cfg.TransferTimeout)
	defer cancel()
	att, body, err := v.backend.Attachment(ctx, session, index)
	if err != nil {
		v.renderError(c, "attachment", err)
		return
	}
	defer body.Close()
	v.streamAttachment(c, att, body)
}

func (v *Viewer) streamAttachment(c *gin.Context, att Attachment, body io.Reader) {
	h := c.Writer.Header()
	h.Set("Content-Type", safeContentType(att.ContentType))
	h.Set("Content-Disposition", contentDisposition(att.Name))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if att.Size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(att.Size, 10))
	}
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, body); err != nil && !errors.Is(err, context.Canceled) {
		v.cfg.Log.WarnContext(c.Request.Context(), "viewer: attachment stream", "err", err)
	}
}

// safeTypes may keep their media type; everything else is sent as
// application/octet-stream. Active types (HTML, SVG, XML, scripts) never are.
var safeTypes = map[string]bool{
	"application/pdf": true, "image/png": true, "image/jpeg": true, "image/gif": true,
	"image/webp": true, "text/plain": true, "text/csv": true, "application/zip": true,
	"application/msword": true, "application/vnd.ms-excel": true, "application/vnd.ms-powerpoint": true,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   true,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         true,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": true,
	"application/vnd.oasis.opendocument.text":                                   true,
	"application/vnd.oasis.opendocument.spreadsheet":                            true,
	"application/vnd.oasis.opendocument.presentation":                           true,
}

func safeContentType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !safeTypes[strings.ToLower(mt)] {
		return "application/octet-stream"
	}
	return strings.ToLower(mt)
}

// reply handles POST /v/reply: multipart text and files, capped as a whole and
// streamed; files are sealed in a per-request spool and removed afterwards.
func (v *Viewer) reply(c *gin.Context) {
	session := v.sessionToken(c)
	if session == "" {
		v.render(c, http.StatusForbidden, "notice", v.notice(c, "nosession"))
		return
	}
	if c.Request.ContentLength > v.cfg.MaxReplyBytes {
		v.tooLarge(c)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, v.cfg.MaxReplyBytes)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		v.replyParseFailed(c, err)
		return
	}
	sp, err := spool.New("")
	if err != nil {
		v.renderError(c, "reply spool", err)
		return
	}
	defer v.removeSpool(c, sp)
	form, err := readReplyForm(mr, sp, func(got string) bool { return v.tokenMatches(session, got) })
	if err != nil {
		v.replyParseFailed(c, err)
		return
	}
	v.sendReply(c, session, form)
}

func (v *Viewer) removeSpool(c *gin.Context, sp *spool.Spool) {
	if err := sp.Remove(); err != nil {
		v.cfg.Log.ErrorContext(c.Request.Context(), "viewer: removing reply spool", "err", err)
	}
}

// replyParseFailed answers a reply body that could not be read.
func (v *Viewer) replyParseFailed(c *gin.Context, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, multipart.ErrMessageTooLarge), errors.Is(err, errReplyTooLarge):
		v.tooLarge(c)
	case errors.Is(err, errReplyForbidden):
		v.render(c, http.StatusForbidden, "notice", v.notice(c, "forbidden"))
	case errors.Is(err, spool.ErrStorage):
		v.renderError(c, "reply spool", err)
	default:
		// Not multipart, or broken: the form token cannot be read either.
		v.render(c, http.StatusBadRequest, "notice", v.notice(c, "forbidden"))
	}
}

func (v *Viewer) tooLarge(c *gin.Context) {
	c.Header("Connection", "close") // the rest of the body is not read
	p := v.notice(c, "toolarge", formatSize(langOf(c), v.cfg.MaxReplyBytes))
	p.ShowBack = true
	v.render(c, http.StatusRequestEntityTooLarge, "notice", p)
}

func (v *Viewer) sendReply(c *gin.Context, session string, form *replyForm) {
	text := strings.TrimSpace(form.text)
	if form.tooMany || text == "" {
		v.renderMessage(c, http.StatusUnprocessableEntity, session, messageExtras{"err_reply_invalid", text})
		return
	}
	uploads, err := form.uploads()
	if err != nil {
		v.renderError(c, "reply spool", err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), v.cfg.TransferTimeout)
	defer cancel()
	err = v.backend.SendReply(ctx, session, Reply{Text: text, Attachments: uploads})
	switch {
	case err == nil:
		c.Redirect(http.StatusSeeOther, "/v/?done=reply")
	case errors.Is(err, ErrInvalid):
		v.renderMessage(c, http.StatusUnprocessableEntity, session, messageExtras{"err_reply_invalid", text})
	default:
		v.renderError(c, "send reply", err)
	}
}
