package delivery

// MTA-STS (RFC 8461): the TXT record at _mta-sts.<domain> announces a policy
// id; the policy is fetched over HTTPS from https://mta-sts.<domain>/.well-known/
// mta-sts.txt with a PKIX-valid certificate and no redirects, parsed with mox's
// mtasts package, and cached for max_age in memory and in the database (§5.1):
// a cached unexpired policy is used while the record is unchanged or missing, or
// while a new policy cannot be fetched.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mjl-/mox/mtasts"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

const (
	stsPolicyPath    = "/.well-known/mta-sts.txt"
	stsMaxPolicySize = 64 << 10                      // RFC 8461 §3.3
	stsMaxAge        = 31557600 * time.Second        // RFC 8461 §3.2
	stsFetchBackoff  = 5 * time.Minute               // after a failed fetch
	stsNegativeTTL   = 5 * time.Minute               // "no cached policy" in memory
	dbTimeout        = 10 * time.Second              // per database statement
	errSTSNoRecord   = stsError("no MTA-STS record") // not a failure
)

type stsError string

func (e stsError) Error() string { return "delivery: mta-sts: " + string(e) }

// stsEntry is a cached policy; policy nil records that there is none.
type stsEntry struct {
	id        string
	text      string
	policy    *mtasts.Policy
	fetchedAt time.Time
	expires   time.Time
}

// mtaSTSRow is a row of mta_sts_policies.
type mtaSTSRow struct {
	Domain    string    `gorm:"column:domain;primaryKey"`
	PolicyID  string    `gorm:"column:policy_id"`
	Policy    string    `gorm:"column:policy"`
	FetchedAt time.Time `gorm:"column:fetched_at"`
	ExpiresAt time.Time `gorm:"column:expires_at"`
}

func (mtaSTSRow) TableName() string { return "mta_sts_policies" }

// stsCache holds policies in a bounded map backed by the database.
type stsCache struct {
	db  *gorm.DB
	max int

	mu     sync.Mutex
	mem    map[string]stsEntry
	failed map[string]time.Time // domain → last failed fetch
}

func newSTSCache(db *gorm.DB, max int) *stsCache {
	return &stsCache{db: db, max: max, mem: map[string]stsEntry{}, failed: map[string]time.Time{}}
}

// get returns domain's unexpired cached policy, or nil.
func (c *stsCache) get(ctx context.Context, domain string, now time.Time) (*stsEntry, error) {
	c.mu.Lock()
	e, ok := c.mem[domain]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		var err error
		if e, err = c.load(ctx, domain, now); err != nil {
			return nil, err
		}
		c.remember(domain, e)
	}
	if e.policy == nil || !now.Before(e.expires) {
		return nil, nil
	}
	return &e, nil
}

// load reads domain's row; without one (or a database) it returns a negative
// entry valid for stsNegativeTTL.
func (c *stsCache) load(ctx context.Context, domain string, now time.Time) (stsEntry, error) {
	none := stsEntry{expires: now.Add(stsNegativeTTL)}
	if c.db == nil {
		return none, nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var rows []mtaSTSRow
	if err := c.db.WithContext(ctx).Where("domain = ?", domain).Limit(1).Find(&rows).Error; err != nil {
		return stsEntry{}, fmt.Errorf("delivery: mta-sts cache: %w", err)
	}
	if len(rows) == 0 || !now.Before(rows[0].ExpiresAt) {
		return none, nil
	}
	r := rows[0]
	pol, err := mtasts.ParsePolicy(r.Policy)
	if err != nil {
		return none, nil // a row we cannot parse is no policy
	}
	return stsEntry{id: r.PolicyID, text: r.Policy, policy: pol, fetchedAt: r.FetchedAt, expires: r.ExpiresAt}, nil
}

func (c *stsCache) remember(domain string, e stsEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	boundedPut(c.mem, c.max, domain, e)
}

// put stores a freshly fetched policy.
func (c *stsCache) put(ctx context.Context, domain string, e stsEntry) error {
	c.remember(domain, e)
	c.mu.Lock()
	delete(c.failed, domain)
	c.mu.Unlock()
	if c.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	row := mtaSTSRow{Domain: domain, PolicyID: e.id, Policy: e.text, FetchedAt: e.fetchedAt.UTC(), ExpiresAt: e.expires.UTC()}
	err := c.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "domain"}},
		DoUpdates: clause.AssignmentColumns([]string{"policy_id", "policy", "fetched_at", "expires_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("delivery: mta-sts cache: %w", err)
	}
	return nil
}

// backingOff reports whether a fetch for domain failed less than
// stsFetchBackoff ago.
func (c *stsCache) backingOff(domain string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.failed[domain]
	return ok && now.Sub(last) < stsFetchBackoff
}

func (c *stsCache) fetchFailed(domain string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	boundedPut(c.failed, c.max, domain, now)
}

func (c *stsCache) forget(ctx context.Context, domain string) error {
	c.mu.Lock()
	delete(c.mem, domain)
	delete(c.failed, domain)
	c.mu.Unlock()
	if c.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := c.db.WithContext(ctx).Where("domain = ?", domain).Delete(&mtaSTSRow{}).Error; err != nil {
		return fmt.Errorf("delivery: mta-sts cache: %w", err)
	}
	return nil
}

// stsPolicy returns the MTA-STS policy in effect for domain (any mode), or nil.
// Failures leave the cached policy in effect (RFC 8461 §5.1) and are logged; a
// failed TXT lookup (SERVFAIL: possibly bogus DNSSEC) without a cached policy
// is returned as an error, so it defers instead of counting as "no MTA-STS".
func (d *Deliverer) stsPolicy(ctx context.Context, domain string) (*mtasts.Policy, error) {
	now := d.now()
	cached, err := d.sts.get(ctx, domain, now)
	if err != nil {
		d.log.Warn("delivery: mta-sts cache unavailable", "domain", domain, "err", err)
	}
	id, err := d.stsRecord(ctx, domain)
	switch {
	case errors.Is(err, ErrDNS) && cached == nil:
		return nil, err
	case err != nil || (cached != nil && cached.id == id):
		if err != nil && !errors.Is(err, errSTSNoRecord) {
			d.log.Info("delivery: mta-sts record", "domain", domain, "err", err)
		}
		return policyOf(cached), nil
	case d.sts.backingOff(domain, now):
		return policyOf(cached), nil
	}
	return d.refreshSTS(ctx, domain, id, now, cached), nil
}

func policyOf(e *stsEntry) *mtasts.Policy {
	if e == nil {
		return nil
	}
	return e.policy
}

// refreshSTS fetches domain's policy for record id and caches it.
func (d *Deliverer) refreshSTS(ctx context.Context, domain, id string, now time.Time, cached *stsEntry) *mtasts.Policy {
	pol, text, err := d.fetchPolicy(ctx, domain)
	if err != nil {
		d.sts.fetchFailed(domain, now)
		d.log.Warn("delivery: mta-sts policy fetch failed", "domain", domain, "err", err)
		return policyOf(cached)
	}
	maxAge := min(time.Duration(pol.MaxAgeSeconds)*time.Second, stsMaxAge)
	e := stsEntry{id: id, text: text, policy: pol, fetchedAt: now, expires: now.Add(maxAge)}
	if err := d.sts.put(ctx, domain, e); err != nil {
		d.log.Warn("delivery: mta-sts policy not persisted", "domain", domain, "err", err)
	}
	return pol
}

// stsRecord returns the id of domain's MTA-STS TXT record (RFC 8461 §3.1).
func (d *Deliverer) stsRecord(ctx context.Context, domain string) (string, error) {
	txts, err := d.lookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", err
	}
	var id string
	for _, txt := range txts {
		rec, isSTS, err := mtasts.ParseRecord(txt)
		switch {
		case !isSTS:
			continue
		case err != nil:
			return "", fmt.Errorf("delivery: mta-sts record: %w", err)
		case id != "":
			return "", fmt.Errorf("delivery: mta-sts record: %w", mtasts.ErrMultipleRecords)
		}
		id = rec.ID
	}
	if id == "" {
		return "", errSTSNoRecord
	}
	return id, nil
}

// fetchPolicy gets and parses https://mta-sts.<domain>/.well-known/mta-sts.txt.
func (d *Deliverer) fetchPolicy(ctx context.Context, domain string) (*mtasts.Policy, string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.MTASTSTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+stsPolicyPath, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", mtasts.ErrPolicyFetch, err)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", mtasts.ErrPolicyFetch, err)
	}
	defer resp.Body.Close()
	if err := checkPolicyResponse(resp); err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxPolicySize+1))
	if err != nil || len(body) > stsMaxPolicySize {
		return nil, "", fmt.Errorf("%w: body too large or unreadable: %v", mtasts.ErrPolicyFetch, err)
	}
	pol, err := mtasts.ParsePolicy(string(body))
	if err != nil {
		return nil, "", err
	}
	return pol, string(body), nil
}

// checkPolicyResponse requires 200 and text/plain (RFC 8461 §3.3).
func checkPolicyResponse(resp *http.Response) error {
	if resp.StatusCode == http.StatusNotFound {
		return mtasts.ErrNoPolicy
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: HTTP status %s", mtasts.ErrPolicyFetch, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return fmt.Errorf("%w: media type %q, want text/plain", mtasts.ErrPolicyFetch, resp.Header.Get("Content-Type"))
	}
	return nil
}

// mtastsClient returns a copy of client (or a default one) that refuses
// redirects (RFC 8461 §3.3).
func mtastsClient(client *http.Client, roots *x509.CertPool, timeout time.Duration,
	dial func(ctx context.Context, network, address string) (net.Conn, error)) *http.Client {
	var c http.Client
	if client != nil {
		c = *client
	} else {
		c = http.Client{Timeout: timeout, Transport: &http.Transport{
			DialContext: dial, Proxy: nil,
			TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true, ForceAttemptHTTP2: true,
			TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
		}}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return errors.New("delivery: mta-sts: redirects are not allowed")
	}
	return &c
}

// policyAddrs resolves an MTA-STS policy host through the deliverer's
// resolver (and its cache), like the mail hosts.
func (d *Deliverer) policyAddrs(ctx context.Context, host string) ([]net.IP, error) {
	a, err := d.lookupAddrs(ctx, host)
	return a.ips, err
}

// boundedPut stores k in m, first dropping an arbitrary entry when m is full.
func boundedPut[K comparable, V any](m map[K]V, max int, k K, v V) {
	if _, ok := m[k]; !ok && len(m) >= max {
		for old := range m {
			delete(m, old)
			break
		}
	}
	m[k] = v
}
