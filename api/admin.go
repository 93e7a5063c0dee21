package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/auth"
)

// EventLog lists what the monitor saw happen to community domains (issue 6 §5;
// trust.Store.Events through an adapter).
type EventLog interface {
	Events(ctx context.Context, since time.Time, limit int) ([]MonitorEvent, error)
}

// MonitorEvent mirrors trust.Event, so an adapter converts it with a type conversion.
type MonitorEvent struct {
	ID                                   int64
	Domain, OrganisationID, Kind, Detail string
	CreatedAt                            time.Time
}

// Operator listing limits.
const (
	defaultAdminLimit = 50
	maxAdminLimit     = 100
	maxAdminOffset    = 100000
	defaultEventLimit = 100
	maxEventLimit     = 500
	adminTimeout      = 10 * time.Second
	maxReasonLen      = 1000
)

var enrolmentStatuses = map[string]bool{"": true, "pending": true, "verified": true, "approved": true,
	"rejected": true, "expired": true}

// operatorOnly refuses everyone but operators with 403: the routes are public
// knowledge (openapi.yaml), so hiding them would protect nothing, and no
// per-resource answer is given before the role is checked. API keys never
// administer anything.
func operatorOnly() gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		if p.IsAPIKey() || p.Role != auth.RoleOperator {
			_ = c.Error(newError(kindForbidden, "only operators may do this"))
			c.Abort()
			return
		}
		c.Next()
	}
}

// intQuery reads an optional integer query parameter within [min, max].
func intQuery(c *gin.Context, name string, def, min, max int) (int, error) {
	s, ok := c.GetQuery(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, newError(kindInvalidParameter, name+" is an integer from "+strconv.Itoa(min)+" to "+strconv.Itoa(max)).
			withFields(FieldProblem{Field: name, Detail: strconv.Itoa(min) + "–" + strconv.Itoa(max)})
	}
	return n, nil
}

type enrolmentList struct {
	Enrolments []enrolmentView `json:"enrolments"`
}

// listEnrolments is GET /api/v1/admin/enrolments?status=&limit=&offset=.
func (h *handlers) listEnrolments(c *gin.Context) {
	status := c.Query("status")
	limit, err := intQuery(c, "limit", defaultAdminLimit, 1, maxAdminLimit)
	if err != nil {
		_ = c.Error(err)
		return
	}
	offset, err := intQuery(c, "offset", 0, 0, maxAdminOffset)
	if err == nil && !enrolmentStatuses[status] {
		err = newError(kindInvalidParameter, "status is pending, verified, approved, rejected or expired").
			withFields(FieldProblem{Field: "status", Detail: "pending, verified, approved, rejected or expired"})
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), adminTimeout)
	defer cancel()
	list, err := h.Enrolments.List(ctx, status, limit, offset)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := enrolmentList{Enrolments: make([]enrolmentView, len(list))}
	for i, e := range list {
		out.Enrolments[i] = toEnrolmentView(e, true)
	}
	c.JSON(http.StatusOK, out)
}

// adminCall runs one operator call on the enrolment in the path.
func (h *handlers) adminCall(c *gin.Context, call func(ctx context.Context, id string) (Enrolment, error)) {
	id, ok := enrolmentID(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), enrolmentTimeout)
	defer cancel()
	e, err := call(ctx, id)
	if err != nil {
		h.enrolmentError(c, err)
		return
	}
	c.JSON(http.StatusOK, toEnrolmentView(e, true))
}

// inspectEnrolment is GET /api/v1/admin/enrolments/{id}.
func (h *handlers) inspectEnrolment(c *gin.Context) {
	h.adminCall(c, h.Enrolments.Inspect)
}

// approveEnrolment is POST /api/v1/admin/enrolments/{id}/approve: 409 unless
// every domain is verified.
func (h *handlers) approveEnrolment(c *gin.Context) {
	op := principal(c).UserID
	h.adminCall(c, func(ctx context.Context, id string) (Enrolment, error) {
		return h.Enrolments.Approve(ctx, id, op)
	})
}

type rejectRequest struct {
	Reason string `json:"reason"`
}

// rejectEnrolment is POST /api/v1/admin/enrolments/{id}/reject {reason}.
func (h *handlers) rejectEnrolment(c *gin.Context) {
	var req rejectRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if !boundedText(req.Reason, maxReasonLen) {
		_ = c.Error(newError(kindValidation, "reason is required").
			withFields(FieldProblem{Field: "reason", Detail: "required, at most 1000 characters"}))
		return
	}
	op := principal(c).UserID
	h.adminCall(c, func(ctx context.Context, id string) (Enrolment, error) {
		return h.Enrolments.Reject(ctx, id, op, req.Reason)
	})
}

type eventView struct {
	ID             int64     `json:"id"`
	Domain         string    `json:"domain"`
	OrganisationID string    `json:"organisation_id"`
	Kind           string    `json:"kind"`
	Detail         string    `json:"detail"`
	CreatedAt      time.Time `json:"created_at"`
}

type eventList struct {
	Events []eventView `json:"events"`
}

// listEvents is GET /api/v1/admin/events?since=<RFC 3339>&limit=: monitoring
// events (downgrades, recoveries), newest first as the store returns them.
func (h *handlers) listEvents(c *gin.Context) {
	limit, err := intQuery(c, "limit", defaultEventLimit, 1, maxEventLimit)
	if err != nil {
		_ = c.Error(err)
		return
	}
	var since time.Time
	if s, ok := c.GetQuery("since"); ok {
		if since, err = time.Parse(time.RFC3339, s); err != nil {
			_ = c.Error(newError(kindInvalidParameter, "since is an RFC 3339 date-time").
				withFields(FieldProblem{Field: "since", Detail: "RFC 3339 date-time"}))
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), adminTimeout)
	defer cancel()
	evs, err := h.Events.Events(ctx, since, limit)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := eventList{Events: make([]eventView, len(evs))}
	for i, e := range evs {
		out.Events[i] = eventView(e)
	}
	c.JSON(http.StatusOK, out)
}
