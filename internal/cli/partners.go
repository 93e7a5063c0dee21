package cli

// Wiring of issue 6: the mail-standards checker, the trust store (transport
// pins, latest reports, monitoring events), partner self-enrolment and
// continuous monitoring, and the adapters between their small interfaces.

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/delivery"
	"github.com/veilig/veilig/internal/enrolment"
	"github.com/veilig/veilig/internal/mailcheck"
	"github.com/veilig/veilig/internal/monitor"
	"github.com/veilig/veilig/internal/seal"
	"github.com/veilig/veilig/internal/trust"
)

// partners is the wired enrolment and monitoring.
type partners struct {
	checker *mailcheck.Checker
	trust   *trust.Store
	enrol   *enrolment.Service
	monitor *monitor.Monitor
}

func newPartners(s *setup, a *app, store *directory.Store, ring *seal.KeyRing, host string) (*partners, error) {
	roots, err := checkRoots(s.cfg.DeliveryCAFile)
	if err != nil {
		return nil, err
	}
	p := &partners{trust: trust.NewStore(s.db, time.Now)}
	p.checker = mailcheck.NewWithOptions(mailcheck.NewDNS(s.cfg.DNSResolver, 0), s.log,
		mailcheck.Options{Port: s.cfg.DeliveryPort, EHLOName: host, Roots: roots, Timeout: s.cfg.CheckTimeout,
			AllowPrivate: s.cfg.CheckPrivate})
	if p.enrol, err = newEnrolment(s, a, store, ring, p); err != nil {
		return nil, err
	}
	lock := func(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
		return s.db.TryLock(ctx, database.LockMonitor, fn)
	}
	p.monitor, err = monitor.New(monitor.Deps{Store: p.trust, Checker: p.checker, Directory: communityDomains{store},
		Admins: orgAdmins{a.auth.Users()}, Mailer: a.send.outbox, Log: s.log, Lock: lock, Audit: s.recorder()},
		monitor.Config{Interval: s.cfg.MonitorEvery, Concurrency: s.cfg.MonitorWorkers})
	return p, err
}

func newEnrolment(s *setup, a *app, store *directory.Store, ring *seal.KeyRing, p *partners) (*enrolment.Service, error) {
	salt, err := ring.DeriveSecret("enrolment-client")
	if err != nil {
		return nil, err
	}
	return enrolment.New(enrolment.Config{ClientSalt: salt, ExpireAfter: s.cfg.EnrolmentTTL,
		AutoAdmit: s.cfg.AutoAdmit, Floor: s.cfg.AutoAdmitFloor, PublicURL: s.cfg.PublicURL},
		enrolment.Deps{DB: s.db, Resolver: mailcheck.NewDNS(s.cfg.DNSResolver, 0), Checker: p.checker,
			Directory: store, Accounts: accounts{a.auth.Users()}, Trust: enrolmentTrust{p.trust, s.cfg.MonitorEvery},
			Mailer: a.send.outbox, Log: s.log, Audit: s.recorder()})
}

// checkRoots are the system roots plus VEILIG_DELIVERY_CA_FILE's, as the
// delivery route trusts them.
func checkRoots(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	extra, err := delivery.LoadRoots(caFile)
	if err != nil {
		return nil, err
	}
	for _, c := range extra {
		pool.AddCert(c)
	}
	return pool, nil
}

// run starts expiry and, unless MONITOR_INTERVAL is 0, monitoring. With
// several processes on one PostgreSQL, each monitoring pass runs in one of
// them at a time (an advisory lock), so a domain is not checked twice.
func (p *partners) run(ctx context.Context, s *setup) {
	go func() {
		if err := p.enrol.RunExpiry(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("enrolment expiry stopped", "err", err)
		}
	}()
	if s.cfg.MonitorEvery <= 0 {
		return
	}
	go func() { _ = p.monitor.Run(ctx) }()
}

// pinSource adapts trust.Store to delivery.PinSource.
type pinSource struct{ s *trust.Store }

func (p pinSource) Pin(ctx context.Context, domain string) (delivery.Pin, bool, error) {
	pin, err := p.s.Pin(ctx, domain)
	if errors.Is(err, trust.ErrNotFound) {
		return delivery.Pin{}, false, nil
	}
	if err != nil {
		return delivery.Pin{}, false, err
	}
	return delivery.Pin{Policy: pin.Policy, MXHosts: pin.MXHosts, Suspended: pin.Suspended(), Reason: pin.Reason}, true, nil
}

// enrolmentTrust adapts trust.Store to enrolment.Trust. A new pin is next
// checked one monitoring interval after admission (its report is fresh).
type enrolmentTrust struct {
	s     *trust.Store
	every time.Duration
}

func (t enrolmentTrust) PutPin(ctx context.Context, domain, orgID, policy string, mxHosts []string) error {
	return t.s.PutPin(ctx, trust.Pin{Domain: domain, OrganisationID: orgID, Policy: policy, MXHosts: mxHosts,
		State: trust.StateTrusted, NextCheckAt: time.Now().Add(t.every)})
}

func (t enrolmentTrust) SaveReport(ctx context.Context, r mailcheck.Report) error {
	return t.s.SaveReport(ctx, r)
}

func (t enrolmentTrust) Report(ctx context.Context, domain string) (mailcheck.Report, error) {
	return t.s.Report(ctx, domain)
}

// accounts adapts auth.Users to enrolment.Accounts.
type accounts struct{ u *auth.Users }

func (a accounts) CreateOrgAdmin(ctx context.Context, orgID, email string) (string, error) {
	return a.u.CreateOrgAdmin(ctx, orgID, email)
}

func (a accounts) SetPassword(ctx context.Context, userID, password string) error {
	return a.u.SetPassword(ctx, userID, password)
}

func (a accounts) OrgAdmin(ctx context.Context, orgID, email string) (string, bool, error) {
	u, err := a.u.GetByEmail(ctx, email)
	if errors.Is(err, auth.ErrUserNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if u.OrganisationID != orgID || u.Role != auth.RoleOrgAdmin {
		return "", false, fmt.Errorf("%w: %s belongs to another organisation or role", auth.ErrUserExists, email)
	}
	return u.ID, true, nil
}

// orgAdmins adapts auth.Users to monitor.Admins: the active org-admins.
type orgAdmins struct{ u *auth.Users }

func (o orgAdmins) OrgAdminEmails(ctx context.Context, orgID string) ([]string, error) {
	users, err := o.u.ListOrganisation(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range users {
		if u.Role == auth.RoleOrgAdmin && !u.Disabled {
			out = append(out, u.Email)
		}
	}
	return out, nil
}

// communityDomains adapts directory.Store to monitor.Directory.
type communityDomains struct{ s *directory.Store }

func (c communityDomains) CommunityDomains(ctx context.Context) ([]monitor.Domain, error) {
	refs, err := c.s.CommunityDomains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]monitor.Domain, len(refs))
	for i, r := range refs {
		out[i] = monitor.Domain{Domain: r.Domain, OrganisationID: r.OrganisationID, Origin: r.Origin}
	}
	return out, nil
}
