package testenv

// The lab's DNS: Knot DNS serves test zones, signed on load with DNSSEC (RFC 4033–
// 4035; ECDSA P-256 SHA-256, RFC 6605; NSEC3 without iterations or salt, RFC 5155,
// RFC 9276) or unsigned, and an Unbound validating resolver in front of it trusts
// each signed zone through a static DS trust anchor. A zone marked Bogus gets a
// wrong DS, so the resolver answers SERVFAIL (RFC 4035 §5.5, EDE RFC 8914).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone is a test zone served by the lab.
type Zone struct {
	// Name is the zone's apex, e.g. "dane-ee.test." (the final dot is optional).
	Name string
	// Signed has the zone signed (ECDSA P-256, NSEC3) and trusted by the resolver.
	Signed bool
	// Bogus makes a signed zone fail validation: the resolver's trust anchor is a
	// wrong DS, so every answer from the zone is SERVFAIL. Bogus implies Signed.
	Bogus bool
	// Records are RFC 1035 zone-file lines relative to the zone, e.g.
	// "@ MX 10 mx.dane-ee.test.", "mx A 127.0.0.1",
	// "_25._tcp.mx TLSA 3 1 1 <hex>". The default TTL is 60 s; a line may set its
	// own. SOA, the apex NS "ns" and "ns A 127.0.0.1" are added by the lab.
	Records []string
}

// DNS is a Knot authoritative server and an Unbound validating resolver on
// 127.0.0.1, stopped when the test ends.
type DNS struct {
	t              testing.TB
	dir            string
	sock           string
	nonce          string
	knotd, knotc   string
	unbound, uctl  string
	authPort       int
	resolverPort   int
	knot, resolver *daemon

	mu    sync.Mutex
	zones []*labZone
}

type labZone struct {
	Zone
	serial uint32
	ds     string // trust anchor RDATA for signed zones
}

// Fixed timing of the lab's DNS.
const (
	dnsStartTimeout = 15 * time.Second
	dnsQueryTimeout = 5 * time.Second
)

// StartDNS serves zones and returns once the resolver answers for them. Unless
// a zone named "test." is given, the lab also serves an unsigned "test." zone
// delegating to the others, so unknown names under .test answer NXDOMAIN.
func StartDNS(t testing.TB, zones []Zone) *DNS {
	t.Helper()
	bins := requireBinaries(t, "knot", "knotd", "knotc")
	ubins := requireBinaries(t, "unbound", "unbound", "unbound-control")
	d := &DNS{t: t, dir: t.TempDir(), sock: socketDir(t), nonce: randomHex(6),
		knotd: bins[0], knotc: bins[1], unbound: ubins[0], uctl: ubins[1]}
	d.zones = labZones(t, zones)
	for _, dir := range []string{"zones", "knotdb"} {
		if err := os.Mkdir(d.path(dir), 0o700); err != nil {
			t.Fatalf("dns: %v", err)
		}
	}
	for _, z := range d.zones {
		d.writeZone(t, z)
	}
	d.startKnot()
	d.trustAnchors()
	d.startResolver()
	return d
}

// labZones normalises zones and adds the "test." parent when it is missing.
func labZones(t testing.TB, zones []Zone) []*labZone {
	t.Helper()
	var out []*labZone
	seen := map[string]bool{}
	var children []string
	for _, z := range zones {
		z.Name = strings.ToLower(dns.Fqdn(z.Name))
		if _, ok := dns.IsDomainName(z.Name); !ok || seen[z.Name] || z.Name == "." {
			t.Fatalf("dns: invalid or duplicate zone name %q", z.Name)
		}
		seen[z.Name] = true
		z.Signed = z.Signed || z.Bogus
		out = append(out, &labZone{Zone: z, serial: 1})
		if rel, ok := strings.CutSuffix(z.Name, ".test."); ok {
			children = append(children, rel)
		}
	}
	if !seen["test."] {
		var recs []string
		for _, rel := range children {
			if !nestedZone(rel, seen) {
				recs = append(recs, rel+" NS ns."+rel, "ns."+rel+" A 127.0.0.1")
			}
		}
		out = append(out, &labZone{Zone: Zone{Name: "test.", Records: recs}, serial: 1})
	}
	return out
}

// nestedZone reports whether the zone rel+".test." lies inside another lab
// zone (which, not "test.", would delegate it).
func nestedZone(rel string, zones map[string]bool) bool {
	for _, up, ok := strings.Cut(rel, "."); ok; _, up, ok = strings.Cut(up, ".") {
		if zones[up+".test."] {
			return true
		}
	}
	return false
}

func (d *DNS) path(name string) string { return filepath.Join(d.dir, name) }

func (d *DNS) zoneFile(z *labZone) string { return d.path(filepath.Join("zones", z.Name+"zone")) }

// mbox is the SOA RNAME, carrying the lab's nonce so readiness checks know they
// reached this lab's server.
func (d *DNS) mbox(z *labZone) string { return "lab-" + d.nonce + "." + z.Name }

// zoneText renders z as a zone file.
func (d *DNS) zoneText(z *labZone) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 60\n", z.Name)
	fmt.Fprintf(&b, "@ SOA ns.%s %s %d 3600 600 86400 60\n", z.Name, d.mbox(z), z.serial)
	fmt.Fprintf(&b, "@ NS ns.%s\nns.%s A 127.0.0.1\n", z.Name, z.Name)
	for _, r := range z.Records {
		b.WriteString(r + "\n")
	}
	return b.String()
}

// writeZone checks z's records with miekg/dns (clearer errors than Knot's log)
// and writes the zone file.
func (d *DNS) writeZone(t testing.TB, z *labZone) {
	t.Helper()
	text := d.zoneText(z)
	zp := dns.NewZoneParser(strings.NewReader(text), z.Name, "")
	for _, ok := zp.Next(); ok; _, ok = zp.Next() {
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("dns: zone %s: %v", z.Name, err)
	}
	if err := os.WriteFile(d.zoneFile(z), []byte(text), 0o600); err != nil {
		t.Fatalf("dns: %v", err)
	}
}

func (d *DNS) knotConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  rundir: %q\n  listen: 127.0.0.1@%d\n", d.sock, d.authPort)
	b.WriteString("  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n")
	fmt.Fprintf(&b, "control:\n  listen: %q\n", filepath.Join(d.sock, "knot.sock"))
	b.WriteString("log:\n  - target: stderr\n    any: info\n")
	fmt.Fprintf(&b, "database:\n  storage: %q\n", d.path("knotdb"))
	b.WriteString("policy:\n  - id: lab\n    algorithm: ecdsap256sha256\n    nsec3: on\n" +
		"    nsec3-iterations: 0\n    nsec3-salt-length: 0\n")
	common := "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n"
	b.WriteString("template:\n  - id: default\n" + common)
	b.WriteString("  - id: signed\n" + common + "    dnssec-signing: on\n    dnssec-policy: lab\n")
	b.WriteString("zone:\n")
	for _, z := range d.zones {
		fmt.Fprintf(&b, "  - domain: %q\n    file: %q\n", z.Name, d.zoneFile(z))
		if z.Signed {
			b.WriteString("    template: signed\n")
		}
	}
	return b.String()
}

// startKnot starts knotd on a free port, retrying when the port was taken.
func (d *DNS) startKnot() {
	d.t.Helper()
	var err error
	for range 5 {
		if d.authPort, err = freeDualPort("127.0.0.1"); err != nil {
			d.t.Fatalf("dns: free port: %v", err)
		}
		if err = os.WriteFile(d.path("knot.conf"), []byte(d.knotConfig()), 0o600); err != nil {
			d.t.Fatalf("dns: %v", err)
		}
		if d.knot, err = startDaemon("knotd", d.path("knotd.log"), d.knotd, "-c", d.path("knot.conf")); err != nil {
			d.t.Fatalf("dns: %v", err)
		}
		if err = d.knot.waitReady(dnsStartTimeout, d.knotServesAll); err == nil {
			d.t.Cleanup(d.knot.stop)
			return
		}
		d.knot.kill()
	}
	d.t.Fatalf("dns: %v", err)
}

// knotServesAll reports whether this lab's knotd answers every zone's SOA.
func (d *DNS) knotServesAll() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, z := range d.zones {
		if err := d.knotServes(z); err != nil {
			return err
		}
	}
	return nil
}

// knotServes checks that knotd serves z at its current serial (or later: a
// signed zone's serial may be bumped when it is re-signed).
func (d *DNS) knotServes(z *labZone) error {
	r, err := exchange(d.AuthAddr(), "udp", z.Name, dns.TypeSOA, false)
	if err != nil {
		return err
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && soa.Mbox == d.mbox(z) && soa.Serial >= z.serial {
			return nil
		}
	}
	return fmt.Errorf("zone %s not served yet (rcode %s)", z.Name, dns.RcodeToString[r.Rcode])
}

// trustAnchors derives each signed zone's DS from the KSK knotd published (what
// `keymgr ZONE ds` prints); a Bogus zone gets a corrupted digest.
func (d *DNS) trustAnchors() {
	d.t.Helper()
	for _, z := range d.zones {
		if !z.Signed {
			continue
		}
		ds, err := d.kskDS(z.Name)
		if err != nil {
			d.t.Fatalf("dns: trust anchor for %s: %v", z.Name, err)
		}
		if z.Bogus {
			ds.Digest = corruptHex(ds.Digest)
		}
		z.ds = fmt.Sprintf("%d %d %d %s", ds.KeyTag, ds.Algorithm, ds.DigestType, strings.ToUpper(ds.Digest))
	}
}

func (d *DNS) kskDS(zone string) (*dns.DS, error) {
	r, err := exchange(d.AuthAddr(), "tcp", zone, dns.TypeDNSKEY, false)
	if err != nil {
		return nil, err
	}
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok && k.Flags&dns.SEP != 0 {
			if ds := k.ToDS(dns.SHA256); ds != nil {
				return ds, nil
			}
		}
	}
	return nil, fmt.Errorf("no KSK in the DNSKEY answer")
}

// corruptHex flips the last hex digit.
func corruptHex(h string) string {
	if h == "" {
		return "00"
	}
	last := "0"
	if h[len(h)-1] == '0' {
		last = "1"
	}
	return h[:len(h)-1] + last
}

func (d *DNS) unboundConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  interface: 127.0.0.1\n  port: %d\n  do-ip6: no\n  so-reuseport: no\n", d.resolverPort)
	fmt.Fprintf(&b, "  username: \"\"\n  chroot: \"\"\n  directory: %q\n  pidfile: %q\n", d.dir, d.path("unbound.pid"))
	b.WriteString("  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  val-log-level: 2\n  num-threads: 1\n")
	b.WriteString("  do-not-query-localhost: no\n  module-config: \"validator iterator\"\n  ede: yes\n")
	b.WriteString("  qname-minimisation: no\n  trust-anchor-signaling: no\n  root-key-sentinel: no\n")
	b.WriteString("  local-zone: \"test.\" nodefault\n")
	for _, z := range d.zones {
		if z.Signed {
			fmt.Fprintf(&b, "  trust-anchor: \"%s DS %s\"\n", z.Name, z.ds)
		} else {
			fmt.Fprintf(&b, "  domain-insecure: %q\n", z.Name)
		}
	}
	fmt.Fprintf(&b, "remote-control:\n  control-enable: yes\n  control-interface: %q\n  control-use-cert: no\n",
		filepath.Join(d.sock, "unbound.ctl"))
	for _, z := range d.zones {
		fmt.Fprintf(&b, "stub-zone:\n  name: %q\n  stub-addr: 127.0.0.1@%d\n", z.Name, d.authPort)
	}
	return b.String()
}

// startResolver starts unbound on a free port, retrying when the port was taken.
func (d *DNS) startResolver() {
	d.t.Helper()
	var err error
	for range 5 {
		if d.resolverPort, err = freeDualPort("127.0.0.1"); err != nil {
			d.t.Fatalf("dns: free port: %v", err)
		}
		if err = os.WriteFile(d.path("unbound.conf"), []byte(d.unboundConfig()), 0o600); err != nil {
			d.t.Fatalf("dns: %v", err)
		}
		if d.resolver, err = startDaemon("unbound", d.path("unbound.log"), d.unbound, "-d", "-c", d.path("unbound.conf")); err != nil {
			d.t.Fatalf("dns: %v", err)
		}
		if err = d.resolver.waitReady(dnsStartTimeout, d.resolverAnswers); err == nil {
			d.t.Cleanup(d.resolver.stop)
			return
		}
		d.resolver.kill()
	}
	d.t.Fatalf("dns: %v", err)
}

// resolverAnswers reports whether unbound answers at all (any rcode will do).
func (d *DNS) resolverAnswers() error {
	_, err := exchange(d.ResolverAddr(), "tcp", d.zones[0].Name, dns.TypeSOA, true)
	return err
}

// ResolverAddr is the validating resolver, "127.0.0.1:PORT" (the product's
// VEILIG_DNS_RESOLVER). It sets the AD bit for answers from signed zones.
func (d *DNS) ResolverAddr() string { return "127.0.0.1:" + strconv.Itoa(d.resolverPort) }

// AuthAddr is the authoritative server, "127.0.0.1:PORT".
func (d *DNS) AuthAddr() string { return "127.0.0.1:" + strconv.Itoa(d.authPort) }

// DS returns the trust anchor RDATA ("keytag alg digesttype digest") the
// resolver holds for a signed zone (wrong for a Bogus one), or "".
func (d *DNS) DS(zone string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if z := d.zone(zone); z != nil {
		return z.ds
	}
	return ""
}

func (d *DNS) zone(name string) *labZone {
	name = strings.ToLower(dns.Fqdn(name))
	for _, z := range d.zones {
		if z.Name == name {
			return z
		}
	}
	return nil
}

// Update replaces the records of a running zone (keeping its Signed and Bogus
// state): it rewrites the zone file with a higher serial, reloads it in Knot
// (re-signing it), waits until Knot serves it and flushes the zone from the
// resolver's cache, so the next lookup sees the new data.
func (d *DNS) Update(t testing.TB, zone string, records []string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	z := d.zone(zone)
	if z == nil {
		t.Fatalf("dns: update: no zone %q in the lab", zone)
	}
	z.Records = records
	z.serial++
	d.writeZone(t, z)
	d.control(t, d.knotc, "-c", d.path("knot.conf"), "-b", "zone-reload", z.Name)
	deadline := time.Now().Add(dnsStartTimeout)
	for err := d.knotServes(z); err != nil; err = d.knotServes(z) {
		if time.Now().After(deadline) {
			t.Fatalf("dns: update %s: %v\n%s", z.Name, err, d.knot.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.control(t, d.uctl, "-c", d.path("unbound.conf"), "flush_zone", z.Name)
}

// control runs a control command (knotc, unbound-control) with a timeout.
func (d *DNS) control(t testing.TB, argv ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("dns: %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// Query asks the resolver for name/qtype over TCP with the DO bit set (RFC
// 3225) and returns the whole response, so tests can check Rcode and
// AuthenticatedData.
func (d *DNS) Query(t testing.TB, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := exchange(d.ResolverAddr(), "tcp", name, qtype, true)
	if err != nil {
		t.Fatalf("dns: query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// exchange sends one query with EDNS0 and the DO bit to addr.
func exchange(addr, network, name string, qtype uint16, recurse bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = recurse
	m.SetEdns0(4096, true)
	c := &dns.Client{Net: network, Timeout: dnsQueryTimeout}
	r, _, err := c.Exchange(m, addr)
	return r, err
}
