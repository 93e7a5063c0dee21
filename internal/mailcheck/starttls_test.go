package mailcheck

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// smtpPeer is the behaviour of the in-test SMTP server.
type smtpPeer struct {
	cert      *tls.Certificate // nil: STARTTLS not offered
	hangUpNow bool             // close the connection instead of greeting
	maxTLS    uint16           // 0: crypto/tls default
}

// serveSMTP starts a one-connection-at-a-time SMTP server on 127.0.0.1:0
// and returns its port.
func serveSMTP(t *testing.T, p smtpPeer) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.session(conn)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// session speaks just enough SMTP for the STARTTLS test.
func (p smtpPeer) session(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	if p.hangUpNow {
		return
	}
	tc := textproto.NewConn(conn)
	_ = tc.PrintfLine("220 mx.example.test ESMTP")
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch {
		case verb == "EHLO" && p.cert != nil:
			_ = tc.PrintfLine("250-mx.example.test\r\n250-8BITMIME\r\n250 STARTTLS")
		case verb == "EHLO":
			_ = tc.PrintfLine("250-mx.example.test\r\n250 8BITMIME")
		case verb == "STARTTLS" && p.cert != nil:
			_ = tc.PrintfLine("220 Go ahead")
			p.secured(tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{*p.cert},
				MinVersion: tls.VersionTLS10, MaxVersion: p.maxTLS}))
			return
		case verb == "QUIT":
			_ = tc.PrintfLine("221 Bye")
			return
		default:
			_ = tc.PrintfLine("502 Not implemented")
		}
	}
}

// secured answers QUIT after the handshake.
func (p smtpPeer) secured(conn *tls.Conn) {
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err == nil {
		_, _ = conn.Write([]byte("221 Bye\r\n"))
	}
}

// rsaCert returns a self-signed certificate with an RSA key of bits bits.
func rsaCert(t *testing.T, bits int) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.example.test"},
		DNSNames:     []string{"mx.example.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestCheckSTARTTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	ecdsa := ca.Issue(t, "127.0.0.1")
	self := testenv.SelfSigned(t, "127.0.0.1")
	wrongName := ca.Issue(t, "mx.example.test")
	rsa1024 := rsaCert(t, 1024)
	cases := []struct {
		name   string
		peer   smtpPeer
		status Status
		want   string
	}{
		{name: "ECDSA P-256", peer: smtpPeer{cert: &ecdsa}, status: StatusPass, want: "ECDSA-P-256"},
		{name: "RSA-1024", peer: smtpPeer{cert: &rsa1024}, status: StatusFail, want: "RSA-1024: insufficient"},
		{name: "TLS 1.0 phases out", peer: smtpPeer{cert: &ecdsa, maxTLS: tls.VersionTLS10},
			status: StatusWarning, want: "TLS 1.0: phase out"},
		{name: "no STARTTLS", peer: smtpPeer{}, status: StatusFail, want: "no STARTTLS"},
		{name: "self-signed", peer: smtpPeer{cert: &self}, status: StatusWarning, want: "not issued by a trusted CA"},
		{name: "wrong name", peer: smtpPeer{cert: &wrongName}, status: StatusWarning, want: "does not carry the mail server's name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port := serveSMTP(t, tc.peer)
			c := NewWithOptions(fakeDNS{}, testenv.Logger(t), Options{Roots: ca.Pool(), AllowPrivate: true})
			res, err := c.STARTTLS(context.Background(), "127.0.0.1", port)
			if err != nil {
				t.Fatal(err)
			}
			assertResult(t, res, TestSTARTTLS, tc.status, tc.want)
		})
	}
}

// A server that hangs up cannot be rated: an ErrLookup error, no Result.
func TestCheckSTARTTLSConnectionClosed(t *testing.T) {
	port := serveSMTP(t, smtpPeer{hangUpNow: true})
	c := NewWithOptions(fakeDNS{}, testenv.Logger(t), Options{AllowPrivate: true})
	res, err := c.STARTTLS(context.Background(), "127.0.0.1", port)
	if !errors.Is(err, ErrLookup) || errors.Is(err, ErrNotPublic) {
		t.Fatalf("err = %v, want ErrLookup", err)
	}
	if res.Status != "" {
		t.Errorf("got result %+v with error", res)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("error %q does not name the address", err)
	}
}

func TestOffersSTARTTLS(t *testing.T) {
	cases := []struct {
		ehlo string
		want bool
	}{
		{"mx.example.test\nSTARTTLS", true},
		{"mx.example.test\n8BITMIME\nstarttls", true},
		{"mx.example.test STARTTLS\n8BITMIME", false},
		{"mx.example.test\nSTARTTLSX", false},
		{"mx.example.test", false},
	}
	for _, tc := range cases {
		if got := offersSTARTTLS(tc.ehlo); got != tc.want {
			t.Errorf("offersSTARTTLS(%q) = %v, want %v", tc.ehlo, got, tc.want)
		}
	}
}
