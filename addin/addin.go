// Package addin serves Veilig's mail-client add-ins from the Veilig server
// itself, so the task pane and the API share one origin and need no CORS:
//
//   - the Outlook add-in only manifest (Office Add-ins manifest schema 1.1,
//     MailApp with VersionOverrides 1.1, Mailbox requirement set 1.8, a Smart
//     Alerts OnMessageSend launch event from Mailbox 1.12) and the unified
//     manifest for Microsoft 365 (schema devPreview), both generated for this
//     instance's public URL with a stable UUIDv5 id (RFC 9562 §5.5);
//   - the add-ins' static files, with ETags (RFC 9110 §8.8.3),
//     Cache-Control: no-cache (RFC 9111 §5.2.2.4) and a Content Security
//     Policy (CSP Level 3) that admits Office.js and lets Outlook on the web
//     frame the task pane;
//   - /.well-known/microsoft-officeaddins-allowed.json (RFC 8615), which lists
//     the event-handler script that classic Outlook on Windows may run with
//     CORS and SSO.
package addin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// ErrInvalidURL reports a public URL or origin the add-ins cannot be served for.
var ErrInvalidURL = errors.New("addin: invalid URL")

// Manifest versions; raise them when a manifest changes so that Outlook and
// the Microsoft 365 admin centre pick up the new one.
const (
	xmlVersion  = "1.0.0.0"
	jsonVersion = "1.0.0"
)

// Prefix is the URL path under which the add-ins are served.
const Prefix = "/addin/"

// WellKnownPath lists the scripts allowed CORS/SSO in Outlook's JS-only runtime.
const WellKnownPath = "/.well-known/microsoft-officeaddins-allowed.json"

//go:embed outlook/manifest.xml.tmpl outlook/manifest.json.tmpl
var templateFS embed.FS

// staticFS holds what the add-ins load in the mail client. Tests, templates
// and node_modules are left out by the explicit patterns (and by skip below).
//
//go:embed outlook/assets/*.png outlook/*.html outlook/*.js outlook/*.css core/*.js
var staticFS embed.FS

// officeFrameAncestors may frame the task pane: Outlook on the web and the
// new Outlook for Windows. Desktop clients show it in their own web view.
var officeFrameAncestors = []string{"https://*.office.com", "https://*.office365.com",
	"https://*.outlook.com", "https://outlook.live.com", "https://*.cloud.microsoft",
	"https://*.microsoft365.com"}

// Addin serves the add-ins of one Veilig instance.
type Addin struct {
	files     map[string]asset // by path below Prefix
	wellKnown asset
	pageCSP   string
}

// asset is one prepared response body.
type asset struct {
	body        []byte
	contentType string
	etag        string
	page        bool // an add-in page or script: gets the page CSP and may be framed
}

// Option adjusts an Addin.
type Option func(*options) error

type options struct{ frameAncestors []string }

// WithFrameAncestors lets more origins frame the add-in pages, such as the
// Outlook on the web (OWA) of an on-premises Exchange server.
func WithFrameAncestors(origins ...string) Option {
	return func(o *options) error {
		for _, s := range origins {
			origin, err := Origin(s)
			if err != nil {
				return err
			}
			o.frameAncestors = append(o.frameAncestors, origin)
		}
		return nil
	}
}

// New prepares the manifests for publicURL (the server's external base URL,
// without query or fragment) and indexes the static files.
func New(publicURL string, opts ...Option) (*Addin, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	d, err := newManifestData(publicURL)
	if err != nil {
		return nil, err
	}
	files, err := loadStatic()
	if err != nil {
		return nil, err
	}
	if err := addManifests(files, d); err != nil {
		return nil, err
	}
	wk, err := json.Marshal(map[string][]string{"allowed": {d.CommandsJS}})
	if err != nil {
		return nil, fmt.Errorf("addin: well-known: %w", err)
	}
	return &Addin{files: files, wellKnown: newAsset(wk, "application/json", false),
		pageCSP: pageCSP(append(append([]string{"'self'"}, officeFrameAncestors...), o.frameAncestors...))}, nil
}

// pageCSP is the policy of the add-in pages: scripts from this origin and
// Office.js only, nothing inline, API calls to this origin.
func pageCSP(frameAncestors []string) string {
	return "default-src 'none'; script-src 'self' https://appsforoffice.microsoft.com; " +
		"style-src 'self'; img-src 'self' data:; font-src 'self'; " +
		"connect-src 'self' https://appsforoffice.microsoft.com; form-action 'self'; base-uri 'none'; " +
		"frame-ancestors " + strings.Join(frameAncestors, " ")
}

// Register mounts the add-in files under /addin/ and the well-known URI.
func (a *Addin) Register(r gin.IRouter) {
	r.GET(Prefix+"*path", a.serveFile)
	r.HEAD(Prefix+"*path", a.serveFile)
	r.GET(WellKnownPath, a.serveWellKnown)
	r.HEAD(WellKnownPath, a.serveWellKnown)
}

func (a *Addin) serveFile(c *gin.Context) {
	f, ok := a.files[strings.TrimPrefix(c.Param("path"), "/")]
	if !ok {
		c.Header("Content-Type", "text/plain; charset=utf-8")
		c.String(http.StatusNotFound, "404 niet gevonden / not found\n")
		return
	}
	a.serve(c, f)
}

func (a *Addin) serveWellKnown(c *gin.Context) { a.serve(c, a.wellKnown) }

// serve writes one asset; http.ServeContent answers If-None-Match with 304.
func (a *Addin) serve(c *gin.Context, f asset) {
	h := c.Writer.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	if f.page {
		h.Set("Content-Security-Policy", a.pageCSP)
		h.Del("X-Frame-Options") // superseded by frame-ancestors
	}
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(f.body))
}

// contentTypes are the file types served; anything else stays private.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

// loadStatic indexes the embedded files that may be served.
func loadStatic() (map[string]asset, error) {
	files := make(map[string]asset)
	err := fs.WalkDir(staticFS, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || skip(p) {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		files[p] = newAsset(body, ct, ct != "image/png")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("addin: static files: %w", err)
	}
	return files, nil
}

// skip leaves out tests, test data, dependencies and build sources (commands.src.js
// is bundled into commands.js).
func skip(p string) bool {
	return strings.HasSuffix(p, ".test.js") || strings.HasSuffix(p, ".src.js") || strings.Contains("/"+p, "/testdata/") ||
		strings.Contains("/"+p, "/node_modules/")
}

func newAsset(body []byte, contentType string, page bool) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, page: page,
		etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// manifestData fills the manifest templates.
type manifestData struct {
	Base, Origin, Host, ID, Version string
	Taskpane, Commands, CommandsJS  string
	assets                          string
}

// Icon is the URL of the square icon of n pixels.
func (d manifestData) Icon(n int) string { return d.assets + "icon-" + strconv.Itoa(n) + ".png" }

func newManifestData(publicURL string) (manifestData, error) {
	origin, err := Origin(publicURL)
	if err != nil {
		return manifestData{}, err
	}
	u, _ := url.Parse(publicURL) // parsed by Origin
	base := origin + strings.TrimSuffix(u.EscapedPath(), "/")
	outlook := base + Prefix + "outlook/"
	return manifestData{Base: base, Origin: origin, Host: u.Host,
		ID:      uuid.NewSHA1(uuid.NameSpaceURL, []byte(outlook)).String(),
		Version: xmlVersion, Taskpane: outlook + "taskpane.html", Commands: outlook + "commands.html",
		CommandsJS: outlook + "commands.js", assets: outlook + "assets/"}, nil
}

// Origin returns the RFC 6454 origin (scheme://host[:port], lower case) of an
// absolute http(s) URL, which may have a path but no query, fragment or user.
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidURL, raw, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return "", fmt.Errorf("%w: %q is not an absolute http(s) URL", ErrInvalidURL, raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("%w: %q has user info, a query or a fragment", ErrInvalidURL, raw)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// addManifests renders both manifests into files and checks they parse.
func addManifests(files map[string]asset, d manifestData) error {
	funcs := template.FuncMap{"xml": xmlEscape, "json": jsonString}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(templateFS, "outlook/*.tmpl")
	if err != nil {
		return fmt.Errorf("addin: templates: %w", err)
	}
	xmlBody, err := render(tmpl, "manifest.xml.tmpl", d)
	if err == nil {
		err = wellFormedXML(xmlBody)
	}
	if err != nil {
		return err
	}
	d.Version = jsonVersion
	jsonBody, err := render(tmpl, "manifest.json.tmpl", d)
	if err == nil && !json.Valid(jsonBody) {
		err = errors.New("addin: manifest.json is not valid JSON")
	}
	if err != nil {
		return err
	}
	files["outlook/manifest.xml"] = newAsset(xmlBody, "application/xml; charset=utf-8", false)
	files["outlook/manifest.json"] = newAsset(jsonBody, "application/json", false)
	return nil
}

func render(t *template.Template, name string, d manifestData) ([]byte, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, d); err != nil {
		return nil, fmt.Errorf("addin: %s: %w", name, err)
	}
	return b.Bytes(), nil
}

func wellFormedXML(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := dec.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("addin: manifest.xml is not well-formed: %w", err)
		}
	}
}

// xmlEscape escapes text for XML character data and quoted attributes.
func xmlEscape(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// jsonString renders s as a JSON string literal.
func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}
