package delivery

// DNS through one validating resolver (RFC 4033–4035): queries carry EDNS0 with
// the DO bit (RFC 3225) and the AD bit (RFC 6840 §5.7), so the resolver says
// whether an answer validated. Answers are cached per RFC 2308 and the TTLs.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver asks a validating resolver one question. It returns the response
// whatever its rcode; an error means no usable response (timeout, network).
type Resolver interface {
	Query(ctx context.Context, name string, qtype uint16) (*Response, error)
}

// Response is what the deliverer uses of a DNS answer. It is shared by the
// cache: callers must not modify it.
type Response struct {
	Rcode     int  // dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeServerFailure, …
	Authentic bool // the AD bit: the resolver validated the whole answer
	Answer    []dns.RR
	// TTL is how long the response may be cached: the least TTL of the answer,
	// or for a negative answer that of the SOA (RFC 2308 §5); 0: not at all.
	TTL time.Duration
}

// negativeTTLDefault applies to negative answers without a SOA.
const negativeTTLDefault = 60 * time.Second

// dnsClient queries one resolver with miekg/dns.
type dnsClient struct {
	addr    string
	tcpOnly bool
	timeout time.Duration
}

var _ Resolver = (*dnsClient)(nil)

// Query sends name/qtype over UDP (retrying over TCP when truncated) or TCP.
func (c *dnsClient) Query(ctx context.Context, name string, qtype uint16) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	q := newQuery(name, qtype)
	network := "udp"
	if c.tcpOnly {
		network = "tcp"
	}
	r, err := c.exchange(ctx, q, network)
	if err == nil && r.Truncated && network == "udp" {
		r, err = c.exchange(ctx, q, "tcp")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrDNS, name, dns.TypeToString[qtype], err)
	}
	return toResponse(r), nil
}

func newQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.SetEdns0(4096, true)
	return m
}

func (c *dnsClient) exchange(ctx context.Context, q *dns.Msg, network string) (*dns.Msg, error) {
	client := &dns.Client{Net: network, Timeout: c.timeout}
	r, _, err := client.ExchangeContext(ctx, q, c.addr)
	if err != nil {
		return nil, err
	}
	if !r.Response || len(r.Question) != 1 || r.Question[0].Qtype != q.Question[0].Qtype ||
		!strings.EqualFold(r.Question[0].Name, q.Question[0].Name) {
		return nil, fmt.Errorf("response does not answer the question")
	}
	return r, nil
}

func toResponse(r *dns.Msg) *Response {
	resp := &Response{Rcode: r.Rcode, Authentic: r.AuthenticatedData, Answer: r.Answer}
	resp.TTL = answerTTL(r)
	return resp
}

// answerTTL is the least TTL of the answer, or the negative-caching TTL.
func answerTTL(r *dns.Msg) time.Duration {
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return 0
	}
	if len(r.Answer) > 0 && r.Rcode == dns.RcodeSuccess {
		return minTTL(r.Answer)
	}
	for _, rr := range r.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return negativeTTLDefault
}

func minTTL(rrs []dns.RR) time.Duration {
	least := rrs[0].Header().Ttl
	for _, rr := range rrs[1:] {
		least = min(least, rr.Header().Ttl)
	}
	return time.Duration(least) * time.Second
}

// cachingResolver caches NOERROR and NXDOMAIN responses for their TTL (at most
// maxTTL) in a bounded map; failures are not cached.
type cachingResolver struct {
	next   Resolver
	max    int
	maxTTL time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	resp    *Response
	expires time.Time
}

func newCachingResolver(next Resolver, max int, maxTTL time.Duration, now func() time.Time) *cachingResolver {
	return &cachingResolver{next: next, max: max, maxTTL: maxTTL, now: now, entries: map[cacheKey]cacheEntry{}}
}

// Query answers from the cache or asks the resolver.
func (c *cachingResolver) Query(ctx context.Context, name string, qtype uint16) (*Response, error) {
	key := cacheKey{strings.ToLower(dns.Fqdn(name)), qtype}
	if r := c.get(key); r != nil {
		return r, nil
	}
	r, err := c.next.Query(ctx, key.name, qtype)
	if err != nil {
		return nil, err
	}
	if (r.Rcode == dns.RcodeSuccess || r.Rcode == dns.RcodeNameError) && r.TTL > 0 {
		c.put(key, r)
	}
	return r, nil
}

func (c *cachingResolver) get(key cacheKey) *Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, key)
		return nil
	}
	return e.resp
}

func (c *cachingResolver) put(key cacheKey, r *Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[key] = cacheEntry{resp: r, expires: now.Add(min(r.TTL, c.maxTTL))}
}

// evict drops expired entries, or one arbitrary entry when none expired.
func (c *cachingResolver) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max {
			return
		}
		delete(c.entries, k)
	}
}
