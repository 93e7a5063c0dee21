package delivery

// One SMTP session (RFC 5321 §3) over one connection: greeting, EHLO and
// STARTTLS (RFC 3207) in plaintext — nothing else is ever sent before TLS —,
// the TLS handshake with the host's verification, then go-smtp's client for
// EHLO, AUTH (relay), MAIL (SIZE RFC 1870, REQUIRETLS RFC 8689, SMTPUTF8 RFC
// 6531), RCPT and DATA, streaming the message.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// maxPreTLSBytes bounds what a server may send before TLS (greeting, EHLO and
// STARTTLS replies).
const maxPreTLSBytes = 64 << 10

// session delivers env over conn to host h, filling in a. It returns the
// recipients refused at RCPT while others were accepted; a non-nil error means
// nothing was delivered.
func (d *Deliverer) session(ctx context.Context, raw net.Conn, h hostPlan, env Envelope, a *Attempt) (map[string]error, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.SessionTimeout)
	defer cancel()
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	conn := &idleConn{Conn: raw, idle: d.cfg.CommandTimeout}
	tc, err := d.secure(ctx, conn, h, a)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(newResumedConn(tc))
	c.CommandTimeout, c.SubmissionTimeout = d.cfg.CommandTimeout, d.cfg.DataTimeout
	if err := c.Hello(d.cfg.Hostname); err != nil {
		return nil, smtpError(stageEHLO, err)
	}
	if h.policy == PolicyRelay {
		if err := d.auth(c); err != nil {
			return nil, err
		}
	}
	return d.transaction(c, h, env, a)
}

// secure does STARTTLS and the handshake, and records the TLS evidence.
func (d *Deliverer) secure(ctx context.Context, conn *idleConn, h hostPlan, a *Attempt) (*tls.Conn, error) {
	_ = conn.SetDeadline(time.Now().Add(d.cfg.CommandTimeout))
	if err := d.startTLS(conn); err != nil {
		return nil, err
	}
	var res daneResult
	tc := tls.Client(conn, d.tlsConfig(h, &res))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, tlsFailure(h.name, err)
	}
	_ = conn.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	a.TLSVersion, a.Cipher = tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)
	if res.matched != nil {
		a.TLSAMatch, a.Policy = tlsaMatch(res.matched), policyOfRecord(*res.matched)
	}
	return tc, nil
}

// startTLS reads the greeting, sends EHLO and STARTTLS, and requires the
// server to send nothing more before the handshake (RFC 3207 §4.2 — a
// pipelined injection would otherwise be read as if protected by TLS).
func (d *Deliverer) startTLS(conn net.Conn) error {
	br := bufio.NewReader(io.LimitReader(conn, maxPreTLSBytes))
	r := textproto.NewReader(br)
	w := textproto.NewWriter(bufio.NewWriter(conn))
	if _, _, err := r.ReadResponse(220); err != nil {
		return smtpError(stageGreeting, err)
	}
	if err := w.PrintfLine("EHLO %s", d.cfg.Hostname); err != nil {
		return smtpError(stageEHLO, err)
	}
	_, msg, err := r.ReadResponse(250)
	if err != nil {
		return smtpError(stageEHLO, err)
	}
	if !hasExtension(msg, "STARTTLS") {
		return ErrNoSTARTTLS
	}
	if err := w.PrintfLine("STARTTLS"); err != nil {
		return smtpError(stageSTARTTLS, err)
	}
	if _, _, err := r.ReadResponse(220); err != nil {
		return smtpError(stageSTARTTLS, err)
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("%w: data after the STARTTLS reply", ErrProtocol)
	}
	return nil
}

// hasExtension reports whether an EHLO reply (lines joined by "\n") lists ext.
func hasExtension(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// auth authenticates to the relay with AUTH PLAIN, over TLS only.
func (d *Deliverer) auth(c *smtp.Client) error {
	if !c.SupportsAuth(sasl.Plain) {
		return ErrRelayAuth
	}
	if err := c.Auth(sasl.NewPlainClient("", d.cfg.RelayUsername, d.cfg.RelayPassword)); err != nil {
		return smtpError(stageAuth, err)
	}
	return nil
}

// transaction sends MAIL, RCPT for each recipient and, if any was accepted,
// the message.
func (d *Deliverer) transaction(c *smtp.Client, h hostPlan, env Envelope, a *Attempt) (map[string]error, error) {
	opts, err := mailOptions(c, h, env)
	if err != nil {
		return nil, err
	}
	if err := c.Mail(env.From, opts); err != nil {
		return nil, smtpError(stageMail, err)
	}
	refused, err := recipients(c, env.To)
	if err != nil {
		return nil, err
	}
	if err := d.data(c, env, a); err != nil {
		return nil, err
	}
	_ = c.Quit()
	return refused, nil
}

// mailOptions asks for SIZE, SMTPUTF8 when an address needs it, and REQUIRETLS
// when offered and the hop meets it: DANE, MTA-STS or the authenticated relay
// (RFC 8689 §4.1; plain PKIX on an unauthenticated MX lookup does not).
func mailOptions(c *smtp.Client, h hostPlan, env Envelope) (*smtp.MailOptions, error) {
	opts := &smtp.MailOptions{Size: env.Size}
	if needsUTF8(env) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return nil, ErrSMTPUTF8
		}
		opts.UTF8 = true
	}
	if ok, _ := c.Extension("REQUIRETLS"); ok && h.policy != PolicyPKIX {
		opts.RequireTLS = true
	}
	return opts, nil
}

func needsUTF8(env Envelope) bool {
	for _, s := range append([]string{env.From}, env.To...) {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return true
			}
		}
	}
	return false
}

// recipients sends RCPT for each address. It returns the refused ones when
// some were accepted, and an error when none was (the most hopeful one: a
// temporary refusal before a permanent one) or the session broke.
func recipients(c *smtp.Client, to []string) (map[string]error, error) {
	refused := map[string]error{}
	var first error
	for _, rcpt := range to {
		err := smtpError(stageRcpt, c.Rcpt(rcpt, nil))
		if err == nil {
			continue
		}
		se, isReply := err.(*SMTPError)
		if !isReply || se.Code == 421 {
			return nil, err // the server closed the session
		}
		refused[rcpt] = err
		if first == nil || (classify(first) == Permanent && se.Temporary()) {
			first = err
		}
	}
	if len(refused) == len(to) {
		return nil, first
	}
	return refused, nil
}

// data streams the message. A failure while streaming drops the connection
// without the final ".", so the server discards the partial message.
func (d *Deliverer) data(c *smtp.Client, env Envelope, a *Attempt) error {
	body, err := env.Open()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMessage, err)
	}
	defer body.Close()
	w, err := c.Data()
	if err != nil {
		return smtpError(stageData, err)
	}
	if _, err := io.Copy(w, body); err != nil {
		return fmt.Errorf("delivery: streaming the message: %w", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return smtpError(stageData, err)
	}
	var text string
	a.Code = 250
	a.Enhanced, text = splitEnhanced(resp.StatusText)
	a.Reply = replyLine(a.Code, a.Enhanced, text)
	return nil
}
