package api

import (
	"errors"
	"net/http"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
)

// mapDomainError maps the sentinel errors of the layers below to problem types.
// Anything unknown is an internal error: logged by renderErrors, never shown.
func mapDomainError(err error) *Error {
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		e := newError(kindRateLimited, "too many attempts; try again later")
		e.retry = rl.RetryAfter
		return e
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrTokenReused):
		return newError(kindInvalidGrant, "the credentials or refresh token are not valid")
	case errors.Is(err, directory.ErrNotFound):
		return newError(kindNotFound, "not found")
	case errors.Is(err, http.ErrBodyReadAfterClose):
		return newError(kindBadRequest, "the request body could not be read")
	default:
		return &Error{kind: kindInternal, detail: "an internal error occurred; quote the instance when reporting it", cause: err}
	}
}

func isNotFound(err error) bool { return errors.Is(err, directory.ErrNotFound) }
