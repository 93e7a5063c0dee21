package e2e

// What the suite reads of the HTTP API beyond testenv.APIClient.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/testenv"
)

// txtRecords reads GET /api/v1/organisations/{id}/dns into name → TXT values.
func txtRecords(t *testing.T, c *testenv.APIClient, orgID string) map[string][]string {
	t.Helper()
	status, raw := c.Do(t, http.MethodGet, "/api/v1/organisations/"+url.PathEscape(orgID)+"/dns", "", nil, nil)
	var resp struct {
		Records []struct{ Name, Type, Value, Purpose string } `json:"records"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &resp) != nil {
		t.Fatalf("GET organisation DNS: %d %s", status, raw)
	}
	out := map[string][]string{}
	for _, r := range resp.Records {
		if r.Type == "TXT" {
			name := strings.ToLower(strings.TrimSuffix(r.Name, "."))
			out[name] = append(out[name], r.Value)
		}
	}
	return out
}
