package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Fixed names of the throwaway directory (RFC 4512 DNs under a .test suffix).
const (
	SlapdSuffix   = "dc=veilig,dc=test"
	SlapdRootDN   = "cn=admin," + SlapdSuffix
	SlapdReaderDN = "cn=reader," + SlapdSuffix
)

// SlapdOptions configures StartSlapd.
type SlapdOptions struct {
	// LDIF is loaded with slapadd before start, after the suffix entry and the
	// reader entry, which StartSlapd always creates.
	LDIF string
	// LDIFFile, if set, is loaded after LDIF (for generated bulk data).
	LDIFFile string
	// NoSyncprov leaves out the RFC 4533 sync provider overlay.
	NoSyncprov bool
	// NoSessionLog leaves out syncprov-sessionlog, so a refresh with a cookie
	// takes the present phase.
	NoSessionLog bool
}

// Slapd is a throwaway OpenLDAP server in a temporary directory, listening on
// 127.0.0.1 for ldap:// (with StartTLS) and ldaps://, its certificate signed by a
// test CA made for it. It is stopped when the test ends.
type Slapd struct {
	t        testing.TB
	dir      string
	conf     string
	port     int
	tlsPort  int
	rootPW   string
	readerPW string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// slapdBinary returns the slapd executable, or "" when there is none.
func slapdBinary() string {
	if p, err := exec.LookPath("slapd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		return "/usr/sbin/slapd"
	}
	return ""
}

// StartSlapd starts a slapd loaded with opts' LDIF and returns it once it answers.
func StartSlapd(t testing.TB, opts SlapdOptions) *Slapd {
	t.Helper()
	bin := slapdBinary()
	if bin == "" {
		Missing(t, "OpenLDAP slapd")
	}
	s := &Slapd{t: t, dir: t.TempDir(), rootPW: randomHex(12), readerPW: randomHex(12)}
	if err := os.Mkdir(filepath.Join(s.dir, "db"), 0o700); err != nil {
		t.Fatalf("slapd: %v", err)
	}
	if err := writeTestPKI(s.dir); err != nil {
		t.Fatalf("slapd: test certificates: %v", err)
	}
	s.conf = filepath.Join(s.dir, "slapd.conf")
	if err := os.WriteFile(s.conf, []byte(s.config(opts)), 0o600); err != nil {
		t.Fatalf("slapd: %v", err)
	}
	s.load(bin, opts)
	t.Cleanup(s.Stop)
	s.startOnFreePorts(bin)
	return s
}

func (s *Slapd) config(opts SlapdOptions) string {
	var b strings.Builder
	for _, schema := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&b, "include /etc/ldap/schema/%s.schema\n", schema)
	}
	fmt.Fprintf(&b, "pidfile %s\nargsfile %s\n", s.path("slapd.pid"), s.path("slapd.args"))
	b.WriteString("modulepath /usr/lib/ldap\nmoduleload back_mdb\n")
	if !opts.NoSyncprov {
		b.WriteString("moduleload syncprov\n")
	}
	fmt.Fprintf(&b, "TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\nTLSProtocolMin 3.3\n",
		s.path("ca.pem"), s.path("server.pem"), s.path("server.key"))
	b.WriteString("sizelimit 500\n")
	fmt.Fprintf(&b, "database mdb\nmaxsize 1073741824\nsuffix %q\nrootdn %q\nrootpw %s\ndirectory %s\n",
		SlapdSuffix, SlapdRootDN, s.rootPW, s.path("db"))
	b.WriteString("index objectClass eq\nindex entryCSN,entryUUID eq\nindex mail,uid eq\nindex associatedDomain eq\n")
	fmt.Fprintf(&b, "limits dn.exact=%q size=unlimited size.pr=unlimited size.prtotal=unlimited time=unlimited\n", SlapdReaderDN)
	fmt.Fprintf(&b, "access to attrs=userPassword\n  by anonymous auth\n  by * none\n")
	fmt.Fprintf(&b, "access to *\n  by dn.exact=%q read\n  by * none\n", SlapdReaderDN)
	if !opts.NoSyncprov {
		b.WriteString("overlay syncprov\nsyncprov-checkpoint 1000 10\n")
		if !opts.NoSessionLog {
			b.WriteString("syncprov-sessionlog 100000\n")
		}
	}
	return b.String()
}

func (s *Slapd) path(name string) string { return filepath.Join(s.dir, name) }

// load bulk-loads the base entries and the test data offline.
func (s *Slapd) load(bin string, opts SlapdOptions) {
	s.t.Helper()
	base := fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: veilig\no: Veilig test\n\n"+
		"dn: %s\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: reader\nsn: reader\nuserPassword: %s\n\n",
		SlapdSuffix, SlapdReaderDN, s.readerPW)
	files := []string{s.path("base.ldif")}
	if err := os.WriteFile(files[0], []byte(base), 0o600); err != nil {
		s.t.Fatalf("slapd: %v", err)
	}
	if opts.LDIF != "" {
		files = append(files, s.path("data.ldif"))
		if err := os.WriteFile(files[1], []byte(opts.LDIF), 0o600); err != nil {
			s.t.Fatalf("slapd: %v", err)
		}
	}
	if opts.LDIFFile != "" {
		files = append(files, opts.LDIFFile)
	}
	slapadd := filepath.Join(filepath.Dir(bin), "slapadd")
	for _, f := range files {
		out, err := exec.Command(slapadd, "-q", "-f", s.conf, "-l", f).CombinedOutput()
		if err != nil {
			s.t.Fatalf("slapd: slapadd %s: %v\n%s", filepath.Base(f), err, out)
		}
	}
}

// startOnFreePorts picks two free ports and starts slapd on them, retrying when
// another process takes a port in between.
func (s *Slapd) startOnFreePorts(bin string) {
	s.t.Helper()
	var lastErr error
	for range 5 {
		p1, err1 := freePort()
		p2, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			s.t.Fatalf("slapd: free port: %v", err)
		}
		s.port, s.tlsPort = p1, p2
		if lastErr = s.start(bin); lastErr == nil {
			return
		}
	}
	s.t.Fatalf("slapd: %v", lastErr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs slapd in the foreground (-d 0, so its PID is the child's) and waits
// until it answers a bind.
func (s *Slapd) start(bin string) error {
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", s.port, s.tlsPort)
	cmd := exec.Command(bin, "-d", "0", "-f", s.conf, "-h", urls)
	logFile, err := os.OpenFile(s.path("slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return s.waitReady(done)
}

func (s *Slapd) waitReady(done chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(s.path("slapd.log"))
			return fmt.Errorf("slapd exited at start:\n%s", tail(string(log), 2000))
		default:
		}
		if c, err := s.dial(); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.signal(syscall.SIGKILL)
	return errors.New("slapd did not answer within 15s")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (s *Slapd) dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL(), ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(SlapdRootDN, s.rootPW); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (s *Slapd) signal(sig syscall.Signal) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(sig)
	return s.done
}

// Kill ends slapd at once with SIGKILL, as a crash would, and waits for it.
func (s *Slapd) Kill() {
	if done := s.signal(syscall.SIGKILL); done != nil {
		<-done
	}
}

// Stop ends slapd with SIGTERM, and SIGKILL after 10 seconds.
func (s *Slapd) Stop() {
	done := s.signal(syscall.SIGTERM)
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.Kill()
	}
}

// Restart stops slapd and starts it again on the same ports and data.
func (s *Slapd) Restart() {
	s.t.Helper()
	s.Stop()
	bin := slapdBinary()
	var err error
	for range 20 {
		if err = s.start(bin); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port may linger briefly
	}
	s.t.Fatalf("slapd: restart: %v", err)
}

// URL is the plain ldap:// URL (StartTLS works on it).
func (s *Slapd) URL() string { return fmt.Sprintf("ldap://127.0.0.1:%d", s.port) }

// LDAPSURL is the ldaps:// URL.
func (s *Slapd) LDAPSURL() string { return fmt.Sprintf("ldaps://127.0.0.1:%d", s.tlsPort) }

// CAFile is the PEM file of the CA that signed the server certificate.
func (s *Slapd) CAFile() string { return s.path("ca.pem") }

// Suffix is the naming context, SlapdSuffix.
func (s *Slapd) Suffix() string { return SlapdSuffix }

// RootDN and RootPassword are the administrator's credentials.
func (s *Slapd) RootDN() string { return SlapdRootDN }

// RootPassword is the administrator's password.
func (s *Slapd) RootPassword() string { return s.rootPW }

// ReaderDN is the read-only service account, with unlimited paged results.
func (s *Slapd) ReaderDN() string { return SlapdReaderDN }

// ReaderPassword is the service account's password.
func (s *Slapd) ReaderPassword() string { return s.readerPW }

// Conn returns a connection bound as the administrator, closed when the test ends.
func (s *Slapd) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := s.dial()
	if err != nil {
		t.Fatalf("slapd: connect as root: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TLSConfig trusts the test CA (for tests that dial themselves).
func (s *Slapd) TLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	pemData, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatalf("slapd: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
}

// writeTestPKI writes ca.pem, server.pem and server.key (ECDSA P-256) to dir; the
// server certificate names 127.0.0.1, ::1 and localhost.
func writeTestPKI(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Veilig test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return err
	}
	return errors.Join(
		writePEM(filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER),
		writePEM(filepath.Join(dir, "server.pem"), "CERTIFICATE", srvDER),
		writePEM(filepath.Join(dir, "server.key"), "PRIVATE KEY", keyDER),
	)
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}
