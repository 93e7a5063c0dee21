package e2e

// The lab every scenario shares: one Postfix per mail domain, all on the same
// SMTP port at their own loopback addresses (the product's VEILIG_DELIVERY_PORT),
// and Knot + Unbound serving the domains' MX, A and TLSA records.

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/testenv"
)

// Mail domains of the lab. Each is an organisation of the test community.
const (
	domainDANE    = "dane-ee.test"  // signed, TLSA 3 1 1 of its MX's self-signed certificate
	domainBadTLSA = "dane-bad.test" // signed, same MX as domainDANE, TLSA of another key
	domainPKIX    = "pkix.test"     // unsigned, MX certificate issued by the lab CA
	domainSender  = "sender.test"   // signed, DANE-EE: the senders' own mailboxes
	domainBurst   = "burst.test"    // signed, DANE-EE: the kill -9 burst, sender and recipient
	domainExtern  = "extern.test"   // outside the community, unsigned, MX is domainPKIX's (viewer tests)
	domainPartner = "partner.test"  // not in the directory: enrols itself (signed, DANE-EE with a rollover key, SPF, DMARC)
	domainAuto    = "auto.test"     // like domainPartner, MX on the same host: admitted automatically
	domainWeak    = "weak.test"     // like domainAuto but DMARC p=none: below the automatic-admission floor
)

// Addresses of the scenarios.
const (
	alice        = "alice@" + domainSender // a sender
	aliceName    = "Alice Afzender"        // her display name in the directory
	orgAdmin     = "admin@" + domainSender // administrator of the sender organisation
	burstUser    = "sender@" + domainBurst // the burst's sender
	burstRcpt    = "inbox@" + domainBurst  // the burst's recipient
	goneRcpt     = "gone@" + domainPKIX    // RCPT TO answers 550
	mismatchRcpt = "jan@" + domainBadTLSA  // never delivered
	goneReply    = "550 5.1.1 No such user"
	smtpHost     = "veilig.test" // VEILIG_SMTP_HOSTNAME
	passLength   = 24
)

// lab is the mail-transport lab.
type lab struct {
	ca     *testenv.CA
	caFile string
	dns    *testenv.DNS
	port   int
	// ee is the MX of domainDANE and domainBadTLSA, pkix of domainPKIX, sender of
	// domainSender and burst of domainBurst.
	ee, pkix, sender, burst *testenv.Postfix
	partner                 *testenv.Postfix
	nextKey                 string // TLSA 3 1 1 of the partner's next key (the rollover record)
}

func startLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{ca: testenv.NewCA(t)}
	l.caFile = l.ca.WriteFile(t)
	// Addresses away from 127.0.0.2–7, which other packages' labs use.
	l.ee = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx." + domainDANE, IP: "127.0.0.21"})
	l.port = l.ee.Port()
	l.pkix = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx." + domainPKIX, CA: l.ca,
		IP: "127.0.0.22", Port: l.port, RecipientReplies: map[string]string{goneRcpt: goneReply}})
	l.sender = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx." + domainSender, IP: "127.0.0.23", Port: l.port})
	l.burst = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx." + domainBurst, IP: "127.0.0.24", Port: l.port})
	l.partner = testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx." + domainPartner, IP: "127.0.0.25", Port: l.port})
	l.dns = testenv.StartDNS(t, l.zones(t))
	return l
}

func (l *lab) zones(t *testing.T) []testenv.Zone {
	t.Helper()
	wrong, err := testenv.TLSA(3, 1, 1, testenv.SelfSigned(t, "mx."+domainBadTLSA).Leaf)
	if err != nil {
		t.Fatal(err)
	}
	tlsa := "_" + strconv.Itoa(l.port) + "._tcp.mx TLSA "
	mx := func(ip string, extra ...string) []string {
		return append([]string{"@ MX 10 mx", "mx A " + ip}, extra...)
	}
	return []testenv.Zone{
		{Name: domainDANE, Signed: true, Records: mx("127.0.0.21", tlsa+l.ee.TLSA(3, 1, 1))},
		{Name: domainBadTLSA, Signed: true, Records: mx("127.0.0.21", tlsa+wrong)},
		{Name: domainPKIX, Records: mx("127.0.0.22")},
		{Name: domainSender, Signed: true, Records: mx("127.0.0.23", tlsa+l.sender.TLSA(3, 1, 1))},
		{Name: domainBurst, Signed: true, Records: mx("127.0.0.24", tlsa+l.burst.TLSA(3, 1, 1))},
		{Name: domainExtern, Records: []string{"@ MX 10 mx." + domainPKIX + "."}},
		{Name: domainPartner, Signed: true, Records: l.partnerRecords(t)},
		{Name: domainAuto, Signed: true, Records: l.enrolRecords(t, domainAuto, "reject")},
		{Name: domainWeak, Signed: true, Records: l.enrolRecords(t, domainWeak, "none")},
	}
}

// partnerRecords are domainPartner's records before it enrols: what a partner
// with a good mail set-up publishes (Internet.nl's mail test passes).
func (l *lab) partnerRecords(t *testing.T) []string {
	t.Helper()
	return l.enrolRecords(t, domainPartner, "reject")
}

// enrolRecords are the records of a domain on the partner's MX host with the
// given DMARC policy.
func (l *lab) enrolRecords(t *testing.T, domain, dmarc string) []string {
	t.Helper()
	if l.nextKey == "" {
		next, err := testenv.TLSA(3, 1, 1, testenv.SelfSigned(t, "mx.next."+domainPartner).Leaf)
		if err != nil {
			t.Fatal(err)
		}
		l.nextKey = next
	}
	tlsa := "_" + strconv.Itoa(l.port) + "._tcp.mx TLSA "
	return []string{"@ MX 10 mx", "mx A 127.0.0.25",
		tlsa + l.partner.TLSA(3, 1, 1), tlsa + l.nextKey,
		`@ TXT "v=spf1 mx -all"`,
		`_dmarc TXT "v=DMARC1; p=` + dmarc + `; rua=mailto:dmarc@` + domain + `"`,
		`mail2026._domainkey TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="`,
		`_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@` + domain + `"`,
	}
}

// submissionTLS writes a certificate from the lab CA for the submission
// gateway (for veilig.test and 127.0.0.1) and returns the PEM files' paths.
func (l *lab) submissionTLS(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	cert := l.ca.Issue(t, smtpHost, "127.0.0.1")
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "submission.crt"), filepath.Join(dir, "submission.key")
	writePEM(t, certFile, "CERTIFICATE", cert.Certificate...)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, ders ...[]byte) {
	t.Helper()
	var b strings.Builder
	for _, der := range ders {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// communityLDIF is the test community (RFC 2849): one organisation per lab
// domain, and Alice with her display name.
func communityLDIF() string {
	var b strings.Builder
	b.WriteString("dn: dc=veilig,dc=test\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n" +
		"dc: veilig\no: Veilig e2e community\n\n" +
		"dn: ou=organisations,dc=veilig,dc=test\nobjectClass: top\nobjectClass: organizationalUnit\nou: organisations\n\n")
	for _, org := range []struct{ name, domain string }{
		{"Afzender BV", domainSender}, {"Gemeente DANE", domainDANE}, {"Gemeente Mismatch", domainBadTLSA},
		{"Waterschap PKIX", domainPKIX}, {"Provincie Burst", domainBurst},
	} {
		b.WriteString("dn: o=" + org.name + ",ou=organisations,dc=veilig,dc=test\nobjectClass: top\n" +
			"objectClass: organization\nobjectClass: domainRelatedObject\no: " + org.name +
			"\nassociatedDomain: " + org.domain + "\n\n")
	}
	b.WriteString("dn: cn=" + aliceName + ",o=Afzender BV,ou=organisations,dc=veilig,dc=test\nobjectClass: top\n" +
		"objectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\ncn: " + aliceName +
		"\nsn: Afzender\ndisplayName: " + aliceName + "\nmail: " + alice + "\n")
	return b.String()
}
