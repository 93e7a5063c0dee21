package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/mailcheck"
)

// Pins lets operators pin a partner domain anew after confirming a change of
// its mail set-up (monitor.Monitor.Repin through an adapter). The adapter
// reports ErrNotFound for a domain without a pin, ErrPinWeaker for a domain
// offering less than its pin (or failing DNSSEC), ErrCheckIncomplete when the
// check could not run.
type Pins interface {
	Repin(ctx context.Context, domain string, acceptWeaker bool) (DomainPin, mailcheck.Report, error)
}

// DomainPin is the transport policy a partner domain is held to.
type DomainPin struct {
	Domain         string    `json:"domain"`
	OrganisationID string    `json:"organisation_id"`
	Policy         string    `json:"policy"` // dane | mta-sts | pkix
	MXHosts        []string  `json:"mx_hosts"`
	State          string    `json:"state"` // trusted | suspended
	NextCheckAt    time.Time `json:"next_check_at"`
}

type repinRequest struct {
	AcceptWeaker bool `json:"accept_weaker"`
}

type repinResponse struct {
	Pin    DomainPin        `json:"pin"`
	Report mailcheck.Report `json:"report"`
}

// repinTimeout bounds one re-pin: a full mail check of the domain.
const repinTimeout = 3 * time.Minute

// repin is POST /api/v1/admin/domains/{domain}/pin (operators): check the
// domain now and pin its transport policy and MX hosts as found. A weaker
// policy than the pinned one needs {"accept_weaker": true}; the body is
// optional.
func (h *handlers) repin(c *gin.Context) {
	domain := strings.ToLower(c.Param("domain"))
	if len(domain) > maxDomainLen || !domainPattern.MatchString(domain) {
		_ = c.Error(newError(kindInvalidParameter, "not a domain name (use IDNA A-labels)").
			withFields(FieldProblem{Field: "domain", Detail: "a domain name"}))
		return
	}
	var req repinRequest
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			_ = c.Error(err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), repinTimeout)
	defer cancel()
	pin, report, err := h.Pins.Repin(ctx, domain, req.AcceptWeaker)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, repinResponse{Pin: pin, Report: report})
}
