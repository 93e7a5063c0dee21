package viewer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the templates; each is the layout plus one content file.
var pageNames = []string{"continue", "notice", "request", "verify", "message"}

type pages map[string]*template.Template

func parsePages() (pages, error) {
	base, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("viewer: layout template: %w", err)
	}
	p := make(pages, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("viewer: template %s: %w", name, err)
		}
		p[name] = t
	}
	return p, nil
}

// pageData is what every template sees. Fields a page does not use stay zero.
type pageData struct {
	Lang  string
	dict  dictionary
	CSS   string
	CSRF  string // non-empty when a session exists: forms and the logout button
	Title string

	// notice pages
	Body        string
	ShowNewLink bool
	ShowBack    bool

	// request, verify and message pages
	Visit   Visit
	Expires string
	Error   string
	Notice  string

	// message page
	Message       *Content
	Subject       string
	Date          string
	HTMLBody      template.HTML
	TextBody      string
	RemoteBlocked bool
	Files         []fileView
	ReplyText     string
	MaxReply      string
}

type fileView struct {
	URL, Name, Size string
}

// T translates key for the page's language.
func (p pageData) T(key string, args ...any) string { return p.dict.translate(key, args...) }

// CodeKey is key's e-mail variant (key + "_email") when the recipient gets the
// code by e-mail and that variant exists, else key: the code texts name SMS.
func (p pageData) CodeKey(key string) string {
	if !p.Visit.CodeByEmail {
		return key
	}
	if _, ok := p.dict[key+"_email"]; ok {
		return key + "_email"
	}
	return key
}

// OtherLang is the language the switch link offers.
func (p pageData) OtherLang() string { return p.dict.translate("other_lang_code") }

func (v *Viewer) page(c *gin.Context, session string) pageData {
	lang := langOf(c)
	p := pageData{Lang: lang, dict: messages[lang], CSS: v.css.path}
	if session != "" {
		p.CSRF = v.csrfToken(session)
	}
	return p
}

// notice is a page with a heading and one paragraph, keyed name_title/name_body.
func (v *Viewer) notice(c *gin.Context, name string, args ...any) pageData {
	p := v.page(c, "")
	p.Title = p.T(name + "_title")
	p.Body = p.T(name+"_body", args...)
	return p
}

// render executes a page into a buffer first, so a template error never
// leaves half a page.
func (v *Viewer) render(c *gin.Context, status int, name string, data pageData) {
	var buf bytes.Buffer
	if err := v.pages[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		v.cfg.Log.ErrorContext(c.Request.Context(), "viewer: render", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("500 Internal Server Error"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// stateStatus is the HTTP status of a link state's own page.
func stateStatus(state string) int {
	switch state {
	case StateWithdrawn, StateExpired:
		return http.StatusGone
	case StateLocked:
		return http.StatusLocked
	}
	return http.StatusOK
}

// renderState shows the page of a non-active link; session may be "" (then
// no new-link button is offered).
func (v *Viewer) renderState(c *gin.Context, session string, vis Visit) {
	p := v.notice(c, vis.State)
	if session != "" {
		p.CSRF = v.csrfToken(session)
		p.ShowNewLink = vis.State == StateExpired && c.Query("done") != "newlink"
	}
	if c.Query("done") == "newlink" {
		p.Notice = p.T("newlink_requested")
	}
	v.render(c, stateStatus(vis.State), "notice", p)
}

// renderError maps a backend error to its page; unexpected errors are logged
// and shown as a generic page, never with their text.
func (v *Viewer) renderError(c *gin.Context, op string, err error) {
	var lim *LimitError
	switch {
	case errors.As(err, &lim):
		mins := int(math.Ceil(lim.RetryAfter.Minutes()))
		mins = max(mins, 1)
		c.Header("Retry-After", strconv.Itoa(mins*60))
		v.render(c, http.StatusTooManyRequests, "notice", v.notice(c, "limited", mins))
	case errors.Is(err, ErrLimited):
		v.render(c, http.StatusTooManyRequests, "notice", v.notice(c, "limited", 1))
	case errors.Is(err, ErrUnknownLink):
		v.clearSession(c)
		v.render(c, http.StatusNotFound, "notice", v.notice(c, "unknown"))
	case errors.Is(err, ErrNoSession):
		v.clearSession(c)
		v.render(c, http.StatusForbidden, "notice", v.notice(c, "nosession"))
	case errors.Is(err, ErrNotVerified), errors.Is(err, ErrInactive):
		c.Redirect(http.StatusSeeOther, "/v/")
	case errors.Is(err, ErrNotFound):
		p := v.notice(c, "notfound")
		p.ShowBack = true
		v.render(c, http.StatusNotFound, "notice", p)
	case errors.Is(err, ErrUnavailable):
		v.cfg.Log.WarnContext(c.Request.Context(), "viewer: code not sent", "op", op, "err", err)
		c.Header("Retry-After", "60")
		v.render(c, http.StatusServiceUnavailable, "notice", v.notice(c, "unavailable"))
	case errors.Is(err, context.Canceled):
		c.Status(499) // client went away; nothing to render
	default:
		v.cfg.Log.ErrorContext(c.Request.Context(), "viewer: backend failed", "op", op, "err", err)
		v.render(c, http.StatusInternalServerError, "notice", v.notice(c, "error"))
	}
}

// staticFile is the embedded stylesheet served under a content-hashed name.
type staticFile struct {
	path string // /v/static/viewer.<hash>.css
	name string
	body []byte
}

//go:embed static/viewer.css
var cssFile []byte

func loadCSS() (staticFile, error) {
	if len(cssFile) == 0 {
		return staticFile{}, fmt.Errorf("viewer: empty stylesheet")
	}
	sum := sha256.Sum256(cssFile)
	name := "viewer." + hex.EncodeToString(sum[:6]) + ".css"
	return staticFile{path: "/v/static/" + name, name: name, body: cssFile}, nil
}

// static serves the stylesheet; its name changes with its content, so it may
// be cached for a year.
func (v *Viewer) static(c *gin.Context) {
	if c.Param("name") != v.css.name {
		c.Data(http.StatusNotFound, "text/plain; charset=utf-8", []byte("404 Not Found"))
		return
	}
	c.Header("Cache-Control", "public, max-age=31536000, immutable")
	c.Data(http.StatusOK, "text/css; charset=utf-8", v.css.body)
}
