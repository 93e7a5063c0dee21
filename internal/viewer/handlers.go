package viewer

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// ctx derives the local deadline of one backend call.
func (v *Viewer) ctx(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), v.cfg.Timeout)
}

// open handles GET /v/:token: it exchanges the link token for a session
// cookie and answers with a page that moves on to /v/ by meta refresh. A 303
// would not carry the SameSite=Strict cookie after a cross-site navigation;
// the refresh from our own page is same-site. The token is never echoed.
func (v *Viewer) open(c *gin.Context) {
	token := c.Param("token")
	if !validToken(token) {
		v.render(c, http.StatusNotFound, "notice", v.notice(c, "unknown"))
		return
	}
	ctx, cancel := v.ctx(c)
	defer cancel()
	vis, err := v.backend.Resolve(ctx, token)
	if err != nil {
		v.renderError(c, "resolve", err)
		return
	}
	session, err := v.backend.StartSession(ctx, token)
	if err != nil {
		if vis.State != StateActive && vis.State != "" {
			v.renderState(c, "", vis)
			return
		}
		v.renderError(c, "start session", err)
		return
	}
	v.setSession(c, session)
	p := v.page(c, "")
	p.Title = p.T("continue_title")
	v.render(c, http.StatusOK, "continue", p)
}

// state handles GET /v/: the page for where the session stands.
func (v *Viewer) state(c *gin.Context) {
	session := v.sessionToken(c)
	if session == "" {
		v.render(c, http.StatusForbidden, "notice", v.notice(c, "nosession"))
		return
	}
	ctx, cancel := v.ctx(c)
	defer cancel()
	vis, err := v.backend.Session(ctx, session)
	switch {
	case err != nil:
		v.renderError(c, "session", err)
	case vis.State != StateActive:
		v.renderState(c, session, vis)
	case !vis.Verified:
		v.renderCodeStep(c, http.StatusOK, session, vis, "")
	default:
		v.renderMessage(c, http.StatusOK, session, messageExtras{})
	}
}

// renderCodeStep shows the request-code form, or the enter-code form once a
// code was sent.
func (v *Viewer) renderCodeStep(c *gin.Context, status int, session string, vis Visit, errKey string, args ...any) {
	p := v.page(c, session)
	p.Visit = vis
	p.Expires = formatDate(p.Lang, vis.ExpiresAt, v.cfg.Location)
	if errKey != "" {
		p.Error = p.T(p.CodeKey(errKey), args...)
	}
	name := "request"
	p.Title = p.T("request_title")
	if vis.CodeSent && errKey != "err_code_expired" {
		name = "verify"
		p.Title = p.T("verify_title")
	}
	v.render(c, status, name, p)
}

// maxFormBytes caps the small forms (code, verify, new-link, logout).
const maxFormBytes = 16 << 10

// postSession reads the cookie of a POST and checks its form token; false means
// a page was already written.
func (v *Viewer) postSession(c *gin.Context) (string, bool) {
	session := v.sessionToken(c)
	if session == "" {
		v.render(c, http.StatusForbidden, "notice", v.notice(c, "nosession"))
		return "", false
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	if !v.csrfValid(c, session) {
		v.render(c, http.StatusForbidden, "notice", v.notice(c, "forbidden"))
		return "", false
	}
	return session, true
}

// sendCode handles POST /v/code.
func (v *Viewer) sendCode(c *gin.Context) {
	session, ok := v.postSession(c)
	if !ok {
		return
	}
	ctx, cancel := v.ctx(c)
	defer cancel()
	if err := v.backend.SendCode(ctx, session, c.ClientIP()); err != nil {
		v.renderError(c, "send code", err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/v/")
}

// verify handles POST /v/verify.
func (v *Viewer) verify(c *gin.Context) {
	session, ok := v.postSession(c)
	if !ok {
		return
	}
	code, ok := normaliseCode(c.PostForm("code"))
	if !ok {
		v.codeFailed(c, session, "err_code_format")
		return
	}
	ctx, cancel := v.ctx(c)
	defer cancel()
	err := v.backend.VerifyCode(ctx, session, code, c.ClientIP())
	var ce *CodeError
	switch {
	case err == nil:
		c.Redirect(http.StatusSeeOther, "/v/")
	case errors.As(err, &ce) && ce.Remaining > 0:
		v.codeFailed(c, session, "err_wrong_code", ce.Remaining)
	case errors.As(err, &ce):
		v.render(c, http.StatusLocked, "notice", v.notice(c, StateLocked))
	case errors.Is(err, ErrCodeExpired):
		v.codeFailed(c, session, "err_code_expired")
	default:
		v.renderError(c, "verify code", err)
	}
}

// codeFailed shows the code step again with an error (422).
func (v *Viewer) codeFailed(c *gin.Context, session, errKey string, args ...any) {
	ctx, cancel := v.ctx(c)
	defer cancel()
	vis, err := v.backend.Session(ctx, session)
	if err != nil {
		v.renderError(c, "session", err)
		return
	}
	if vis.State != StateActive {
		v.renderState(c, session, vis)
		return
	}
	v.renderCodeStep(c, http.StatusUnprocessableEntity, session, vis, errKey, args...)
}

// normaliseCode drops spaces and dashes people type; the rest must be 4–12 digits.
func normaliseCode(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if len(s) < 4 || len(s) > 12 {
		return "", false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return s, true
}

// newLink handles POST /v/new-link: ask the sender for a new link.
func (v *Viewer) newLink(c *gin.Context) {
	session, ok := v.postSession(c)
	if !ok {
		return
	}
	ctx, cancel := v.ctx(c)
	defer cancel()
	err := v.backend.RequestNewLink(ctx, session)
	switch {
	case err == nil:
		c.Redirect(http.StatusSeeOther, "/v/?done=newlink")
	case errors.Is(err, ErrInvalid):
		c.Redirect(http.StatusSeeOther, "/v/")
	default:
		v.renderError(c, "request new link", err)
	}
}

// logout handles POST /v/logout.
func (v *Viewer) logout(c *gin.Context) {
	session, ok := v.postSession(c)
	if !ok {
		return
	}
	ctx, cancel := v.ctx(c)
	defer cancel()
	if err := v.backend.EndSession(ctx, session); err != nil && !errors.Is(err, ErrNoSession) {
		v.cfg.Log.ErrorContext(ctx, "viewer: end session", "err", err)
	}
	v.clearSession(c)
	v.render(c, http.StatusOK, "notice", v.notice(c, "loggedout"))
}
