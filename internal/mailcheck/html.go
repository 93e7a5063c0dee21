package mailcheck

// The report as a readable HTML page: html/template (contextual escaping),
// no script, inline CSS, and statuses as words next to their colour
// (WCAG 2.1 SC 1.4.1), in a table with header cells (SC 1.3.1).

import (
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
)

//go:embed templates/report.html
var templateFS embed.FS

// reportTemplate is parsed once; it is never modified after.
var reportTemplate = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"status": func(Status) string { return "" }, "yesno": func(bool) string { return "" },
	"testName": func(string) string { return "" }, "lines": lines,
}).ParseFS(templateFS, "templates/report.html"))

// pageText is the fixed text of the page in one language.
type pageText struct {
	Title, Checked, Overall, Incomplete, Transport, STSEnforce, Policy, MXHosts string
	Tests, Caption, Test, Host, Result, Explanation, Fix                        string
	status                                                                      map[Status]string
	yes, no                                                                     string
}

// pageTexts holds the page text per language.
var pageTexts = map[string]pageText{
	"nl": {Title: "Controle van de mailinstellingen", Checked: "Gecontroleerd", Overall: "Totaaloordeel",
		Incomplete: "De controle kon niet helemaal worden uitgevoerd (een DNS-opvraging of verbinding mislukte); ze wordt later herhaald.",
		Transport:  "Transportbeveiliging", STSEnforce: "MTA-STS (enforce)", Policy: "Vast te leggen beleid", MXHosts: "Mailservers",
		Tests: "Onderdelen", Caption: "Uitkomst per onderdeel, met uitleg en oplossing", Test: "Onderdeel", Host: "Mailserver",
		Result: "Uitkomst", Explanation: "Uitleg", Fix: "Oplossing",
		status: map[Status]string{StatusPass: "✓ geslaagd", StatusInfo: "ℹ informatief", StatusWarning: "! waarschuwing",
			StatusFail: "✗ gezakt", StatusError: "✗ niet uitgevoerd"},
		yes: "ja", no: "nee"},
	"en": {Title: "Mail settings check", Checked: "Checked", Overall: "Overall result",
		Incomplete: "The check could not be completed (a DNS lookup or connection failed); it will be retried later.",
		Transport:  "Transport security", STSEnforce: "MTA-STS (enforce)", Policy: "Policy to pin", MXHosts: "Mail servers",
		Tests: "Tests", Caption: "Result per test, with explanation and fix", Test: "Test", Host: "Mail server",
		Result: "Result", Explanation: "Explanation", Fix: "Fix",
		status: map[Status]string{StatusPass: "✓ pass", StatusInfo: "ℹ info", StatusWarning: "! warning",
			StatusFail: "✗ fail", StatusError: "✗ not run"},
		yes: "yes", no: "no"},
}

// testNames are the display names of the tests.
var testNames = map[string]string{
	TestMX: "MX", TestDNSSEC: "DNSSEC", TestSPF: "SPF", TestDMARC: "DMARC", TestDKIM: "DKIM",
	TestSTARTTLS: "STARTTLS", TestDANE: "DANE", TestMTASTS: "MTA-STS", TestTLSRPT: "TLS-RPT", TestNTA7516: "NTA 7516",
}

// WriteHTML writes r as an HTML page in lang ("nl" or "en"; anything else
// is Dutch, the product's primary language). The report's Error detail is
// not shown: it may name internal resolvers.
func (r Report) WriteHTML(w io.Writer, lang string) error {
	if _, ok := pageTexts[lang]; !ok {
		lang = "nl"
	}
	t := pageTexts[lang]
	tmpl, err := reportTemplate.Clone()
	if err != nil {
		return fmt.Errorf("mailcheck: report template: %w", err)
	}
	tmpl.Funcs(template.FuncMap{
		"status":   func(s Status) string { return statusWord(t, s) },
		"yesno":    func(b bool) string { return map[bool]string{true: t.yes, false: t.no}[b] },
		"testName": func(n string) string { return cmp.Or(testNames[n], n) },
	})
	data := struct {
		Lang string
		T    pageText
		R    Report
	}{lang, t, r}
	if err := tmpl.Execute(w, data); err != nil {
		return fmt.Errorf("mailcheck: write report: %w", err)
	}
	return nil
}

func statusWord(t pageText, s Status) string {
	return cmp.Or(t.status[s], string(s))
}

// lines splits a message into its lines.
func lines(s string) []string { return strings.Split(s, "\n") }
