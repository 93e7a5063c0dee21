package api

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/mailcheck"
)

// Enrolments is partner self-enrolment (issue 6 §1, §3; internal/enrolment.Service
// through an adapter). Public calls carry the status token handed out once by
// Create; errors wrap the sentinels of service_errors.go.
type Enrolments interface {
	Create(ctx context.Context, n NewEnrolment, clientIP string) (EnrolmentCreated, error)
	Get(ctx context.Context, id, statusToken string) (Enrolment, error)
	Verify(ctx context.Context, id, statusToken string) (Enrolment, error)
	Activate(ctx context.Context, id, statusToken, password string) error
	List(ctx context.Context, status string, limit, offset int) ([]Enrolment, error)
	Inspect(ctx context.Context, id string) (Enrolment, error)
	Approve(ctx context.Context, id, operatorID string) (Enrolment, error)
	Reject(ctx context.Context, id, operatorID, reason string) (Enrolment, error)
}

// NewEnrolment is a validated enrolment request; the fields mirror
// enrolment.NewEnrolment, so an adapter converts it with a type conversion.
type NewEnrolment struct {
	OrganisationName, KvK, OIN string
	Domains                    []string
	AdminName, AdminEmail      string
	AdminPhone                 string
}

// Challenge is the TXT record that proves control of a domain.
type Challenge struct{ Domain, Name, Value string }

// EnrolmentCreated is what Create hands out once.
type EnrolmentCreated struct {
	ID, StatusToken string
	Challenges      []Challenge
}

// EnrolmentDomain is one claimed domain and its progress.
type EnrolmentDomain struct {
	Name       string
	Challenge  Challenge
	VerifiedAt *time.Time
	Report     *mailcheck.Report
}

// Enrolment mirrors enrolment.Enrolment.
type Enrolment struct {
	ID, Status, OrganisationName, KvK, OIN, AdminName, AdminEmail, AdminPhone string
	Domains                                                                   []EnrolmentDomain
	OrganisationID                                                            string
	CreatedAt, UpdatedAt, ExpiresAt                                           time.Time
	DecidedAt                                                                 *time.Time
	DecidedBy, DecisionReason                                                 string
	Activated                                                                 bool // the first administrator has set a password
}

// Enrolment limits (issue 6 §1).
const (
	maxEnrolmentDomains = 20
	maxNameLen          = 200
	maxEmailLen         = 254
	maxDomainLen        = 253
	maxPasswordLen      = 1024
	minStatusTokenLen   = 16
	maxStatusTokenLen   = 256
	enrolmentTimeout    = 30 * time.Second
	verifyTimeout       = 3 * time.Minute // TXT lookups and the mail check of up to 20 domains
	statusRealm         = `Bearer realm="veilig-enrolment"`
)

var (
	kvkPattern   = regexp.MustCompile(`^[0-9]{8}$`)
	oinPattern   = regexp.MustCompile(`^[0-9]{20}$`)
	e164Pattern  = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	tokenPattern = regexp.MustCompile(`^[A-Za-z0-9._~+/=-]+$`)
	// domainPattern: LDH labels (IDNA A-labels), at least two, no trailing dot.
	domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

type enrolmentRequest struct {
	Organisation struct {
		Name string `json:"name"`
		KvK  string `json:"kvk"`
		OIN  string `json:"oin"`
	} `json:"organisation"`
	Domains []string `json:"domains"`
	Admin   struct {
		Name  string `json:"name"`
		Email string `json:"email"`
		Phone string `json:"phone"`
	} `json:"admin"`
}

type challengeView struct {
	Domain string `json:"domain"`
	Name   string `json:"name"`
	Value  string `json:"value"`
}

type createdView struct {
	ID          string          `json:"id"`
	StatusToken string          `json:"status_token"`
	Challenges  []challengeView `json:"challenges"`
}

// validate checks the shape the issue prescribes; the service checks again.
func (r enrolmentRequest) validate() (NewEnrolment, error) {
	var f []FieldProblem
	add := func(field, detail string) { f = append(f, FieldProblem{Field: field, Detail: detail}) }
	o := r.Organisation
	if !boundedText(o.Name, maxNameLen) {
		add("organisation.name", "required, at most 200 characters")
	}
	switch {
	case (o.KvK == "") == (o.OIN == ""):
		add("organisation", "give exactly one of kvk and oin")
	case o.KvK != "" && !kvkPattern.MatchString(o.KvK):
		add("organisation.kvk", "8 digits")
	case o.OIN != "" && !oinPattern.MatchString(o.OIN):
		add("organisation.oin", "20 digits")
	}
	domains, df := validDomains(r.Domains)
	f = append(f, df...)
	f = append(f, r.validateAdmin()...)
	if len(f) > 0 {
		return NewEnrolment{}, newError(kindValidation, "the enrolment fails validation").withFields(f...)
	}
	return NewEnrolment{OrganisationName: strings.TrimSpace(o.Name), KvK: o.KvK, OIN: o.OIN, Domains: domains,
		AdminName: strings.TrimSpace(r.Admin.Name), AdminEmail: strings.ToLower(r.Admin.Email), AdminPhone: r.Admin.Phone}, nil
}

func (r enrolmentRequest) validateAdmin() []FieldProblem {
	var f []FieldProblem
	if !boundedText(r.Admin.Name, maxNameLen) {
		f = append(f, FieldProblem{Field: "admin.name", Detail: "required, at most 200 characters"})
	}
	local, domain, ok := strings.Cut(strings.ToLower(r.Admin.Email), "@")
	if !ok || local == "" || len(r.Admin.Email) > maxEmailLen || !domainPattern.MatchString(domain) || !boundedText(local, 64) {
		f = append(f, FieldProblem{Field: "admin.email", Detail: "an e-mail address at one of the domains"})
	} else if !containsFold(r.Domains, domain) {
		f = append(f, FieldProblem{Field: "admin.email", Detail: "the address must be at one of the claimed domains"})
	}
	if !e164Pattern.MatchString(r.Admin.Phone) {
		f = append(f, FieldProblem{Field: "admin.phone", Detail: "E.164, e.g. +31612345678"})
	}
	return f
}

// validDomains lower-cases the domains and refuses duplicates and bad names.
func validDomains(in []string) ([]string, []FieldProblem) {
	if len(in) < 1 || len(in) > maxEnrolmentDomains {
		return nil, []FieldProblem{{Field: "domains", Detail: "1 to 20 domains"}}
	}
	out := make([]string, 0, len(in))
	var f []FieldProblem
	for _, d := range in {
		d = strings.ToLower(d)
		switch {
		case len(d) > maxDomainLen || !domainPattern.MatchString(d):
			f = append(f, FieldProblem{Field: "domains", Detail: "not a domain name (use IDNA A-labels): " + clip(d, 64)})
		case containsFold(out, d):
			f = append(f, FieldProblem{Field: "domains", Detail: "listed twice: " + d})
		default:
			out = append(out, d)
		}
	}
	return out, f
}

// boundedText: not blank, valid UTF-8, no control characters, at most max runes.
func boundedText(s string, max int) bool {
	if strings.TrimSpace(s) == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// createEnrolment is POST /api/v1/enrolments: no account needed; the service
// rate-limits per client and per domain (429 with Retry-After). The status
// token is in this answer only.
func (h *handlers) createEnrolment(c *gin.Context) {
	var req enrolmentRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	n, err := req.validate()
	if err != nil {
		_ = c.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), enrolmentTimeout)
	defer cancel()
	created, err := h.Enrolments.Create(ctx, n, c.ClientIP())
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Header("Location", "/api/v1/enrolments/"+created.ID)
	c.JSON(http.StatusCreated, toCreatedView(created))
}

func toCreatedView(cr EnrolmentCreated) createdView {
	out := createdView{ID: cr.ID, StatusToken: cr.StatusToken, Challenges: make([]challengeView, len(cr.Challenges))}
	for i, ch := range cr.Challenges {
		out.Challenges[i] = challengeView(ch)
	}
	return out
}

// statusToken reads the enrolment's status token from Authorization: Bearer
// (RFC 6750 §2.1; an opaque token, not a JWT). It is never logged.
func statusToken(c *gin.Context) (string, bool) {
	scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(token) < minStatusTokenLen ||
		len(token) > maxStatusTokenLen || !tokenPattern.MatchString(token) {
		c.Header("WWW-Authenticate", statusRealm)
		_ = c.Error(newError(kindUnauthorized, "send the status token as a bearer token"))
		return "", false
	}
	return token, true
}

// enrolmentID checks the path id's length; anything longer is unknown.
func enrolmentID(c *gin.Context) (string, bool) {
	id := c.Param("id")
	if id == "" || len(id) > maxOrgIDLen {
		_ = c.Error(newError(kindNotFound, noEnrolmentIs))
		return "", false
	}
	return id, true
}

const noEnrolmentIs = "no such enrolment"

// publicCall runs one status-token call and answers its error: a wrong token
// gets the WWW-Authenticate challenge, an unknown id the same 404 as ever.
func (h *handlers) publicCall(c *gin.Context, call func(ctx context.Context, id, token string) error) {
	h.publicCallWithin(c, enrolmentTimeout, call)
}

func (h *handlers) publicCallWithin(c *gin.Context, limit time.Duration, call func(ctx context.Context, id, token string) error) {
	id, ok := enrolmentID(c)
	if !ok {
		return
	}
	token, ok := statusToken(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), limit)
	defer cancel()
	if err := call(ctx, id, token); err != nil {
		h.enrolmentError(c, err)
	}
}

func (h *handlers) enrolmentError(c *gin.Context, err error) {
	e := asError(err)
	switch e.kind {
	case kindUnauthorized:
		c.Header("WWW-Authenticate", statusRealm+`, error="invalid_token"`)
	case kindNotFound:
		e.detail = noEnrolmentIs
	}
	_ = c.Error(e)
}

// getEnrolment is GET /api/v1/enrolments/{id}: progress and check reports.
func (h *handlers) getEnrolment(c *gin.Context) {
	h.publicCall(c, func(ctx context.Context, id, token string) error {
		e, err := h.Enrolments.Get(ctx, id, token)
		if err == nil {
			c.JSON(http.StatusOK, toEnrolmentView(forApplicant(e), false))
		}
		return err
	})
}

// verifyEnrolment is POST /api/v1/enrolments/{id}/verify: the TXT challenges
// are looked up and, when found, the domains' mail set-up is checked.
func (h *handlers) verifyEnrolment(c *gin.Context) {
	h.publicCallWithin(c, verifyTimeout, func(ctx context.Context, id, token string) error {
		e, err := h.Enrolments.Verify(ctx, id, token)
		if err == nil {
			c.JSON(http.StatusOK, toEnrolmentView(forApplicant(e), false))
		}
		return err
	})
}

type passwordRequest struct {
	Password string `json:"password"`
}

// activateEnrolment is POST /api/v1/enrolments/{id}/activate: after approval
// the first administrator chooses a password (204).
func (h *handlers) activateEnrolment(c *gin.Context) {
	var req passwordRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if req.Password == "" || len(req.Password) > maxPasswordLen {
		_ = c.Error(newError(kindValidation, "password is required").
			withFields(FieldProblem{Field: "password", Detail: "required, at most 1024 bytes"}))
		return
	}
	h.publicCall(c, func(ctx context.Context, id, token string) error {
		err := h.Enrolments.Activate(ctx, id, token, req.Password)
		if err == nil {
			c.Status(http.StatusNoContent)
		}
		return err
	})
}

// enrolmentReport is GET /api/v1/enrolments/{id}/report: the domains' check
// reports as JSON, or one domain's (?domain=, default the first) as an HTML
// page for Accept: text/html.
func (h *handlers) enrolmentReport(c *gin.Context) {
	h.publicCall(c, func(ctx context.Context, id, token string) error {
		e, err := h.Enrolments.Get(ctx, id, token)
		if err != nil {
			return err
		}
		out := reportList{Reports: []mailcheck.Report{}}
		for _, d := range e.Domains {
			if d.Report != nil {
				out.Reports = append(out.Reports, withoutDetail(*d.Report))
			}
		}
		h.writeReports(c, out.Reports, out)
		return nil
	})
}

type reportList struct {
	Reports []mailcheck.Report `json:"reports"`
}

// forApplicant returns e with its reports' error causes withheld
// (withoutDetail); e itself is left as it is.
func forApplicant(e Enrolment) Enrolment {
	domains := make([]EnrolmentDomain, len(e.Domains))
	for i, d := range e.Domains {
		if d.Report != nil {
			r := withoutDetail(*d.Report)
			d.Report = &r
		}
		domains[i] = d
	}
	e.Domains = domains
	return e
}
