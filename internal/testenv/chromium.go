package testenv

// A real headless Chromium for end-to-end tests of the server-rendered pages,
// driven over the Chrome DevTools Protocol (https://chromedevtools.github.io/
// devtools-protocol/) with github.com/chromedp/chromedp. Every tab records what
// a person would not see but a test must: console errors and warnings, browser
// log entries (Content Security Policy violations among them, CSP Level 3 §5.5),
// `securitypolicyviolation` events, failed requests and uncaught exceptions.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ArtifactsEnv names the directory where screenshots are kept; without it they
// go to the test's temporary directory.
const ArtifactsEnv = "VEILIG_TEST_ARTIFACTS"

// Time limits of the browser harness.
const (
	chromiumStartTimeout = time.Minute
	chromiumStopTimeout  = 10 * time.Second
	// DefaultTabTimeout bounds each call on a Tab; see Tab.SetTimeout.
	DefaultTabTimeout = 30 * time.Second
	// maxProblems bounds what one tab records.
	maxProblems = 200
)

// chromiumBinary returns the Chromium executable, or "" when there is none.
func chromiumBinary() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// Browser is a headless Chromium with its own profile directory, stopped (with
// every process it started) when the test ends.
type Browser struct {
	t           testing.TB
	dir         string // --user-data-dir, unique to this browser
	ctx         context.Context
	cancelCtx   context.CancelFunc
	cancelAlloc context.CancelFunc
	pid         int
	closeOnce   sync.Once
}

// StartChromium starts a headless Chromium for the test. A missing binary
// skips the test, or fails it in CI (see Missing).
func StartChromium(t testing.TB) *Browser {
	t.Helper()
	bin := chromiumBinary()
	if bin == "" {
		Missing(t, "Chromium (apt-get install chromium)")
	}
	b := &Browser{t: t, dir: filepath.Join(t.TempDir(), "chromium-profile")}
	out := &cappedBuffer{max: 64 << 10}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumOptions(bin, b.dir, out)...)
	b.ctx, b.cancelCtx = chromedp.NewContext(allocCtx)
	b.cancelAlloc = cancelAlloc
	t.Cleanup(b.Close)
	// The first Do starts the browser and binds it to b.ctx: no timeout on
	// that context, a watchdog instead.
	watchdog := time.AfterFunc(chromiumStartTimeout, cancelAlloc)
	err := chromedp.Do(b.ctx)
	if !watchdog.Stop() && err == nil {
		err = errors.New("start timed out")
	}
	if err != nil {
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	if p := chromedp.FromContext(b.ctx).Browser.Process(); p != nil {
		b.pid = p.Pid
	}
	return b
}

// chromiumOptions are the flags that work in this sandbox: as root without the
// setuid sandbox, no GPU, no /dev/shm, and nothing that reaches the network
// on its own (the machine's network is closed, so every such attempt fails).
func chromiumOptions(bin, dir string, out *cappedBuffer) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(dir),
		chromedp.Flag("headless", "new"),
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-features",
			"Translate,BlinkGenPropertyTrees,HttpsUpgrades,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	return opts
}

// PID is the process ID of the main browser process.
func (b *Browser) PID() int { return b.pid }

// ProfileDir is the browser's --user-data-dir; every process of this browser
// has it on its command line.
func (b *Browser) ProfileDir() string { return b.dir }

// Close stops the browser and kills, by PID, any of its processes that
// outlive the main one. It is idempotent and runs at cleanup anyway.
func (b *Browser) Close() {
	b.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(b.ctx, chromiumStopTimeout)
		_ = chromedp.Cancel(ctx) // graceful Browser.close, then kill
		cancel()
		b.cancelCtx()
		b.cancelAlloc()
		if n := killProfileProcesses(b.dir); n > 0 {
			b.t.Logf("chromium: killed %d leftover processes", n)
		}
	})
}

// killProfileProcesses kills every process whose command line carries
// --user-data-dir=dir until a few passes in a row find none, and returns how
// many it killed. Children may fork while the main process dies.
func killProfileProcesses(dir string) int {
	total, quiet := 0, 0
	deadline := time.Now().Add(chromiumStopTimeout)
	for quiet < 3 && time.Now().Before(deadline) {
		pids := ProfileProcesses(dir)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if total += len(pids); len(pids) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	return total
}

// ProfileProcesses lists the live processes started with --user-data-dir=dir.
func ProfileProcesses(dir string) []int {
	want := []byte("--user-data-dir=" + dir)
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if bytes.Equal(arg, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// Tab is one browser tab that records every problem a page shows.
type Tab struct {
	t       testing.TB
	ctx     context.Context
	timeout time.Duration

	mu       sync.Mutex
	frameID  cdp.FrameID
	status   int                          // of the last main-frame document response
	urls     map[network.RequestID]string // of requests in flight, for failure reports
	docs     map[network.RequestID]bool   // main-frame document requests
	problems []string
	ignore   []*regexp.Regexp
}

// cspReporter turns `securitypolicyviolation` events into console errors,
// which the tab records. It runs in an isolated world, so the page's own CSP
// does not apply to it and the page cannot see it.
const cspReporter = `document.addEventListener('securitypolicyviolation', function (e) {
  console.error('securitypolicyviolation: ' + e.effectiveDirective + ' blocked ' +
    (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
}, true);`

// NewTab opens a tab, closed at cleanup. Each call on it is bounded by
// DefaultTabTimeout.
func (b *Browser) NewTab(t testing.TB) *Tab {
	t.Helper()
	tab := &Tab{t: t, timeout: DefaultTabTimeout, urls: map[network.RequestID]string{},
		docs: map[network.RequestID]bool{}}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(tab.onEvent))
	tab.ctx = ctx
	t.Cleanup(cancel)
	// The first Do attaches the tab to ctx for its life: a watchdog, not a timeout.
	watchdog := time.AfterFunc(tab.timeout, cancel)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter, WorldName: "veilig-test"})
		return err
	}))
	if !watchdog.Stop() && err == nil {
		err = errors.New("timed out")
	}
	if err != nil {
		t.Fatalf("open chromium tab: %v", err)
	}
	tab.mu.Lock()
	tab.frameID = cdp.FrameID(chromedp.FromContext(ctx).Target.TargetID)
	tab.mu.Unlock()
	return tab
}

// SetTimeout changes the bound of each later call on the tab.
func (tab *Tab) SetTimeout(d time.Duration) { tab.timeout = d }

// Context is the tab's chromedp context, for actions the helpers lack; derive
// a context with a timeout from it for each call.
func (tab *Tab) Context() context.Context { return tab.ctx }

// Run runs the actions in order, within the tab's timeout.
func (tab *Tab) Run(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tab.ctx, tab.timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// run runs one action that returns a value, within the tab's timeout.
func run[T any](tab *Tab, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(tab.ctx, tab.timeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// Navigate loads url, waits for the load event and returns the HTTP status of
// the document.
func (tab *Tab) Navigate(url string) (int, error) {
	resp, err := run(tab, chromedp.NavigateResponse(url))
	if err != nil {
		return 0, fmt.Errorf("navigate %s: %w", url, err)
	}
	return responseStatus(resp), nil
}

// responseStatus is 0 for a page without an HTTP response (about:blank).
func responseStatus(resp *network.Response) int {
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// Navigated runs the actions, which must cause a navigation (a link click, a
// form submission), waits for the new page and returns its HTTP status.
func (tab *Tab) Navigated(actions ...chromedp.Action[chromedp.Void]) (int, error) {
	ctx, cancel := context.WithTimeout(tab.ctx, tab.timeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		return 0, err
	}
	return responseStatus(resp), nil
}

// Click clicks the first element that matches the CSS selector, without
// waiting for a navigation (use ClickNavigate for links and submit buttons).
func (tab *Tab) Click(sel string) error {
	return tab.Run(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// ClickNavigate clicks the element and returns the status of the page it leads to.
func (tab *Tab) ClickNavigate(sel string) (int, error) {
	return tab.Navigated(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// SendKeys types text into the element that matches the CSS selector.
func (tab *Tab) SendKeys(sel, text string) error {
	return tab.Run(chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible))
}

// Submit submits the form that holds (or is) the element and returns the
// status of the page the submission leads to.
func (tab *Tab) Submit(sel string) (int, error) {
	return tab.Navigated(chromedp.Submit(chromedp.CSS(sel)))
}

// Text returns the visible text of the first element that matches the CSS selector.
func (tab *Tab) Text(sel string) (string, error) {
	return run(tab, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Title is the document's title.
func (tab *Tab) Title() (string, error) {
	return run(tab, chromedp.Title())
}

// Location is the URL of the page.
func (tab *Tab) Location() (string, error) {
	return run(tab, chromedp.Location())
}

// Status is the HTTP status of the last main-frame document response, from
// Network.responseReceived; 0 before any.
func (tab *Tab) Status() int {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return tab.status
}

// Cookies returns the cookies the browser would send to url.
func (tab *Tab) Cookies(url string) ([]*network.Cookie, error) {
	res, err := run(tab, func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	})
	return res.Cookies, err
}

// Fulfill answers every request of the tab whose URL matches urlPattern
// (DevTools Fetch domain wildcards: '*' is any run of characters, '?' one
// character) with status 200, the content type and body, before it reaches the
// network: a stand-in for a third-party script the closed network cannot load,
// such as Office.js. Call it before the navigation that loads the URL; it lasts
// for the life of the tab.
func (tab *Tab) Fulfill(urlPattern, contentType string, body []byte) error {
	paused := chromedp.Events(tab.ctx, fetch.RequestPaused) // subscribe before enabling
	err := tab.Run(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, fetch.Enable, fetch.EnableParams{
			Patterns: []*fetch.RequestPattern{{URLPattern: urlPattern, RequestStage: fetch.RequestStageRequest}}})
		return err
	}))
	if err != nil {
		return fmt.Errorf("fetch.enable %s: %w", urlPattern, err)
	}
	headers := []*fetch.HeaderEntry{{Name: "Content-Type", Value: contentType},
		{Name: "Cache-Control", Value: "no-store"}}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return // the tab is closed
			}
			tab.fulfill(ev.RequestID, headers, body)
		}
	}()
	return nil
}

// fulfill answers one paused request; a failure is recorded as a problem.
func (tab *Tab) fulfill(id fetch.RequestID, headers []*fetch.HeaderEntry, body []byte) {
	ctx, cancel := context.WithTimeout(tab.ctx, DefaultTabTimeout) // not tab.timeout: another goroutine
	defer cancel()
	_, err := chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
		RequestID: id, ResponseCode: 200, ResponseHeaders: headers, Body: body})
	if err != nil && tab.ctx.Err() == nil {
		tab.mu.Lock()
		tab.add("fetch.fulfillRequest: " + err.Error())
		tab.mu.Unlock()
	}
}

// Screenshot saves a full-page PNG as name.png in $VEILIG_TEST_ARTIFACTS, or
// in the test's temporary directory, logs and returns its path.
func (tab *Tab) Screenshot(t testing.TB, name string) string {
	t.Helper()
	png, err := run(tab, chromedp.FullScreenshot(100)) // quality 100 gives PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactDir(t), safeName(t.Name()+"-"+name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

func artifactDir(t testing.TB) string {
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifact directory: %v", err)
	}
	return dir
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// Ignore drops recorded problems (past and future) that match the regular
// expression, for problems a test expects, such as the log entry of a 404 page.
func (tab *Tab) Ignore(pattern string) {
	re := regexp.MustCompile(pattern)
	tab.mu.Lock()
	defer tab.mu.Unlock()
	tab.ignore = append(tab.ignore, re)
}

// Problems returns what went wrong in the tab so far: console errors and
// warnings, browser log errors and warnings (CSP violations among them),
// `securitypolicyviolation` events, failed requests and uncaught exceptions.
// It first makes a round trip to the tab, so that every event the browser
// sent before it has been recorded.
func (tab *Tab) Problems() []string {
	_, _ = run(tab, chromedp.Evaluate[chromedp.Void]("0"))
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var out []string
	for _, p := range tab.problems {
		if !tab.ignored(p) {
			out = append(out, p)
		}
	}
	return out
}

func (tab *Tab) ignored(p string) bool {
	for _, re := range tab.ignore {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

// AssertClean fails the test when the tab recorded any problem.
func (tab *Tab) AssertClean(t testing.TB) {
	t.Helper()
	if ps := tab.Problems(); len(ps) > 0 {
		t.Errorf("browser tab had %d problem(s):\n  %s", len(ps), strings.Join(ps, "\n  "))
	}
}

// onEvent runs in the tab's read loop: it must be quick and send no command.
func (tab *Tab) onEvent(ev any) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning ||
			ev.Type == runtime.ConsoleAPICalledTypeAssert {
			tab.add("console." + string(ev.Type) + ": " + consoleArgs(ev.Args))
		}
	case *runtime.EventExceptionThrown:
		tab.add("uncaught exception: " + exceptionText(ev.ExceptionDetails))
	case *cdplog.EventEntryAdded:
		tab.logEntry(ev.Entry)
	case *network.EventRequestWillBeSent:
		if len(tab.urls) < 10000 && ev.Request != nil {
			tab.urls[ev.RequestID] = ev.Request.URL
		}
		if ev.Type == network.ResourceTypeDocument && ev.FrameID == tab.frameID && len(tab.docs) < 10000 {
			tab.docs[ev.RequestID] = true
		}
	case *network.EventLoadingFinished:
		delete(tab.urls, ev.RequestID)
	case *network.EventLoadingFailed:
		tab.loadingFailed(ev)
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument && ev.FrameID == tab.frameID && ev.Response != nil {
			tab.status = int(ev.Response.Status)
		}
	}
}

// logEntry records browser log errors and warnings, but not the one about an
// error status of the main document: a test checks that status itself (see
// Navigate), and an error page can be a correct answer.
func (tab *Tab) logEntry(e *cdplog.Entry) {
	if e == nil || (e.Level != cdplog.EntryLevelError && e.Level != cdplog.EntryLevelWarning) {
		return
	}
	if e.Source == cdplog.EntrySourceNetwork && tab.docs[e.NetworkRequestID] {
		return
	}
	tab.add(fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL))
}

// loadingFailed records a failed request; one the page or a new navigation
// cancelled is not a failure.
func (tab *Tab) loadingFailed(ev *network.EventLoadingFailed) {
	url := tab.urls[ev.RequestID]
	delete(tab.urls, ev.RequestID)
	if ev.Canceled && ev.BlockedReason == "" {
		return
	}
	msg := fmt.Sprintf("request failed: %s %s: %s", ev.Type, url, ev.ErrorText)
	if ev.BlockedReason != "" {
		msg += " (blocked: " + string(ev.BlockedReason) + ")"
	}
	tab.add(msg)
}

func (tab *Tab) add(p string) {
	if len(tab.problems) < maxProblems {
		tab.problems = append(tab.problems, p)
	}
}

func consoleArgs(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		parts = append(parts, remoteText(a))
	}
	return strings.Join(parts, " ")
}

func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	var s string
	if o.Type == runtime.RemoteObjectTypeString && json.Unmarshal(o.Value, &s) == nil {
		return s
	}
	switch {
	case o.Description != "":
		return o.Description
	case len(o.Value) > 0:
		return string(o.Value)
	}
	return string(o.UnserializableValue)
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return ""
	}
	s := d.Text
	if d.Exception != nil {
		s += " " + remoteText(d.Exception)
	}
	return fmt.Sprintf("%s at %s:%d", s, d.URL, d.LineNumber+1)
}

// cappedBuffer keeps the first max bytes written to it (the browser's output).
type cappedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
