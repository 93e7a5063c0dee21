package faults

// The lab: one Postfix for every mail domain, reached directly (faults.test)
// or through a TCP relay that can go down (mxdown.test, its own MX address);
// Knot + Unbound serving DNSSEC-signed zones with TLSA 3 1 1 of the Postfix
// key, reached through a DNS relay that can go down; and a PostgreSQL cluster
// of the suite's own that can be stopped.

import (
	"fmt"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/veilig/veilig/internal/testenv"
)

// Mail domains and addresses of the lab (loopback addresses away from the
// 127.0.0.2–7 and .21–.25 other packages' labs use).
const (
	domainMain   = "faults.test" // signed, DANE-EE: sender and most recipients
	domainMXDown = "mxdown.test" // signed, DANE-EE, MX behind a relay that goes down
	// domainDNSDown is signed, DANE-EE, first looked up while the resolver is
	// down (Veilig caches DNS answers for their TTL, so a domain looked up before
	// would not need the resolver).
	domainDNSDown = "dnsdown.test"
	mainIP        = "127.0.0.41"
	mxDownIP      = "127.0.0.42"
	sender        = "sender@" + domainMain
	inbox         = "inbox@" + domainMain
	mxDownRcpt    = "inbox@" + domainMXDown
	dnsDownRcpt   = "inbox@" + domainDNSDown
	smtpHost      = "veilig.test"
)

type lab struct {
	mx     *testenv.Postfix
	relay  *tcpRelay // mx.mxdown.test → mx
	dns    *testenv.DNS
	dnsFwd *dnsRelay // the resolver Veilig uses → unbound
	port   int
}

func startLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{mx: testenv.StartPostfix(t, testenv.PostfixOptions{Hostname: "mx." + domainMain, IP: mainIP})}
	l.port = l.mx.Port()
	l.relay = startRelay(t, net.JoinHostPort(mxDownIP, strconv.Itoa(l.port)), l.mx.Addr())
	tlsa := "_" + strconv.Itoa(l.port) + "._tcp.mx TLSA " + l.mx.TLSA(3, 1, 1)
	l.dns = testenv.StartDNS(t, []testenv.Zone{
		{Name: domainMain, Signed: true, Records: []string{"@ MX 10 mx", "mx A " + mainIP, tlsa}},
		{Name: domainMXDown, Signed: true, Records: []string{"@ MX 10 mx", "mx A " + mxDownIP, tlsa}},
		{Name: domainDNSDown, Signed: true, Records: []string{"@ MX 10 mx", "mx A " + mainIP, tlsa}},
		{Name: domainExtern, Signed: true, Records: []string{"@ MX 10 mx." + domainMain + "."}},
	})
	l.dnsFwd = startDNSRelay(t, l.dns.ResolverAddr())
	return l
}

// communityLDIF is the community (RFC 2849): one organisation per lab domain.
func communityLDIF() string {
	var b strings.Builder
	b.WriteString("dn: dc=veilig,dc=test\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n" +
		"dc: veilig\no: Veilig fault suite\n\n" +
		"dn: ou=organisations,dc=veilig,dc=test\nobjectClass: top\nobjectClass: organizationalUnit\nou: organisations\n\n")
	for _, org := range []struct{ name, domain string }{{"Provincie Storing", domainMain}, {"Gemeente Uitval", domainMXDown},
		{"Waterschap Stilte", domainDNSDown}} {
		fmt.Fprintf(&b, "dn: o=%s,ou=organisations,dc=veilig,dc=test\nobjectClass: top\nobjectClass: organization\n"+
			"objectClass: domainRelatedObject\no: %s\nassociatedDomain: %s\n\n", org.name, org.name, org.domain)
	}
	return b.String()
}

// prepare builds the binary and readies the database at dbURL with `veilig
// migrate`, `veilig directory import` and the sender's account.
func prepare(t *testing.T, l *lab, dbURL, password string) *testenv.Veilig {
	t.Helper()
	return prepareWith(t, l, testenv.BuildVeilig(t, binaryEnv), dbURL, password)
}

// prepareWith is prepare with a binary already built.
func prepareWith(t *testing.T, l *lab, bin, dbURL, password string) *testenv.Veilig {
	t.Helper()
	dir := t.TempDir()
	v := &testenv.Veilig{Bin: bin, Dir: dir, Vars: map[string]string{
		"VEILIG_DATABASE_URL":        dbURL,
		"VEILIG_DATA_DIR":            filepath.Join(dir, "data"),
		"VEILIG_LOG_FORMAT":          "text",
		"VEILIG_LOG_LEVEL":           "info",
		"VEILIG_DNS_RESOLVER":        l.dnsFwd.addr,
		"VEILIG_DELIVERY_PORT":       strconv.Itoa(l.port),
		"VEILIG_CHECK_ALLOW_PRIVATE": "true",
		"VEILIG_SMTP_HOSTNAME":       smtpHost,
		// A delivery claimed by a process that died runs again soon.
		"VEILIG_DELIVERY_JOB_TIMEOUT":  "20s",
		"VEILIG_DELIVERY_RESCUE_AFTER": "25s",
	}}
	v.Run(t, "", "migrate")
	ldif := filepath.Join(dir, "community.ldif")
	if err := os.WriteFile(ldif, []byte(communityLDIF()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := v.Run(t, "", "directory", "import", "--ldif", ldif); !strings.Contains(out, "3 organisations") {
		t.Fatalf("directory import: %s", out)
	}
	out := v.Run(t, password+"\n", "user", "add", "--email", sender, "--role", "sender", "--password-stdin")
	if !regexp.MustCompile(`organisation [^)\s]+\)`).MatchString(out) {
		t.Fatalf("user add: %s", out)
	}
	return v
}

// tally is what a scenario reports: messages accepted (202), delivered at least
// once to the recipient, extra copies, and accepted messages never delivered.
type tally struct {
	accepted, delivered, duplicated, lost int
	dups                                  []string // subjects delivered more than once
}

func (c tally) String() string {
	s := fmt.Sprintf("accepted %d, delivered %d, duplicated %d, lost %d", c.accepted, c.delivered, c.duplicated, c.lost)
	if len(c.dups) > 0 {
		s += " (duplicated: " + strings.Join(c.dups, ", ") + ")"
	}
	return s
}

// copies counts the Maildir's messages to rcpt per Subject with the prefix, and
// fails the test for one whose Subject was never accepted.
func (l *lab) copies(t *testing.T, rcpt, prefix string, accepted map[string]bool) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, m := range l.mx.Messages(t) {
		subj := subject(m.Header)
		if !strings.HasPrefix(subj, prefix) || !strings.EqualFold(m.Recipient, rcpt) {
			continue
		}
		if !accepted[subj] {
			t.Errorf("%s arrived for %s but was never accepted", subj, rcpt)
		}
		counts[subj]++
	}
	return counts
}

func subject(h mail.Header) string { return strings.TrimSpace(h.Get("Subject")) }

// count waits (up to timeout) until every accepted subject is in the Maildir
// for rcpt, then returns the tally; lost is what is still missing then.
func (l *lab) count(t *testing.T, rcpt, prefix string, accepted map[string]bool) tally {
	t.Helper()
	var got map[string]int
	testenv.Poll(t, maildirWait, burstPoll, "every accepted "+prefix+" message in the Maildir of "+rcpt, func() (bool, string) {
		got = l.copies(t, rcpt, prefix, accepted)
		return len(got) >= len(accepted), fmt.Sprintf("%d of %d arrived", len(got), len(accepted))
	})
	c := tally{accepted: len(accepted), delivered: len(got)}
	for subj, n := range got {
		if n > 1 {
			c.duplicated += n - 1
			c.dups = append(c.dups, subj)
		}
	}
	sort.Strings(c.dups)
	c.lost = c.accepted - c.delivered
	return c
}

// report logs the tally and fails the test on a lost message, and on a
// duplicate unless dupsAllowed (at-least-once delivery across a crash).
func report(t *testing.T, name string, c tally, dupsAllowed bool) {
	t.Helper()
	t.Logf("%s: %s", name, c)
	if c.lost != 0 {
		t.Errorf("%s: %d accepted message(s) lost", name, c.lost)
	}
	if c.duplicated != 0 && !dupsAllowed {
		t.Errorf("%s: %d duplicate cop(y/ies) delivered", name, c.duplicated)
	}
}
