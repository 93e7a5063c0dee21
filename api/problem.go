package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Problem is an RFC 9457 problem details object. Type is a stable URN that clients
// may switch on; Title is constant per type; Detail is for people.
type Problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Errors   []FieldProblem `json:"errors,omitempty"`

	retryAfter time.Duration
}

// FieldProblem points at one bad input field.
type FieldProblem struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// ProblemPrefix begins every problem type; the full list is in docs/problems.md
// and in api/openapi.yaml.
const ProblemPrefix = "urn:veilig:problem:"

// problemKind is one stable problem type.
type problemKind struct {
	code   string
	title  string
	status int
}

// The stable problem types. Never change a code once released.
var (
	kindBadRequest       = problemKind{"bad-request", "The request is malformed", http.StatusBadRequest}
	kindInvalidParameter = problemKind{"invalid-parameter", "A parameter is invalid", http.StatusBadRequest}
	kindUnauthorized     = problemKind{"unauthorized", "Authentication is required", http.StatusUnauthorized}
	kindInvalidGrant     = problemKind{"invalid-credentials", "The credentials are not valid", http.StatusUnauthorized}
	kindForbidden        = problemKind{"forbidden", "This action is not allowed", http.StatusForbidden}
	kindNotFound         = problemKind{"not-found", "The resource does not exist", http.StatusNotFound}
	kindMethodNotAllowed = problemKind{"method-not-allowed", "The method is not allowed here", http.StatusMethodNotAllowed}
	kindConflict         = problemKind{"conflict", "The request conflicts with the current state", http.StatusConflict}
	kindTooLarge         = problemKind{"payload-too-large", "The request body is too large", http.StatusRequestEntityTooLarge}
	kindUnsupportedMedia = problemKind{"unsupported-media-type", "The request body has an unsupported media type", http.StatusUnsupportedMediaType}
	kindUnprocessable    = problemKind{"unprocessable", "The request cannot be processed", http.StatusUnprocessableEntity}
	kindValidation       = problemKind{"validation-failed", "The request body fails validation", http.StatusUnprocessableEntity}
	kindDomainTaken      = problemKind{"domain-taken", "The domain is already part of the community", http.StatusConflict}
	kindRateLimited      = problemKind{"rate-limited", "Too many requests", http.StatusTooManyRequests}
	kindInternal         = problemKind{"internal", "Internal server error", http.StatusInternalServerError}
	kindUnavailable      = problemKind{"unavailable", "The service is temporarily unavailable", http.StatusServiceUnavailable}
	kindPinWeaker        = problemKind{"pin-weaker", "The domain is weaker than its pin", http.StatusConflict}
	kindCheckIncomplete  = problemKind{"check-incomplete", "The mail check could not complete", http.StatusServiceUnavailable}
)

// Error is an error that knows its problem type. Handlers return it (or a domain
// error that errorProblem maps) through c.Error; one middleware renders it.
type Error struct {
	kind   problemKind
	detail string
	fields []FieldProblem
	retry  time.Duration
	cause  error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.kind.code + ": " + e.detail + ": " + e.cause.Error()
	}
	return e.kind.code + ": " + e.detail
}

func (e *Error) Unwrap() error { return e.cause }

func newError(k problemKind, detail string) *Error { return &Error{kind: k, detail: detail} }

func (e *Error) withFields(f ...FieldProblem) *Error { e.fields = append(e.fields, f...); return e }

func (e *Error) withCause(err error) *Error { e.cause = err; return e }

// asError returns err's *Error, or the one mapDomainError makes of it.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return mapDomainError(err)
}

// problemFor turns any error into the problem shown to the client. Unknown errors
// become a generic 500 whose detail reveals nothing internal.
func problemFor(err error) Problem {
	e := asError(err)
	p := Problem{Type: ProblemPrefix + e.kind.code, Title: e.kind.title, Status: e.kind.status,
		Detail: e.detail, Errors: e.fields, retryAfter: e.retry}
	return p
}

func (p Problem) retryAfterHeader() string {
	if p.retryAfter <= 0 {
		return ""
	}
	return strconv.Itoa(int((p.retryAfter + time.Second - 1) / time.Second))
}
