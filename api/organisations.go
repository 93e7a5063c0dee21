package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/dkim"
)

// OrganisationReader finds one organisation with its domains (directory.Store);
// it returns directory.ErrNotFound for an unknown id.
type OrganisationReader interface {
	Organisation(ctx context.Context, id string) (directory.Organisation, error)
}

// DNSRecords tells which DNS records an organisation publishes so that receivers
// can check its mail: DKIM (RFC 6376) and an SPF include (RFC 7208) (dkim.Keys).
type DNSRecords interface {
	DNSRecords(ctx context.Context, orgID string, domains []string, spfInclude string) ([]dkim.DNSRecord, error)
}

const (
	dnsTimeout       = 10 * time.Second
	maxOrgIDLen      = 64
	noOrganisationIs = "no such organisation"
)

type dnsRecordView struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Value   string `json:"value"`
	Purpose string `json:"purpose"`
}

type dnsResponse struct {
	Organisation directory.OrgRef `json:"organisation"`
	Records      []dnsRecordView  `json:"records"`
}

// organisationDNS is GET /api/v1/organisations/{id}/dns, for an administrator of
// that organisation or an operator. Anyone else gets the same 404 as for an
// unknown id, so the route is no oracle of which organisations exist.
func (h *handlers) organisationDNS(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), dnsTimeout)
	defer cancel()
	recs, err := h.DKIM.DNSRecords(ctx, org.ID, org.Domains, h.opts.SPFInclude)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toDNSResponse(org, recs))
}

// mayAdminister: operators administer every organisation, org-admins their own.
func mayAdminister(p auth.Principal, orgID string) bool {
	return p.Role == auth.RoleOperator || (p.Role == auth.RoleOrgAdmin && p.OrganisationID != "" && p.OrganisationID == orgID)
}

func toDNSResponse(org directory.Organisation, recs []dkim.DNSRecord) dnsResponse {
	out := dnsResponse{Organisation: directory.OrgRef{ID: org.ID, Name: org.Name}, Records: make([]dnsRecordView, len(recs))}
	for i, r := range recs {
		out.Records[i] = dnsRecordView{Name: r.Name, Type: r.Type, Value: r.Value, Purpose: r.Purpose}
	}
	return out
}
