package api_test

import (
	"strings"
	"testing"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/detect"
	"github.com/veilig/veilig/internal/testenv"
)

func withDetector(t *testing.T) envOption {
	d, err := detect.New(detect.Pattern{Name: "dossier", Expr: `DOS-[0-9]{6}`})
	if err != nil {
		t.Fatal(err)
	}
	return func(o *api.Options, deps *api.Deps) { deps.Detector = d }
}

// TestDetect: the gateway check finds what the add-ins find, needs a token and
// refuses oversized text.
func TestDetect(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, c, withDetector(t))
		token := e.login(senderMail).AccessToken
		big := `{"text":"` + strings.Repeat("a", 600<<10) + `"}`
		tests := []struct {
			name, method, path, token, body string
			code                            int
			want                            string
		}{
			{"bsn and iban", "POST", "/api/v1/detect", token, `{"text":"BSN 111222333, IBAN NL91 ABNA 0417 1643 00"}`, 200,
				`"sensitive":true,"findings":[{"kind":"bsn","match":"111222333","index":4},{"kind":"iban","match":"NL91 ABNA 0417 1643 00","index":20}]`},
			{"configured pattern", "POST", "/api/v1/detect", token, `{"text":"zie DOS-123456"}`, 200, `"kind":"dossier"`},
			{"nothing", "POST", "/api/v1/detect", token, `{"text":"bel 06-12345678 op 12-03-2026"}`, 200, `"sensitive":false,"findings":[]`},
			{"no token", "POST", "/api/v1/detect", "", `{"text":"x"}`, 401, ``},
			{"too big", "POST", "/api/v1/detect", token, big, 413, ``},
			{"patterns", "GET", "/api/v1/detect/patterns", token, "", 200, `{"patterns":[{"name":"dossier","pattern":"DOS-[0-9]{6}"}]}`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := request{method: tc.method, path: tc.path, token: tc.token, body: tc.body}
				if tc.body != "" {
					r.contentType = "application/json"
				}
				rec := e.do(r)
				if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
					t.Errorf("%d %.300s, want %d containing %s", rec.Code, rec.Body, tc.code, tc.want)
				}
			})
		}
	})
}

// TestRevoke: signing out revokes the refresh token; an unknown token gets the
// same answer.
func TestRevoke(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, c)
		pair := e.login(senderMail)
		tests := []struct {
			name, path, body string
			code             int
		}{
			{"revoke", "/api/v1/auth/revoke", `{"token":"` + pair.RefreshToken + `"}`, 200},
			{"refresh after revoke", "/api/v1/auth/token", `{"grant_type":"refresh_token","refresh_token":"` + pair.RefreshToken + `"}`, 401},
			{"unknown token", "/api/v1/auth/revoke", `{"token":"not-a-token"}`, 200},
			{"no token", "/api/v1/auth/revoke", `{}`, 400},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rec := e.do(request{method: "POST", path: tc.path, body: tc.body, contentType: "application/json",
					skipRequestCheck: tc.code == 400})
				if rec.Code != tc.code {
					t.Errorf("%d %s, want %d", rec.Code, rec.Body, tc.code)
				}
			})
		}
	})
}
