package submission

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
)

func TestDataReply(t *testing.T) {
	many := make([]string, 12)
	for i := range many {
		many[i] = fmt.Sprintf("p%d@gmail.example", i)
	}
	tests := []struct {
		name     string
		err      error
		code     int
		enhanced smtp.EnhancedCode
		contains string
	}{
		{"too large", smtp.ErrDataTooLarge, 552, smtp.EnhancedCode{5, 3, 4}, ""},
		{"external", fmt.Errorf("accept: %w", &message.ExternalRecipientsError{Addresses: []string{"a@gmail.example"}}),
			550, smtp.EnhancedCode{5, 7, 1}, "a@gmail.example"},
		{"many external", &message.ExternalRecipientsError{Addresses: many}, 550, smtp.EnhancedCode{5, 7, 1}, "and 2 more"},
		{"invalid recipient", &message.InvalidError{Field: "recipients", Reason: `"x@": not an RFC 5322 addr-spec`},
			550, smtp.EnhancedCode{5, 1, 3}, "not an RFC 5322"},
		{"no recipients", &message.InvalidError{Field: "to", Reason: "at least one recipient is required"}, 550, smtp.EnhancedCode{5, 1, 3}, ""},
		{"invalid sender", &message.InvalidError{Field: "sender", Reason: "no organisation"}, 550, smtp.EnhancedCode{5, 7, 1}, ""},
		{"invalid other", &message.InvalidError{Field: "client_message_id", Reason: "too\r\nlong"}, 554, smtp.EnhancedCode{5, 6, 0}, "too  long"},
		{"too many", fmt.Errorf("%w: 501, at most 500", message.ErrTooManyRecipients), 554, smtp.EnhancedCode{5, 5, 3}, ""},
		{"malformed", fmt.Errorf("x: %w", compose.ErrMalformed), 554, smtp.EnhancedCode{5, 6, 0}, ""},
		{"header injection", compose.ErrHeaderInjection, 554, smtp.EnhancedCode{5, 6, 0}, ""},
		{"deadline", context.DeadlineExceeded, 451, smtp.EnhancedCode{4, 3, 0}, ""},
		{"database down", errors.New("pq: connection refused to 10.0.0.5"), 451, smtp.EnhancedCode{4, 3, 0}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := dataReply(tc.err)
			if r.Code != tc.code || r.EnhancedCode != tc.enhanced || !strings.Contains(r.Message, tc.contains) {
				t.Errorf("reply %d %v %q; want %d %v containing %q", r.Code, r.EnhancedCode, r.Message, tc.code, tc.enhanced, tc.contains)
			}
			if strings.Contains(r.Message, "10.0.0.5") || strings.ContainsAny(r.Message, "\r\n") {
				t.Errorf("reply leaks detail or breaks lines: %q", r.Message)
			}
			if r.Code/100 == 4 && r.EnhancedCode[0] != 4 || r.Code/100 == 5 && r.EnhancedCode[0] != 5 {
				t.Errorf("class of %d does not match %v", r.Code, r.EnhancedCode)
			}
		})
	}
}

func TestAuthReply(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     int
		enhanced smtp.EnhancedCode
	}{
		{"wrong password", fmt.Errorf("auth: %w", auth.ErrInvalidCredentials), 535, smtp.EnhancedCode{5, 7, 8}},
		{"rate limited", &auth.RateLimitError{RetryAfter: 30 * time.Second, Scope: "account"}, 454, smtp.EnhancedCode{4, 7, 0}},
		{"directory down", errors.New("ldap: connection refused"), 454, smtp.EnhancedCode{4, 7, 0}},
	}
	for _, tc := range tests {
		r := authReply(tc.err)
		if r.Code != tc.code || r.EnhancedCode != tc.enhanced {
			t.Errorf("%s: %d %v, want %d %v", tc.name, r.Code, r.EnhancedCode, tc.code, tc.enhanced)
		}
	}
}
