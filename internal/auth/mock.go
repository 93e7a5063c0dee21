package auth

import (
	"context"
	"fmt"
	"strings"
)

// MockOrganisations is an OrganisationFinder for tests: mail domain (lower-case
// A-label) → organisation id.
type MockOrganisations map[string]string

var _ OrganisationFinder = MockOrganisations(nil)

// OrganisationForAddress returns the organisation of email's domain.
func (m MockOrganisations) OrganisationForAddress(_ context.Context, email string) (string, error) {
	domain := email[strings.LastIndexByte(email, '@')+1:]
	if id, ok := m[domain]; ok {
		return id, nil
	}
	return "", fmt.Errorf("%w: %s", ErrNoOrganisation, domain)
}

// MockLDAP is a PasswordVerifier for tests: mail → password. A non-nil Err is
// returned from every call, as from a directory that is down.
type MockLDAP struct {
	Passwords map[string]string
	Err       error
}

var _ PasswordVerifier = MockLDAP{}

// VerifyPassword checks password against Passwords.
func (m MockLDAP) VerifyPassword(_ context.Context, mail, password string) (string, error) {
	if m.Err != nil {
		return "", m.Err
	}
	want, ok := m.Passwords[mail]
	switch {
	case !ok:
		return "", fmt.Errorf("%w: %s", ErrUnknownUser, mail)
	case want != password:
		return "", fmt.Errorf("%w: %s", ErrInvalidCredentials, mail)
	}
	return "mail=" + mail + ",dc=example,dc=test", nil
}
