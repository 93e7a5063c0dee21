package testenv

// A loopback SMTP server (RFC 5321) in Go, built on emersion/go-smtp, for the
// STARTTLS (RFC 3207) behaviours the lab's Postfix cannot easily play: only
// TLS 1.0, or a certificate OpenSSL 3 refuses to load at its default security
// level (RSA-1024). It accepts every message and discards it, counting them.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPTLS selects what the Go SMTP server offers after EHLO.
type SMTPTLS int

// TLS modes of the Go SMTP server.
const (
	// SMTPTLSModern offers STARTTLS with TLS 1.2 and 1.3.
	SMTPTLSModern SMTPTLS = iota
	// SMTPTLSOff does not offer STARTTLS.
	SMTPTLSOff
	// SMTPTLS10Only offers STARTTLS but speaks only TLS 1.0.
	SMTPTLS10Only
)

// SMTPOptions configures StartSMTP.
type SMTPOptions struct {
	// Hostname is the server's name in its banner and default certificate.
	// Default "mx.test".
	Hostname string
	// IP is the loopback address to listen on, default "127.0.0.1"; several
	// servers (and Postfix instances) can share one Port on different addresses.
	IP string
	// Port is the SMTP port; 0 picks a free one.
	Port int
	// TLS selects the STARTTLS behaviour.
	TLS SMTPTLS
	// Certificate is the server certificate; nil makes a self-signed P-256 one
	// for Hostname.
	Certificate *tls.Certificate
}

// SMTPServer is a running Go SMTP server.
type SMTPServer struct {
	opts     SMTPOptions
	cert     tls.Certificate
	ln       net.Listener
	srv      *smtp.Server
	messages atomic.Int64
	sessions atomic.Int64
}

// smtpIOTimeout bounds every read and write of a session.
const smtpIOTimeout = 30 * time.Second

// StartSMTP starts the server and stops it when the test ends.
func StartSMTP(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	s := &SMTPServer{opts: smtpDefaults(opts)}
	s.cert = s.certificate(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(s.opts.IP, strconv.Itoa(s.opts.Port)))
	if err != nil {
		t.Fatalf("smtp server: %v", err)
	}
	s.ln = ln
	s.srv = s.server()
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(s.stop)
	return s
}

func smtpDefaults(o SMTPOptions) SMTPOptions {
	if o.Hostname == "" {
		o.Hostname = "mx.test"
	}
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	return o
}

func (s *SMTPServer) certificate(t testing.TB) tls.Certificate {
	t.Helper()
	if s.opts.Certificate == nil {
		return SelfSigned(t, s.opts.Hostname)
	}
	c := *s.opts.Certificate
	if c.Leaf == nil && len(c.Certificate) > 0 {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatalf("smtp server: certificate: %v", err)
		}
		c.Leaf = leaf
	}
	return c
}

func (s *SMTPServer) server() *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = s.opts.Hostname
	srv.ReadTimeout, srv.WriteTimeout = smtpIOTimeout, smtpIOTimeout
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.ErrorLog = log.New(io.Discard, "", 0) // aborted probes are expected
	srv.TLSConfig = s.tlsConfig()
	return srv
}

// tlsConfig is nil (no STARTTLS) or the configuration of the chosen mode. An
// explicit MinVersion of TLS 1.0 overrides crypto/tls's server default.
func (s *SMTPServer) tlsConfig() *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	switch s.opts.TLS {
	case SMTPTLSOff:
		return nil
	case SMTPTLS10Only:
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 //nolint:gosec // the point of this mode
	}
	return cfg
}

func (s *SMTPServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// Addr is the SMTP address, "IP:PORT".
func (s *SMTPServer) Addr() string { return s.ln.Addr().String() }

// Port is the SMTP port (the product's VEILIG_DELIVERY_PORT).
func (s *SMTPServer) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Hostname is the name in the banner.
func (s *SMTPServer) Hostname() string { return s.opts.Hostname }

// Certificate is the server's leaf certificate.
func (s *SMTPServer) Certificate() *x509.Certificate { return s.cert.Leaf }

// TLSA returns TLSA RDATA for the server certificate, like Postfix.TLSA.
func (s *SMTPServer) TLSA(usage, selector, matching uint8) string {
	rr, err := TLSA(usage, selector, matching, s.cert.Leaf)
	if err != nil {
		panic(err)
	}
	return rr
}

// Sessions is the number of SMTP sessions the server has accepted.
func (s *SMTPServer) Sessions() int { return int(s.sessions.Load()) }

// Messages is the number of messages accepted (and discarded).
func (s *SMTPServer) Messages() int { return int(s.messages.Load()) }

func (s *SMTPServer) newSession(*smtp.Conn) (smtp.Session, error) {
	s.sessions.Add(1)
	return &discardSession{count: &s.messages}, nil
}

// discardSession accepts any envelope and drops the message.
type discardSession struct{ count *atomic.Int64 }

func (*discardSession) Reset()                               {}
func (*discardSession) Logout() error                        { return nil }
func (*discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (d *discardSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	d.count.Add(1)
	return nil
}

// IssueRSA returns a server certificate for names with an RSA key of the given
// size (e.g. 1024, which Internet.nl rates insufficient), signed by the CA,
// valid from an hour ago for a day.
func (ca *CA) IssueRSA(t testing.TB, bits int, names ...string) tls.Certificate {
	t.Helper()
	c, err := ca.issueRSA(bits, names)
	if err != nil {
		t.Fatalf("test CA: issue RSA-%d %v: %v", bits, names, err)
	}
	return c
}

// errNoNames is returned when a certificate is asked for without names.
var errNoNames = errors.New("testenv: no names")

func (ca *CA) issueRSA(bits int, names []string) (tls.Certificate, error) {
	if len(names) == 0 {
		return tls.Certificate{}, errNoNames
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	now := time.Now()
	tmpl := leafTemplate(now.Add(-time.Hour), now.Add(24*time.Hour), names)
	tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // static-RSA suites, as old servers use
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
