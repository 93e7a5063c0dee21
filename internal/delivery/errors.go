package delivery

import (
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// ErrConfig reports an invalid Config or Deps.
var ErrConfig = errors.New("delivery: invalid configuration")

// Errors that fail a delivery for good (Permanent).
var (
	ErrDomain     = errors.New("delivery: invalid domain")
	ErrEnvelope   = errors.New("delivery: invalid envelope")
	ErrNoDomain   = errors.New("delivery: domain does not exist")
	ErrNullMX     = errors.New("delivery: domain accepts no mail (null MX, RFC 7505)")
	ErrNoMailHost = errors.New("delivery: domain has neither MX nor address records")
	ErrSMTPUTF8   = errors.New("delivery: server does not support SMTPUTF8 (RFC 6531)")
)

// Errors that defer a delivery (Temporary).
var (
	ErrDNS         = errors.New("delivery: DNS lookup failed") // SERVFAIL (bogus DNSSEC or a resolver failure), timeout
	ErrNoAddress   = errors.New("delivery: MX host has no address")
	ErrNotInPolicy = errors.New("delivery: MX host not listed in the MTA-STS policy")
	ErrNoSTARTTLS  = errors.New("delivery: STARTTLS not offered")
	ErrTLS         = errors.New("delivery: TLS handshake failed") // PKIX, protocol version, cipher suites
	ErrDANE        = errors.New("delivery: DANE verification failed")
	ErrRelayAuth   = errors.New("delivery: relay offers no AUTH PLAIN")
	ErrProtocol    = errors.New("delivery: SMTP protocol error")
	ErrSuspicious  = errors.New("delivery: transport security downgrade")
	ErrMessage     = errors.New("delivery: cannot open the message")

	errNoMoreTargets = errors.New("delivery: no usable MX host")
)

// permanentErrors are the sentinels that fail a delivery for good.
var permanentErrors = []error{ErrDomain, ErrEnvelope, ErrNoDomain, ErrNullMX, ErrNoMailHost, ErrSMTPUTF8}

// SMTP stages, in protocol order.
const (
	stageGreeting = "greeting"
	stageEHLO     = "ehlo"
	stageSTARTTLS = "starttls"
	stageAuth     = "auth"
	stageRSET     = "rset"
	stageMail     = "mail"
	stageRcpt     = "rcpt"
	stageData     = "data"
)

// SMTPError is a reply from a server that ended an attempt.
type SMTPError struct {
	Stage    string // greeting, ehlo, starttls, auth, rset, mail, rcpt or data
	Code     int    // e.g. 550
	Enhanced string // e.g. "5.1.1", "" if the server sent none
	Message  string // the reply text without code and enhanced code
}

func (e *SMTPError) Error() string {
	s := fmt.Sprintf("delivery: %s: %d", e.Stage, e.Code)
	if e.Enhanced != "" {
		s += " " + e.Enhanced
	}
	if e.Message != "" {
		s += " " + e.Message
	}
	return s
}

// Reply is the reply as the server sent it, on one line.
func (e *SMTPError) Reply() string { return replyLine(e.Code, e.Enhanced, e.Message) }

// replyLine renders a reply on one line, e.g. "250 2.0.0 Ok".
func replyLine(code int, enhanced, msg string) string {
	parts := []string{strconv.Itoa(code)}
	for _, p := range []string{enhanced, strings.ReplaceAll(msg, "\n", " ")} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

// Temporary reports whether a later retry may succeed: every 4xx reply, and
// every reply before the mail transaction (a 5xx greeting or STARTTLS refusal
// concerns that host, not the message).
func (e *SMTPError) Temporary() bool { return !e.Permanent() }

// Permanent reports a 5xx reply to MAIL, RCPT or DATA (RFC 5321 §4.2.1): the
// message is refused, another host or a retry will not change that.
func (e *SMTPError) Permanent() bool {
	inTransaction := e.Stage == stageMail || e.Stage == stageRcpt || e.Stage == stageData
	return inTransaction && e.Code >= 500 && e.Code <= 599
}

// classify maps an attempt's or a plan's error to an outcome.
func classify(err error) Outcome {
	if err == nil {
		return Delivered
	}
	if se, ok := errors.AsType[*SMTPError](err); ok {
		if se.Permanent() {
			return Permanent
		}
		return Temporary
	}
	for _, p := range permanentErrors {
		if errors.Is(err, p) {
			return Permanent
		}
	}
	return Temporary
}

// smtpError converts go-smtp's and net/textproto's reply errors; other errors
// are returned as they are (a broken connection, a timeout).
func smtpError(stage string, err error) error {
	if se, ok := errors.AsType[*smtp.SMTPError](err); ok {
		return &SMTPError{Stage: stage, Code: se.Code, Enhanced: enhanced(se.EnhancedCode), Message: se.Message}
	}
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		code, msg := splitEnhanced(te.Msg)
		return &SMTPError{Stage: stage, Code: te.Code, Enhanced: code, Message: msg}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProtocol, stage, err)
	}
	return nil
}

func enhanced(c smtp.EnhancedCode) string {
	if c[0] < 2 || c[0] > 5 {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

// splitEnhanced splits "5.1.1 No such user" into its RFC 3463 code and text.
func splitEnhanced(msg string) (code, text string) {
	first, rest, _ := strings.Cut(msg, " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return "", msg
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 {
			return "", msg
		}
	}
	return first, strings.ReplaceAll(rest, "\n"+first+" ", "\n")
}
