package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/testenv"
)

// internalCause is the kind of error an incomplete check carries: it names
// the resolver and the addresses probed.
const internalCause = "mailcheck: lookup failed: SMTP 10.0.0.5:25 connect: dial tcp 10.0.0.5:25: connection refused; read udp 127.0.0.53:53"

func incompleteReport(domain string) mailcheck.Report {
	r := passReport(domain)
	r.Status, r.Error = mailcheck.StatusError, internalCause
	return r
}

// brokenReports answers an incomplete report for every domain.
type brokenReports struct{}

func (brokenReports) Report(_ context.Context, domain string) (mailcheck.Report, error) {
	return incompleteReport(domain), nil
}

// TestReportErrorCauseWithheld: applicants and org-admins learn that a check
// was incomplete, not why (resolver and probed addresses are internal detail:
// an SSRF oracle otherwise); operators see the cause.
func TestReportErrorCauseWithheld(t *testing.T) {
	c := loadContract(t)
	testenv.ForEachDB(t, func(t *testing.T, db *database.DB) {
		x := newIssue6()
		e := newEnv(t, db, c, x.option(db), func(_ *api.Options, d *api.Deps) { d.Reports = brokenReports{} })
		if _, err := e.auth.Users().Create(context.Background(),
			auth.NewUser{Email: adminMail, Role: auth.RoleOrgAdmin, Password: password}); err != nil {
			t.Fatal(err)
		}
		r := incompleteReport("vallei.example")
		x.enrol.e.Status, x.enrol.e.Domains[0].VerifiedAt, x.enrol.e.Domains[0].Report = "verified", &checked, &r
		base := "/api/v1/enrolments/" + enrolID
		admin, op := e.login(adminMail).AccessToken, e.login(operatorMail).AccessToken
		cases := []struct {
			name  string
			req   request
			shown bool
		}{
			{"applicant progress", request{method: "GET", path: base, token: enrolToken}, false},
			{"applicant report", request{method: "GET", path: base + "/report", token: enrolToken}, false},
			{"org-admin report", request{method: "GET", path: "/api/v1/organisations/" + x.orgA + "/report", token: admin}, false},
			{"operator inspect", request{method: "GET", path: "/api/v1/admin/enrolments/" + enrolID, token: op}, true},
			{"operator organisation report", request{method: "GET", path: "/api/v1/organisations/" + x.orgA + "/report", token: op}, true},
		}
		for _, tc := range cases {
			rec := e.do(tc.req)
			body := rec.Body.String()
			if rec.Code != 200 || !strings.Contains(body, `"status":"error"`) {
				t.Errorf("%s: %d %s", tc.name, rec.Code, body)
				continue
			}
			if got := strings.Contains(body, "10.0.0.5") || strings.Contains(body, "127.0.0.53"); got != tc.shown {
				t.Errorf("%s: cause shown %v, want %v: %s", tc.name, got, tc.shown, body)
			}
			if !tc.shown && !strings.Contains(body, `"error":"the check could not be completed`) {
				t.Errorf("%s: no generic error: %s", tc.name, body)
			}
		}
		if x.enrol.e.Domains[0].Report.Error != internalCause {
			t.Errorf("the service's enrolment was changed: %q", x.enrol.e.Domains[0].Report.Error)
		}
	})
}
