package viewer

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// sanitizer turns a message's HTML into markup safe to place in our page:
// bluemonday's UGC policy, minus relative URLs and remote images. Before it,
// a pass over the parsed tree drops remote images (noting that it did), ids
// and data: links, and writes each link's real URL next to its text.
// bluemonday always runs last.
type sanitizer struct{ p *bluemonday.Policy }

var dataImage = regexp.MustCompile(`^image/(gif|jpeg|png|webp);base64,`)

func newSanitizer() sanitizer {
	p := bluemonday.UGCPolicy()
	p.AllowRelativeURLs(false)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowURLSchemeWithCustomPolicy("data", dataImageURL)
	p.RewriteSrc(func(u *url.URL) {
		if u.Scheme != "data" {
			*u = url.URL{}
		}
	})
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^vl-href$`)).OnElements("span")
	return sanitizer{p: p}
}

// dataImageURL admits base64 raster images only (no SVG).
func dataImageURL(u *url.URL) bool {
	if u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	m := dataImage.FindString(u.Opaque)
	if m == "" {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(u.Opaque[len(m):])
	return err == nil
}

// sanitize returns safe HTML and whether remote content was removed.
func (s sanitizer) sanitize(raw string) (template.HTML, bool) {
	doc, err := html.Parse(strings.NewReader(raw))
	if err != nil {
		// html.Parse only fails on reader errors; fall back to bluemonday alone.
		return template.HTML(s.p.Sanitize(raw)), false //nolint:gosec // bluemonday output
	}
	blocked := prepare(doc)
	var buf bytes.Buffer
	if err := html.Render(&buf, doc); err != nil {
		return "", blocked
	}
	return template.HTML(s.p.SanitizeBytes(buf.Bytes())), blocked //nolint:gosec // bluemonday output
}

// prepare rewrites the tree in place and reports remote content it removed.
func prepare(n *html.Node) bool {
	blocked := false
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode {
			blocked = prepareElement(c) || blocked
		}
		blocked = prepare(c) || blocked
		c = next
	}
	return blocked
}

func prepareElement(n *html.Node) bool {
	blocked := remoteAttrs(n)
	n.Attr = dropAttrs(n.Attr, "id")
	switch n.DataAtom {
	case atom.Img:
		if !strings.HasPrefix(strings.TrimSpace(strings.ToLower(attr(n, "src"))), "data:image/") {
			replaceWithAlt(n)
			return true
		}
	case atom.A, atom.Area:
		if strings.HasPrefix(strings.TrimSpace(strings.ToLower(attr(n, "href"))), "data:") {
			n.Attr = dropAttrs(n.Attr, "href")
		}
		if n.DataAtom == atom.A {
			showHref(n)
		}
	case atom.H1, atom.H2, atom.H3, atom.H4:
		demoteHeading(n)
	case atom.Link, atom.Video, atom.Audio, atom.Source, atom.Picture, atom.Iframe, atom.Object, atom.Embed, atom.Image:
		blocked = true
	}
	return blocked
}

// demoteHeading keeps the page's outline: the message sits under our h1, so
// its headings start at h3 (h5 and h6 stay).
func demoteHeading(n *html.Node) {
	level := n.Data[1] - '0' + 2
	n.Data = "h" + string(rune('0'+level))
	n.DataAtom = atom.Lookup([]byte(n.Data))
}

// remoteAttrs reports attributes that would fetch from elsewhere.
func remoteAttrs(n *html.Node) bool {
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "background", "srcset", "poster", "lowsrc", "dynsrc":
			return true
		case "style":
			if strings.Contains(strings.ToLower(a.Val), "url(") {
				return true
			}
		}
	}
	return n.DataAtom == atom.Style && n.FirstChild != nil && strings.Contains(strings.ToLower(n.FirstChild.Data), "url(")
}

// replaceWithAlt swaps a remote image for its alt text.
func replaceWithAlt(n *html.Node) {
	if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
		n.Parent.InsertBefore(&html.Node{Type: html.TextNode, Data: "[" + alt + "]"}, n)
	}
	n.Parent.RemoveChild(n)
}

// showHref writes a link's real address after it when its text differs, so
// a link cannot pose as another address.
func showHref(n *html.Node) {
	href := strings.TrimSpace(attr(n, "href"))
	u, err := url.Parse(href)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "mailto") || n.Parent == nil {
		return
	}
	text := strings.TrimSpace(textOf(n))
	if text == href || "mailto:"+text == href || strings.TrimSuffix(href, "/") == text {
		return
	}
	span := &html.Node{Type: html.ElementNode, Data: "span", DataAtom: atom.Span,
		Attr: []html.Attribute{{Key: "class", Val: "vl-href"}}}
	span.AppendChild(&html.Node{Type: html.TextNode, Data: " (" + href + ")"})
	n.Parent.InsertBefore(span, n.NextSibling)
}

func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(textOf(c))
	}
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func dropAttrs(attrs []html.Attribute, key string) []html.Attribute {
	out := attrs[:0]
	for _, a := range attrs {
		if !strings.EqualFold(a.Key, key) {
			out = append(out, a)
		}
	}
	return out
}
