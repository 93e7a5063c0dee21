package e2e

// Issue 5, Thunderbird: the MailExtension of addin/thunderbird, linted with
// web-ext and run in real headless Thunderbird against the real binary with
// the dev mailbox. A test-only background module (addin/thunderbird/testing/
// driver.js) drives the extension's own code paths and reports back here.

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// tbWait bounds waiting for Thunderbird to start and the driver to finish.
const tbWait = 5 * time.Minute

func TestThunderbirdLint(t *testing.T) {
	webext := webExt(t)
	if bad := lint(t, webext, assembleExtension(t)); len(bad) > 0 {
		t.Errorf("web-ext lint found %d unexpected message(s):\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

// tbResults is what the driver posts back.
type tbResults struct {
	Steps []struct {
		Name   string `json:"name"`
		OK     *bool  `json:"ok"`
		Error  string `json:"error"`
		Detail string `json:"detail"`
	} `json:"steps"`
	ProviderCalls []struct {
		SearchString string   `json:"searchString"`
		Emails       []string `json:"emails"`
	} `json:"providerCalls"`
	BeforeSend []struct {
		Subject string `json:"subject"`
		Cancel  bool   `json:"cancel"`
	} `json:"beforeSend"`
	Query      []string        `json:"query"`
	BSNSend    string          `json:"bsnSend"`
	SecureSend string          `json:"secureSend"`
	State      json.RawMessage `json:"state"`
	Sent       *struct {
		ID string `json:"id"`
	} `json:"sent"`
	TabClosed bool `json:"tabClosed"`
}

// tbInstructions is what the driver is told to do.
type tbInstructions struct {
	Server     string            `json:"server"`
	Username   string            `json:"username"`
	Password   string            `json:"password"`
	To         []string          `json:"to"`
	Cc         []string          `json:"cc"`
	Subject    string            `json:"subject"`
	Body       string            `json:"body"`
	BSNBody    string            `json:"bsnBody"`
	Search     string            `json:"search"`
	Phones     map[string]string `json:"phones"`
	Attachment struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Base64 string `json:"base64"`
	} `json:"attachment"`
}

const (
	tbSender    = "demo@oldambt.nl"
	tbCommunity = "jbrenninkmeijer@oldambt.nl" // first person of scripts/demo-community.ldif
	tbExternal  = "iemand@example.org"
)

func TestThunderbird(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests of the binary are not short")
	}
	if _, err := os.Stat(thunderbirdBin); err != nil {
		testenv.Missing(t, "thunderbird (apt-get install thunderbird)")
	}
	webext := webExt(t)
	password := randomPassword(t)
	srv := startDevServer(t, password)
	smtp := smtpTrap(t)

	run := randomHexString(t, 6)
	ins := tbInstructions{Server: srv.URL, Username: tbSender, Password: password,
		To: []string{"Johanna Brenninkmeijer <" + tbCommunity + ">"}, Cc: []string{tbExternal},
		Subject: "Dossier " + run, Body: "Goedemiddag, zie de bijlage. Kenmerk " + run + ".",
		BSNBody: "Het BSN is 111222333.", Search: "Johanna Brenninkmeijer",
		Phones: map[string]string{tbExternal: "0612345678"}}
	attachment := []byte("Bijlage " + run + " \x00\x01\x02\xff binair")
	ins.Attachment.Name, ins.Attachment.Type = "dossier-"+run+".bin", "application/octet-stream"
	ins.Attachment.Base64 = base64.StdEncoding.EncodeToString(attachment)

	control, results := controlServer(t, ins)
	src := assembleExtension(t)
	addDriver(t, src, control)
	runThunderbird(t, webext, src, writeProfile(t, tbSender, smtp.port))

	var res tbResults
	select {
	case raw := <-results:
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("driver results: %v\n%s", err, raw)
		}
		t.Logf("driver results: %s", raw)
	case <-time.After(tbWait):
		t.Fatalf("the driver did not report within %s", tbWait)
	}
	for _, s := range res.Steps {
		if s.OK != nil && !*s.OK {
			t.Errorf("driver step %s failed: %s %s", s.Name, s.Error, s.Detail)
		}
	}
	t.Run("community search reaches the provider", func(t *testing.T) { checkProvider(t, res, ins.Search) })
	t.Run("normal send is stopped", func(t *testing.T) { checkBlocked(t, res, smtp) })
	t.Run("secure send arrives intact", func(t *testing.T) { checkDelivered(t, srv.URL, res, ins, attachment) })
}

func TestKnownThunderbirdLint(t *testing.T) {
	cases := []struct {
		m    lintMessage
		want bool
	}{
		{lintMessage{Code: "MISSING_DATA_COLLECTION_PERMISSIONS"}, true},
		{lintMessage{Code: "MANIFEST_PERMISSIONS", Message: `/permissions: Invalid permissions "compose" at 0.`}, true},
		{lintMessage{Code: "MANIFEST_PERMISSIONS", Message: `/permissions: Invalid permissions "tabs-everywhere" at 4.`}, false},
		{lintMessage{Code: "JSON_INVALID", Message: "Your JSON is not valid."}, false},
	}
	for _, c := range cases {
		if got := knownThunderbirdLint(c.m); got != c.want {
			t.Errorf("knownThunderbirdLint(%+v) = %v, want %v", c.m, got, c.want)
		}
	}
}

func checkProvider(t *testing.T, res tbResults, q string) {
	for _, c := range res.ProviderCalls {
		if strings.EqualFold(c.SearchString, q) && contains(c.Emails, tbCommunity) {
			return
		}
	}
	t.Errorf("no provider search for %q returned %s; calls: %+v", q, tbCommunity, res.ProviderCalls)
}

func checkBlocked(t *testing.T, res tbResults, smtp *trap) {
	if !strings.HasPrefix(res.SecureSend, "rejected") || !strings.HasPrefix(res.BSNSend, "rejected") {
		t.Errorf("compose.sendMessage: secure mode %q, BSN %q; want both rejected", res.SecureSend, res.BSNSend)
	}
	cancelled := 0
	for _, b := range res.BeforeSend {
		if b.Cancel {
			cancelled++
		}
	}
	if cancelled < 2 {
		t.Errorf("onBeforeSend cancelled %d send(s), want 2: %+v", cancelled, res.BeforeSend)
	}
	if n := smtp.connections.Load(); n != 0 {
		t.Errorf("Thunderbird connected to its SMTP server %d time(s)", n)
	}
}

func checkDelivered(t *testing.T, base string, res tbResults, ins tbInstructions, attachment []byte) {
	if res.Sent == nil || res.Sent.ID == "" {
		t.Fatalf("sendTab returned no message id")
	}
	if !res.TabClosed {
		t.Errorf("the compose tab is still open after sending")
	}
	item := mailboxItem(t, base, tbCommunity)
	if item.Subject != ins.Subject || !strings.Contains(item.Text, ins.Body) {
		t.Errorf("community mail: subject %q text %q; want %q and %q", item.Subject, item.Text, ins.Subject, ins.Body)
	}
	page := getText(t, base+"/dev/mailbox/"+item.ID)
	source := strings.NewReplacer("\r", "", "\n", "").Replace(html.UnescapeString(page))
	if !strings.Contains(source, ins.Attachment.Name) {
		t.Errorf("the raw source does not name the attachment %s", ins.Attachment.Name)
	}
	if !strings.Contains(source, base64.StdEncoding.EncodeToString(attachment)) {
		t.Errorf("the raw source does not hold the attachment's bytes")
	}
	ext := mailboxItem(t, base, tbExternal)
	if len(ext.Links) == 0 || strings.Contains(ext.Text, ins.Body) {
		t.Errorf("external notification: links %v; must link to the viewer and not hold the body", ext.Links)
	}
}

// mailboxItem waits for the dev mailbox to hold an e-mail for rcpt.
func mailboxItem(t *testing.T, base, rcpt string) devItem {
	t.Helper()
	var found devItem
	testenv.WaitFor(t, deliveryWait, "mail for "+rcpt+" in the dev mailbox", func() (bool, string) {
		var items []devItem
		if err := json.Unmarshal([]byte(getText(t, base+"/dev/mailbox.json?to="+rcpt)), &items); err != nil {
			return false, err.Error()
		}
		for _, it := range items {
			if it.Kind == "email" {
				found = it
				return true, ""
			}
		}
		return false, "nothing yet"
	})
	return found
}

// devItem is one entry of GET /dev/mailbox.json (internal/devmailbox.Item).
type devItem struct {
	ID, Kind, Subject, Text string
	Links                   []string
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 20<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// startDevServer builds the binary and runs it on SQLite with the dev
// mailbox, the demo community and the demo sender.
func startDevServer(t *testing.T, password string) *testenv.Serve {
	t.Helper()
	dir := t.TempDir()
	v := &testenv.Veilig{Bin: testenv.BuildVeilig(t, ""), Dir: dir, Vars: map[string]string{
		"VEILIG_DATABASE_URL":  filepath.Join(dir, "veilig.db"),
		"VEILIG_DATA_DIR":      filepath.Join(dir, "data"),
		"VEILIG_LOG_FORMAT":    "text",
		"VEILIG_DEV_MAILBOX":   "1",
		"VEILIG_SMTP_HOSTNAME": "veilig.localhost",
	}}
	v.Run(t, "", "migrate")
	ldif, err := filepath.Abs(filepath.Join("..", "..", "scripts", "demo-community.ldif"))
	if err != nil {
		t.Fatal(err)
	}
	v.Run(t, "", "directory", "import", "--ldif", ldif)
	v.Run(t, password+"\n", "user", "add", "--email", tbSender, "--role", "sender", "--password-stdin")
	return v.Start(t, "serve-tb", map[string]string{"VEILIG_SUBMISSION_ADDR": ""}) // no SMTP gateway
}

// controlServer serves the driver its instructions and receives its
// results (and progress lines, logged).
func controlServer(t *testing.T, ins tbInstructions) (string, <-chan []byte) {
	t.Helper()
	results := make(chan []byte, 1)
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("GET /instructions", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ins)
	})
	mux.HandleFunc("POST /log", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		t.Logf("driver: %s", b)
	})
	mux.HandleFunc("POST /results", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		once.Do(func() { results <- b })
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s.URL, results
}

// trap is Thunderbird's SMTP server: it only counts connections, which must
// stay zero because every normal send is stopped.
type trap struct {
	port        int
	connections atomic.Int64
}

func smtpTrap(t *testing.T) *trap {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &trap{port: l.Addr().(*net.TCPAddr).Port}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tr.connections.Add(1)
			_ = c.Close()
		}
	}()
	return tr
}
