package delivery

// Transport pins (issue 6): an admitted partner domain is pinned to the
// transport security it had when it was admitted (DANE, RFC 7672; MTA-STS
// enforce, RFC 8461; or PKIX to a fixed list of MX hosts). A delivery never
// falls below the pin: it is deferred instead, as a downgrade is (history.go).
// A pin that monitoring suspended defers every delivery until it is restored.
// Domains without a pin (directory-synced ones) are delivered to as before.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors of pinned domains; both defer the delivery (Temporary).
var (
	ErrPinSuspended = errors.New("delivery: partner's transport security is suspended")
	ErrPinViolated  = errors.New("delivery: transport security below the partner's pinned policy")
	ErrPinLookup    = errors.New("delivery: cannot read the partner's transport pin")
)

// Pin policies, as recorded at admission.
const (
	PinDANE   = "dane"
	PinMTASTS = "mta-sts"
	PinPKIX   = "pkix"
)

// Pin is what delivery needs of a domain's transport pin.
type Pin struct {
	Policy    string   // PinDANE, PinMTASTS or PinPKIX
	MXHosts   []string // PinPKIX: the only MX hosts delivered to; empty: any
	Suspended bool
	Reason    string // why it is suspended (for the logs, not shown to senders)
}

// PinSource looks up a domain's pin; ok is false for a domain without one.
type PinSource interface {
	Pin(ctx context.Context, domain string) (pin Pin, ok bool, err error)
}

// defaultPinCacheTTL is how long a pin is cached when Config.PinCacheTTL is 0.
const defaultPinCacheTTL = 5 * time.Second

// pinCache caches pins for ttl, at most max domains (Config.CacheEntries):
// a suspension reaches every delivery within ttl. Lookup errors are not cached.
type pinCache struct {
	src PinSource
	ttl time.Duration
	max int
	now func() time.Time

	mu  sync.Mutex
	mem map[string]pinEntry
}

type pinEntry struct {
	pin Pin
	ok  bool
	at  time.Time
}

func newPinCache(src PinSource, ttl time.Duration, max int, now func() time.Time) *pinCache {
	return &pinCache{src: src, ttl: ttl, max: max, now: now, mem: map[string]pinEntry{}}
}

// get returns domain's pin; without a source, no domain has one.
func (c *pinCache) get(ctx context.Context, domain string) (Pin, bool, error) {
	if c == nil || c.src == nil {
		return Pin{}, false, nil
	}
	now := c.now()
	c.mu.Lock()
	e, hit := c.mem[domain]
	c.mu.Unlock()
	if hit && now.Sub(e.at) < c.ttl && now.Sub(e.at) >= 0 {
		return e.pin, e.ok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	pin, ok, err := c.src.Pin(ctx, domain)
	if err != nil {
		return Pin{}, false, fmt.Errorf("%w: %s: %w", ErrPinLookup, domain, err)
	}
	c.mu.Lock()
	boundedPut(c.mem, c.max, domain, pinEntry{pin: pin, ok: ok, at: now})
	c.mu.Unlock()
	return pin, ok, nil
}

// checkPinned defers a suspended domain before anything is looked up.
func checkPinned(domain string, pin Pin) error {
	if pin.Suspended {
		return fmt.Errorf("%w: %s", ErrPinSuspended, domain)
	}
	return nil
}

// applyPin holds p to pin: the whole delivery is deferred when the domain no
// longer offers the pinned policy at all, and single hosts below it are
// skipped, each with its own evidence.
func applyPin(p *plan, pin Pin) error {
	if _, ok := p.firstUsable(); !ok {
		return nil // nothing would be tried; each host's attempt says why
	}
	switch pin.Policy {
	case PinDANE:
		if !p.dane {
			return fmt.Errorf("%w: %w: %s is pinned to DANE and has no usable DANE records now",
				ErrPinViolated, ErrSuspicious, p.domain)
		}
		skipHosts(p, func(h hostPlan) bool { return len(h.tlsa) == 0 }, "has no usable DANE records, the domain is pinned to DANE")
	case PinMTASTS:
		if !p.dane && p.sts == nil {
			return fmt.Errorf("%w: %w: %s is pinned to MTA-STS and has neither DANE nor an MTA-STS enforce policy now",
				ErrPinViolated, ErrSuspicious, p.domain)
		}
		skipHosts(p, func(h hostPlan) bool { return h.policy == PolicyPKIX },
			"has neither DANE nor MTA-STS, the domain is pinned to MTA-STS")
	case PinPKIX:
		if len(pin.MXHosts) > 0 {
			skipHosts(p, func(h hostPlan) bool { return !pinnedHost(pin.MXHosts, h.name) },
				"is not one of the domain's pinned MX hosts")
		}
	default:
		return fmt.Errorf("%w: %s has an unknown pin %q", ErrPinViolated, p.domain, pin.Policy)
	}
	return nil
}

// skipHosts marks the usable hosts for which below holds as unusable.
func skipHosts(p *plan, below func(hostPlan) bool, why string) {
	for i, h := range p.hosts {
		if h.usable() && below(h) {
			p.hosts[i].err = fmt.Errorf("%w: %s %s", ErrPinViolated, h.name, why)
		}
	}
}

func pinnedHost(hosts []string, name string) bool {
	return slices.ContainsFunc(hosts, func(h string) bool {
		return strings.EqualFold(strings.TrimSuffix(h, "."), name)
	})
}
