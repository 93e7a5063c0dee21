package testenv

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"github.com/mjl-/adns"
	"github.com/mjl-/mox/dane"
	moxdns "github.com/mjl-/mox/dns"
	"github.com/mjl-/mox/mtasts"
)

const labWait = 30 * time.Second

func TestDNS(t *testing.T) {
	t.Parallel()
	tlsa, err := TLSA(3, 1, 1, SelfSigned(t, "mx.signed.test").Leaf)
	if err != nil {
		t.Fatal(err)
	}
	d := StartDNS(t, []Zone{
		{Name: "signed.test.", Signed: true, Records: []string{
			"@ MX 10 mx.signed.test.", "mx A 127.0.0.1", "_25._tcp.mx TLSA " + tlsa}},
		{Name: "plain.test", Records: []string{"@ MX 10 mx.plain.test.", "mx A 127.0.0.1"}},
		{Name: "bogus.test.", Bogus: true, Records: []string{"@ MX 10 mx.bogus.test.", "mx A 127.0.0.1"}},
		{Name: "sub.signed.test.", Signed: true, Records: []string{"@ MX 10 mx.signed.test."}},
	})

	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		ad      bool
		answers int
	}{
		{"signed MX", "signed.test", dns.TypeMX, dns.RcodeSuccess, true, 1},
		{"signed TLSA", "_25._tcp.mx.signed.test", dns.TypeTLSA, dns.RcodeSuccess, true, 1},
		{"signed denial", "nothere.signed.test", dns.TypeA, dns.RcodeNameError, true, 0},
		{"nested signed zone", "sub.signed.test", dns.TypeMX, dns.RcodeSuccess, true, 1},
		{"unsigned MX", "plain.test", dns.TypeMX, dns.RcodeSuccess, false, 1},
		{"bogus MX", "bogus.test", dns.TypeMX, dns.RcodeServerFailure, false, 0},
		{"unknown under test.", "nowhere.test", dns.TypeMX, dns.RcodeNameError, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := d.Query(t, tc.qname, tc.qtype)
			if r.Rcode != tc.rcode || r.AuthenticatedData != tc.ad || countType(r, tc.qtype) != tc.answers {
				t.Fatalf("%s %s: rcode %s, AD %v, %d answers; want %s, AD %v, %d answers\n%v",
					tc.qname, dns.TypeToString[tc.qtype], dns.RcodeToString[r.Rcode], r.AuthenticatedData,
					countType(r, tc.qtype), dns.RcodeToString[tc.rcode], tc.ad, tc.answers, r)
			}
		})
	}

	t.Run("update drops TLSA", func(t *testing.T) {
		d.Update(t, "signed.test", []string{"@ MX 20 mx.signed.test.", "mx A 127.0.0.1"})
		if r := d.Query(t, "_25._tcp.mx.signed.test", dns.TypeTLSA); r.Rcode != dns.RcodeNameError || !r.AuthenticatedData {
			t.Fatalf("TLSA after update: rcode %s, AD %v; want authenticated NXDOMAIN", dns.RcodeToString[r.Rcode], r.AuthenticatedData)
		}
		r := d.Query(t, "signed.test", dns.TypeMX)
		if len(r.Answer) == 0 || r.Answer[0].(*dns.MX).Preference != 20 || !r.AuthenticatedData {
			t.Fatalf("MX after update: %v", r)
		}
	})
}

func countType(r *dns.Msg, qtype uint16) int {
	n := 0
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == qtype {
			n++
		}
	}
	return n
}

// dialSMTP opens an SMTP session with STARTTLS and completes EHLO, so the TLS
// handshake (and verification) is done when it returns.
func dialSMTP(t *testing.T, addr string, cfg *tls.Config) (*smtp.Client, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(labWait))
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("client.test"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func sendOne(t *testing.T, c *smtp.Client, from, to, body string) {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	msg := "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: lab\r\n\r\n" + body + "\r\n"
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatalf("DATA write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
}

func TestPostfix(t *testing.T) {
	t.Parallel()
	ca := NewCA(t)
	p := StartPostfix(t, PostfixOptions{
		Hostname: "mx.pkix.test", CA: ca, Domains: []string{"pkix.test"},
		RecipientReplies: map[string]string{
			"busy@pkix.test": "450 4.2.1 Mailbox busy",
			"gone@pkix.test": "550 5.1.1 No such user",
		},
	})
	pkix := &tls.Config{ServerName: "mx.pkix.test", RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	delivered := 0

	t.Run("STARTTLS delivery", func(t *testing.T) {
		c, err := dialSMTP(t, p.Addr(), pkix)
		if err != nil {
			t.Fatalf("STARTTLS with PKIX for mx.pkix.test: %v", err)
		}
		defer c.Close()
		sendOne(t, c, "sender@veilig.test", "jan@pkix.test", "marker-starttls")
		_ = c.Quit()
		delivered++
		msgs := p.WaitMessages(t, delivered, labWait)
		m := msgs[len(msgs)-1]
		if m.Recipient != "jan@pkix.test" || m.Sender != "sender@veilig.test" ||
			!strings.Contains(string(m.Raw), "marker-starttls") || !strings.Contains(m.Header.Get("Received"), "using TLSv1.3") {
			t.Fatalf("delivered message: recipient %q sender %q\n%s", m.Recipient, m.Sender, m.Raw)
		}
	})

	t.Run("wrong name fails PKIX", func(t *testing.T) {
		cfg := pkix.Clone()
		cfg.ServerName = "mx.other.test"
		if c, err := dialSMTP(t, p.Addr(), cfg); err == nil {
			c.Close()
			t.Fatal("certificate accepted for mx.other.test")
		}
	})

	t.Run("RCPT replies", func(t *testing.T) {
		tests := []struct {
			rcpt string
			code int // 0: accepted
		}{
			{"jan@pkix.test", 0},
			{"busy@pkix.test", 450},
			{"gone@pkix.test", 550},
			{"someone@elsewhere.test", 554}, // not a domain of this MX: relay denied
		}
		c, err := dialSMTP(t, p.Addr(), pkix)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("sender@veilig.test", nil); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			if got := rcptCode(t, c, tc.rcpt); got != tc.code {
				t.Errorf("RCPT %s: code %d, want %d", tc.rcpt, got, tc.code)
			}
		}
	})

	t.Run("SetRecipientReply", func(t *testing.T) {
		c, err := dialSMTP(t, p.Addr(), pkix)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("sender@veilig.test", nil); err != nil {
			t.Fatal(err)
		}
		p.SetRecipientReply("pkix.test", "451 4.3.0 Try later")
		if got := rcptCode(t, c, "jan@pkix.test"); got != 451 {
			t.Fatalf("RCPT after domain-wide 451: code %d", got)
		}
		p.SetRecipientReply("pkix.test", "")
		if got := rcptCode(t, c, "jan@pkix.test"); got != 0 {
			t.Fatalf("RCPT after clearing: code %d", got)
		}
	})

	t.Run("421 disconnects", func(t *testing.T) {
		p.SetRecipientReply("drop@pkix.test", "421 4.3.2 Closing")
		c, err := dialSMTP(t, p.Addr(), pkix)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("sender@veilig.test", nil); err != nil {
			t.Fatal(err)
		}
		if got := rcptCode(t, c, "drop@pkix.test"); got != 421 {
			t.Fatalf("RCPT: code %d, want 421", got)
		}
		if err := c.Noop(); err == nil {
			t.Fatal("session still open after 421")
		}
	})

	t.Run("smtp-source", func(t *testing.T) {
		bin := SMTPSource(t)
		ctx, cancel := context.WithTimeout(context.Background(), labWait)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-s", "2", "-m", "4", "-l", "1024",
			"-f", "load@veilig.test", "-t", "load@pkix.test", p.Addr()).CombinedOutput()
		if err != nil {
			t.Fatalf("smtp-source: %v\n%s", err, out)
		}
		delivered += 4
		p.WaitMessages(t, delivered, labWait)
	})
}

// rcptCode sends RCPT TO and returns 0 when accepted, else the reply code.
func rcptCode(t *testing.T, c *smtp.Client, rcpt string) int {
	t.Helper()
	err := c.Rcpt(rcpt, nil)
	if err == nil {
		return 0
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("RCPT %s: %v", rcpt, err)
	}
	return se.Code
}

func TestPostfixTLSModes(t *testing.T) {
	t.Parallel()
	tls12 := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	tls11 := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}

	t.Run("off", func(t *testing.T) {
		t.Parallel()
		p := StartPostfix(t, PostfixOptions{Hostname: "mx.plain.test", TLS: PostfixTLSOff})
		c, err := smtp.Dial(p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("STARTTLS"); ok {
			t.Fatal("STARTTLS offered with PostfixTLSOff")
		}
		// Without Domains every domain is accepted, so a client that wrongly
		// sends in plaintext is seen delivering.
		sendOne(t, c, "sender@veilig.test", "anyone@any-domain.test", "marker-plaintext")
		if m := p.WaitMessages(t, 1, labWait)[0]; m.Recipient != "anyone@any-domain.test" ||
			!strings.Contains(m.Header.Get("Received"), "with ESMTP id") {
			t.Fatalf("plaintext delivery: %q\n%s", m.Recipient, m.Raw)
		}
		if c, err := dialSMTP(t, p.Addr(), tls12); err == nil {
			c.Close()
			t.Fatal("NewClientStartTLS succeeded without STARTTLS")
		}
	})

	t.Run("TLS 1.1 only", func(t *testing.T) {
		t.Parallel()
		p := StartPostfix(t, PostfixOptions{Hostname: "mx.old.test", TLS: PostfixTLS11Only, IP: "127.0.0.2"})
		if c, err := dialSMTP(t, p.Addr(), tls12); err == nil {
			c.Close()
			t.Fatal("TLS 1.2 client completed a handshake with the TLS 1.1-only server")
		}
		c, err := dialSMTP(t, p.Addr(), tls11)
		if err != nil {
			t.Fatalf("TLS 1.1 client: %v", err)
		}
		defer c.Close()
		if cs, _ := c.TLSConnectionState(); cs.Version != tls.VersionTLS11 {
			t.Fatalf("negotiated %s, want TLS 1.1", tls.VersionName(cs.Version))
		}
	})
}

func TestDANE(t *testing.T) {
	t.Parallel()
	ca := NewCA(t)
	ee := StartPostfix(t, PostfixOptions{Hostname: "mx.dane-ee.test"})
	ta := StartPostfix(t, PostfixOptions{Hostname: "mx.dane-ta.test", CA: ca, ChainWithCA: true})
	taRecord, err := TLSA(2, 1, 1, ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	other := SelfSigned(t, "mx.dane-ee.test")
	wrong, err := TLSA(3, 1, 1, other.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	d := StartDNS(t, []Zone{
		{Name: "dane-ee.test", Signed: true, Records: []string{"_25._tcp.mx TLSA " + ee.TLSA(3, 1, 1)}},
		{Name: "dane-ta.test", Signed: true, Records: []string{"_25._tcp.mx TLSA " + taRecord}},
		{Name: "dane-bad.test", Signed: true, Records: []string{"_25._tcp.mx TLSA " + wrong}},
	})

	tests := []struct {
		name  string
		mx    *Postfix
		zone  string
		match bool
	}{
		{"DANE-EE 3 1 1", ee, "dane-ee.test", true},
		{"DANE-TA 2 1 1", ta, "dane-ta.test", true},
		{"mismatch", ee, "dane-bad.test", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := "mx." + tc.zone
			records := lookupTLSA(t, d, "_25._tcp."+host)
			cs := handshake(t, tc.mx)
			ok, _, err := dane.Verify(Discard(), records, cs, moxdns.Domain{ASCII: host}, nil, nil)
			if ok != tc.match {
				t.Fatalf("dane.Verify for %s: %v (%v), want %v", host, ok, err, tc.match)
			}
		})
	}

	t.Run("openssl agrees", func(t *testing.T) {
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			Missing(t, "openssl")
		}
		ctx, cancel := context.WithTimeout(context.Background(), labWait)
		defer cancel()
		cmd := exec.CommandContext(ctx, openssl, "s_client", "-starttls", "smtp", "-connect", ee.Addr(),
			"-dane_tlsa_domain", "mx.dane-ee.test", "-dane_tlsa_rrdata", ee.TLSA(3, 1, 1), "-verify_return_error")
		cmd.Stdin = strings.NewReader("QUIT\r\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "DANE TLSA 3 1 1") {
			t.Fatalf("openssl s_client: %v\n%s", err, out)
		}
	})
}

// lookupTLSA asks the lab resolver for TLSA records, requiring them to be
// DNSSEC-authentic, as a DANE client must (RFC 7672 §2.2).
func lookupTLSA(t *testing.T, d *DNS, name string) []adns.TLSA {
	t.Helper()
	r := d.Query(t, name, dns.TypeTLSA)
	if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
		t.Fatalf("TLSA %s: rcode %s, AD %v", name, dns.RcodeToString[r.Rcode], r.AuthenticatedData)
	}
	var out []adns.TLSA
	for _, rr := range r.Answer {
		if tr, ok := rr.(*dns.TLSA); ok {
			assoc, err := hex.DecodeString(tr.Certificate)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, adns.TLSA{Usage: adns.TLSAUsage(tr.Usage), Selector: adns.TLSASelector(tr.Selector),
				MatchType: adns.TLSAMatchType(tr.MatchingType), CertAssoc: assoc})
		}
	}
	if len(out) == 0 {
		t.Fatalf("TLSA %s: no records", name)
	}
	return out
}

// handshake does STARTTLS without verification and returns the TLS state, the
// input of dane.Verify.
func handshake(t *testing.T, p *Postfix) tls.ConnectionState {
	t.Helper()
	c, err := dialSMTP(t, p.Addr(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("STARTTLS to %s: %v", p.Addr(), err)
	}
	defer c.Close()
	cs, ok := c.TLSConnectionState()
	if !ok {
		t.Fatal("no TLS state after STARTTLS")
	}
	return cs
}

func TestMTASTS(t *testing.T) {
	t.Parallel()
	ca := NewCA(t)
	m := StartMTASTS(t, ca, map[string]string{
		"sts.test": MTASTSPolicy("enforce", 24*time.Hour, "mx.sts.test"),
	})
	get := func(client *http.Client, domain string) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), labWait)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+MTASTSPolicyPath, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body) // read within ctx
		resp.Body.Close()
		return resp, nil
	}

	tests := []struct {
		name   string
		client *http.Client
		domain string
		status int // 0: request fails
	}{
		{"policy", m.Client(), "sts.test", http.StatusOK},
		{"no policy", m.Client(), "none.test", http.StatusNotFound},
		{"untrusted CA", &http.Client{Transport: &http.Transport{DialContext: m.DialContext}}, "sts.test", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := get(tc.client, tc.domain)
			switch {
			case tc.status == 0 && err == nil:
				t.Fatalf("status %d, want a failed request", resp.StatusCode)
			case tc.status != 0 && err != nil:
				t.Fatal(err)
			case tc.status != 0 && resp.StatusCode != tc.status:
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}

	t.Run("policy parses", func(t *testing.T) {
		resp, err := m.Client().Get("https://mta-sts.sts.test" + MTASTSPolicyPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		p, err := mtasts.ParsePolicy(string(body))
		if err != nil || p.Mode != mtasts.ModeEnforce || len(p.MX) != 1 || p.MaxAgeSeconds != 86400 {
			t.Fatalf("policy %+v, %v", p, err)
		}
		if n := m.Fetches("sts.test"); n != 2 {
			t.Fatalf("Fetches = %d, want 2", n)
		}
	})
}

func TestTLSA(t *testing.T) {
	cert := SelfSigned(t, "mx.example.test").Leaf
	tests := []struct {
		usage, selector, matching uint8
		hexLen                    int
		wantErr                   bool
	}{
		{3, 1, 1, 64, false},
		{2, 0, 2, 128, false},
		{3, 1, 0, 2 * len(cert.RawSubjectPublicKeyInfo), false},
		{3, 1, 9, 0, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d %d %d", tc.usage, tc.selector, tc.matching), func(t *testing.T) {
			got, err := TLSA(tc.usage, tc.selector, tc.matching, cert)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			f := strings.Fields(got)
			if len(f) != 4 || f[0] != strconv.Itoa(int(tc.usage)) || len(f[3]) != tc.hexLen {
				t.Fatalf("TLSA = %q", got)
			}
		})
	}
}
