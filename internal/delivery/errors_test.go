package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, Delivered},
		{"RCPT 550", &SMTPError{Stage: stageRcpt, Code: 550}, Permanent},
		{"RCPT 450", &SMTPError{Stage: stageRcpt, Code: 450}, Temporary},
		{"MAIL 552", &SMTPError{Stage: stageMail, Code: 552}, Permanent},
		{"DATA 554", &SMTPError{Stage: stageData, Code: 554}, Permanent},
		{"DATA 451", &SMTPError{Stage: stageData, Code: 451}, Temporary},
		{"RCPT 421", &SMTPError{Stage: stageRcpt, Code: 421}, Temporary},
		{"greeting 554 concerns the host", &SMTPError{Stage: stageGreeting, Code: 554}, Temporary},
		{"STARTTLS 554 concerns the host", &SMTPError{Stage: stageSTARTTLS, Code: 554}, Temporary},
		{"EHLO 550", &SMTPError{Stage: stageEHLO, Code: 550}, Temporary},
		{"AUTH 535", &SMTPError{Stage: stageAuth, Code: 535}, Temporary},
		{"odd code in a transaction", &SMTPError{Stage: stageRcpt, Code: 354}, Temporary},
		{"wrapped 550", fmt.Errorf("x: %w", &SMTPError{Stage: stageRcpt, Code: 550}), Permanent},
		{"null MX", fmt.Errorf("%w: example.test", ErrNullMX), Permanent},
		{"NXDOMAIN", ErrNoDomain, Permanent},
		{"no mail host", ErrNoMailHost, Permanent},
		{"bad envelope", ErrEnvelope, Permanent},
		{"SMTPUTF8", ErrSMTPUTF8, Permanent},
		{"SERVFAIL", ErrDNS, Temporary},
		{"DANE", ErrDANE, Temporary},
		{"no STARTTLS", ErrNoSTARTTLS, Temporary},
		{"suspicious", ErrSuspicious, Temporary},
		{"canceled", context.Canceled, Temporary},
		{"unknown", errors.New("boom"), Temporary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); got != tc.want {
				t.Fatalf("classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestSMTPErrorConversion(t *testing.T) {
	tests := []struct {
		name  string
		stage string
		err   error
		want  *SMTPError
	}{
		{"go-smtp with enhanced code", stageRcpt,
			&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
			&SMTPError{Stage: stageRcpt, Code: 550, Enhanced: "5.1.1", Message: "No such user"}},
		{"go-smtp without enhanced code", stageMail,
			&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{0, 0, 0}, Message: "later"},
			&SMTPError{Stage: stageMail, Code: 451, Message: "later"}},
		{"textproto with enhanced code", stageGreeting, &textproto.Error{Code: 421, Msg: "4.3.2 Too busy"},
			&SMTPError{Stage: stageGreeting, Code: 421, Enhanced: "4.3.2", Message: "Too busy"}},
		{"textproto multi-line", stageEHLO, &textproto.Error{Code: 554, Msg: "5.7.1 No\n5.7.1 service"},
			&SMTPError{Stage: stageEHLO, Code: 554, Enhanced: "5.7.1", Message: "No\nservice"}},
		{"textproto without enhanced code", stageSTARTTLS, &textproto.Error{Code: 454, Msg: "TLS not available"},
			&SMTPError{Stage: stageSTARTTLS, Code: 454, Message: "TLS not available"}},
		{"not an enhanced code", stageRcpt, &textproto.Error{Code: 550, Msg: "1.2.3 nope"},
			&SMTPError{Stage: stageRcpt, Code: 550, Message: "1.2.3 nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := errors.AsType[*SMTPError](smtpError(tc.stage, tc.err))
			if !ok {
				t.Fatalf("no *SMTPError from %v", tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
	if err := smtpError(stageRcpt, errors.New("EOF")); !errors.Is(err, ErrProtocol) {
		t.Fatalf("a broken connection: %v, want ErrProtocol", err)
	}
	if err := smtpError(stageRcpt, nil); err != nil {
		t.Fatalf("nil: %v", err)
	}
}

func TestSMTPErrorReply(t *testing.T) {
	e := &SMTPError{Stage: stageRcpt, Code: 550, Enhanced: "5.1.1", Message: "No such\nuser"}
	if got, want := e.Reply(), "550 5.1.1 No such user"; got != want {
		t.Fatalf("Reply() = %q, want %q", got, want)
	}
	if got := (&SMTPError{Code: 421}).Reply(); got != "421" {
		t.Fatalf("Reply() = %q", got)
	}
}

func TestPublicReasonHidesDetail(t *testing.T) {
	err := fmt.Errorf("%w: example.test. MX: read udp 127.0.0.1:50273->127.0.0.1:53: connection refused", ErrDNS)
	if got := publicReason(err); got != "DNS lookup failed" {
		t.Errorf("publicReason = %q, want the sentinel text only", got)
	}
	if got := publicReason(errors.New("dial tcp 10.1.2.3:25: i/o timeout")); strings.Contains(got, "10.1.2.3") {
		t.Errorf("publicReason leaks an address: %q", got)
	}
}
