package e2e

// Two serve processes behind one PostgreSQL, as docs/scaling.md describes:
// they share the deliveries (each message delivered once), the sign-in rate
// limits (counted in the database, not per process) and the token families
// (a refresh token rotated on one is known spent on the other).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/testenv"
)

const limitedUser = "beperkt@" + domainSender

// twoServers runs the three checks against serve-1 and a second process.
func (e *env) twoServers(t *testing.T) {
	e.v.Run(t, e.password+"\n", "user", "add", "--email", limitedUser, "--role", "sender", "--password-stdin")
	other := e.v.Start(t, "serve-2", nil)
	defer other.Stop()
	servers := []string{e.srv.URL, other.URL}
	t.Run("deliveries shared", func(t *testing.T) { e.sharedDeliveries(t, servers) })
	t.Run("sign-in limits shared", func(t *testing.T) { sharedLimits(t, servers, e.password) })
	t.Run("refresh token family shared", func(t *testing.T) { sharedRefresh(t, servers, e.password) })
}

// sharedDeliveries submits messages alternately to both processes; every one
// is delivered exactly once.
func (e *env) sharedDeliveries(t *testing.T, servers []string) {
	const n = 12
	rcpt := "gedeeld@" + domainDANE
	clients := []*testenv.APIClient{testenv.Login(t, servers[0], alice, e.password), testenv.Login(t, servers[1], alice, e.password)}
	ids := make([]string, n)
	for i := range n {
		acc := clients[i%2].Submit(t, testenv.Draft{To: []string{rcpt}, Subject: fmt.Sprintf("Gedeeld %d", i), Text: "Eén keer.\n"})
		ids[i] = acc.ID
	}
	for i, id := range ids {
		m := clients[(i+1)%2].WaitRecipient(t, id, rcpt, "to", "delivered", deliveryWait)
		arrivedOnce(t, e.lab.ee, rcpt, m.MessageID)
	}
	for i, id := range ids { // a late duplicate would show up by now
		m := clients[i%2].Message(t, id)
		if got := delivered(t, e.lab.ee, rcpt, m.MessageID); len(got) != 1 {
			t.Errorf("message %d arrived %d times, want once", i, len(got))
		}
	}
}

// sharedLimits: five wrong passwords spread over both processes use up the
// account's free failures; the sixth, on either, is refused with 429.
func sharedLimits(t *testing.T, servers []string, password string) {
	for i := range 5 {
		if status, raw := grant(t, servers[i%2], limitedUser, "wrong-"+password); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d on server %d: %d %s, want 401", i+1, i%2+1, status, raw)
		}
	}
	for i, base := range servers {
		if status, raw := grant(t, base, limitedUser, "wrong-"+password); status != http.StatusTooManyRequests {
			t.Errorf("sixth failure on server %d: %d %s, want 429 (limits counted across processes)", i+1, status, raw)
		}
	}
}

// sharedRefresh: a refresh token rotated on server 2 is spent on server 1 as
// well; presenting it again revokes the family, so server 2's new token dies too.
func sharedRefresh(t *testing.T, servers []string, password string) {
	first := tokenPair(t, servers[0], map[string]string{"grant_type": "password", "username": alice, "password": password})
	second := tokenPair(t, servers[1], map[string]string{"grant_type": "refresh_token", "refresh_token": first.Refresh})
	if status, raw := post(t, servers[0], map[string]string{"grant_type": "refresh_token", "refresh_token": first.Refresh}); status != http.StatusUnauthorized {
		t.Fatalf("reused refresh token on server 1: %d %s, want 401", status, raw)
	}
	if status, raw := post(t, servers[1], map[string]string{"grant_type": "refresh_token", "refresh_token": second.Refresh}); status != http.StatusUnauthorized {
		t.Errorf("the rotated token after reuse on server 2: %d %s, want 401 (family revoked)", status, raw)
	}
}

type pair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func tokenPair(t *testing.T, base string, form map[string]string) pair {
	t.Helper()
	status, raw := post(t, base, form)
	var p pair
	if status != http.StatusOK || json.Unmarshal(raw, &p) != nil || p.Refresh == "" {
		t.Fatalf("token grant %s: %d %s", form["grant_type"], status, raw)
	}
	return p
}

func grant(t *testing.T, base, user, password string) (int, []byte) {
	t.Helper()
	return post(t, base, map[string]string{"grant_type": "password", "username": user, "password": password})
}

func post(t *testing.T, base string, form map[string]string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(form)
	c := testenv.NewAPIClient(base, "")
	status, raw := c.Do(t, http.MethodPost, "/api/v1/auth/token", "application/json", bytes.NewReader(body), nil)
	return status, []byte(strings.TrimSpace(string(raw)))
}
