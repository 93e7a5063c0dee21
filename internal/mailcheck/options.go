package mailcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/veilig/veilig/internal/netdial"
)

// DefaultPort is the SMTP port probed when Options.Port is 0 (RFC 5321 §4.5.4.2).
const DefaultPort = 25

// Options configure a Checker made by NewWithOptions. The zero value probes
// port 25 with the system roots and a default timeout.
type Options struct {
	Port       int            // SMTP port probed (VEILIG_DELIVERY_PORT); 0 selects DefaultPort
	EHLOName   string         // name sent in EHLO; "" selects DefaultEHLOName
	Roots      *x509.CertPool // PKIX roots for STARTTLS certificates and the MTA-STS fetch; nil = system
	HTTPClient *http.Client   // for the MTA-STS policy fetch; nil = a client trusting Roots, no redirects, resolving through the Resolver
	Timeout    time.Duration  // bounds each test; <= 0 selects DefaultTimeout
	// AllowPrivate lets the STARTTLS probes and the MTA-STS fetch connect to
	// loopback, private, link-local and other non-public addresses
	// (VEILIG_CHECK_ALLOW_PRIVATE; tests on 127.0.0.x). Off, an applicant's MX
	// or mta-sts host pointing at 127.0.0.1, 10/8 or 169.254.169.254 is rated,
	// never connected to (SSRF, OWASP ASVS 12.6.1). A caller-supplied
	// HTTPClient dials as its owner decided.
	AllowPrivate bool
}

// errRedirect refuses HTTP redirects for the MTA-STS fetch (RFC 8461 §3.3).
var errRedirect = errors.New("mailcheck: MTA-STS policy fetch must not be redirected")

// NewWithOptions returns a Checker asking r and probing as o says.
func NewWithOptions(r Resolver, log *slog.Logger, o Options) *Checker {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Port <= 0 {
		o.Port = DefaultPort
	}
	if o.EHLOName == "" {
		o.EHLOName = DefaultEHLOName
	}
	c := &Checker{r: r, log: log, timeout: o.Timeout, opts: o, now: time.Now}
	if c.opts.HTTPClient == nil {
		dial := netdial.Via(c.policyAddrs, newDialer(o.AllowPrivate))
		c.opts.HTTPClient = defaultHTTPClient(o.Roots, o.Timeout, dial)
	}
	return c
}

// defaultHTTPClient trusts roots (nil: the system's), follows no redirects,
// connects with dial and gives up after timeout.
func defaultHTTPClient(roots *x509.CertPool, timeout time.Duration,
	dial func(ctx context.Context, network, address string) (net.Conn, error)) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.Proxy = nil
	tr.DialContext = dial
	return &http.Client{
		Timeout:       timeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
	}
}
