package e2e

// A partner's whole path, as README.md shows it: enrolment through the API,
// the DNS challenge, the mail-standards check, an operator's approval, the
// first administrator's activation, a sender invited, and secure mail both
// ways over DANE.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/testenv"
)

const (
	partnerAdmin  = "beheer@" + domainPartner
	partnerSender = "jansen@" + domainPartner
	operator      = "operator@veilig.test"
)

type enrolmentCreated struct {
	ID          string `json:"id"`
	StatusToken string `json:"status_token"`
	Challenges  []struct {
		Domain, Name, Value string
	} `json:"challenges"`
}

type enrolmentView struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	OrganisationID *string `json:"organisation_id"`
	Domains        []struct {
		Domain     string            `json:"domain"`
		VerifiedAt *time.Time        `json:"verified_at"`
		Report     *mailcheck.Report `json:"report"`
	} `json:"domains"`
}

// partnerPath runs the path; every step's answer is checked.
func (e *env) partnerPath(t *testing.T) {
	anon := testenv.NewAPIClient(e.srv.URL, "")
	created := e.enrol(t, anon)
	applicant := testenv.NewAPIClient(e.srv.URL, created.StatusToken)
	if status, _ := anon.Do(t, http.MethodGet, "/api/v1/enrolments/"+created.ID, "", nil, nil); status != http.StatusUnauthorized {
		t.Errorf("enrolment without the status token: %d, want 401", status)
	}
	e.challengeMissing(t, anon)
	e.publishChallenge(t, created)
	en := e.verify(t, applicant, created.ID)
	e.checkReportPage(t, applicant, created.ID)
	orgID := e.approve(t, created.ID)
	e.repin(t)
	body, _ := json.Marshal(map[string]string{"password": e.password})
	path := "/api/v1/enrolments/" + created.ID + "/activate"
	if status, raw := applicant.Do(t, http.MethodPost, path, "application/json", bytes.NewReader(body), nil); status != http.StatusNoContent {
		t.Fatalf("activate: %d %s", status, raw)
	}
	admin := testenv.Login(t, e.srv.URL, partnerAdmin, e.password)
	e.administer(t, admin, orgID, en)
	e.firstMessages(t, testenv.Login(t, e.srv.URL, partnerSender, e.password))
	t.Run("automatic admission", e.autoAdmission)
}

func (e *env) enrol(t *testing.T, anon *testenv.APIClient) enrolmentCreated {
	t.Helper()
	c := enrolDomain(t, anon, "Partner Zorg BV", domainPartner, partnerAdmin)
	// A domain of the community cannot be claimed.
	body := enrolmentBody("Indringer BV", domainDANE, "iemand@"+domainDANE)
	if status, raw := anon.Do(t, http.MethodPost, "/api/v1/enrolments", "application/json", bytes.NewReader(body), nil); status != http.StatusConflict {
		t.Errorf("claiming %s: %d %s, want 409", domainDANE, status, raw)
	}
	return c
}

func enrolmentBody(name, domain, admin string) []byte {
	body, _ := json.Marshal(map[string]any{
		"organisation": map[string]string{"name": name, "kvk": "12345678"},
		"domains":      []string{domain},
		"admin":        map[string]string{"name": "Bea Beheer", "email": admin, "phone": "+31612345678"},
	})
	return body
}

// enrolDomain creates an enrolment of one domain and checks its challenge.
func enrolDomain(t *testing.T, anon *testenv.APIClient, name, domain, admin string) enrolmentCreated {
	t.Helper()
	status, raw := anon.Do(t, http.MethodPost, "/api/v1/enrolments", "application/json",
		bytes.NewReader(enrolmentBody(name, domain, admin)), nil)
	var c enrolmentCreated
	if status != http.StatusCreated || json.Unmarshal(raw, &c) != nil || c.StatusToken == "" || len(c.Challenges) != 1 {
		t.Fatalf("POST /api/v1/enrolments: %d %s", status, raw)
	}
	if ch := c.Challenges[0]; ch.Domain != domain || ch.Name != "_veilig-challenge."+domain || ch.Value == "" {
		t.Fatalf("challenge %+v", ch)
	}
	return c
}

// challengeMissing: without the TXT record, verify finds nothing, checks
// nothing and leaves the enrolment pending.
func (e *env) challengeMissing(t *testing.T, anon *testenv.APIClient) {
	t.Helper()
	c := enrolDomain(t, anon, "Afwezig BV", "absent.test", "beheer@absent.test")
	applicant := testenv.NewAPIClient(e.srv.URL, c.StatusToken)
	status, raw := applicant.Do(t, http.MethodPost, "/api/v1/enrolments/"+c.ID+"/verify", "", nil, nil)
	var en enrolmentView
	if status != http.StatusOK || json.Unmarshal(raw, &en) != nil {
		t.Fatalf("verify without the TXT record: %d %s", status, raw)
	}
	if en.Status != "pending" || en.Domains[0].VerifiedAt != nil || en.Domains[0].Report != nil {
		t.Errorf("verify without the TXT record: %s; want pending, unverified, no report", raw)
	}
}

// publishChallenge is the partner adding the TXT record to its zone.
func (e *env) publishChallenge(t *testing.T, c enrolmentCreated) {
	t.Helper()
	e.publish(t, domainPartner, "reject", c)
}

func (e *env) publish(t *testing.T, domain, dmarc string, c enrolmentCreated) {
	t.Helper()
	records := append(e.lab.enrolRecords(t, domain, dmarc), `_veilig-challenge TXT "`+c.Challenges[0].Value+`"`)
	e.lab.dns.Update(t, domain, records)
}

// autoAdmission: a second serve process on the same database, with
// VEILIG_AUTO_ADMIT on, admits an enrolment whose check meets the default
// floor (DNSSEC + DANE, DMARC reject) as soon as it is verified, and leaves
// one with DMARC p=none for an operator.
func (e *env) autoAdmission(t *testing.T) {
	srv := e.v.Start(t, "serve-auto", map[string]string{"VEILIG_AUTO_ADMIT": "true"})
	defer srv.Stop()
	anon := testenv.NewAPIClient(srv.URL, "")
	for _, tc := range []struct {
		domain, dmarc, want string
	}{
		{domainAuto, "reject", "approved"},
		{domainWeak, "none", "verified"},
	} {
		c := enrolDomain(t, anon, "Auto "+tc.domain, tc.domain, "beheer@"+tc.domain)
		e.publish(t, tc.domain, tc.dmarc, c)
		applicant := testenv.NewAPIClient(srv.URL, c.StatusToken)
		status, raw := applicant.Do(t, http.MethodPost, "/api/v1/enrolments/"+c.ID+"/verify", "", nil, nil)
		var en enrolmentView
		if status != http.StatusOK || json.Unmarshal(raw, &en) != nil {
			t.Fatalf("verify %s: %d %s", tc.domain, status, raw)
		}
		if en.Status != tc.want || (en.OrganisationID != nil) != (tc.want == "approved") {
			t.Errorf("%s (DMARC p=%s): status %s, organisation %v; want %s", tc.domain, tc.dmarc, en.Status,
				en.OrganisationID, tc.want)
		}
	}
}

// verify asks Veilig to look the challenge up and check the domain.
func (e *env) verify(t *testing.T, applicant *testenv.APIClient, id string) enrolmentView {
	t.Helper()
	status, raw := applicant.Do(t, http.MethodPost, "/api/v1/enrolments/"+id+"/verify", "", nil, nil)
	var en enrolmentView
	if status != http.StatusOK || json.Unmarshal(raw, &en) != nil {
		t.Fatalf("verify: %d %s", status, raw)
	}
	if en.Status != "verified" || len(en.Domains) != 1 || en.Domains[0].VerifiedAt == nil || en.Domains[0].Report == nil {
		t.Fatalf("after verify: %s", raw)
	}
	r := en.Domains[0].Report
	if r.Status != mailcheck.StatusPass || r.Transport.Policy != mailcheck.PolicyDANE || !r.Transport.DNSSEC {
		t.Errorf("report: status %s, transport %+v; want pass over DANE with DNSSEC\n%s", r.Status, r.Transport, raw)
	}
	return en
}

func (e *env) checkReportPage(t *testing.T, applicant *testenv.APIClient, id string) {
	t.Helper()
	hdr := http.Header{"Accept": {"text/html"}, "Accept-Language": {"en"}}
	status, raw := applicant.Do(t, http.MethodGet, "/api/v1/enrolments/"+id+"/report", "", nil, hdr)
	if status != http.StatusOK || !bytes.Contains(raw, []byte(domainPartner)) || !bytes.Contains(raw, []byte("DANE")) {
		t.Errorf("HTML report: %d %.300s", status, raw)
	}
}

// approve is an operator admitting the enrolment; it returns the new
// organisation's id.
func (e *env) approve(t *testing.T, id string) string {
	t.Helper()
	op := testenv.Login(t, e.srv.URL, operator, e.password)
	status, raw := op.Do(t, http.MethodGet, "/api/v1/admin/enrolments?status=verified", "", nil, nil)
	if status != http.StatusOK || !bytes.Contains(raw, []byte(id)) {
		t.Fatalf("operator's list of verified enrolments: %d %s", status, raw)
	}
	status, raw = op.Do(t, http.MethodPost, "/api/v1/admin/enrolments/"+id+"/approve", "", nil, nil)
	var en enrolmentView
	if status != http.StatusOK || json.Unmarshal(raw, &en) != nil || en.Status != "approved" || en.OrganisationID == nil {
		t.Fatalf("approve: %d %s", status, raw)
	}
	return *en.OrganisationID
}

// repin: an operator pins the admitted partner anew (a fresh check through
// the real resolver and MX); a directory-synced domain has no pin.
func (e *env) repin(t *testing.T) {
	t.Helper()
	op := testenv.Login(t, e.srv.URL, operator, e.password)
	status, raw := op.Do(t, http.MethodPost, "/api/v1/admin/domains/"+domainPartner+"/pin", "", nil, nil)
	var out struct {
		Pin struct {
			Policy, State string
			MXHosts       []string `json:"mx_hosts"`
		}
		Report mailcheck.Report
	}
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.Pin.Policy != "dane" ||
		out.Pin.State != "trusted" || len(out.Pin.MXHosts) == 0 || out.Report.Domain != domainPartner {
		t.Fatalf("re-pin %s: %d %.500s", domainPartner, status, raw)
	}
	if status, raw := op.Do(t, http.MethodPost, "/api/v1/admin/domains/"+domainDANE+"/pin", "", nil, nil); status != http.StatusNotFound {
		t.Errorf("re-pin of a domain without a pin: %d %.300s, want 404", status, raw)
	}
}

// administer: the partner's administrator sees its report and DNS records,
// invites a sender who sets a password, and cannot see another organisation.
func (e *env) administer(t *testing.T, admin *testenv.APIClient, orgID string, en enrolmentView) {
	t.Helper()
	org := "/api/v1/organisations/" + url.PathEscape(orgID)
	if status, raw := admin.Do(t, http.MethodGet, org+"/report", "", nil, nil); status != http.StatusOK ||
		!bytes.Contains(raw, []byte(domainPartner)) {
		t.Errorf("organisation report: %d %.300s", status, raw)
	}
	if recs := txtRecords(t, admin, orgID); len(recs) == 0 {
		t.Error("no DNS records to publish")
	}
	body, _ := json.Marshal(map[string]string{"email": partnerSender, "role": "sender"})
	status, raw := admin.Do(t, http.MethodPost, org+"/users", "application/json", bytes.NewReader(body), nil)
	var inv struct {
		InvitationToken string `json:"invitation_token"`
	}
	if status != http.StatusCreated || json.Unmarshal(raw, &inv) != nil || inv.InvitationToken == "" {
		t.Fatalf("invite: %d %s", status, raw)
	}
	body, _ = json.Marshal(map[string]string{"token": inv.InvitationToken, "password": e.password})
	anon := testenv.NewAPIClient(e.srv.URL, "")
	if status, raw := anon.Do(t, http.MethodPost, "/api/v1/auth/invitations/accept", "application/json", bytes.NewReader(body), nil); status != http.StatusNoContent {
		t.Fatalf("accept invitation: %d %s", status, raw)
	}
	other := "/api/v1/organisations/" + url.PathEscape(e.orgID)
	for _, path := range []string{other + "/users", other + "/report", other + "/settings", other + "/api-keys"} {
		if status, _ := admin.Do(t, http.MethodGet, path, "", nil, nil); status != http.StatusNotFound {
			t.Errorf("partner admin GET %s: %d, want 404", strings.Replace(path, e.orgID, "<sender org>", 1), status)
		}
	}
}

// firstMessages: Alice's message to the partner arrives over DANE-EE, and the
// partner's new sender answers securely.
func (e *env) firstMessages(t *testing.T, partner *testenv.APIClient) {
	t.Helper()
	rcpt := "zorg@" + domainPartner
	// Every process reloads its view of the directory within VEILIG_INDEX_REFRESH.
	testenv.WaitFor(t, 30*time.Second, rcpt+" resolved as internal", func() (bool, string) {
		body, _ := json.Marshal(map[string][]string{"addresses": {rcpt}})
		status, raw := e.alice.Do(t, http.MethodPost, "/api/v1/recipients/resolve", "application/json", bytes.NewReader(body), nil)
		return status == http.StatusOK && bytes.Contains(raw, []byte(`"route":"internal"`)), string(raw)
	})
	acc := e.alice.Submit(t, testenv.Draft{To: []string{rcpt}, Subject: "Welkom in de community", Text: "Welkom!\n"})
	if acc.Recipients[0].Route != "internal" {
		t.Fatalf("route to %s: %+v, want internal", rcpt, acc.Recipients[0])
	}
	m := e.alice.WaitRecipient(t, acc.ID, rcpt, "to", "delivered", deliveryWait)
	r, _ := m.Recipient(rcpt, "to")
	checkEvidence(t, lastAttempt(t, r), testenv.AttemptView{MX: "mx." + domainPartner, IP: "127.0.0.25", Policy: "dane-ee",
		TLSAMatch: "3 1 1", Code: 250, Outcome: "delivered"})
	arrivedOnce(t, e.lab.partner, rcpt, m.MessageID)

	reply := partner.Submit(t, testenv.Draft{To: []string{alice}, Subject: "Re: Welkom in de community", Text: "Dank!\n"})
	m = partner.WaitRecipient(t, reply.ID, alice, "to", "delivered", deliveryWait)
	arrivedOnce(t, e.lab.sender, alice, m.MessageID)
}
