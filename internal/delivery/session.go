package delivery

// One SMTP session (RFC 5321 §3) over one connection: greeting, EHLO and
// STARTTLS (RFC 3207) in plaintext — nothing else is ever sent before TLS —,
// the TLS handshake with the host's verification, then go-smtp's client for
// EHLO, AUTH (relay), MAIL (SIZE RFC 1870, REQUIRETLS RFC 8689, SMTPUTF8 RFC
// 6531), RCPT and DATA, streaming the message. A session reused from the cache
// starts with RSET (RFC 5321 §4.1.1.5) and EHLO (§4.1.4) instead.

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

// session delivers env over s to host h, filling in a: it establishes a new
// session or resets a cached one, runs the transaction and then caches s, ends
// it with QUIT or, after a failure, drops it. It returns the recipients refused
// at RCPT while others were accepted; a non-nil error means nothing was
// delivered.
func (d *Deliverer) session(ctx context.Context, s *smtpSession, h hostPlan, env Envelope, a *Attempt) (map[string]error, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.SessionTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = s.raw.Close() })
	var err error
	if s.client == nil {
		err = d.establish(ctx, s, h, a)
	} else {
		err = d.reset(s, a)
	}
	var refused map[string]error
	if err == nil {
		refused, err = d.transaction(s.client, h, env, a)
	}
	d.release(s, stop() && err == nil)
	return refused, err
}

// establish does STARTTLS with verification, EHLO and, for the relay, AUTH.
func (d *Deliverer) establish(ctx context.Context, s *smtpSession, h hostPlan, a *Attempt) error {
	conn := &idleConn{Conn: s.raw, idle: d.cfg.CommandTimeout}
	tc, err := d.secure(ctx, conn, h, a)
	if err != nil {
		return err
	}
	c := smtp.NewClient(newResumedConn(tc))
	c.CommandTimeout, c.SubmissionTimeout = d.cfg.CommandTimeout, d.cfg.DataTimeout
	if err := c.Hello(d.cfg.Hostname); err != nil {
		return smtpError(stageEHLO, err)
	}
	if h.policy == PolicyRelay {
		if err := d.auth(c); err != nil {
			return err
		}
	}
	s.client, s.evidence = c, *a
	return nil
}

// reset prepares a cached session for another transaction: RSET, then EHLO
// (go-smtp's client greets again after RSET) with the extensions read afresh.
func (d *Deliverer) reset(s *smtpSession, a *Attempt) error {
	s.record(a)
	if err := s.client.Reset(); err != nil {
		return smtpError(stageRSET, err)
	}
	if err := s.client.Hello(d.cfg.Hostname); err != nil {
		return smtpError(stageEHLO, err)
	}
	return nil
}

// release caches a session that is still usable after a completed transaction,
// or ends it with QUIT when the cache declines; other sessions are dropped.
func (d *Deliverer) release(s *smtpSession, usable bool) {
	if !usable {
		_ = s.raw.Close()
		return
	}
	s.uses++
	if !d.conns.put(s) {
		s.quit(d.conns.quitTimeout)
	}
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
	if _, err := io.Copy(w, bodyReader{body}); err != nil {
		return fmt.Errorf("delivery: streaming the message: %w", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		err = smtpError(stageData, err)
		if _, isReply := err.(*SMTPError); !isReply {
			err = finalError{err} // the final "." may have reached the server
		}
		return err
	}
	var text string
	a.Code = 250
	a.Enhanced, text = splitEnhanced(resp.StatusText)
	a.Reply = replyLine(a.Code, a.Enhanced, text)
	return nil
}

// finalError marks a failure that must not be retried on a new connection
// within the same attempt: reading the message failed, or the connection broke
// after the final "." and the server may have the message (RFC 5321 §4.1.1.4;
// a retry later is the queue's decision).
type finalError struct{ error }

func (e finalError) Unwrap() error { return e.error }

// bodyReader marks failures to read the message as final.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = finalError{err}
	}
	return n, err
}
