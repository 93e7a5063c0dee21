package mailcheck

// The mail-standards lab: one Knot + Unbound serving a zone per scenario
// (signed, unsigned or bogus), real Postfix MXes (modern STARTTLS, none) and
// Go SMTP servers for what Postfix cannot easily play (TLS 1.0 only, an
// RSA-1024 certificate), all on one port at their own 127.0.0.x address, and
// an MTA-STS policy server. Shared by lab_test.go and bench_test.go.

import (
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

// Loopback addresses of the lab's MX servers (all on mailLab.port).
const (
	ipGood1   = "127.0.0.32" // Postfix, TLS 1.2+, CA certificate for every mx1.*
	ipGood2   = "127.0.0.33" // Postfix, TLS 1.2+, CA certificate for every mx2.*
	ipOff     = "127.0.0.34" // Postfix without STARTTLS
	ipTLS10   = "127.0.0.35" // Go server, TLS 1.0 only
	ipRSA1024 = "127.0.0.36" // Go server, RSA-1024 certificate
)

// labCheckTimeout bounds one whole Report in the lab.
const labCheckTimeout = 60 * time.Second

// mailLab is the running lab.
type mailLab struct {
	ca           *testenv.CA
	dns          *testenv.DNS
	sts          *testenv.MTASTS
	port         int
	good1, good2 *testenv.Postfix
	off          *testenv.Postfix
	tls10, rsa   *testenv.SMTPServer
	next, wrong  string // TLSA 3 1 1 RDATA: a standby (rollover) key, an unrelated key
	tlsaByIP     map[string]string
	mxNames1     []string // mx1.<domain> of every domain, for the certificates
	mxNames2     []string
}

// labOptions says which parts of the lab to start.
type labOptions struct {
	domains    []string // zones whose MX names the modern Postfix certificates cover
	badServers bool     // also the no-STARTTLS Postfix and the Go servers
}

// startMailServers starts the MX servers; zones are added by startLabDNS.
func startMailServers(t testing.TB, o labOptions) *mailLab {
	t.Helper()
	if len(o.domains) == 0 {
		t.Fatal("mail lab: no domains")
	}
	l := &mailLab{ca: testenv.NewCA(t), tlsaByIP: map[string]string{}}
	for _, d := range o.domains {
		l.mxNames1 = append(l.mxNames1, "mx1."+d)
		l.mxNames2 = append(l.mxNames2, "mx2."+d)
	}
	c1, c2 := l.ca.Issue(t, l.mxNames1...), l.ca.Issue(t, l.mxNames2...)
	l.good1 = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: l.mxNames1[0], IP: ipGood1, Certificate: &c1})
	l.port = l.good1.Port()
	l.good2 = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: l.mxNames2[0], IP: ipGood2, Port: l.port,
		Certificate: &c2})
	l.tlsaByIP[ipGood1], l.tlsaByIP[ipGood2] = l.good1.TLSA(3, 1, 1), l.good2.TLSA(3, 1, 1)
	if o.badServers {
		l.startBadServers(t)
	}
	l.next = mustTLSA(t, testenv.SelfSigned(t, "next.invalid").Leaf)
	l.wrong = mustTLSA(t, testenv.SelfSigned(t, "wrong.invalid").Leaf)
	return l
}

// startBadServers starts the MXes whose STARTTLS is graded fail or warning.
func (l *mailLab) startBadServers(t testing.TB) {
	t.Helper()
	l.off = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx1.nostarttls.test", IP: ipOff,
		Port: l.port, TLS: testenv.PostfixTLSOff})
	c10 := l.ca.Issue(t, "mx1.tls10.test")
	l.tls10 = testenv.StartSMTP(t, testenv.SMTPOptions{Hostname: "mx1.tls10.test", IP: ipTLS10, Port: l.port,
		TLS: testenv.SMTPTLS10Only, Certificate: &c10})
	weak := l.ca.IssueRSA(t, 1024, "mx1.rsa1024.test")
	l.rsa = testenv.StartSMTP(t, testenv.SMTPOptions{Hostname: "mx1.rsa1024.test", IP: ipRSA1024, Port: l.port,
		Certificate: &weak})
	l.tlsaByIP[ipOff] = l.off.TLSA(3, 1, 1)
	l.tlsaByIP[ipTLS10], l.tlsaByIP[ipRSA1024] = l.tls10.TLSA(3, 1, 1), l.rsa.TLSA(3, 1, 1)
}

// mustTLSA is the DANE-EE SPKI SHA2-256 ("3 1 1") RDATA of cert.
func mustTLSA(t testing.TB, cert *x509.Certificate) string {
	t.Helper()
	rd, err := testenv.TLSA(3, 1, 1, cert)
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

// startLabDNS serves zones (plus the lab's "test." parent) and the MTA-STS
// policy of every domain in policies.
func (l *mailLab) startLabDNS(t testing.TB, zones []testenv.Zone, policies map[string]string) {
	t.Helper()
	l.dns = testenv.StartDNS(t, zones)
	l.sts = testenv.StartMTASTS(t, l.ca, policies)
}

// checker is a Checker on the lab: its resolver, port, CA and policy server.
func (l *mailLab) checker(t testing.TB) *Checker {
	t.Helper()
	log := testenv.Discard()
	if tt, ok := t.(*testing.T); ok {
		log = testenv.Logger(tt)
	}
	return NewWithOptions(NewDNS(l.dns.ResolverAddr(), 10*time.Second), log, Options{
		Port: l.port, Roots: l.ca.Pool(), HTTPClient: l.sts.Client(), Timeout: labCheckTimeout,
		AllowPrivate: true, // the lab's mail servers are on 127.0.0.x
	})
}

// zoneSpec describes a scenario's zone as changes to a domain that passes.
type zoneSpec struct {
	signed, bogus bool
	spf           []string // apex SPF records; nil: one good record
	dmarc         []string // _dmarc records; nil: one p=reject record
	mx1IP         string   // where mx1 points; "": the first modern Postfix
	wrongTLSA     bool     // mx1's TLSA records match neither its certificate nor a standby key
	noRollover    bool     // mx1 has only its current key's TLSA record
	mtaSTS        bool     // publish _mta-sts and _smtp._tls (policy served by the lab)
	extra         []string
}

// goodSPF and goodDMARC are what a passing domain publishes.
const (
	goodSPF   = "v=spf1 ip4:127.0.0.0/8 -all"
	goodDMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@%s"
)

// records renders the zone of domain from s.
func (l *mailLab) records(domain string, s zoneSpec) []string {
	if s.mx1IP == "" {
		s.mx1IP = ipGood1
	}
	if s.spf == nil {
		s.spf = []string{goodSPF}
	}
	if s.dmarc == nil {
		s.dmarc = []string{fmt.Sprintf(goodDMARC, domain)}
	}
	tlsa1 := []string{l.tlsaByIP[s.mx1IP], l.next} // current key and the rollover's next
	switch {
	case s.wrongTLSA:
		tlsa1 = []string{l.wrong}
	case s.noRollover:
		tlsa1 = tlsa1[:1]
	}
	r := []string{"@ MX 10 mx1", "@ MX 20 mx2", "mx1 A " + s.mx1IP, "mx2 A " + ipGood2,
		`sel1._domainkey TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="`}
	for _, v := range s.spf {
		r = append(r, fmt.Sprintf("@ TXT %q", v))
	}
	for _, v := range s.dmarc {
		r = append(r, fmt.Sprintf("_dmarc TXT %q", v))
	}
	for _, rd := range tlsa1 {
		r = append(r, l.tlsaOwner("mx1")+" TLSA "+rd)
	}
	r = append(r, l.tlsaOwner("mx2")+" TLSA "+l.tlsaByIP[ipGood2], l.tlsaOwner("mx2")+" TLSA "+l.next)
	if s.mtaSTS {
		r = append(r, `_mta-sts TXT "v=STSv1; id=20261127"`, `_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@`+domain+`"`)
	}
	return append(r, s.extra...)
}

// tlsaOwner is the TLSA owner name of host (relative to its zone) on the
// lab's port (RFC 7672 §2.2.1).
func (l *mailLab) tlsaOwner(host string) string {
	return "_" + strconv.Itoa(l.port) + "._tcp." + host
}

// zone builds the testenv zone of domain.
func (l *mailLab) zone(domain string, s zoneSpec) testenv.Zone {
	return testenv.Zone{Name: domain, Signed: s.signed, Bogus: s.bogus, Records: l.records(domain, s)}
}

// elevenIncludes is an SPF record with 11 include terms, each a DNS lookup
// (RFC 7208 §4.6.4 allows 10), and the records they point to.
func elevenIncludes(domain string) (spf string, targets []string) {
	var b strings.Builder
	b.WriteString("v=spf1")
	for i := 1; i <= 11; i++ {
		fmt.Fprintf(&b, " include:i%d.%s", i, domain)
		targets = append(targets, fmt.Sprintf(`i%d TXT "v=spf1 -all"`, i))
	}
	b.WriteString(" -all")
	return b.String(), targets
}

// mtaSTSPolicy is the enforce policy of a domain whose MXes are mx1 and mx2.
func mtaSTSPolicy(domain string) string {
	return testenv.MTASTSPolicy("enforce", 7*24*time.Hour, "mx1."+domain, "mx2."+domain)
}
