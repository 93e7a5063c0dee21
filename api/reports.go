package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"

	"github.com/veilig/veilig/internal/mailcheck"
)

// maxReportHTML bounds one rendered report page; it is buffered so a failed
// render never leaves half a page behind.
const maxReportHTML = 1 << 20

// reportLanguages are the languages the report page is written in; Dutch first
// (the default).
var reportLanguages = language.NewMatcher([]language.Tag{language.Dutch, language.English})

// reportCSP is the report page's policy: no script, no forms, no fetches; its
// only style is the page's own <style> elements, allowed by hash (CSP3 §2.3.1).
// sandbox makes the page a unique origin even if something slipped through.
const reportCSPBase = "default-src 'none'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox"

var styleElement = regexp.MustCompile(`(?s)<style[^>]*>(.*?)</style>`)

// wantsHTML: Accept: text/html (a browser) gets the page; anyone else JSON.
func wantsHTML(c *gin.Context) bool {
	return c.NegotiateFormat(gin.MIMEJSON, gin.MIMEHTML) == gin.MIMEHTML
}

// reportLanguage picks nl or en from Accept-Language (RFC 9110 §12.5.4); nl by default.
func reportLanguage(c *gin.Context) string {
	tag, _ := language.MatchStrings(reportLanguages, c.GetHeader("Accept-Language"))
	if base, _ := tag.Base(); base.String() == "en" {
		return "en"
	}
	return "nl"
}

// writeReports answers with reports: JSON body as given, or, for Accept:
// text/html, the page of the report for ?domain= (default the first).
func (h *handlers) writeReports(c *gin.Context, reports []mailcheck.Report, body any) {
	if !wantsHTML(c) {
		c.JSON(http.StatusOK, body)
		return
	}
	domain := strings.ToLower(c.Query("domain"))
	for _, r := range reports {
		if domain == "" || r.Domain == domain {
			h.writeReportHTML(c, r)
			return
		}
	}
	_ = c.Error(newError(kindNotFound, "no report for this domain yet"))
}

// writeReportHTML renders one report with the strict page headers.
func (h *handlers) writeReportHTML(c *gin.Context, r mailcheck.Report) {
	var buf bytes.Buffer
	if err := r.WriteHTML(&limitedWriter{w: &buf, n: maxReportHTML}, reportLanguage(c)); err != nil {
		_ = c.Error(err)
		return
	}
	hd := c.Writer.Header()
	hd.Set("Content-Security-Policy", reportCSP(buf.Bytes()))
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
	hd.Set("Vary", "Accept, Accept-Language")
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

// reportCSP allows exactly the page's own <style> elements by their SHA-256.
func reportCSP(page []byte) string {
	var hashes []string
	for _, m := range styleElement.FindAllSubmatch(page, -1) {
		sum := sha256.Sum256(m[1])
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	if len(hashes) == 0 {
		return reportCSPBase
	}
	return reportCSPBase + "; style-src " + strings.Join(hashes, " ")
}

// reportIncomplete is the error text of an incomplete report as everyone but
// operators reads it: the cause names resolvers, addresses and connection
// errors (a probe of the applicant's chosen hosts), which is internal detail
// for the log and the operators' views only, as on the HTML page.
const reportIncomplete = "the check could not be completed (a DNS lookup or connection failed); it is retried later"

// withoutDetail returns r with its error cause replaced by reportIncomplete.
func withoutDetail(r mailcheck.Report) mailcheck.Report {
	if r.Error != "" {
		r.Error = reportIncomplete
	}
	return r
}

var errReportTooLarge = errors.New("api: report page too large")

// limitedWriter fails once more than n bytes are written.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errReportTooLarge
	}
	l.n -= len(p)
	return l.w.Write(p)
}
