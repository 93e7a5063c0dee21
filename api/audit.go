package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/auth"
)

// AuditLog is the audit trail as the API reads it (audit.Trail).
type AuditLog interface {
	List(ctx context.Context, f audit.Filter) ([]audit.Stored, error)
	// Submitter is the user who submitted a message according to the trail.
	Submitter(ctx context.Context, messageID string) (string, error)
}

var _ AuditLog = (*audit.Trail)(nil)

const (
	auditTimeout      = 10 * time.Second
	defaultAuditLimit = 100
	maxAuditLimit     = 500
	maxAuditParamLen  = 256
)

// auditRoutes serves GET /api/v1/audit/events from log; nil serves nothing.
func auditRoutes(authed gin.IRoutes, log AuditLog) {
	if log != nil {
		authed.GET("/audit/events", auditEvents{log: log}.list)
	}
}

type auditEvents struct{ log AuditLog }

type auditPage struct {
	Events []audit.Stored `json:"events"`
	// NextAfter is the cursor of the next page (the after parameter); absent
	// on the last page.
	NextAfter *int64 `json:"next_after,omitempty"`
}

// list is GET /api/v1/audit/events. Who sees what (issue 7): operators every
// event; organisation administrators their organisation's; senders the events
// of a message they submitted (message=ID, ownership taken from the trail's
// own message.submitted event) and, without message, their own actions. API
// keys see nothing (403). Another organisation or message is a 404, as for an
// unknown one.
func (a auditEvents) list(c *gin.Context) {
	f, err := auditFilter(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), auditTimeout)
	defer cancel()
	if f, err = a.visible(ctx, principal(c), f); err != nil {
		_ = c.Error(err)
		return
	}
	want := f.Limit
	f.Limit++ // one more tells whether there is a next page
	events, err := a.log.List(ctx, f)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, page(events, want))
}

func page(events []audit.Stored, limit int) auditPage {
	if len(events) <= limit {
		return auditPage{Events: events}
	}
	next := events[limit-1].Seq
	return auditPage{Events: events[:limit], NextAfter: &next}
}

// visible narrows f to what p may see.
func (a auditEvents) visible(ctx context.Context, p auth.Principal, f audit.Filter) (audit.Filter, error) {
	switch {
	case p.IsAPIKey():
		return f, newError(kindForbidden, "API keys cannot read the audit trail")
	case p.Role == auth.RoleOperator:
		return f, nil
	case f.OrganisationID != "" && f.OrganisationID != p.OrganisationID:
		return f, newError(kindNotFound, noOrganisationIs)
	case p.OrganisationID == "":
		return f, newError(kindForbidden, "you may not read the audit trail")
	}
	f.OrganisationID = p.OrganisationID
	if p.Role == auth.RoleOrgAdmin {
		return f, nil
	}
	return a.senderView(ctx, p, f)
}

// senderView: a sender's own message's events, else their own actions.
func (a auditEvents) senderView(ctx context.Context, p auth.Principal, f audit.Filter) (audit.Filter, error) {
	if f.MessageID == "" {
		if f.ActorUserID != "" && f.ActorUserID != p.UserID {
			return f, newError(kindForbidden, "senders see the events of their own messages and actions only")
		}
		f.ActorUserID = p.UserID
		return f, nil
	}
	sender, err := a.log.Submitter(ctx, f.MessageID)
	if err != nil {
		return f, err
	}
	if sender == "" || sender != p.UserID {
		return f, newError(kindNotFound, "no such message")
	}
	return f, nil
}

// auditFilter reads the query parameters.
func auditFilter(c *gin.Context) (audit.Filter, error) {
	f := audit.Filter{OrganisationID: c.Query("organisation"), ObjectType: c.Query("object_type"),
		ObjectID: c.Query("object_id"), MessageID: c.Query("message"), ActorUserID: c.Query("actor"),
		Action: c.Query("action")}
	for _, p := range [...][2]string{{"organisation", f.OrganisationID}, {"object_type", f.ObjectType},
		{"object_id", f.ObjectID}, {"message", f.MessageID}, {"actor", f.ActorUserID}, {"action", f.Action}} {
		if len(p[1]) > maxAuditParamLen {
			return f, invalidParam(p[0], "at most 256 bytes")
		}
	}
	var err error
	if f.Limit, err = intQuery(c, "limit", defaultAuditLimit, 1, maxAuditLimit); err != nil {
		return f, err
	}
	if f.After, err = afterQuery(c); err != nil {
		return f, err
	}
	if f.Since, err = timeQuery(c, "since"); err != nil {
		return f, err
	}
	f.Until, err = timeQuery(c, "until")
	return f, err
}

func invalidParam(name, detail string) *Error {
	return newError(kindInvalidParameter, name+": "+detail).withFields(FieldProblem{Field: name, Detail: detail})
}

func afterQuery(c *gin.Context) (int64, error) {
	s, ok := c.GetQuery("after")
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, invalidParam("after", "a non-negative integer (next_after of the previous page)")
	}
	return n, nil
}

func timeQuery(c *gin.Context, name string) (time.Time, error) {
	s, ok := c.GetQuery(name)
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, invalidParam(name, "an RFC 3339 date-time")
	}
	return t, nil
}
