package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/directory/ldapsync"
	"github.com/veilig/veilig/internal/auth"
)

// organisationFinder adapts the directory to auth.OrganisationFinder: the active
// community organisation holding the address's domain (or a parent of it).
type organisationFinder struct{ store *directory.Store }

var _ auth.OrganisationFinder = organisationFinder{}

func (f organisationFinder) OrganisationForAddress(ctx context.Context, email string) (string, error) {
	domain, reason, _ := directory.CheckAddress(email)
	if reason != "" {
		return "", fmt.Errorf("%w: %s", auth.ErrInvalidEmail, reason)
	}
	org, _, err := f.store.OrganisationForDomain(ctx, domain)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("%w: %s", auth.ErrNoOrganisation, domain)
		}
		return "", err
	}
	return org.ID, nil
}

func isNotFound(err error) bool { return errors.Is(err, directory.ErrNotFound) }

// ldapVerifier adapts the LDAP authenticator's errors to auth's sentinels.
type ldapVerifier struct{ a *ldapsync.Authenticator }

var _ auth.PasswordVerifier = ldapVerifier{}

func (v ldapVerifier) VerifyPassword(ctx context.Context, mail, password string) (string, error) {
	dn, err := v.a.VerifyPassword(ctx, mail, password)
	switch {
	case errors.Is(err, ldapsync.ErrUnknownUser):
		return "", fmt.Errorf("%w: %w", auth.ErrUnknownUser, err)
	case errors.Is(err, ldapsync.ErrBadCredentials), errors.Is(err, ldapsync.ErrAmbiguousUser):
		return "", fmt.Errorf("%w: %w", auth.ErrInvalidCredentials, err)
	}
	return dn, err
}

func newAuth(ctx context.Context, s *setup, store *directory.Store) (*auth.Service, error) {
	cfg := auth.DefaultConfig()
	cfg.Issuer = strings.TrimSuffix(s.cfg.PublicURL, "/")
	cfg.Audience = s.cfg.TokenAudience
	cfg.AccessTokenTTL = s.cfg.AccessTokenTTL
	deps := auth.Deps{DB: s.db.DB, Organisations: organisationFinder{store}, Log: s.log, Now: time.Now,
		Audit: s.recorder()}
	if s.cfg.LDAPURL != "" {
		a, err := ldapsync.NewAuthenticator(ldapConfig(s.cfg), s.log)
		if err != nil {
			return nil, fmt.Errorf("LDAP configuration: %w", err)
		}
		deps.LDAP = ldapVerifier{a}
	}
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return auth.New(actx, cfg, deps)
}

func userAdd(ctx context.Context, env Env, args []string) error {
	var email, role string
	var fromStdin bool
	s, _, err := load(ctx, env, "user add", args, true, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "e-mail address of the user (required)")
		fs.StringVar(&role, "role", "sender", "sender, org-admin or operator")
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input (required)")
	})
	if err != nil {
		return err
	}
	defer s.db.Close()
	if email == "" || !fromStdin {
		return fmt.Errorf("%w: user add --email E --password-stdin [--role sender|org-admin|operator]", ErrUsage)
	}
	password, err := readPassword(env)
	if err != nil {
		return err
	}
	if _, err := s.withTrail(); err != nil {
		return err
	}
	svc, err := newAuth(ctx, s, directory.NewStore(s.db.DB, time.Now))
	if err != nil {
		return err
	}
	u, err := svc.Users().Create(ctx, auth.NewUser{Email: email, Password: password, Role: auth.Role(role)})
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	fmt.Fprintf(env.Stdout, "created %s %s (id %s, organisation %s)\n", u.Role, u.Email, u.ID, orNone(u.OrganisationID))
	return nil
}

func readPassword(env Env) (string, error) {
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: no password on standard input", ErrUsage)
	}
	_ = err // a last line without newline is fine
	return line, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
