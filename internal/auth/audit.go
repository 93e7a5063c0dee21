package auth

import (
	"context"

	"github.com/veilig/veilig/internal/audit"
)

// Audit outcomes.
const (
	outcomeSuccess = "success"
	outcomeFailure = "failure"
)

// record appends e to the audit trail r (nil records nothing), with the
// request's actor unless e names one.
func record(ctx context.Context, r audit.Recorder, e audit.Event) {
	if r == nil {
		return
	}
	if e.Actor == (audit.Actor{}) {
		e.Actor = audit.ActorFrom(ctx)
	}
	r.Record(ctx, e)
}

// recordGrant records one grant's outcome: a sign-in, a token refresh or a
// reused refresh token. Never the address typed, the password or a token.
func (s *Service) recordGrant(ctx context.Context, grant string, o outcome, clientIP string) {
	e := audit.Event{Action: grantAction(grant, o), Outcome: outcomeSuccess,
		Actor: grantActor(ctx, o.user, clientIP), OrganisationID: o.user.OrganisationID,
		Detail: map[string]string{"grant": grant}}
	if o.user.ID != "" {
		e.Object = audit.Object{Type: "user", ID: o.user.ID}
	}
	if o.err != nil {
		e.Outcome, e.Detail["reason"] = outcomeFailure, o.reason
	}
	record(ctx, s.audit, e)
}

// recordSignOut records a sign-out: the refresh token's owner acting, at the
// request's address. An unknown token records nothing (RFC 7009 §2.2).
func (s *Service) recordSignOut(ctx context.Context, u User) {
	a := audit.ActorFrom(ctx)
	a.UserID, a.OrganisationID, a.Role = u.ID, u.OrganisationID, string(u.Role)
	record(ctx, s.audit, audit.Event{Action: audit.ActionSignOut, Outcome: outcomeSuccess, Actor: a,
		Object: audit.Object{Type: "user", ID: u.ID}, OrganisationID: u.OrganisationID})
}

func grantAction(grant string, o outcome) string {
	switch {
	case o.reason == reasonTokenReused:
		return audit.ActionTokenReuse
	case grant == "refresh_token":
		return audit.ActionTokenRefresh
	}
	return audit.ActionSignIn
}

// grantActor is the account signing in, when known, at the client's address.
func grantActor(ctx context.Context, u User, clientIP string) audit.Actor {
	a := audit.ActorFrom(ctx)
	if clientIP != "" {
		a.IP = clientIP
	}
	a.UserID, a.OrganisationID, a.Role = u.ID, u.OrganisationID, string(u.Role)
	return a
}

// knownUser completes a user known only by id (a refresh token's owner), for
// the trail of their organisation; it returns u unchanged when the lookup fails.
func (s *Service) knownUser(ctx context.Context, u User) User {
	if u.ID == "" || u.OrganisationID != "" {
		return u
	}
	if full, err := s.users.Get(ctx, u.ID); err == nil {
		return full
	}
	return u
}

// recordUser records an account change (created, disabled) in its
// organisation's trail.
func (s *Users) recordUser(ctx context.Context, action string, u User) {
	record(ctx, s.audit, audit.Event{Action: action, Outcome: outcomeSuccess,
		Object: audit.Object{Type: "user", ID: u.ID}, OrganisationID: u.OrganisationID,
		Detail: map[string]string{"role": string(u.Role)}})
}

// recordKey records an API key change (created, revoked).
func (k *APIKeys) recordKey(ctx context.Context, action, orgID, id string, detail map[string]string) {
	record(ctx, k.audit, audit.Event{Action: action, Outcome: outcomeSuccess,
		Object: audit.Object{Type: "api-key", ID: id}, OrganisationID: orgID, Detail: detail})
}
