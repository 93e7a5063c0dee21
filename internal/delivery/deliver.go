package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	moxdns "github.com/mjl-/mox/dns"
)

// previewTimeout bounds a Preview (lookups are usually cached).
const previewTimeout = 15 * time.Second

// Deliver sends env to domain's mail servers, trying MX hosts in order until
// one accepts the message or refuses it for good. It never returns without an
// outcome: anything unexpected is Temporary.
func (d *Deliverer) Deliver(ctx context.Context, domain string, env Envelope) Result {
	res := d.deliver(ctx, domain, env)
	d.logResult(domain, env, res)
	return res
}

func (d *Deliverer) deliver(ctx context.Context, domain string, env Envelope) Result {
	dom, err := parseDomain(domain)
	if err == nil {
		err = checkEnvelope(dom, env)
	}
	if err != nil {
		return failure(err)
	}
	p, err := d.route(ctx, dom, true)
	if err != nil {
		return failure(err)
	}
	return d.tryHosts(ctx, p, env)
}

// route returns the plan for dom, or an error that ends the delivery: a DNS
// failure, a domain that takes no mail, a suspicious downgrade, or a partner
// whose transport pin is suspended or no longer met. record
// updates the transport history.
func (d *Deliverer) route(ctx context.Context, dom string, record bool) (*plan, error) {
	if d.cfg.Relay != "" {
		return d.planRelay(), nil
	}
	pin, pinned, err := d.pins.get(ctx, dom)
	if err == nil && pinned {
		err = checkPinned(dom, pin)
	}
	if err != nil {
		return nil, err
	}
	p, err := d.planDomain(ctx, dom)
	if err != nil {
		return nil, err
	}
	if err := d.checkDowngrade(ctx, p, record); err != nil {
		return nil, err
	}
	if pinned {
		if err := applyPin(p, pin); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// checkDowngrade records DANE and MTA-STS when present and, when both are
// absent for a domain that had one, returns ErrSuspicious.
func (d *Deliverer) checkDowngrade(ctx context.Context, p *plan, record bool) error {
	if p.dane || p.sts != nil {
		if record {
			if err := d.history.seen(ctx, p.domain, p.dane, p.sts != nil); err != nil {
				d.log.Warn("delivery: transport history not updated", "domain", p.domain, "err", err)
			}
		}
		return nil
	}
	if _, ok := p.firstUsable(); !ok {
		return nil // nothing would be tried anyway
	}
	h, err := d.history.get(ctx, p.domain)
	if err != nil {
		return fmt.Errorf("delivery: cannot check for a downgrade: %w", err)
	}
	if p.stsNone && !h.sts.IsZero() {
		h.sts = time.Time{} // withdrawn properly (RFC 8461 §8.3)
		if record {
			if err := d.history.clearSTS(ctx, p.domain); err != nil {
				d.log.Warn("delivery: transport history not updated", "domain", p.domain, "err", err)
			}
		}
	}
	if !h.any() {
		return nil
	}
	return fmt.Errorf("%w: %s had %s and now has neither DANE nor an MTA-STS enforce policy",
		ErrSuspicious, p.domain, describeHistory(h))
}

func describeHistory(h history) string {
	var had []string
	if !h.dane.IsZero() {
		had = append(had, "DANE (last seen "+h.dane.UTC().Format(time.RFC3339)+")")
	}
	if !h.sts.IsZero() {
		had = append(had, "MTA-STS (last seen "+h.sts.UTC().Format(time.RFC3339)+")")
	}
	return strings.Join(had, " and ")
}

// tryHosts tries p's hosts in order.
func (d *Deliverer) tryHosts(ctx context.Context, p *plan, env Envelope) Result {
	var res Result
	last := errNoMoreTargets
	for _, h := range p.hosts {
		if err := ctx.Err(); err != nil {
			last = fmt.Errorf("delivery: %w", err)
			break
		}
		a, refused, err := d.tryHost(ctx, h, env)
		res.Attempts = append(res.Attempts, a)
		if err == nil {
			return delivered(res, env, refused)
		}
		last = err
		if classify(err) == Permanent {
			break
		}
	}
	res.Outcome, res.Reason = classify(last), reason(last)
	return res
}

// tryHost makes one attempt at h: its first reachable address.
func (d *Deliverer) tryHost(ctx context.Context, h hostPlan, env Envelope) (Attempt, map[string]error, error) {
	a := Attempt{StartedAt: d.now(), MX: h.name, Policy: h.policy}
	if h.err != nil {
		d.finish(&a, h.err)
		return a, nil, h.err
	}
	refused, err := d.attempt(ctx, h, env, &a)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("delivery: %w: %w", ctx.Err(), err)
	}
	d.finish(&a, err)
	return a, refused, err
}

// attempt delivers over a cached session for h if there is one and, when there
// is none or it fails in a way a new connection may not, over a new connection:
// a stale cached session never decides a delivery.
func (d *Deliverer) attempt(ctx context.Context, h hostPlan, env Envelope, a *Attempt) (map[string]error, error) {
	if s := d.conns.take(d.sessionKeys(h)); s != nil {
		refused, err := d.session(ctx, s, h, env, a)
		if err == nil || !reconnectable(ctx, err) {
			return refused, err
		}
		d.log.Debug("delivery: cached session failed, connecting again", "mx", h.name, "err", err)
		*a = Attempt{StartedAt: a.StartedAt, MX: h.name, Policy: h.policy}
	}
	raw, target, err := d.dial(ctx, h, a)
	if err != nil {
		return nil, err
	}
	return d.session(ctx, &smtpSession{key: keyFor(h, target), raw: raw, opened: d.now()}, h, env, a)
}

// sessionKeys are the cache keys of h's addresses, in the order they are dialed.
func (d *Deliverer) sessionKeys(h hostPlan) []sessionKey {
	targets := d.targets(h)
	keys := make([]sessionKey, len(targets))
	for i, t := range targets {
		keys[i] = keyFor(h, t)
	}
	return keys
}

// reconnectable reports whether a failure on a cached session may be retried
// on a new connection within the same attempt: not when the delivery's context
// ended, nor when the message cannot be read or the server may already have it
// (finalError).
func reconnectable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrMessage) {
		return false
	}
	_, final := errors.AsType[finalError](err)
	return !final
}

func (d *Deliverer) finish(a *Attempt, err error) {
	a.FinishedAt = d.now()
	if err == nil {
		return
	}
	a.Error = reason(err)
	if se, ok := errors.AsType[*SMTPError](err); ok {
		a.Code, a.Enhanced, a.Reply = se.Code, se.Enhanced, se.Reply()
	}
}

// targets are the addresses to dial for h: the relay's "host:port", or the
// host's addresses on the SMTP port.
func (d *Deliverer) targets(h hostPlan) []string {
	if h.addr != "" {
		return []string{h.addr}
	}
	targets := make([]string, 0, len(h.ips))
	for _, ip := range h.ips {
		targets = append(targets, net.JoinHostPort(ip.String(), strconv.Itoa(d.cfg.Port)))
	}
	return targets
}

// dial connects to the relay or to the first of h's addresses that answers,
// and returns the connection and the address dialed.
func (d *Deliverer) dial(ctx context.Context, h hostPlan, a *Attempt) (net.Conn, string, error) {
	var errs []error
	for _, t := range d.targets(h) {
		a.IP = hostOf(t)
		dctx, cancel := context.WithTimeout(ctx, d.cfg.DialTimeout)
		conn, err := d.dialer.DialContext(dctx, "tcp", t)
		cancel()
		if err == nil {
			if tcp, ok := conn.RemoteAddr().(*net.TCPAddr); ok && h.addr != "" {
				a.IP = tcp.IP.String() // the relay's address as resolved by the dialer
			}
			return conn, t, nil
		}
		errs = append(errs, err)
	}
	return nil, "", fmt.Errorf("delivery: connect to %s: %w", h.name, errors.Join(errs...))
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

// delivered completes a Result for an accepted message.
func delivered(res Result, env Envelope, refused map[string]error) Result {
	last := res.Attempts[len(res.Attempts)-1]
	res.Outcome = Delivered
	res.Reason = fmt.Sprintf("delivered to %s (%s)", last.MX, last.Policy)
	if len(refused) == 0 {
		return res
	}
	res.PerRecipient = make(map[string]Outcome, len(env.To))
	res.Outcome = Permanent
	var why []string
	for _, to := range env.To {
		o := Delivered
		if err, ok := refused[to]; ok {
			o = classify(err)
			why = append(why, reason(err))
		}
		res.PerRecipient[to] = o
		if o == Temporary {
			res.Outcome = Temporary
		}
	}
	res.Reason = "some recipients refused: " + strings.Join(why, "; ")
	return res
}

func failure(err error) Result {
	return Result{Outcome: classify(err), Reason: reason(err), Suspicious: errors.Is(err, ErrSuspicious)}
}

func reason(err error) string { return strings.TrimPrefix(err.Error(), "delivery: ") }

// publicReason names the sentinel behind err and nothing more: a preview is shown
// to every sender, so resolver addresses and socket errors stay in the logs.
func publicReason(err error) string {
	if errors.Is(err, ErrDNS) && strings.Contains(err.Error(), "SERVFAIL") {
		return reason(ErrDNS) + ": SERVFAIL (DNSSEC validation failed, or the resolver failed)"
	}
	for _, e := range append(slices.Clone(permanentErrors), ErrPinSuspended, ErrPinViolated, ErrPinLookup, ErrDNS,
		ErrNoAddress, ErrNotInPolicy, ErrNoSTARTTLS, ErrTLS, ErrDANE, ErrRelayAuth, ErrProtocol, ErrSuspicious,
		errNoMoreTargets) {
		if errors.Is(err, e) {
			return reason(e)
		}
	}
	return "transport security cannot be established now"
}

func (d *Deliverer) logResult(domain string, env Envelope, res Result) {
	args := []any{"domain", domain, "recipients", len(env.To), "outcome", res.Outcome.String(),
		"attempts", len(res.Attempts), "reason", res.Reason}
	if n := len(res.Attempts); n > 0 {
		a := res.Attempts[n-1]
		args = append(args, "mx", a.MX, "ip", a.IP, "policy", string(a.Policy), "tls", a.TLSVersion, "code", a.Code,
			"reused", a.Reused)
	}
	if res.Suspicious {
		d.log.Warn("delivery: suspicious downgrade, deferred", args...)
		return
	}
	d.log.Info("delivery", args...)
}

// Preview says how delivery to domain would be secured now, from the same
// (cached) lookups a delivery uses; it connects to no mail server.
func (d *Deliverer) Preview(ctx context.Context, domain string) Transport {
	if d.cfg.Relay != "" {
		return Transport{Mode: TransportRelay, Reason: "all mail goes through the configured relay (STARTTLS, PKIX, AUTH)"}
	}
	ctx, cancel := context.WithTimeout(ctx, previewTimeout)
	defer cancel()
	dom, err := parseDomain(domain)
	if err != nil {
		return unavailable(err)
	}
	p, err := d.route(ctx, dom, false)
	if err != nil {
		return unavailable(err)
	}
	h, ok := p.firstUsable()
	if !ok {
		return unavailable(p.hosts[0].err)
	}
	switch h.policy {
	case PolicyDANEEE, PolicyDANETA:
		return Transport{Mode: TransportDANE, Reason: "DNSSEC-signed TLSA records for " + h.name}
	case PolicyMTASTS:
		return Transport{Mode: TransportMTASTS, Reason: "MTA-STS enforce policy lists " + h.name}
	}
	return Transport{Mode: TransportPKIX, Reason: "PKIX certificate required for " + h.name}
}

func unavailable(err error) Transport {
	return Transport{Mode: TransportUnavailable, Reason: publicReason(err)}
}

// parseDomain returns domain as a lower-case A-label name without final dot.
func parseDomain(domain string) (string, error) {
	d, err := moxdns.ParseDomain(strings.TrimSuffix(domain, "."))
	if err != nil || !strings.Contains(d.ASCII, ".") {
		return "", fmt.Errorf("%w: %q", ErrDomain, domain)
	}
	return d.ASCII, nil
}

// checkEnvelope requires recipients, all at dom, and a message.
func checkEnvelope(dom string, env Envelope) error {
	if len(env.To) == 0 || env.Open == nil {
		return fmt.Errorf("%w: no recipients or no message", ErrEnvelope)
	}
	if strings.ContainsAny(env.From, "\r\n<>") {
		return fmt.Errorf("%w: sender address", ErrEnvelope)
	}
	for _, to := range env.To {
		at := strings.LastIndexByte(to, '@')
		if at < 1 || strings.ContainsAny(to, "\r\n<>") {
			return fmt.Errorf("%w: recipient address %q", ErrEnvelope, to)
		}
		if rd, err := parseDomain(to[at+1:]); err != nil || rd != dom {
			return fmt.Errorf("%w: recipient %q is not at %s", ErrEnvelope, to, dom)
		}
	}
	return nil
}
