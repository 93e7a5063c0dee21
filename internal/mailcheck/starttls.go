package mailcheck

// The STARTTLS test: an SMTP session (RFC 5321 §3) up to and through STARTTLS
// (RFC 3207), whose negotiated TLS parameters are graded by tlsgrade against
// the NCSC-NL TLS guidelines, as Internet.nl's mail test does per MX.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/veilig/veilig/internal/tlsgrade"
)

// TestSTARTTLS is the name of the STARTTLS test.
const TestSTARTTLS = "starttls"

// DefaultEHLOName is the name sent in EHLO (RFC 5321 §4.1.1.1).
const DefaultEHLOName = "veilig.check"

// maxSMTPReplyBytes bounds what the server may send before the handshake.
const maxSMTPReplyBytes = 64 << 10

// STARTTLS connects to host:port (host's addresses from the Resolver, or
// host itself when it is an IP address), requires the STARTTLS extension,
// does the handshake with SNI host and grades the negotiated version, cipher
// suite, key exchange and certificate key and signature; a certificate chain
// that is not PKIX-valid for host (against Options.Roots) is a warning. A
// server that cannot be talked to (refused, closed, timed out, malformed or
// non-2xx reply) cannot be rated: that is an error wrapping ErrLookup, to be
// retried later, not a fail result. A server that answers but does not offer
// STARTTLS fails.
func (c *Checker) STARTTLS(ctx context.Context, host string, port int) (Result, error) {
	return c.run(ctx, TestSTARTTLS, host, func(ctx context.Context, h string) (Result, error) {
		addrs, _, err := c.addrs(ctx, h)
		if err != nil && !errors.Is(err, ErrNXDomain) {
			return Result{}, err
		}
		if len(addrs) == 0 {
			return noAddress(), nil
		}
		p, err := c.session(ctx, h, net.JoinHostPort(addrs[0].String(), strconv.Itoa(port)))
		if err != nil {
			return Result{}, err
		}
		return p.starttls(false), nil
	})
}

// session runs one SMTP session with addr for MX host; ctx carries the
// timeout.
func (c *Checker) session(ctx context.Context, host, addr string) (probed, error) {
	conn, err := newDialer(c.opts.AllowPrivate).DialContext(ctx, "tcp", addr)
	if err != nil {
		return probed{}, smtpErr(addr, "connect", err)
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	offered, err := negotiate(conn, c.opts.EHLOName)
	if err != nil {
		return probed{}, smtpErr(addr, "session", err)
	}
	if !offered {
		return probed{}, nil
	}
	state, err := handshake(ctx, conn, host)
	if err != nil {
		return probed{}, smtpErr(addr, "TLS handshake", err)
	}
	return probed{offered: true, state: state, pkixErr: c.verifyPKIX(state, host)}, nil
}

// negotiate reads the greeting, sends EHLO and, when the server offers it,
// STARTTLS. It reports whether the server is now ready for the handshake.
func negotiate(conn net.Conn, ehloName string) (bool, error) {
	br := bufio.NewReader(io.LimitReader(conn, maxSMTPReplyBytes))
	tc := textproto.NewConn(struct {
		io.Reader
		io.WriteCloser
	}{br, conn})
	if _, _, err := tc.ReadResponse(220); err != nil {
		return false, fmt.Errorf("greeting: %w", err)
	}
	_, ehlo, err := cmd(tc, 250, "EHLO %s", ehloName)
	if err != nil {
		return false, fmt.Errorf("EHLO: %w", err)
	}
	if !offersSTARTTLS(ehlo) {
		_, _, _ = cmd(tc, 221, "QUIT")
		return false, nil
	}
	if _, _, err := cmd(tc, 220, "STARTTLS"); err != nil {
		return false, fmt.Errorf("STARTTLS: %w", err)
	}
	return true, nil
}

// cmd sends one command and reads its reply, which must have code expect.
func cmd(tc *textproto.Conn, expect int, format string, args ...any) (int, string, error) {
	if err := tc.PrintfLine(format, args...); err != nil {
		return 0, "", err
	}
	return tc.ReadResponse(expect)
}

// offersSTARTTLS reports whether an EHLO reply (lines joined by "\n", the
// first being the greeting line) lists the STARTTLS keyword (RFC 3207 §4).
func offersSTARTTLS(ehlo string) bool {
	_, rest, _ := strings.Cut(ehlo, "\n")
	for line := range strings.Lines(rest) {
		if kw, _, _ := strings.Cut(strings.TrimSpace(line), " "); strings.EqualFold(kw, "STARTTLS") {
			return true
		}
	}
	return false
}

// handshake does the TLS handshake over conn with SNI host and ends the
// session with QUIT.
//
// The certificate is deliberately not verified by crypto/tls
// (InsecureSkipVerify): this test grades what the server negotiates, and the
// presented chain is judged afterwards, by PKIX (verifyPKIX) and DANE
// (rateDANE). MinVersion TLS 1.0 lets old servers connect so that they are
// graded (phase out) rather than unreachable.
func handshake(ctx context.Context, conn net.Conn, host string) (tls.ConnectionState, error) {
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // graded and verified afterwards; see above
		MinVersion:         tls.VersionTLS10,
	}
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	_, _, _ = cmd(textproto.NewConn(tc), 221, "QUIT")
	return tc.ConnectionState(), nil
}

// gradeState grades a negotiated session.
func gradeState(cs tls.ConnectionState) Result {
	return tlsResult(tlsgrade.Summarise(tlsgrade.FromState(cs)))
}

// tlsResult turns a graded connection into a Result whose summary lists
// every finding.
func tlsResult(g tlsgrade.Result) Result {
	var nl, en []string
	for _, f := range g.Findings {
		nl, en = append(nl, f.Text.NL), append(en, f.Text.EN)
	}
	sum := text{strings.Join(nl, "\n"), strings.Join(en, "\n")}
	switch g.Overall {
	case tlsgrade.Good, tlsgrade.Sufficient:
		return result(StatusPass, sum, noFix())
	case tlsgrade.PhaseOut:
		return result(StatusWarning, sum, text{
			"Vervang de onderdelen met 'uit te faseren' door goede of voldoende instellingen.",
			"Replace the parts graded 'phase out' with good or sufficient settings."})
	default:
		return result(StatusFail, sum, text{
			"Configureer de mailserver volgens de TLS-richtlijnen van het NCSC.",
			"Configure the mail server according to the NCSC-NL TLS guidelines."})
	}
}

// noSTARTTLS is the Result for a server that does not offer STARTTLS.
func noSTARTTLS() Result {
	return result(StatusFail,
		text{"De mailserver biedt geen STARTTLS aan; mail gaat onversleuteld.",
			"The mail server offers no STARTTLS, so mail travels unencrypted."},
		text{"Schakel STARTTLS in op de mailserver (RFC 3207).",
			"Enable STARTTLS on the mail server (RFC 3207)."})
}

// smtpErr wraps a session failure in ErrLookup; nil stays nil.
func smtpErr(addr, stage string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: SMTP %s %s: %w", ErrLookup, addr, stage, err)
}
