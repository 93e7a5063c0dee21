package devmailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// css is the pages' only style; the Content-Security-Policy allows it by hash.
const css = `body{font-family:sans-serif;margin:0 1rem 2rem;color:#111}
.banner{background:#b00020;color:#fff;padding:.6rem 1rem;margin:0 -1rem 1rem;font-weight:bold}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ccc;vertical-align:top}
tbody th{white-space:nowrap;width:1%}
pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:.6rem}
.muted{color:#555}`

const layout = `{{define "head"}}<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Ontwikkelpostvak / Dev mailbox</title><style>` + css + `</style></head><body>
<p class="banner" role="alert">Ontwikkelpostvak — niets wordt echt verzonden / Dev mailbox — nothing is really sent</p>
{{end}}
{{define "foot"}}</body></html>
{{end}}
{{define "kind"}}{{if eq . "sms"}}SMS{{else}}e-mail{{end}}{{end}}
{{define "list"}}{{template "head"}}<h1>Ontwikkelpostvak / Dev mailbox</h1>
<p><a href="mailbox">Vernieuwen / Refresh</a> · <a href="mailbox.json">JSON</a></p>
{{if .}}<table><thead><tr><th>Tijd / Time</th><th>Soort / Kind</th><th>Van / From</th><th>Aan / To</th><th>Onderwerp / Subject</th></tr></thead><tbody>
{{range .}}<tr><td>{{.Time.Format "2006-01-02 15:04:05"}}</td><td>{{template "kind" .Kind}}</td><td>{{.From}}</td><td>{{join .To}}</td>
<td><a href="mailbox/{{.ID}}">{{title .}}</a></td></tr>
{{end}}</tbody></table>
{{else}}<p class="muted">Nog niets ontvangen / Nothing captured yet</p>{{end}}
{{template "foot"}}{{end}}
{{define "item"}}{{template "head"}}<p><a href="../mailbox">← Terug / Back</a></p>
<h1>{{title .}}</h1>
<table><tbody>
<tr><th>Tijd / Time</th><td>{{.Time.Format "2006-01-02 15:04:05"}}</td></tr>
<tr><th>Soort / Kind</th><td>{{template "kind" .Kind}}</td></tr>
<tr><th>Van / From</th><td>{{.From}}</td></tr>
<tr><th>Aan / To</th><td>{{join .To}}</td></tr>
</tbody></table>
{{if .Truncated}}<p class="muted">Afgekapt / Truncated</p>{{end}}
{{if .Problem}}<p class="muted">Niet te decoderen / Could not decode: {{.Problem}}</p>{{end}}
<h2>Tekst / Text</h2>
<pre class="body">{{range segments .Text}}{{if .URL}}<a href="{{.URL}}">{{.URL}}</a>{{else}}{{.Text}}{{end}}{{end}}</pre>
{{if .Headers}}<h2>Kopregels / Headers</h2><table><tbody>
{{range .Headers}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</tbody></table>{{end}}
{{if .Raw}}<h2>Bron / Source</h2><pre>{{.Raw}}</pre>{{end}}
{{template "foot"}}{{end}}
{{define "notfound"}}{{template "head"}}<p><a href="../mailbox">← Terug / Back</a></p>
<h1>Niet gevonden / Not found</h1>
<p>Dit bericht bestaat niet (meer). / This item does not exist (any more).</p>
{{template "foot"}}{{end}}`

// pages is parsed once; templates are safe for concurrent execution.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"join":     func(s []string) string { return strings.Join(s, ", ") },
	"title":    title,
	"segments": segments,
}).Parse(layout))

// csp allows nothing but the inline style, by its SHA-256 (CSP Level 3 §2.3.1).
var csp = func() string {
	sum := sha256.Sum256([]byte(css))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

// title is what names an item: the subject, or the start of an SMS text.
func title(it Item) string {
	s := it.Subject
	if it.Kind == KindSMS {
		s = it.Text
	}
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80]) + "…"
	}
	if s == "" {
		return "(geen onderwerp / no subject)"
	}
	return s
}

// Register serves the mailbox on r: GET /dev/mailbox (list), /dev/mailbox/:id
// (one item) and /dev/mailbox.json (the list with decoded texts and links;
// ?to= keeps the items with a recipient containing that string).
func (m *Mailbox) Register(r gin.IRouter) {
	r.GET("/dev/mailbox", m.list)
	r.GET("/dev/mailbox.json", m.listJSON)
	r.GET("/dev/mailbox/:id", m.item)
}

func (m *Mailbox) list(c *gin.Context) {
	render(c, http.StatusOK, "list", m.Items())
}

func (m *Mailbox) item(c *gin.Context) {
	it, ok := m.Get(c.Param("id"))
	if !ok {
		render(c, http.StatusNotFound, "notfound", nil)
		return
	}
	render(c, http.StatusOK, "item", it)
}

func (m *Mailbox) listJSON(c *gin.Context) {
	items := filterTo(m.Items(), c.Query("to"))
	if items == nil {
		items = []Item{}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, items)
}

// filterTo keeps the items with a recipient containing to (case-insensitive).
func filterTo(items []Item, to string) []Item {
	if to == "" {
		return items
	}
	out := []Item{}
	to = strings.ToLower(to)
	for _, it := range items {
		for _, rcpt := range it.To {
			if strings.Contains(strings.ToLower(rcpt), to) {
				out = append(out, it)
				break
			}
		}
	}
	return out
}

// render executes a page into a buffer first, so a failure is a clean 500.
func render(c *gin.Context, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}
