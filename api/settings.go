package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/internal/message"
)

// SettingsStore keeps an organisation's message settings (message.Store); Put
// returns message.ErrNotFound for an unknown organisation.
type SettingsStore interface {
	OrganisationSettings(ctx context.Context, orgID string) (message.Settings, error)
	PutOrganisationSettings(ctx context.Context, orgID string, set message.Settings) error
}

// settingsView is the JSON of an organisation's settings; every field is
// required on PUT (the whole resource is replaced).
type settingsView struct {
	SelfCopy        *bool `json:"self_copy"`
	ShowSubject     *bool `json:"show_subject"`
	ExpiryDays      *int  `json:"expiry_days"`
	NotifyFirstOpen *bool `json:"notify_first_open"`
	SMSDailyCap     *int  `json:"sms_daily_cap"`
	// EmailCodeAllowed: external recipients may get their code by e-mail.
	EmailCodeAllowed *bool `json:"email_code_allowed"`
}

func toSettingsView(s message.Settings) settingsView {
	return settingsView{SelfCopy: &s.SelfCopy, ShowSubject: &s.ShowSubject, ExpiryDays: &s.ExpiryDays,
		NotifyFirstOpen: &s.NotifyFirstOpen, SMSDailyCap: &s.SMSDailyCap, EmailCodeAllowed: &s.EmailCodeAllowed}
}

// settings checks a PUT body: all fields present and in range.
func (v settingsView) settings() (message.Settings, error) {
	var missing []FieldProblem
	for _, f := range []struct {
		name string
		ok   bool
	}{{"self_copy", v.SelfCopy != nil}, {"show_subject", v.ShowSubject != nil}, {"expiry_days", v.ExpiryDays != nil},
		{"notify_first_open", v.NotifyFirstOpen != nil}, {"sms_daily_cap", v.SMSDailyCap != nil},
		{"email_code_allowed", v.EmailCodeAllowed != nil}} {
		if !f.ok {
			missing = append(missing, FieldProblem{Field: f.name, Detail: "required"})
		}
	}
	if len(missing) > 0 {
		return message.Settings{}, newError(kindInvalidParameter, "every setting is required").withFields(missing...)
	}
	switch {
	case *v.ExpiryDays < 0 || *v.ExpiryDays > 365:
		return message.Settings{}, newError(kindInvalidParameter, "expiry_days is 0 (instance default) to 365").
			withFields(FieldProblem{Field: "expiry_days", Detail: "0–365"})
	case *v.SMSDailyCap < -1 || *v.SMSDailyCap > 1000000:
		return message.Settings{}, newError(kindInvalidParameter, "sms_daily_cap is -1 (instance default) to 1000000").
			withFields(FieldProblem{Field: "sms_daily_cap", Detail: "-1–1000000"})
	}
	return message.Settings{SelfCopy: *v.SelfCopy, ShowSubject: *v.ShowSubject, ExpiryDays: *v.ExpiryDays,
		NotifyFirstOpen: *v.NotifyFirstOpen, SMSDailyCap: *v.SMSDailyCap, EmailCodeAllowed: *v.EmailCodeAllowed}, nil
}

// getSettings is GET /api/v1/organisations/{id}/settings (its administrators
// and operators; anyone else 404).
func (h *handlers) getSettings(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	id := org.ID
	ctx, cancel := context.WithTimeout(c.Request.Context(), dnsTimeout)
	defer cancel()
	set, err := h.Settings.OrganisationSettings(ctx, id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toSettingsView(set))
}

// putSettings is PUT /api/v1/organisations/{id}/settings.
func (h *handlers) putSettings(c *gin.Context) {
	org, ok := h.administered(c)
	if !ok {
		return
	}
	id := org.ID
	var v settingsView
	if err := decodeJSON(c, &v); err != nil {
		_ = c.Error(err)
		return
	}
	set, err := v.settings()
	if err == nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), dnsTimeout)
		defer cancel()
		err = h.Settings.PutOrganisationSettings(ctx, id, set)
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toSettingsView(set))
}
