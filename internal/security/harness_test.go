package security

// The binary harness: build `veilig`, prepare a database with migrate,
// directory import and user add, and run `veilig serve` with the dev mailbox
// as the fake e-mail and SMS provider (every SMS it "sends" is counted there).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	domainA, domainB = "alfa.test", "beta.test"
	senderA          = "alice@" + domainA
	adminA           = "admin@" + domainA
	senderB          = "bob@" + domainB
	adminB           = "admin@" + domainB
	operatorMail     = "operator@veilig.test"
	trustedProxy     = "127.0.0.2" // the only address whose X-Forwarded-For is believed
	orgSMSCap        = 14          // VEILIG_SMS_DAILY_CAP
)

// server is a running `veilig serve` and what the tests need of it.
type server struct {
	t        *testing.T
	v        *testenv.Veilig
	vars     map[string]string // v.Vars
	url      string            // the serve's URL
	logPath  string            // the serve's log
	tmpDir   string
	password string
	orgs     map[string]string // domain → organisation id
	tokens   map[string]string // e-mail → access token
	db       *database.DB      // a second connection to the server's database
}

// startServer prepares dbURL (empty: SQLite in the data directory) and starts serve.
func startServer(t *testing.T, bin, dbURL string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, password: "Wachtwoord-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		orgs: map[string]string{}, tokens: map[string]string{}, tmpDir: filepath.Join(dir, "tmp")}
	if dbURL == "" {
		dbURL = filepath.Join(dir, "data", "veilig.db")
	}
	s.vars = map[string]string{"VEILIG_DATABASE_URL": dbURL, "VEILIG_DATA_DIR": filepath.Join(dir, "data"),
		"VEILIG_LOG_FORMAT": "text", "VEILIG_LOG_LEVEL": "debug",
		"VEILIG_DEV_MAILBOX": "true", "VEILIG_TRUSTED_PROXIES": trustedProxy + "/32", "VEILIG_SMTP_HOSTNAME": "veilig.test",
		"VEILIG_DNS_RESOLVER": "127.0.0.1:9", "VEILIG_MAX_BODY_BYTES": "65536", "VEILIG_MAX_MESSAGE_BYTES": "1048576",
		"VEILIG_SMS_DAILY_CAP": strconv.Itoa(orgSMSCap), "TMPDIR": s.tmpDir}
	s.v = &testenv.Veilig{Bin: bin, Dir: dir, Vars: s.vars}
	if err := os.MkdirAll(s.tmpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.v.Run(t, "", "migrate")
	ldif := filepath.Join(dir, "community.ldif")
	if err := os.WriteFile(ldif, []byte(community()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.v.Run(t, "", "directory", "import", "--ldif", ldif)
	s.addUsers()
	srv := s.v.Start(t, "serve", nil)
	s.url, s.logPath = srv.URL, srv.LogFile
	s.db = openDB(t, dbURL)
	for _, u := range []string{senderA, adminA, senderB, adminB, operatorMail} {
		s.tokens[u] = s.login(u)
	}
	return s
}

// openDB is a second connection to the server's database, closed when the
// test ends.
func openDB(t *testing.T, dbURL string) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), dbURL, testenv.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func community() string {
	var b strings.Builder
	b.WriteString("dn: dc=veilig,dc=test\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: veilig\no: Veilig\n\n" +
		"dn: ou=organisations,dc=veilig,dc=test\nobjectClass: top\nobjectClass: organizationalUnit\nou: organisations\n\n")
	for _, org := range []struct{ name, domain, person, mail string }{
		{"Gemeente Alfa", domainA, "Alice Alfa", senderA}, {"Gemeente Beta", domainB, "Bob Beta", senderB},
	} {
		b.WriteString("dn: o=" + org.name + ",ou=organisations,dc=veilig,dc=test\nobjectClass: top\nobjectClass: organization\n" +
			"objectClass: domainRelatedObject\no: " + org.name + "\nassociatedDomain: " + org.domain + "\n\n")
		b.WriteString("dn: cn=" + org.person + ",o=" + org.name + ",ou=organisations,dc=veilig,dc=test\nobjectClass: top\n" +
			"objectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\ncn: " + org.person +
			"\nsn: X\ndisplayName: " + org.person + "\nmail: " + org.mail + "\n\n")
	}
	return b.String()
}

var orgInOutput = regexp.MustCompile(`organisation ([^)\s]+)\)`)

func (s *server) addUsers() {
	for _, u := range []struct{ email, role string }{{senderA, "sender"}, {adminA, "org-admin"}, {senderB, "sender"},
		{adminB, "org-admin"}, {operatorMail, "operator"}} {
		out := s.v.Run(s.t, s.password+"\n", "user", "add", "--email", u.email, "--role", u.role, "--password-stdin")
		if m := orgInOutput.FindStringSubmatch(out); m != nil && m[1] != "none" {
			s.orgs[strings.SplitN(u.email, "@", 2)[1]] = m[1]
		}
	}
	if s.orgs[domainA] == "" || s.orgs[domainB] == "" {
		s.t.Fatalf("organisation ids: %v", s.orgs)
	}
}

// call is one HTTP request to the server.
type call struct {
	method, path, token, ctype string
	body                       []byte
	header                     http.Header
	from                       string // local address to connect from; default 127.0.0.1
	jar                        http.CookieJar
	noRedirect                 bool
	chunked                    bool // send the body without Content-Length
}

// reply is what came back.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string {
	b := r.body
	if len(b) > 400 {
		b = b[:400]
	}
	return fmt.Sprintf("%d %s", r.status, b)
}

func (s *server) do(c call) reply {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rd io.Reader = bytes.NewReader(c.body)
	if c.chunked {
		rd = io.MultiReader(rd) // hides the length: sent chunked
	}
	req, err := http.NewRequestWithContext(ctx, c.method, s.url+c.path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := client(c)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		// Errorf, not Fatalf: s.t may be a parent of the running subtest.
		s.t.Errorf("%s %s: %v", c.method, c.path, err)
		return reply{status: -1, header: http.Header{}}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		s.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// client keeps connections alive for the one request, so that the server
// drains a body it answered early instead of resetting the connection.
func client(c call) *http.Client {
	from := c.from
	if from == "" {
		from = "127.0.0.1"
	}
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Jar: c.jar}
	if c.noRedirect {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return hc
}

func newJar(t *testing.T) http.CookieJar {
	j, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (s *server) login(mail string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"grant_type": "password", "username": mail, "password": s.password})
	r := s.do(call{method: "POST", path: "/api/v1/auth/token", ctype: "application/json", body: body})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil {
		s.t.Fatalf("login %s: %s", mail, r)
	}
	return tok.AccessToken
}

// mailboxItem is one e-mail or SMS the dev mailbox captured.
type mailboxItem struct {
	ID, Kind, Subject, Text string
	To, Links               []string
}

func (s *server) mailbox() []mailboxItem {
	s.t.Helper()
	r := s.do(call{method: "GET", path: "/dev/mailbox.json"})
	var items []mailboxItem
	if r.status != http.StatusOK {
		s.t.Fatalf("dev mailbox: %s", r)
	}
	if err := json.Unmarshal(r.body, &items); err != nil {
		var wrapped struct{ Items []mailboxItem }
		if err2 := json.Unmarshal(r.body, &wrapped); err2 != nil {
			s.t.Fatalf("dev mailbox JSON: %v: %s", err, r)
		}
		items = wrapped.Items
	}
	return items
}

// sms returns the SMS texts sent to a number (as the dev mailbox shows it: any
// form containing nsn).
func (s *server) sms(nsn string) []string {
	var out []string
	for _, it := range s.mailbox() {
		if it.Kind == "sms" && strings.Contains(strings.Join(it.To, " "), nsn) {
			out = append(out, it.Text)
		}
	}
	return out
}

func (s *server) countSMS() int {
	n := 0
	for _, it := range s.mailbox() {
		if it.Kind == "sms" {
			n++
		}
	}
	return n
}

// waitFor polls cond every 100 ms for up to a minute (not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within a minute", what)
		}
	}
}
