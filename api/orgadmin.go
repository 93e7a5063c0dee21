package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/mailcheck"
)

// OrgUsers manages an organisation's people (issue 6 §4; auth.Users). Calls
// naming a user of another organisation fail with auth.ErrUserNotFound, as for
// an unknown id.
type OrgUsers interface {
	ListOrganisation(ctx context.Context, orgID string) ([]auth.User, error)
	Invite(ctx context.Context, orgID, email string, role auth.Role) (auth.User, string, error)
	DisableInOrganisation(ctx context.Context, orgID, userID string) error
	AcceptInvitation(ctx context.Context, token, password string) error
}

// APIKeyStore keeps machine clients' API keys (auth.APIKeys). Create fails
// with auth.ErrUserNotFound for a user outside orgID; Revoke with
// auth.ErrNotFound for another organisation's key.
type APIKeyStore interface {
	Create(ctx context.Context, orgID, userID, name string, scopes []string) (auth.APIKey, string, error)
	List(ctx context.Context, orgID string) ([]auth.APIKey, error)
	Revoke(ctx context.Context, orgID, id string) error
}

var (
	_ APIKeyStore = (*auth.APIKeys)(nil)
	_ OrgUsers    = (*auth.Users)(nil)
)

// DomainReports returns a domain's latest check report (trust.Store.Report
// through an adapter); a domain never checked is an error wrapping ErrNotFound.
type DomainReports interface {
	Report(ctx context.Context, domain string) (mailcheck.Report, error)
}

const (
	maxUserIDLen    = 64
	maxKeyNameLen   = 100
	orgAdminTimeout = 10 * time.Second
	noUserIs        = "no such user"
	noKeyIs         = "no such API key"
)

// noAPIKeys refuses API-key principals (403): machine clients never administer.
func noAPIKeys() gin.HandlerFunc {
	return func(c *gin.Context) {
		if principal(c).IsAPIKey() {
			_ = c.Error(newError(kindForbidden, "API keys cannot administer organisations"))
			c.Abort()
			return
		}
		c.Next()
	}
}

// administered returns the path's organisation when the principal may
// administer it and it exists; anyone else gets the 404 of an unknown id.
func (h *handlers) administered(c *gin.Context) (directory.Organisation, bool) {
	id := c.Param("id")
	if !mayAdminister(principal(c), id) || len(id) > maxOrgIDLen {
		_ = c.Error(newError(kindNotFound, noOrganisationIs))
		return directory.Organisation{}, false
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	org, err := h.Organisations.Organisation(ctx, id)
	if isNotFound(err) || (err == nil && org.Status == directory.StatusRemoved) {
		err = newError(kindNotFound, noOrganisationIs)
	}
	if err != nil {
		_ = c.Error(err)
		return directory.Organisation{}, false
	}
	return org, true
}

// notFoundAs renames a 404 so it reads like the route's own unknown id.
func notFoundAs(err error, detail string) error {
	e := asError(err)
	if e.kind == kindNotFound {
		return newError(kindNotFound, detail).withCause(err)
	}
	return e
}

type userView struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Role        string    `json:"role"`
	Disabled    bool      `json:"disabled"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
}

func toUserView(u auth.User) userView {
	return userView{ID: u.ID, Email: u.Email, Role: string(u.Role), Disabled: u.Disabled,
		HasPassword: u.HasPassword, CreatedAt: u.CreatedAt}
}

// listUsers is GET /api/v1/organisations/{id}/users.
func (h *handlers) listUsers(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	users, err := h.Users.ListOrganisation(ctx, org.ID)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := struct {
		Users []userView `json:"users"`
	}{Users: make([]userView, len(users))}
	for i, u := range users {
		out.Users[i] = toUserView(u)
	}
	c.JSON(http.StatusOK, out)
}

type inviteRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

type invitedView struct {
	User            userView `json:"user"`
	InvitationToken string   `json:"invitation_token"`
}

// inviteUser is POST /api/v1/organisations/{id}/users {email, role}: the
// invitation token is in this answer only; the invitee accepts it at POST
// /api/v1/auth/invitations/accept.
func (h *handlers) inviteUser(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	var req inviteRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	role := auth.Role(req.Role)
	if role != auth.RoleSender && role != auth.RoleOrgAdmin {
		_ = c.Error(newError(kindValidation, "role is sender or org-admin").
			withFields(FieldProblem{Field: "role", Detail: "sender or org-admin"}))
		return
	}
	if req.Email == "" || len(req.Email) > maxEmailLen {
		_ = c.Error(newError(kindValidation, "email is required").
			withFields(FieldProblem{Field: "email", Detail: "required, at most 254 characters"}))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	u, token, err := h.Users.Invite(ctx, org.ID, req.Email, role)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusCreated, invitedView{User: toUserView(u), InvitationToken: token})
}

// disableUser is POST /api/v1/organisations/{id}/users/{user}/disable: the
// user's tokens and API keys stop working at once (204). Administrators cannot
// lock themselves out.
func (h *handlers) disableUser(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	userID := c.Param("user")
	if userID == "" || len(userID) > maxUserIDLen {
		_ = c.Error(newError(kindNotFound, noUserIs))
		return
	}
	if userID == principal(c).UserID {
		_ = c.Error(newError(kindConflict, "you cannot disable your own account"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	if err := h.Users.DisableInOrganisation(ctx, org.ID, userID); err != nil {
		_ = c.Error(notFoundAs(err, noUserIs))
		return
	}
	c.Status(http.StatusNoContent)
}

type invitationRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// acceptInvitation is POST /api/v1/auth/invitations/accept {token, password}:
// the invitee sets a password (204). An unknown, used or expired token is 401.
func (h *handlers) acceptInvitation(c *gin.Context) {
	var req invitationRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	var f []FieldProblem
	if req.Token == "" || len(req.Token) > maxStatusTokenLen {
		f = append(f, FieldProblem{Field: "token", Detail: "the invitation token"})
	}
	if req.Password == "" || len(req.Password) > maxPasswordLen {
		f = append(f, FieldProblem{Field: "password", Detail: "required, at most 1024 bytes"})
	}
	if len(f) > 0 {
		_ = c.Error(newError(kindValidation, "token and password are required").withFields(f...))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	err := h.Users.AcceptInvitation(ctx, req.Token, req.Password)
	if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrUserNotFound) || errors.Is(err, ErrUnauthorized) {
		err = newError(kindInvalidGrant, "the invitation is not valid (unknown, used or expired)").withCause(err)
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Status(http.StatusNoContent)
}

type apiKeyView struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func toAPIKeyView(k auth.APIKey) apiKeyView {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return apiKeyView{ID: k.ID, UserID: k.UserID, Name: k.Name, Scopes: scopes, CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// listAPIKeys is GET /api/v1/organisations/{id}/api-keys (never the secrets).
func (h *handlers) listAPIKeys(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	keys, err := h.APIKeys.List(ctx, org.ID)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := struct {
		APIKeys []apiKeyView `json:"api_keys"`
	}{APIKeys: make([]apiKeyView, len(keys))}
	for i, k := range keys {
		out.APIKeys[i] = toAPIKeyView(k)
	}
	c.JSON(http.StatusOK, out)
}

type apiKeyRequest struct {
	Name   string   `json:"name"`
	UserID string   `json:"user_id"`
	Scopes []string `json:"scopes"`
}

// validate: a name, a user, and 1–3 known scopes without repeats.
func (r apiKeyRequest) validate() error {
	var f []FieldProblem
	if !boundedText(r.Name, maxKeyNameLen) {
		f = append(f, FieldProblem{Field: "name", Detail: "required, at most 100 characters"})
	}
	if r.UserID == "" || len(r.UserID) > maxUserIDLen {
		f = append(f, FieldProblem{Field: "user_id", Detail: "the sender the key acts for"})
	}
	known := auth.KnownScopes()
	seen := map[string]bool{}
	for _, s := range r.Scopes {
		if !containsFold(known, s) || seen[s] {
			f = append(f, FieldProblem{Field: "scopes", Detail: "unknown or repeated scope: " + clip(s, 32)})
		}
		seen[s] = true
	}
	if len(r.Scopes) == 0 {
		f = append(f, FieldProblem{Field: "scopes", Detail: "one or more of " + strings.Join(known, ", ")})
	}
	if len(f) > 0 {
		return newError(kindValidation, "the API key fails validation").withFields(f...)
	}
	return nil
}

type createdKeyView struct {
	APIKey apiKeyView `json:"api_key"`
	Secret string     `json:"secret"`
}

// createAPIKey is POST /api/v1/organisations/{id}/api-keys {name, user_id,
// scopes}: the secret is in this answer only; Veilig keeps its hash.
func (h *handlers) createAPIKey(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	var req apiKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if err := req.validate(); err != nil {
		_ = c.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	k, secret, err := h.APIKeys.Create(ctx, org.ID, req.UserID, strings.TrimSpace(req.Name), req.Scopes)
	if err != nil {
		_ = c.Error(notFoundAs(err, noUserIs))
		return
	}
	c.JSON(http.StatusCreated, createdKeyView{APIKey: toAPIKeyView(k), Secret: secret})
}

// revokeAPIKey is DELETE /api/v1/organisations/{id}/api-keys/{key} (204).
func (h *handlers) revokeAPIKey(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	id := c.Param("key")
	if id == "" || len(id) > maxUserIDLen {
		_ = c.Error(newError(kindNotFound, noKeyIs))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	if err := h.APIKeys.Revoke(ctx, org.ID, id); err != nil {
		_ = c.Error(notFoundAs(err, noKeyIs))
		return
	}
	c.Status(http.StatusNoContent)
}

type orgReportView struct {
	Organisation directory.OrgRef   `json:"organisation"`
	Reports      []mailcheck.Report `json:"reports"`
	Unchecked    []string           `json:"unchecked"`
}

// organisationReport is GET /api/v1/organisations/{id}/report: the latest
// check of each of the organisation's domains (JSON), or one domain's page
// (?domain=, default the first checked) for Accept: text/html.
func (h *handlers) organisationReport(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), orgAdminTimeout)
	defer cancel()
	out := orgReportView{Organisation: directory.OrgRef{ID: org.ID, Name: org.Name},
		Reports: []mailcheck.Report{}, Unchecked: []string{}}
	operator := principal(c).Role == auth.RoleOperator
	for _, d := range org.Domains {
		r, err := h.Reports.Report(ctx, d)
		switch {
		case errors.Is(err, ErrNotFound):
			out.Unchecked = append(out.Unchecked, d)
		case err != nil:
			_ = c.Error(err)
			return
		case operator:
			out.Reports = append(out.Reports, r)
		default:
			out.Reports = append(out.Reports, withoutDetail(r))
		}
	}
	h.writeReports(c, out.Reports, out)
}
