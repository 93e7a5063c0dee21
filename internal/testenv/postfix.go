package testenv

// Postfix as the recipient MX of the lab: a throwaway instance (its own
// config_directory, queue_directory and data_directory in a temporary directory)
// whose master(8) runs in the foreground under the test's control, accepting mail
// over SMTP (RFC 5321) with STARTTLS (RFC 3207) on a loopback address and
// delivering it with virtual(8) into one Maildir.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PostfixTLS selects what the MX offers after EHLO.
type PostfixTLS int

// TLS modes of the lab's Postfix.
const (
	// PostfixTLSModern offers STARTTLS with TLS 1.2 and 1.3.
	PostfixTLSModern PostfixTLS = iota
	// PostfixTLSOff does not offer STARTTLS.
	PostfixTLSOff
	// PostfixTLS11Only offers STARTTLS but speaks only TLS 1.1 (OpenSSL security
	// level 0, so Debian's OpenSSL 3 allows it).
	PostfixTLS11Only
)

// PostfixOptions configures StartPostfix.
type PostfixOptions struct {
	// Hostname is the MX host name: the certificate's name and the banner's.
	// Default "mx.test".
	Hostname string
	// Domains are the recipient domains accepted; empty accepts every domain.
	Domains []string
	// IP is the loopback address to listen on, default "127.0.0.1". Any
	// 127.0.0.0/8 address works on Linux, so several MXes can share one Port.
	IP string
	// Port is the SMTP port; 0 picks a free one.
	Port int
	// TLS selects the STARTTLS behaviour.
	TLS PostfixTLS
	// CA issues the server certificate for Hostname; nil makes it self-signed
	// (a DANE-EE server). Ignored when Certificate is set.
	CA *CA
	// Certificate, if set, is the server certificate (for wrong-name or expired
	// certificates).
	Certificate *tls.Certificate
	// ChainWithCA appends CA's certificate to the chain sent (needed for DANE-TA,
	// RFC 7671 §5.2.2).
	ChainWithCA bool
	// RecipientReplies maps a recipient address or domain to the reply given to
	// RCPT TO, e.g. "450 4.2.1 Mailbox busy", "550 5.1.1 No such user", or
	// "421 4.3.2 Closing" (which also disconnects). SetRecipientReply changes it
	// while Postfix runs.
	RecipientReplies map[string]string
	// MaxMessageBytes is Postfix's message_size_limit, default 100 MiB.
	MaxMessageBytes int64
}

// Postfix is a running throwaway Postfix instance.
type Postfix struct {
	t      testing.TB
	dir    string
	opts   PostfixOptions
	cert   tls.Certificate
	port   int
	ids    postfixIDSet
	master *daemon
	access *socketmap
}

// Message is one message delivered into the Maildir.
type Message struct {
	// File is the message's path in the Maildir.
	File string
	// Recipient is the envelope recipient (Postfix's Delivered-To header).
	Recipient string
	// Sender is the envelope sender (the Return-Path header, without <>).
	Sender string
	// Header is the parsed header, including the Received header Postfix added
	// (with the TLS version and cipher used).
	Header mail.Header
	// Raw is the file as Postfix stored it: LF line endings, with Return-Path,
	// Delivered-To and Received prepended.
	Raw []byte

	modTime time.Time
}

const postfixStartTimeout = 20 * time.Second

// StartPostfix starts a Postfix instance and returns once it greets on its
// SMTP port. It needs root (master(8) and the Postfix user).
func StartPostfix(t testing.TB, opts PostfixOptions) *Postfix {
	t.Helper()
	bins := requireBinaries(t, "postfix", "master")
	if os.Geteuid() != 0 {
		Missing(t, "Postfix (runs as root)")
	}
	p := &Postfix{t: t, dir: t.TempDir(), opts: postfixDefaults(opts)}
	p.cert = p.certificate(t)
	p.access = startSocketmap(t, p.opts.RecipientReplies)
	p.layout(t)
	p.start(bins[0])
	return p
}

func postfixDefaults(o PostfixOptions) PostfixOptions {
	if o.Hostname == "" {
		o.Hostname = "mx.test"
	}
	o.Hostname = strings.TrimSuffix(strings.ToLower(o.Hostname), ".")
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 100 << 20
	}
	return o
}

func (p *Postfix) certificate(t testing.TB) tls.Certificate {
	t.Helper()
	switch {
	case p.opts.Certificate != nil:
		c := *p.opts.Certificate
		if c.Leaf == nil && len(c.Certificate) > 0 {
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				t.Fatalf("postfix: certificate: %v", err)
			}
			c.Leaf = leaf
		}
		return c
	case p.opts.CA != nil:
		return p.opts.CA.Issue(t, p.opts.Hostname)
	default:
		return SelfSigned(t, p.opts.Hostname)
	}
}

func (p *Postfix) path(name string) string { return filepath.Join(p.dir, name) }

// queueDirs are the queue subdirectories with their owner group and mode, as
// post-install(1) creates them from postfix-files (done here without its many
// processes, which are slow in a sandbox).
var queueDirs = []struct {
	name  string
	group string
	mode  os.FileMode
}{
	{"active", "root", 0o700}, {"bounce", "root", 0o700}, {"corrupt", "root", 0o700},
	{"defer", "root", 0o700}, {"deferred", "root", 0o700}, {"flush", "root", 0o700},
	{"hold", "root", 0o700}, {"incoming", "root", 0o700}, {"private", "root", 0o700},
	{"saved", "root", 0o700}, {"trace", "root", 0o700},
	{"maildrop", "postdrop", 0o730}, {"public", "postdrop", 0o710},
}

// layout creates the directories, files and configuration of the instance.
func (p *Postfix) layout(t testing.TB) {
	t.Helper()
	ids, err := postfixIDs()
	if err != nil {
		Missing(t, "Postfix users ("+err.Error()+")")
	}
	p.ids = ids
	// Postfix daemons and virtual(8) (as nobody) open absolute paths below the
	// test's temporary directory after dropping root.
	for _, d := range []string{filepath.Dir(p.dir), p.dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatalf("postfix: %v", err)
		}
	}
	if err := p.makeDirs(ids); err != nil {
		t.Fatalf("postfix: %v", err)
	}
	var extra []*x509.Certificate
	if p.opts.ChainWithCA && p.opts.CA != nil {
		extra = append(extra, p.opts.CA.Cert)
	}
	if err := writeKeyAndChain(p.path("conf/chain.pem"), p.cert, extra...); err != nil {
		t.Fatalf("postfix: certificate: %v", err)
	}
}

// postfixIDSet holds the numeric ids the instance needs.
type postfixIDSet struct{ postfix, root, postdrop, nobodyUID, nobodyGID int }

func postfixIDs() (postfixIDSet, error) {
	var s postfixIDSet
	u, err := user.Lookup("postfix")
	if err != nil {
		return s, err
	}
	s.postfix, _ = strconv.Atoi(u.Uid)
	g, err := user.LookupGroup("postdrop")
	if err != nil {
		return s, err
	}
	s.postdrop, _ = strconv.Atoi(g.Gid)
	s.nobodyUID, s.nobodyGID = 65534, 65534
	if n, err := user.Lookup("nobody"); err == nil {
		s.nobodyUID, _ = strconv.Atoi(n.Uid)
		s.nobodyGID, _ = strconv.Atoi(n.Gid)
	}
	return s, nil
}

func (p *Postfix) makeDirs(ids postfixIDSet) error {
	for _, d := range []string{"conf", "queue", "queue/pid"} {
		if err := os.Mkdir(p.path(d), 0o755); err != nil {
			return err
		}
	}
	for _, q := range queueDirs {
		gid := ids.root
		if q.group == "postdrop" {
			gid = ids.postdrop
		}
		if err := mkdirOwned(p.path("queue/"+q.name), q.mode, ids.postfix, gid); err != nil {
			return err
		}
	}
	if err := mkdirOwned(p.path("data"), 0o700, ids.postfix, ids.root); err != nil {
		return err
	}
	return mkdirOwned(p.path("mail"), 0o700, ids.nobodyUID, ids.nobodyGID)
}

func mkdirOwned(path string, mode os.FileMode, uid, gid int) error {
	if err := os.Mkdir(path, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil { // not reduced by the umask
		return err
	}
	return os.Chown(path, uid, gid)
}

// mainCf renders main.cf for the current port.
func (p *Postfix) mainCf() string {
	o := p.opts
	domains := "static:all"
	if len(o.Domains) > 0 {
		domains = strings.Join(o.Domains, " ")
	}
	ids := p.ids
	lines := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + p.path("queue"),
		"data_directory = " + p.path("data"),
		"maillog_file = /dev/stdout",
		"maillog_file_prefixes = /dev/stdout",
		"myhostname = " + o.Hostname,
		"mydomain = " + parentDomain(o.Hostname),
		"myorigin = $myhostname",
		"mydestination =",
		"inet_interfaces = loopback-only",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		"alias_maps =",
		"alias_database =",
		"local_recipient_maps =",
		"default_transport = error:5.7.1 outbound mail is disabled in the test lab",
		"relay_transport = $default_transport",
		"local_transport = $default_transport",
		"notify_classes =",
		"smtpd_peername_lookup = no",
		"smtpd_banner = $myhostname ESMTP lab",
		"smtpd_relay_restrictions = reject_unauth_destination",
		"smtpd_recipient_restrictions = check_recipient_access socketmap:inet:" + p.access.addr() + ":rcpt",
		"virtual_mailbox_domains = " + domains,
		"virtual_mailbox_base = " + p.path("mail"),
		"virtual_mailbox_maps = static:Maildir/",
		fmt.Sprintf("virtual_uid_maps = static:%d", ids.nobodyUID),
		fmt.Sprintf("virtual_gid_maps = static:%d", ids.nobodyGID),
		fmt.Sprintf("message_size_limit = %d", o.MaxMessageBytes),
		"virtual_mailbox_limit = 0",
		"mailbox_size_limit = 0",
	}
	return strings.Join(append(lines, p.tlsLines()...), "\n") + "\n"
}

func (p *Postfix) tlsLines() []string {
	switch p.opts.TLS {
	case PostfixTLSOff:
		return []string{"smtpd_tls_security_level = none"}
	case PostfixTLS11Only:
		return append(p.tlsCommon(),
			"smtpd_tls_protocols = >=TLSv1.1, <=TLSv1.1",
			"smtpd_tls_mandatory_protocols = >=TLSv1.1, <=TLSv1.1",
			"smtpd_tls_ciphers = medium",
			"tls_medium_cipherlist = DEFAULT:@SECLEVEL=0")
	default:
		return append(p.tlsCommon(),
			"smtpd_tls_protocols = >=TLSv1.2",
			"smtpd_tls_mandatory_protocols = >=TLSv1.2")
	}
}

func (p *Postfix) tlsCommon() []string {
	return []string{
		"smtpd_tls_security_level = may",
		"smtpd_tls_chain_files = " + p.path("conf/chain.pem"),
		"smtpd_tls_loglevel = 1",
		"smtpd_tls_received_header = yes",
	}
}

func parentDomain(host string) string {
	if _, rest, ok := strings.Cut(host, "."); ok && rest != "" {
		return rest
	}
	return host
}

// masterCf lists only the services the lab needs, none chrooted.
func (p *Postfix) masterCf() string {
	return "smtpd_listener inet n - n - - smtpd\n" +
		`pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`
}

// start runs master(8) on the chosen or a free port, retrying when a free port
// was taken in between.
func (p *Postfix) start(masterBin string) {
	p.t.Helper()
	var err error
	for range 5 {
		if p.port = p.opts.Port; p.port == 0 {
			if p.port, err = freePortOn(p.opts.IP); err != nil {
				p.t.Fatalf("postfix: free port: %v", err)
			}
		}
		if err = p.writeConfig(); err != nil {
			p.t.Fatalf("postfix: %v", err)
		}
		if err = p.run(masterBin); err == nil || p.opts.Port != 0 {
			break
		}
	}
	if err != nil {
		p.t.Fatalf("postfix: %v", err)
	}
	p.t.Cleanup(p.Stop)
}

func (p *Postfix) writeConfig() error {
	master := strings.Replace(p.masterCf(), "smtpd_listener", p.Addr(), 1)
	return errors.Join(
		os.WriteFile(p.path("conf/main.cf"), []byte(p.mainCf()), 0o644),
		os.WriteFile(p.path("conf/master.cf"), []byte(master), 0o644),
	)
}

// run starts master -s (foreground, logging to its stdout via postlogd) and
// waits for the SMTP greeting.
func (p *Postfix) run(masterBin string) error {
	d, err := startDaemon("postfix", p.path("maillog"), masterBin, "-c", p.path("conf"), "-s")
	if err != nil {
		return err
	}
	if err := d.waitReady(postfixStartTimeout, p.greets); err != nil {
		d.kill()
		return err
	}
	p.master = d
	return nil
}

// greets reports whether the SMTP port answers with a 220 greeting.
func (p *Postfix) greets() error {
	c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220 ") {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	return nil
}

// Stop ends Postfix (SIGTERM to master, SIGKILL after 10 s). Its Maildir stays
// readable until the test ends.
func (p *Postfix) Stop() {
	if p.master != nil {
		p.master.stop()
	}
}

// Kill ends master at once with SIGKILL, as a crash would.
func (p *Postfix) Kill() {
	if p.master != nil {
		p.master.kill()
	}
}

// Addr is the SMTP address, "IP:PORT".
func (p *Postfix) Addr() string { return net.JoinHostPort(p.opts.IP, strconv.Itoa(p.port)) }

// Port is the SMTP port (the product's VEILIG_DELIVERY_PORT).
func (p *Postfix) Port() int { return p.port }

// Hostname is the MX host name in the certificate and banner.
func (p *Postfix) Hostname() string { return p.opts.Hostname }

// Certificate is the server's leaf certificate.
func (p *Postfix) Certificate() *x509.Certificate { return p.cert.Leaf }

// TLSA returns TLSA RDATA for the server certificate, e.g. TLSA(3, 1, 1) for
// a DANE-EE "3 1 1 <hex>" record. It panics on an unknown selector or
// matching type (a mistake in the test, and callable from any goroutine).
func (p *Postfix) TLSA(usage, selector, matching uint8) string {
	s, err := TLSA(usage, selector, matching, p.cert.Leaf)
	if err != nil {
		panic(err)
	}
	return s
}

// Maildir is the directory messages are delivered into.
func (p *Postfix) Maildir() string { return p.path("mail/Maildir") }

// Log returns Postfix's mail log so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(p.path("maillog"))
	return string(b)
}

// SetRecipientReply makes RCPT TO for addr (an address or a domain) answer
// reply (e.g. "450 4.2.1 Busy"); an empty reply accepts it again. It takes
// effect for the next RCPT command, no reload needed.
func (p *Postfix) SetRecipientReply(addr, reply string) { p.access.set(addr, reply) }

// Count is the number of messages delivered so far.
func (p *Postfix) Count() int {
	n := 0
	for _, sub := range []string{"new", "cur"} {
		entries, _ := os.ReadDir(filepath.Join(p.Maildir(), sub))
		n += len(entries)
	}
	return n
}

// Messages reads and parses every delivered message, oldest first (by file
// time, then Maildir name).
func (p *Postfix) Messages(t testing.TB) []Message {
	t.Helper()
	var files []string
	for _, sub := range []string{"new", "cur"} {
		m, _ := filepath.Glob(filepath.Join(p.Maildir(), sub, "*"))
		files = append(files, m...)
	}
	msgs := make([]Message, 0, len(files))
	for _, f := range files {
		m, err := readMessage(f)
		if err != nil {
			t.Fatalf("postfix: %v", err)
		}
		msgs = append(msgs, m)
	}
	sort.SliceStable(msgs, func(i, j int) bool {
		if !msgs[i].modTime.Equal(msgs[j].modTime) {
			return msgs[i].modTime.Before(msgs[j].modTime)
		}
		return filepath.Base(msgs[i].File) < filepath.Base(msgs[j].File)
	})
	return msgs
}

func readMessage(path string) (Message, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Message{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return Message{}, err
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("parse %s: %w", filepath.Base(path), err)
	}
	return Message{
		File:      path,
		Recipient: parsed.Header.Get("Delivered-To"),
		Sender:    strings.Trim(parsed.Header.Get("Return-Path"), "<>"),
		Header:    parsed.Header,
		Raw:       raw,
		modTime:   st.ModTime(),
	}, nil
}

// WaitMessages waits until at least n messages are delivered and returns them;
// it fails the test, with the mail log's tail, after timeout.
func (p *Postfix) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for p.Count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("postfix: %d of %d messages delivered after %s; log:\n%s", p.Count(), n, timeout, tail(p.Log(), 3000))
		}
		time.Sleep(25 * time.Millisecond)
	}
	return p.Messages(t)
}

// SMTPSource returns the path of Postfix's smtp-source(1) load generator (it
// speaks plain SMTP, no STARTTLS), or marks the test Missing.
func SMTPSource(t testing.TB) string {
	t.Helper()
	return requireBinaries(t, "postfix", "smtp-source")[0]
}

// socketmap is a Postfix socketmap lookup table (socketmap_table(5): netstring
// requests "name key", replies "OK value" or "NOTFOUND ") served from memory,
// so RCPT replies can change while Postfix runs.
type socketmap struct {
	ln net.Listener

	mu      sync.Mutex
	entries map[string]string
}

// maxNetstring bounds a request; Postfix keys are addresses.
const maxNetstring = 64 << 10

func startSocketmap(t testing.TB, entries map[string]string) *socketmap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("postfix: socketmap: %v", err)
	}
	s := &socketmap{ln: ln, entries: map[string]string{}}
	for k, v := range entries {
		s.set(k, v)
	}
	go s.serve()
	t.Cleanup(func() { _ = ln.Close() })
	return s
}

func (s *socketmap) addr() string { return s.ln.Addr().String() }

func (s *socketmap) set(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key = strings.ToLower(key)
	if value == "" {
		delete(s.entries, key)
		return
	}
	s.entries[key] = value
}

// lookup finds the entry for an address like access(5) does: the whole
// address, then its domain and parent domains, then "localpart@". (Postfix
// asks a socketmap only for the whole key.)
func (s *socketmap) lookup(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range accessKeys(strings.ToLower(key)) {
		if v, ok := s.entries[k]; ok {
			return v, true
		}
	}
	return "", false
}

func accessKeys(addr string) []string {
	keys := []string{addr}
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return keys
	}
	for d := domain; d != ""; {
		keys = append(keys, d)
		_, d, _ = strings.Cut(d, ".")
	}
	return append(keys, local+"@")
}

func (s *socketmap) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(c)
	}
}

// handle answers requests on one connection until Postfix closes it.
func (s *socketmap) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		req, err := readNetstring(r)
		if err != nil {
			return
		}
		reply := "NOTFOUND "
		if _, key, ok := strings.Cut(req, " "); ok {
			if v, found := s.lookup(key); found {
				reply = "OK " + v
			}
		}
		if _, err := fmt.Fprintf(c, "%d:%s,", len(reply), reply); err != nil {
			return
		}
	}
}

// readNetstring reads "<len>:<data>,".
func readNetstring(r *bufio.Reader) (string, error) {
	head, err := r.ReadSlice(':') // bounded by the reader's buffer
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(string(head), ":"))
	if err != nil || n < 0 || n > maxNetstring {
		return "", fmt.Errorf("socketmap: bad netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	if buf[n] != ',' {
		return "", errors.New("socketmap: netstring without ','")
	}
	return string(buf[:n]), nil
}
