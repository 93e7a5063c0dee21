package addin_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/addin"
	"github.com/veilig/veilig/internal/testenv"
)

const publicURL = "https://veilig.example.test/"

const outlookURL = "https://veilig.example.test/addin/outlook/"

// router mounts the add-in behind middleware that sets the API's strict
// defaults, as api.New does, so the tests see the overrides.
func router(t *testing.T, a *addin.Addin) http.Handler {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Header("X-Frame-Options", "DENY")
		c.Header("Cache-Control", "no-store")
		c.Header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	})
	a.Register(r)
	return r
}

func newAddin(t *testing.T, url string, opts ...addin.Option) http.Handler {
	t.Helper()
	a, err := addin.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return router(t, a)
}

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// officeApp is the part of the add-in only manifest the tests check.
type officeApp struct {
	Type       string   `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
	ID         string   `xml:"Id"`
	AppDomains []string `xml:"AppDomains>AppDomain"`
	IconURL    attr     `xml:"IconUrl"`
	Outer      struct {
		Type  string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
		Inner struct {
			Type     string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			Sets     attr   `xml:"Requirements>Sets"`
			Runtimes []struct {
				Resid    string `xml:"resid,attr"`
				Override struct {
					Type  string `xml:"type,attr"`
					Resid string `xml:"resid,attr"`
				} `xml:"Override"`
			} `xml:"Hosts>Host>Runtimes>Runtime"`
			Points []struct {
				Type string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
				Tab  struct {
					ID     string `xml:"id,attr"`
					Button struct {
						ID     string `xml:"id,attr"`
						Label  attr   `xml:"Label"`
						Action struct {
							Type   string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
							Source attr   `xml:"SourceLocation"`
						} `xml:"Action"`
					} `xml:"Group>Control"`
				} `xml:"OfficeTab"`
				Events []struct {
					Type     string `xml:"Type,attr"`
					Function string `xml:"FunctionName,attr"`
					SendMode string `xml:"SendMode,attr"`
				} `xml:"LaunchEvents>LaunchEvent"`
				Source attr `xml:"SourceLocation"`
			} `xml:"Hosts>Host>DesktopFormFactor>ExtensionPoint"`
			Images  []attr `xml:"Resources>Images>Image"`
			URLs    []attr `xml:"Resources>Urls>Url"`
			Strings []struct {
				ID        string `xml:"id,attr"`
				Default   string `xml:"DefaultValue,attr"`
				Overrides []struct {
					Locale string `xml:"Locale,attr"`
					Value  string `xml:"Value,attr"`
				} `xml:"Override"`
			} `xml:"Resources>ShortStrings>String"`
		} `xml:"VersionOverrides"`
	} `xml:"VersionOverrides"`
}

type attr struct {
	ID         string `xml:"id,attr"`
	Resid      string `xml:"resid,attr"`
	Default    string `xml:"DefaultValue,attr"`
	DefaultMin string `xml:"DefaultMinVersion,attr"`
}

// xmlSummary is what matters in the manifest, with resource ids resolved.
type xmlSummary struct {
	AppType, ID, Icon, MinVersion, Versions string
	AppDomains                              []string
	Tab, ButtonID, Action, Taskpane         string
	ButtonEN, ButtonNL                      string
	Events                                  string
	EventSource, Runtime, RuntimeJS         string
	Images                                  []string
}

func summarise(m officeApp) xmlSummary {
	in := m.Outer.Inner
	res := map[string]string{}
	for _, r := range append(append([]attr{}, in.URLs...), in.Images...) {
		res[r.ID] = r.Default
	}
	s := xmlSummary{AppType: m.Type, ID: m.ID, Icon: m.IconURL.Default, MinVersion: in.Sets.DefaultMin,
		Versions: m.Outer.Type + "/" + in.Type, AppDomains: m.AppDomains}
	for _, p := range in.Points {
		switch p.Type {
		case "MessageComposeCommandSurface":
			b := p.Tab.Button
			s.Tab, s.ButtonID, s.Action = p.Tab.ID, b.ID, b.Action.Type
			s.Taskpane = res[b.Action.Source.Resid]
			label := b.Label.Resid
			for _, str := range in.Strings {
				if str.ID == label && len(str.Overrides) == 1 && str.Overrides[0].Locale == "nl-NL" {
					s.ButtonEN, s.ButtonNL = str.Default, str.Overrides[0].Value
				}
			}
		case "LaunchEvent":
			for _, e := range p.Events {
				s.Events += e.Type + ":" + e.Function + ":" + e.SendMode
			}
			s.EventSource = res[p.Source.Resid]
		}
	}
	for _, r := range in.Runtimes {
		s.Runtime = res[r.Resid]
		if r.Override.Type == "javascript" {
			s.RuntimeJS = res[r.Override.Resid]
		}
	}
	for _, img := range in.Images {
		s.Images = append(s.Images, img.Default)
	}
	return s
}

func TestManifestXML(t *testing.T) {
	h := newAddin(t, publicURL)
	rec := get(t, h, "GET", "/addin/outlook/manifest.xml")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/xml; charset=utf-8" {
		t.Fatalf("GET manifest.xml: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var m officeApp
	if err := xml.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	want := xmlSummary{AppType: "MailApp", ID: manifestID(t, h), Icon: outlookURL + "assets/icon-64.png",
		MinVersion: "1.8", Versions: "VersionOverridesV1_0/VersionOverridesV1_1",
		AppDomains: []string{"https://veilig.example.test"}, Tab: "TabDefault", ButtonID: "veiligSendSecurely",
		Action: "ShowTaskpane", Taskpane: outlookURL + "taskpane.html",
		ButtonEN: "Send securely", ButtonNL: "Veilig verzenden",
		Events:      "OnMessageSend:onMessageSend:SoftBlock",
		EventSource: outlookURL + "commands.html", Runtime: outlookURL + "commands.html",
		RuntimeJS: outlookURL + "commands.js",
		Images: []string{outlookURL + "assets/icon-16.png", outlookURL + "assets/icon-32.png",
			outlookURL + "assets/icon-80.png"}}
	if diff := cmp.Diff(want, summarise(m)); diff != "" {
		t.Errorf("manifest.xml (-want +got):\n%s", diff)
	}
}

// manifestID reads the id of the JSON manifest, which must equal the XML one.
func manifestID(t *testing.T, h http.Handler) string {
	t.Helper()
	var m struct{ ID string }
	if err := json.Unmarshal(get(t, h, "GET", "/addin/outlook/manifest.json").Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func TestManifestIDIsStablePerInstance(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		sameID bool
	}{
		{"same URL", publicURL, publicURL, true},
		{"trailing slash", "https://veilig.example.test", publicURL, true},
		{"host case", "https://VEILIG.example.test/", publicURL, true},
		{"other host", "https://other.example.test/", publicURL, false},
		{"path prefix", "https://veilig.example.test/veilig/", publicURL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := manifestID(t, newAddin(t, tt.a)), manifestID(t, newAddin(t, tt.b))
			if a == "" || (a == b) != tt.sameID {
				t.Errorf("ids %q and %q: same = %v, want %v", a, b, a == b, tt.sameID)
			}
		})
	}
}

func TestManifestXMLEscapesURL(t *testing.T) {
	h := newAddin(t, "https://veilig.example.test/a&b'<c>")
	body := get(t, h, "GET", "/addin/outlook/manifest.xml").Body.Bytes()
	var m officeApp
	if err := xml.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	want := "https://veilig.example.test/a&b%27%3Cc%3E/addin/outlook/taskpane.html"
	if got := summarise(m).Taskpane; got != want {
		t.Errorf("task pane URL %q, want %q", got, want)
	}
}

func TestManifestJSON(t *testing.T) {
	h := newAddin(t, publicURL)
	rec := get(t, h, "GET", "/addin/outlook/manifest.json")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET manifest.json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var m struct {
		Schema       string   `json:"$schema"`
		ValidDomains []string `json:"validDomains"`
		Extensions   []struct {
			Requirements struct {
				Capabilities []struct{ Name, MinVersion string }
			}
			Runtimes []struct {
				Code    struct{ Page, Script string }
				Actions []struct{ ID, Type string }
			}
			Ribbons []struct {
				Contexts []string
			}
			AutoRunEvents []struct {
				Events []struct {
					Type, ActionID string
					Options        struct{ SendMode string }
				}
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Schema, Domains, MinVersion, Taskpane, Page, Script, Action, Context, Event string
	}
	var got summary
	if len(m.Extensions) == 1 && len(m.Extensions[0].Runtimes) == 2 {
		e := m.Extensions[0]
		rt := e.Runtimes
		got = summary{Schema: m.Schema, Domains: strings.Join(m.ValidDomains, ","),
			MinVersion: e.Requirements.Capabilities[0].Name + " " + e.Requirements.Capabilities[0].MinVersion,
			Taskpane:   rt[0].Code.Page, Page: rt[1].Code.Page, Script: rt[1].Code.Script,
			Action: rt[1].Actions[0].ID + ":" + rt[1].Actions[0].Type, Context: strings.Join(e.Ribbons[0].Contexts, ","),
			Event: e.AutoRunEvents[0].Events[0].Type + ":" + e.AutoRunEvents[0].Events[0].ActionID + ":" +
				e.AutoRunEvents[0].Events[0].Options.SendMode}
	}
	want := summary{Schema: "https://developer.microsoft.com/json-schemas/teams/vDevPreview/MicrosoftTeams.schema.json",
		Domains: "veilig.example.test", MinVersion: "Mailbox 1.8", Taskpane: outlookURL + "taskpane.html",
		Page: outlookURL + "commands.html", Script: outlookURL + "commands.js", Action: "onMessageSend:executeFunction",
		Context: "mailCompose", Event: "messageSending:onMessageSend:softBlock"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("manifest.json (-want +got):\n%s", diff)
	}
}

// TestManifestJSONValidates runs Microsoft's validator, which checks the
// unified manifest offline against its bundled schemas.
func TestManifestJSONValidates(t *testing.T) {
	cli, err := filepath.Abs(filepath.Join("node_modules", ".bin", "office-addin-manifest"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cli); err != nil {
		testenv.Missing(t, "addin/node_modules (npm ci in addin/)")
		return
	}
	good := get(t, newAddin(t, publicURL), "GET", "/addin/outlook/manifest.json").Body.String()
	tests := []struct {
		name, manifest string
		valid          bool
	}{
		{"served", good, true},
		{"control: bad send mode", strings.Replace(good, `"softBlock"`, `"nonsense"`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "manifest.json")
			if err := os.WriteFile(path, []byte(tt.manifest), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(cli, "validate", path)
			cmd.Env = append(os.Environ(), "OFFICE_ADDIN_USAGE_DATA_OPT_IN=false")
			out, err := cmd.CombinedOutput() // the JSON check exits 1 on errors, silent 0 when valid
			if (err == nil) != tt.valid {
				t.Errorf("office-addin-manifest validate: %v, want valid = %v\n%s", err, tt.valid, out)
			}
		})
	}
}

func TestStaticFiles(t *testing.T) {
	h := newAddin(t, publicURL, addin.WithFrameAncestors("https://owa.gemeente.example"))
	tests := []struct {
		method, path string
		code         int
		ctype        string
		page         bool // gets the add-in page CSP instead of the API's
	}{
		{"GET", "/addin/outlook/taskpane.html", 200, "text/html; charset=utf-8", true},
		{"HEAD", "/addin/outlook/taskpane.html", 200, "text/html; charset=utf-8", true},
		{"GET", "/addin/outlook/commands.js", 200, "text/javascript; charset=utf-8", true},
		{"GET", "/addin/outlook/taskpane.css", 200, "text/css; charset=utf-8", true},
		{"GET", "/addin/core/detector.js", 200, "text/javascript; charset=utf-8", true},
		{"GET", "/addin/outlook/assets/icon-80.png", 200, "image/png", false},
		{"GET", "/addin/outlook/manifest.xml.tmpl", 404, "text/plain; charset=utf-8", false},
		{"GET", "/addin/outlook/commands.src.js", 404, "text/plain; charset=utf-8", false},
		{"GET", "/addin/core/testdata/detector.json", 404, "text/plain; charset=utf-8", false},
		{"GET", "/addin/core/detector.test.js", 404, "text/plain; charset=utf-8", false},
		{"GET", "/addin/node_modules/office-addin-manifest/package.json", 404, "text/plain; charset=utf-8", false},
		{"GET", "/addin/outlook/../addin.go", 404, "text/plain; charset=utf-8", false},
		{"GET", "/addin/", 404, "text/plain; charset=utf-8", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := get(t, h, tt.method, tt.path)
			if rec.Code != tt.code || rec.Header().Get("Content-Type") != tt.ctype {
				t.Fatalf("%d %q, want %d %q", rec.Code, rec.Header().Get("Content-Type"), tt.code, tt.ctype)
			}
			csp, xfo := rec.Header().Get("Content-Security-Policy"), rec.Header().Get("X-Frame-Options")
			if isPage := strings.Contains(csp, "https://appsforoffice.microsoft.com"); isPage != tt.page || isPage == (xfo != "") {
				t.Errorf("CSP %q, X-Frame-Options %q; want page policy: %v", csp, xfo, tt.page)
			}
			if tt.page && (!strings.Contains(csp, "frame-ancestors 'self' https://*.office.com") ||
				!strings.HasSuffix(csp, " https://owa.gemeente.example") || strings.Contains(csp, "unsafe-inline")) {
				t.Errorf("CSP %q", csp)
			}
			if tt.code == 200 && (rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("ETag") == "") {
				t.Errorf("Cache-Control %q, ETag %q", rec.Header().Get("Cache-Control"), rec.Header().Get("ETag"))
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD has a body of %d bytes", rec.Body.Len())
			}
		})
	}
}

func TestConditionalGet(t *testing.T) {
	h := newAddin(t, publicURL)
	for _, path := range []string{"/addin/outlook/taskpane.html", "/addin/outlook/manifest.xml", addin.WellKnownPath} {
		first := get(t, h, "GET", path)
		etag := first.Header().Get("ETag")
		if first.Code != 200 || !strings.HasPrefix(etag, `"`) {
			t.Fatalf("%s: %d, ETag %q", path, first.Code, etag)
		}
		if rec := get(t, h, "GET", path, "If-None-Match", etag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("%s with If-None-Match: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
		if rec := get(t, h, "GET", path, "If-None-Match", `"other"`); rec.Code != http.StatusOK {
			t.Errorf("%s with another ETag: %d", path, rec.Code)
		}
	}
}

func TestWellKnown(t *testing.T) {
	h := newAddin(t, "https://veilig.example.test:8443/mail/")
	rec := get(t, h, "GET", addin.WellKnownPath)
	var got map[string][]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%v, %q: %s", err, rec.Header().Get("Content-Type"), rec.Body)
	}
	want := map[string][]string{"allowed": {"https://veilig.example.test:8443/mail/addin/outlook/commands.js"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	tests := []struct {
		name, url string
		opt       addin.Option
	}{
		{"relative", "/veilig", nil},
		{"no scheme", "veilig.example.test", nil},
		{"ftp", "ftp://veilig.example.test/", nil},
		{"query", "https://veilig.example.test/?a=b", nil},
		{"fragment", "https://veilig.example.test/#x", nil},
		{"user", "https://u:p@veilig.example.test/", nil},
		{"bad frame ancestor", publicURL, addin.WithFrameAncestors("*")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []addin.Option
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			if _, err := addin.New(tt.url, opts...); !errors.Is(err, addin.ErrInvalidURL) {
				t.Errorf("New(%q): %v, want ErrInvalidURL", tt.url, err)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://Veilig.Example.test/path/", "https://veilig.example.test"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://[::1]:8443/", "https://[::1]:8443"},
	}
	for _, tt := range tests {
		if got, err := addin.Origin(tt.in); got != tt.want || err != nil {
			t.Errorf("Origin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
