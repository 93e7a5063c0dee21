// Package delivery sends a message to the mail servers of one recipient domain
// over SMTP (RFC 5321) with STARTTLS (RFC 3207) whose TLS is always
// authenticated, never plaintext and never downgraded:
//
//  1. DANE (RFC 7672, RFC 7671, RFC 6698) when the MX RRset, the MX host's
//     addresses and its TLSA RRset are DNSSEC-authentic and usable;
//  2. else an MTA-STS "enforce" policy (RFC 8461), cached per §5: only listed MX
//     hosts, PKIX-valid certificates for the MX name;
//  3. else PKIX (RFC 5280, RFC 6125) for the MX name, the community's floor.
//
// DNS goes to one validating resolver whose AD bit (RFC 4035 §3.2.3, RFC 6840
// §5.7) is trusted. SERVFAIL (bogus DNSSEC) defers, a null MX (RFC 7505) fails,
// a domain without MX uses its address records (RFC 5321 §5.1). A domain that
// had DANE or MTA-STS and now has neither is deferred and flagged. TLS is 1.2 or
// later with the NCSC-NL "good/sufficient" cipher suites; REQUIRETLS (RFC 8689)
// is requested when offered and the hop satisfies it. A relay mode sends
// everything through one gateway with STARTTLS, PKIX and AUTH PLAIN (RFC 4954,
// RFC 4616). Every connection attempt is recorded as evidence. A verified
// session is kept for a few seconds after a transaction and reused, after RSET,
// by the next delivery to the same host under the same verification (see
// conncache.go). An admitted partner's domain is held to its transport pin
// (see pins.go).
package delivery

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/veilig/veilig/internal/netdial"
)

// Policy is how a connection's TLS was (to be) authenticated.
type Policy string

// Policies.
const (
	PolicyDANEEE Policy = "dane-ee" // TLSA usage 3 matched (RFC 7672 §3.1.1)
	PolicyDANETA Policy = "dane-ta" // TLSA usage 2 matched (RFC 7672 §3.1.2)
	PolicyMTASTS Policy = "mta-sts" // MTA-STS enforce, PKIX for the MX name
	PolicyPKIX   Policy = "pkix"    // PKIX for the MX name
	PolicyRelay  Policy = "relay"   // the configured relay, PKIX + AUTH
)

// Attempt is the evidence of one MX host tried.
type Attempt struct {
	StartedAt, FinishedAt time.Time
	MX, IP                string
	Policy                Policy
	TLSVersion, Cipher    string
	TLSAMatch             string // the matching TLSA record's "usage selector matching", e.g. "3 1 1"
	Code                  int    // the last SMTP reply code, 0 if none
	Enhanced              string // its enhanced status code (RFC 3463), e.g. "2.0.0"
	Reply                 string // its text
	Error                 string // why the attempt failed, "" when delivered
	// Reused is set when the attempt ran on a session cached from an earlier
	// delivery (verified then, under the same policy and TLSA records); the TLS
	// fields are that session's.
	Reused bool
}

// Outcome is the result of a delivery. The zero value is not an outcome.
type Outcome int

// Outcomes.
const (
	Delivered Outcome = iota + 1 // accepted by the recipient's server
	Temporary                    // retry later
	Permanent                    // do not retry
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result reports a delivery.
type Result struct {
	Outcome  Outcome
	Attempts []Attempt
	// Suspicious is set when the domain had DANE or MTA-STS before and now has
	// neither: the delivery is deferred (Temporary) and should be looked into.
	Suspicious bool
	Reason     string
	// PerRecipient is set only when the recipients of one envelope had different
	// outcomes (some accepted, others refused); Outcome is then that of the
	// recipients not delivered (Temporary if any of them is, else Permanent).
	PerRecipient map[string]Outcome
}

// Envelope is one message to recipients at one domain.
type Envelope struct {
	From string
	To   []string // all at the domain given to Deliver
	Size int64    // in bytes, announced with SIZE (RFC 1870) when known
	// Open returns the message (signed, CRLF lines); it is called once per
	// transaction that reaches DATA and the reader is closed afterwards.
	Open func() (io.ReadCloser, error)
}

// Transport modes reported by Preview.
const (
	TransportDANE        = "dane"
	TransportMTASTS      = "mta-sts"
	TransportPKIX        = "pkix"
	TransportRelay       = "relay"
	TransportUnavailable = "unavailable"
)

// Transport says how delivery to a domain would be secured right now.
type Transport struct {
	Mode   string // dane, mta-sts, pkix, relay or unavailable
	Reason string // why it is unavailable, or a short explanation
}

// Config configures a Deliverer. Zero durations and sizes take the defaults.
type Config struct {
	// Resolver is the validating resolver, "host:port" (VEILIG_DNS_RESOLVER).
	// Its AD bit is trusted, so it must be local or reached over a trusted path.
	Resolver string
	// ResolverTCP queries over TCP only; by default UDP is used with a retry
	// over TCP when the answer is truncated.
	ResolverTCP bool
	// Port is the SMTP port of recipient mail servers (VEILIG_DELIVERY_PORT),
	// default 25; TLSA records are looked up at _PORT._tcp.<mx>.
	Port int
	// Hostname is the name sent in EHLO (VEILIG_SMTP_HOSTNAME); default the
	// host name.
	Hostname string
	// ExtraRoots are trusted for PKIX besides the system roots
	// (VEILIG_DELIVERY_CA_FILE, see LoadRoots).
	ExtraRoots []*x509.Certificate
	// Relay, if set, is "host:port" of a gateway that receives all mail, with
	// STARTTLS, PKIX for host and AUTH PLAIN with RelayUsername/RelayPassword.
	Relay                        string
	RelayUsername, RelayPassword string

	DNSTimeout     time.Duration // per DNS query, default 10 s
	DialTimeout    time.Duration // per TCP connect, default 30 s
	CommandTimeout time.Duration // per SMTP reply and TLS handshake, default 5 min (RFC 5321 §4.5.3.2)
	DataTimeout    time.Duration // for the reply to the final ".", default 10 min
	SessionTimeout time.Duration // per connection in total, default 30 min
	MTASTSTimeout  time.Duration // per policy fetch, default 1 min (RFC 8461 §3.3)
	MaxMX          int           // MX hosts tried per delivery, default 10
	CacheEntries   int           // bound of each in-memory cache, default 10000
	CacheMaxTTL    time.Duration // longest time a DNS answer is cached, default 1 h
	// PinCacheTTL is how long a domain's transport pin (Deps.Pins) is cached,
	// default 5 s: a suspension reaches every delivery within that time. At
	// most CacheEntries domains are cached.
	PinCacheTTL time.Duration
	// ConnCacheIdle is how long a verified SMTP session is kept after a
	// transaction for reuse by the next delivery to the same host under the same
	// policy, default 5 s; negative disables reuse. At most 32 sessions (16 per
	// address) are kept, each used for at most 100 transactions.
	ConnCacheIdle time.Duration
}

// Dialer opens TCP connections; *net.Dialer implements it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Deps are the Deliverer's collaborators. Only Log is required.
type Deps struct {
	Log *slog.Logger
	Now func() time.Time // default time.Now
	// DB holds transport_history and mta_sts_policies (migration 00004); nil
	// keeps both in memory only (tests).
	DB *gorm.DB
	// HTTPClient fetches MTA-STS policies; redirects are always refused. Default:
	// system roots plus ExtraRoots, MTASTSTimeout, the policy host resolved
	// through DNS (Config.Resolver) and connected to with Dialer.
	HTTPClient *http.Client
	// Dialer connects to mail servers; default a net.Dialer with DialTimeout.
	Dialer Dialer
	// DNS answers the deliverer's queries; default a client of Config.Resolver.
	// Answers are cached by the Deliverer either way.
	DNS Resolver
	// Pins are the transport pins of admitted partner domains (issue 6); nil:
	// no domain is pinned.
	Pins PinSource
}

// Deliverer delivers messages and previews transports. It is safe for
// concurrent use.
type Deliverer struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	dns     *cachingResolver
	dialer  Dialer
	http    *http.Client
	roots   *x509.CertPool
	sts     *stsCache
	history *historyStore
	conns   *sessionCache
	pins    *pinCache
}

// Defaults.
const (
	defaultPort           = 25
	defaultDNSTimeout     = 10 * time.Second
	defaultDialTimeout    = 30 * time.Second
	defaultCommandTimeout = 5 * time.Minute
	defaultDataTimeout    = 10 * time.Minute
	defaultSessionTimeout = 30 * time.Minute
	defaultMTASTSTimeout  = time.Minute
	defaultMaxMX          = 10
	defaultCacheEntries   = 10000
	defaultCacheMaxTTL    = time.Hour
)

// New checks cfg, fills in defaults and returns a Deliverer.
func New(cfg Config, deps Deps) (*Deliverer, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkConfig(cfg, deps); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	roots := rootPool(cfg.ExtraRoots, deps.Log)
	d := &Deliverer{cfg: cfg, log: deps.Log, now: deps.Now, roots: roots, dialer: deps.Dialer}
	if d.dialer == nil {
		d.dialer = &net.Dialer{Timeout: cfg.DialTimeout}
	}
	d.http = mtastsClient(deps.HTTPClient, roots, cfg.MTASTSTimeout, netdial.Via(d.policyAddrs, d.dialer))
	resolver := deps.DNS
	if resolver == nil {
		resolver = &dnsClient{addr: cfg.Resolver, tcpOnly: cfg.ResolverTCP, timeout: cfg.DNSTimeout}
	}
	d.dns = newCachingResolver(resolver, cfg.CacheEntries, cfg.CacheMaxTTL, deps.Now)
	d.sts = newSTSCache(deps.DB, cfg.CacheEntries)
	d.history = newHistoryStore(deps.DB, cfg.CacheEntries, deps.Now)
	d.conns = newSessionCache(cfg, deps.Now)
	d.pins = newPinCache(deps.Pins, cfg.PinCacheTTL, cfg.CacheEntries, deps.Now)
	return d, nil
}

// Close ends the cached SMTP sessions (QUIT, waiting a few seconds at most)
// and stops caching; deliveries still work, each on its own connection.
func (d *Deliverer) Close() {
	d.conns.close()
}

func withDefaults(cfg Config) (Config, error) {
	setDefault(&cfg.Port, defaultPort)
	setDefault(&cfg.MaxMX, defaultMaxMX)
	setDefault(&cfg.CacheEntries, defaultCacheEntries)
	for _, p := range []struct {
		v *time.Duration
		d time.Duration
	}{{&cfg.DNSTimeout, defaultDNSTimeout}, {&cfg.DialTimeout, defaultDialTimeout},
		{&cfg.CommandTimeout, defaultCommandTimeout}, {&cfg.DataTimeout, defaultDataTimeout},
		{&cfg.SessionTimeout, defaultSessionTimeout}, {&cfg.MTASTSTimeout, defaultMTASTSTimeout},
		{&cfg.CacheMaxTTL, defaultCacheMaxTTL}, {&cfg.ConnCacheIdle, defaultConnCacheIdle},
		{&cfg.PinCacheTTL, defaultPinCacheTTL}} {
		setDefault(p.v, p.d)
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("%w: no Hostname and none from the system: %w", ErrConfig, err)
		}
		cfg.Hostname = h
	}
	return cfg, nil
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

func checkConfig(cfg Config, deps Deps) error {
	switch {
	case deps.Log == nil:
		return fmt.Errorf("%w: Deps.Log is required", ErrConfig)
	case cfg.Port < 1 || cfg.Port > 65535:
		return fmt.Errorf("%w: port %d", ErrConfig, cfg.Port)
	case strings.ContainsAny(cfg.Hostname, " \r\n\x00"):
		return fmt.Errorf("%w: hostname %q", ErrConfig, cfg.Hostname)
	case cfg.Relay == "" && cfg.Resolver == "" && deps.DNS == nil:
		return fmt.Errorf("%w: a DNS resolver is required", ErrConfig)
	case cfg.Relay != "" && (cfg.RelayUsername == "" || cfg.RelayPassword == ""):
		return fmt.Errorf("%w: the relay needs a username and password", ErrConfig)
	}
	if cfg.Relay != "" {
		if _, _, err := net.SplitHostPort(cfg.Relay); err != nil {
			return fmt.Errorf("%w: relay %q: %w", ErrConfig, cfg.Relay, err)
		}
	}
	if cfg.Resolver != "" {
		if _, _, err := net.SplitHostPort(cfg.Resolver); err != nil {
			return fmt.Errorf("%w: resolver %q: %w", ErrConfig, cfg.Resolver, err)
		}
	}
	return nil
}

// rootPool is the system pool plus extra.
func rootPool(extra []*x509.Certificate, log *slog.Logger) *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil {
		log.Warn("delivery: no system certificate pool; only extra roots are trusted", "err", err)
		pool = x509.NewCertPool()
	}
	for _, c := range extra {
		pool.AddCert(c)
	}
	return pool
}

// Forget drops what Veilig remembers of domain's transport security (DANE or
// MTA-STS seen before, the cached MTA-STS policy), after an operator confirmed
// that the domain dropped them on purpose. The next delivery is no longer
// deferred as suspicious.
func (d *Deliverer) Forget(ctx context.Context, domain string) error {
	dom, err := parseDomain(domain)
	if err != nil {
		return err
	}
	if err := d.history.forget(ctx, dom); err != nil {
		return err
	}
	return d.sts.forget(ctx, dom)
}
