package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads one JSON object into dst: application/json only (415), unknown
// fields and trailing data rejected (400, no mass assignment), oversize bodies 413.
func decodeJSON(c *gin.Context, dst any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return newError(kindUnsupportedMedia, "send the body as application/json")
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	var tooBig *http.MaxBytesError
	switch err := dec.Decode(&struct{}{}); {
	case errors.As(err, &tooBig):
		return newError(kindTooLarge, "the request body is too large")
	case !errors.Is(err, io.EOF):
		return newError(kindBadRequest, "the body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var (
		tooBig    *http.MaxBytesError
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return newError(kindTooLarge, "the request body is too large")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return newError(kindBadRequest, "the body is not valid JSON")
	case errors.As(err, &typeError):
		return newError(kindBadRequest, "a field has the wrong type").
			withFields(FieldProblem{Field: typeError.Field, Detail: "expected " + typeError.Type.String()})
	default:
		// json's own message for unknown fields names only the field.
		return newError(kindBadRequest, err.Error())
	}
}
