package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// failingVerifier refuses "bad" and cannot answer for "down" (the database is
// unreachable); anything else goes to the real service.
type failingVerifier struct{ api.TokenVerifier }

func (f failingVerifier) Verify(ctx context.Context, token string) (auth.Principal, error) {
	switch token {
	case "bad":
		return auth.Principal{}, fmt.Errorf("%w: signature", auth.ErrInvalidToken)
	case "down":
		return auth.Principal{}, fmt.Errorf("auth: live check: %w",
			&net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connection refused")})
	}
	return f.TokenVerifier.Verify(ctx, token)
}

// TestAuthenticateTellsRefusalFromOutage: a token the service refuses is 401
// with a challenge; a service that cannot answer is 503, not a reason for the
// client to drop its token.
func TestAuthenticateTellsRefusalFromOutage(t *testing.T) {
	c := loadContract(t)
	e := newEnv(t, testenv.DB(t, database.SQLite), c, func(_ *api.Options, d *api.Deps) {
		d.Tokens = failingVerifier{d.Tokens}
	})
	for _, tc := range []struct {
		token     string
		status    int
		typ       string
		challenge bool
	}{
		{"bad", http.StatusUnauthorized, "unauthorized", true},
		{"down", http.StatusServiceUnavailable, "unavailable", false},
		{e.login(senderMail).AccessToken, http.StatusOK, "", false},
	} {
		rec := e.do(request{method: "GET", path: "/api/v1/directory/search?q=ede", token: tc.token})
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.typ) ||
			(rec.Header().Get("WWW-Authenticate") != "") != tc.challenge || strings.Contains(rec.Body.String(), "refused") {
			t.Errorf("token %.8s: %d %s (WWW-Authenticate %q), want %d %s", tc.token, rec.Code, rec.Body,
				rec.Header().Get("WWW-Authenticate"), tc.status, tc.typ)
		}
	}
}
