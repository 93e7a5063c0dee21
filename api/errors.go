package api

import (
	"errors"
	"net/http"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/message/compose"
)

// mapDomainError maps the sentinel errors of the layers below to problem types.
// Anything unknown is an internal error: logged by renderErrors, never shown.
func mapDomainError(err error) *Error {
	if e := mapMessageError(err); e != nil {
		return e
	}
	if e := mapServiceError(err); e != nil {
		return e
	}
	var (
		rl  *auth.RateLimitError
		big *http.MaxBytesError
	)
	switch {
	case errors.As(err, &rl):
		e := newError(kindRateLimited, "too many attempts; try again later")
		e.retry = rl.RetryAfter
		return e
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrTokenReused):
		return newError(kindInvalidGrant, "the credentials or refresh token are not valid")
	case errors.Is(err, directory.ErrNotFound):
		return newError(kindNotFound, "not found")
	case errors.As(err, &big):
		return tooLarge(big.Limit)
	case errors.Is(err, http.ErrBodyReadAfterClose):
		return newError(kindBadRequest, "the request body could not be read")
	case unavailable(err):
		return &Error{kind: kindUnavailable, detail: "the service is temporarily unavailable; try again later", cause: err}
	default:
		return &Error{kind: kindInternal, detail: "an internal error occurred; quote the instance when reporting it", cause: err}
	}
}

// mapMessageError maps the errors of internal/message and compose, or returns nil.
func mapMessageError(err error) *Error {
	var (
		ext     *message.ExternalRecipientsError
		invalid *message.InvalidError
	)
	switch {
	case errors.As(err, &ext):
		return externalRecipients(ext.Addresses)
	case errors.As(err, &invalid):
		return newError(kindInvalidParameter, invalid.Field+": "+invalid.Reason).
			withFields(FieldProblem{Field: invalid.Field, Detail: invalid.Reason})
	case errors.Is(err, message.ErrNotFound):
		return newError(kindNotFound, "no such message")
	case errors.Is(err, message.ErrIdempotencyConflict):
		return newError(kindConflict, "this Idempotency-Key was used for a different request")
	case errors.Is(err, message.ErrTooManyRecipients):
		return newError(kindInvalidParameter, "the message has too many recipients").
			withFields(FieldProblem{Field: "recipients", Detail: "too many recipients"})
	case errors.Is(err, compose.ErrHeaderInjection):
		return newError(kindInvalidParameter, "header fields must not contain CR, LF or NUL")
	case errors.Is(err, compose.ErrInvalid):
		return newError(kindInvalidParameter, "the message cannot be written as given")
	case errors.Is(err, compose.ErrMalformed):
		return newError(kindBadRequest, "the message is not a well-formed RFC 5322 message")
	}
	return nil
}

// externalRecipients is the 422 answered until the external viewer route exists:
// nothing is sent, and every recipient outside the community is named.
func externalRecipients(addrs []string) *Error {
	e := newError(kindUnprocessable, "recipients outside the community cannot be reached yet; nothing was sent")
	for _, a := range addrs {
		e.fields = append(e.fields, FieldProblem{Field: "recipients", Detail: a})
	}
	return e
}

func isNotFound(err error) bool { return errors.Is(err, directory.ErrNotFound) }
