package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/testenv"
)

// BenchmarkSearchRequest is one autocomplete request through the whole router
// (request id, auth with a cached token, metrics, search, JSON), without the
// network: the server-side cost per keystroke.
func BenchmarkSearchRequest(b *testing.B) {
	db := testenv.DB(b, database.SQLite)
	e := newEnv(b, db, loadContract(b))
	token := e.login(senderMail).AccessToken
	req := httptest.NewRequest(http.MethodGet, "/api/v1/directory/search?q=gem&limit=10", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.RemoteAddr = "192.0.2.10:51000"
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
