package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestCancelledRequestIsNotAServerError: a handler failing because its client
// went away is logged at info, not as an internal error; a real failure still is.
func TestCancelledRequestIsNotAServerError(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		cancelled bool
		code      int
		errorLine bool
	}{
		{"client gone", fmt.Errorf("store: %w", context.Canceled), true, statusClientClosed, false},
		{"internal", fmt.Errorf("store: disk on fire"), false, 500, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			r := gin.New()
			r.Use(renderErrors(slog.New(slog.NewTextHandler(&logs, nil))))
			r.GET("/x", func(c *gin.Context) { _ = c.Error(tc.err) })
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancelled {
				cancel()
			}
			defer cancel()
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil).WithContext(ctx))
			if rec.Code != tc.code || strings.Contains(logs.String(), "level=ERROR") != tc.errorLine {
				t.Fatalf("status %d, log %q; want %d, error line %v", rec.Code, logs.String(), tc.code, tc.errorLine)
			}
		})
	}
}
