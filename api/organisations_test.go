package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/dkim"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/testenv"
)

// fakeDKIM answers one DKIM record per domain plus one SPF include.
type fakeDKIM struct {
	mu    sync.Mutex
	calls []string // "orgID domains spfInclude"
}

func (f *fakeDKIM) DNSRecords(_ context.Context, orgID string, domains []string, spf string) ([]dkim.DNSRecord, error) {
	f.mu.Lock()
	f.calls = append(f.calls, orgID+" "+strings.Join(domains, ",")+" "+spf)
	f.mu.Unlock()
	var out []dkim.DNSRecord
	for _, d := range domains {
		out = append(out, dkim.DNSRecord{Name: "veilig202611._domainkey." + d, Type: "TXT", Value: "v=DKIM1; k=rsa; p=MIIB", Purpose: "dkim"},
			dkim.DNSRecord{Name: d, Type: "TXT", Value: "v=spf1 include:" + spf + " -all", Purpose: "spf"})
	}
	return out, nil
}

func withDNS(store api.OrganisationReader, keys api.DNSRecords) envOption {
	return func(o *api.Options, d *api.Deps) {
		o.SPFInclude = "_spf.veilig.example"
		d.Organisations, d.DKIM = store, keys
	}
}

func TestOrganisationDNS(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		keys := &fakeDKIM{}
		e := newEnv(t, db, c, withDNS(directory.NewStore(db.DB, time.Now), keys))
		if _, err := e.auth.Users().Create(context.Background(), auth.NewUser{Email: adminMail, Role: auth.RoleOrgAdmin, Password: password}); err != nil {
			t.Fatal(err)
		}
		ede, utrecht := directory.OrganisationID("o2"), directory.OrganisationID("o1")
		admin, sender, operator := e.login(adminMail).AccessToken, e.login(senderMail).AccessToken, e.login(operatorMail).AccessToken
		tests := []struct {
			who, token, org string
			code            int
		}{
			{"admin of the organisation", admin, ede, 200},
			{"operator", operator, utrecht, 200},
			{"admin of another organisation", admin, utrecht, 404},
			{"sender of the organisation", sender, utrecht, 404},
			{"operator, unknown id", operator, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", 404},
			{"no token", "", ede, 401},
		}
		for _, tc := range tests {
			rec := e.do(request{method: "GET", path: "/api/v1/organisations/" + tc.org + "/dns", token: tc.token})
			if rec.Code != tc.code {
				t.Errorf("%s: %d %s, want %d", tc.who, rec.Code, rec.Body, tc.code)
			}
			if tc.code == 404 && !strings.Contains(rec.Body.String(), `"detail":"no such organisation"`) {
				t.Errorf("%s: the 404 differs from an unknown id's: %s", tc.who, rec.Body)
			}
		}
		rec := e.do(request{method: "GET", path: "/api/v1/organisations/" + ede + "/dns", token: admin})
		got := decode[dnsBody](t, rec)
		if got.Organisation.Name != "Gemeente Ede" || len(got.Records) != 2 || got.Records[0].Name != "veilig202611._domainkey.ede.example" {
			t.Errorf("records = %+v", got)
		}
		want := []string{ede + " ede.example _spf.veilig.example", utrecht + " utrecht.example _spf.veilig.example", ede + " ede.example _spf.veilig.example"}
		if diff := cmp.Diff(want, keys.calls); diff != "" {
			t.Errorf("DNSRecords calls (-want +got):\n%s", diff)
		}
	})
}

type dnsBody struct {
	Organisation directory.OrgRef
	Records      []struct{ Name, Type, Value, Purpose string }
}

// fakeTransport previews by domain; "slow.example" answers only after the
// request's deadline has passed and the test has ended.
type fakeTransport struct {
	mu      sync.Mutex
	calls   map[string]int
	release chan struct{}
}

func (f *fakeTransport) Preview(ctx context.Context, domain string) delivery.Transport {
	f.mu.Lock()
	f.calls[domain]++
	f.mu.Unlock()
	switch domain {
	case "ede.example":
		return delivery.Transport{Mode: "dane", Reason: "DNSSEC-signed TLSA records for every MX"}
	case "slow.utrecht.example":
		<-ctx.Done()
		<-f.release
		return delivery.Transport{Mode: "pkix", Reason: "too late"}
	default:
		return delivery.Transport{Mode: "unavailable", Reason: "no MX host answers STARTTLS"}
	}
}

func TestResolveTransport(t *testing.T) {
	c := loadContract(t)
	db := testenv.DB(t, database.SQLite)
	tr := &fakeTransport{calls: map[string]int{}, release: make(chan struct{})}
	t.Cleanup(func() { close(tr.release) })
	e := newEnv(t, db, c, func(o *api.Options, d *api.Deps) {
		o.PreviewTimeout = 2 * time.Second // the slow domain waits it out; the others must not, even on a loaded machine
		d.Transport = tr
	})
	token := e.login(senderMail).AccessToken
	rec := e.do(request{method: "POST", path: "/api/v1/recipients/resolve", token: token,
		body: `{"addresses":["jan.devries@ede.example","g.bakker@ede.example","x@sub.utrecht.example","y@slow.utrecht.example","iemand@gmail.com","kapot@@adres"]}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("resolve: %d %s", rec.Code, rec.Body)
	}
	var got []string
	for _, r := range decode[struct {
		Recipients []struct {
			Route     string
			Transport *struct{ Mode, Reason string }
		}
	}](t, rec).Recipients {
		s := r.Route
		if r.Transport != nil {
			s += "/" + r.Transport.Mode
		}
		got = append(got, s)
	}
	want := []string{"internal/dane", "internal/dane", "internal/unavailable", "internal/unavailable", "external", "invalid"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if !strings.Contains(rec.Body.String(), "did not finish in time") {
		t.Errorf("the slow domain is not reported as timed out: %s", rec.Body)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	domains := slices.Sorted(func(yield func(string) bool) {
		for d, n := range tr.calls {
			if n != 1 {
				t.Errorf("%s previewed %d times, want once", d, n)
			}
			if !yield(d) {
				return
			}
		}
	})
	if diff := cmp.Diff([]string{"ede.example", "slow.utrecht.example", "sub.utrecht.example"}, domains); diff != "" {
		t.Errorf("previewed domains (-want +got):\n%s", diff)
	}
}

// TestResolveWithoutTransport: with no delivery configured there is no
// "transport" member at all.
func TestResolveWithoutTransport(t *testing.T) {
	c := loadContract(t)
	e := newEnv(t, testenv.DB(t, database.SQLite), c)
	rec := e.do(request{method: "POST", path: "/api/v1/recipients/resolve", token: e.login(senderMail).AccessToken,
		body: `{"addresses":["jan.devries@ede.example"]}`})
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "transport") {
		t.Errorf("resolve without a preview: %d %s", rec.Code, rec.Body)
	}
}

// compactJSON re-encodes a JSON object with sorted keys.
func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func withSettings(db *database.DB) envOption {
	return func(o *api.Options, d *api.Deps) {
		d.Organisations = directory.NewStore(db.DB, time.Now)
		d.Settings = message.NewStore(db, time.Now, nil)
	}
}

// TestOrganisationSettings: administrators read and replace their
// organisation's settings; partial or out-of-range bodies are refused; anyone
// else gets 404.
func TestOrganisationSettings(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, c, withSettings(db))
		if _, err := e.auth.Users().Create(context.Background(), auth.NewUser{Email: adminMail, Role: auth.RoleOrgAdmin, Password: password}); err != nil {
			t.Fatal(err)
		}
		ede, utrecht := directory.OrganisationID("o2"), directory.OrganisationID("o1")
		admin, sender := e.login(adminMail).AccessToken, e.login(senderMail).AccessToken
		path := "/api/v1/organisations/" + ede + "/settings"
		full := `{"self_copy":false,"show_subject":true,"expiry_days":7,"notify_first_open":true,"sms_daily_cap":50,"email_code_allowed":true}`
		tests := []struct {
			name, method, path, token, body string
			code                            int
			want                            string
		}{
			{"defaults", "GET", path, admin, "", 200, `"email_code_allowed":false,"expiry_days":0,"notify_first_open":false,"self_copy":true,"show_subject":false,"sms_daily_cap":-1`},
			{"replace", "PUT", path, admin, full, 200, `"expiry_days":7`},
			{"read back", "GET", path, admin, "", 200, `"email_code_allowed":true,"expiry_days":7,"notify_first_open":true,"self_copy":false,"show_subject":true,"sms_daily_cap":50`},
			{"partial", "PUT", path, admin, `{"self_copy":true}`, 400, `"field":"show_subject"`},
			{"without email_code_allowed", "PUT", path, admin, strings.Replace(full, `,"email_code_allowed":true`, ``, 1), 400, `"field":"email_code_allowed"`},
			{"out of range", "PUT", path, admin, strings.Replace(full, `"expiry_days":7`, `"expiry_days":400`, 1), 400, `"field":"expiry_days"`},
			{"unknown field", "PUT", path, admin, strings.Replace(full, `{`, `{"admin":true,`, 1), 400, ``},
			{"another organisation", "GET", "/api/v1/organisations/" + utrecht + "/settings", admin, "", 404, ``},
			{"a sender", "GET", path, sender, "", 404, ``},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := request{method: tc.method, path: tc.path, token: tc.token, body: tc.body,
					skipRequestCheck: tc.code == 400} // bad bodies are outside the contract on purpose
				if tc.body != "" {
					r.contentType = "application/json"
				}
				rec := e.do(r)
				if rec.Code != tc.code || !strings.Contains(compactJSON(t, rec.Body.Bytes()), tc.want) {
					t.Errorf("%d %s, want %d containing %s", rec.Code, rec.Body, tc.code, tc.want)
				}
			})
		}
	})
}
