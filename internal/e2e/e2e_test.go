package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/veilig/veilig/internal/testenv"
)

// deliveryWait bounds waiting for one delivery (or its bounce notice).
const deliveryWait = 90 * time.Second

// env is what the scenarios share: the lab, the binary with its database and
// data directory, the running server and the users.
type env struct {
	lab      *lab
	v        *testenv.Veilig
	srv      *testenv.Serve
	password string // every user's
	orgID    string // the sender organisation's id
	alice    *testenv.APIClient
	admin    *testenv.APIClient
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests of the binary are not short")
	}
	begin := time.Now()
	e := &env{lab: startLab(t), password: randomPassword(t)}
	e.v = prepare(t, e.lab)
	e.orgID = e.addUsers(t)
	e.srv = e.v.Start(t, "serve-1", nil)
	e.alice = testenv.Login(t, e.srv.URL, alice, e.password)
	e.admin = testenv.Login(t, e.srv.URL, orgAdmin, e.password)
	t.Logf("lab, build, migrate, import and start: %s", time.Since(begin).Round(time.Millisecond))

	scenarios := []struct {
		name string
		run  func(*testing.T)
	}{
		{"API to DANE-EE", e.daneDelivery},
		{"PKIX route and TLSA mismatch", e.pkixAndMismatch},
		{"submission gateway", e.submissionGateway},
		{"MX answering 5xx bounces to the sender", e.permanentFailure},
		{"partner enrols, is admitted and mails securely", e.partnerPath},
		{"two serve processes share deliveries, limits and tokens", e.twoServers},
		{"kill -9 during a burst", e.burst}, // last: it kills and replaces the server
	}
	for _, sc := range scenarios {
		start := time.Now()
		t.Run(sc.name, sc.run)
		t.Logf("scenario %q: %s", sc.name, time.Since(start).Round(time.Millisecond))
	}
	// By now the TLSA-mismatch delivery has been retried; it must still not
	// have reached the MX.
	if found := delivered(t, e.lab.ee, mismatchRcpt, ""); len(found) != 0 {
		t.Errorf("%d message(s) for %s reached the MX despite the TLSA mismatch", len(found), mismatchRcpt)
	}
	// Everything above, from several processes and a kill -9, is one linear,
	// verifiable audit trail.
	out := e.v.Run(t, "", "audit", "verify")
	if !strings.Contains(out, "the trail verifies") || strings.Contains(out, "\n0 events") {
		t.Errorf("audit verify: %s", out)
	}
	t.Logf("audit verify: %s", strings.TrimSpace(out))
	t.Logf("total: %s", time.Since(begin).Round(time.Millisecond))
}

// prepare builds the binary and readies a fresh PostgreSQL database with
// `veilig migrate` and `veilig directory import`.
func prepare(t *testing.T, l *lab) *testenv.Veilig {
	t.Helper()
	dbURL := testenv.PostgresURL(t)
	dir := t.TempDir()
	certFile, keyFile := l.submissionTLS(t, dir)
	v := &testenv.Veilig{Bin: testenv.BuildVeilig(t, ""), Dir: dir, Submission: true, Vars: map[string]string{
		"VEILIG_DATABASE_URL":        dbURL,
		"VEILIG_DATA_DIR":            filepath.Join(dir, "data"),
		"VEILIG_LOG_FORMAT":          "text",
		"VEILIG_LOG_LEVEL":           "info",
		"VEILIG_DNS_RESOLVER":        l.dns.ResolverAddr(),
		"VEILIG_DELIVERY_PORT":       strconv.Itoa(l.port),
		"VEILIG_CHECK_ALLOW_PRIVATE": "true", // the lab's mail servers are on 127.0.0.x
		"VEILIG_DELIVERY_CA_FILE":    l.caFile,
		"VEILIG_SMTP_HOSTNAME":       smtpHost,
		"VEILIG_SUBMISSION_TLS_CERT": certFile,
		"VEILIG_SUBMISSION_TLS_KEY":  keyFile,
	}}
	v.Run(t, "", "migrate")
	ldif := filepath.Join(dir, "community.ldif")
	if err := os.WriteFile(ldif, []byte(communityLDIF()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := v.Run(t, "", "directory", "import", "--ldif", ldif); !strings.Contains(out, "5 organisations, 1 people") {
		t.Fatalf("directory import: %s", out)
	}
	return v
}

var orgInOutput = regexp.MustCompile(`organisation ([^)\s]+)\)`)

// addUsers creates the users with `veilig user add` and returns the sender
// organisation's id.
func (e *env) addUsers(t *testing.T) string {
	t.Helper()
	var orgID string
	for _, u := range []struct{ email, role string }{
		{alice, "sender"}, {orgAdmin, "org-admin"}, {burstUser, "sender"}, {operator, "operator"},
	} {
		out := e.v.Run(t, e.password+"\n", "user", "add", "--email", u.email, "--role", u.role, "--password-stdin")
		m := orgInOutput.FindStringSubmatch(out)
		if m == nil || (m[1] == "none") != (u.role == "operator") {
			t.Fatalf("user add %s: %s", u.email, out)
		}
		if u.email == orgAdmin {
			orgID = m[1]
		}
	}
	return orgID
}

func randomPassword(t *testing.T) string {
	t.Helper()
	b := make([]byte, passLength/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// daneDelivery: a message with a non-ASCII attachment name and a Bcc recipient
// goes over the API to a DNSSEC-signed domain with TLSA 3 1 1 and arrives once
// per recipient, DKIM-signed, without a Bcc header, with DANE-EE evidence.
func (e *env) daneDelivery(t *testing.T) {
	jan, piet := "jan@"+domainDANE, "piet@"+domainDANE
	subject := "Besluit – DANE ✓"
	att := testenv.Attachment{Name: "Besluit café – overzicht Ω.pdf", ContentType: "application/pdf",
		Data: append([]byte("%PDF-1.7\n"), 0x00, 0xff, 0xfe, 0x80, '\n')}
	acc := e.alice.Submit(t, testenv.Draft{To: []string{jan}, Bcc: []string{piet}, Subject: subject,
		Text: "Goedemiddag,\n\nzie de bijlage.\n"}, att)
	for _, r := range acc.Recipients {
		if r.Route != "internal" {
			t.Errorf("recipient %s: route %q, want internal", r.Address, r.Route)
		}
	}
	copies := map[string]testenv.Message{}
	for _, rc := range []struct{ addr, kind string }{{jan, "to"}, {piet, "bcc"}} {
		copies[rc.addr] = e.daneCopy(t, acc.ID, rc.addr, rc.kind)
	}
	got := copies[jan]
	checkNoBcc(t, got, piet)
	checkFrom(t, got, aliceName, alice)
	if s, err := new(mime.WordDecoder).DecodeHeader(got.Header.Get("Subject")); err != nil || s != subject {
		t.Errorf("Subject %q decodes to %q (%v), want %q", got.Header.Get("Subject"), s, err, subject)
	}
	checkDKIM(t, got, txtRecords(t, e.admin, e.orgID))
	checkAttachment(t, got, att)
	e.alice.WaitRecipient(t, acc.ID, alice, "self-copy", "delivered", deliveryWait)
	arrivedOnce(t, e.lab.sender, alice, strings.TrimSpace(got.Header.Get("Message-Id")))
}

// daneCopy waits for the delivery to addr, checks its DANE-EE evidence against
// what Postfix recorded, and returns the one copy in the Maildir.
func (e *env) daneCopy(t *testing.T, id, addr, kind string) testenv.Message {
	t.Helper()
	m := e.alice.WaitRecipient(t, id, addr, kind, "delivered", deliveryWait)
	r, _ := m.Recipient(addr, kind)
	ev := lastAttempt(t, r)
	checkEvidence(t, ev, testenv.AttemptView{MX: "mx." + domainDANE, IP: "127.0.0.21", Policy: "dane-ee",
		TLSAMatch: "3 1 1", Code: 250, Outcome: "delivered"})
	got := arrivedOnce(t, e.lab.ee, addr, m.MessageID)
	checkReceivedTLS(t, got, ev)
	return got
}

// pkixAndMismatch: an unsigned domain whose MX has a certificate from the lab CA
// is delivered with PKIX; a signed domain whose TLSA matches no key stays
// deferred with the failed attempt recorded, and nothing reaches the MX.
func (e *env) pkixAndMismatch(t *testing.T) {
	t.Run("PKIX", func(t *testing.T) {
		rcpt := "jan@" + domainPKIX
		acc := e.alice.Submit(t, testenv.Draft{To: []string{rcpt}, Subject: "PKIX", Text: "Over PKIX.\n"})
		m := e.alice.WaitRecipient(t, acc.ID, rcpt, "to", "delivered", deliveryWait)
		r, _ := m.Recipient(rcpt, "to")
		ev := lastAttempt(t, r)
		checkEvidence(t, ev, testenv.AttemptView{MX: "mx." + domainPKIX, IP: "127.0.0.22", Policy: "pkix",
			Code: 250, Outcome: "delivered"})
		checkReceivedTLS(t, arrivedOnce(t, e.lab.pkix, rcpt, m.MessageID), ev)
	})
	t.Run("TLSA mismatch", func(t *testing.T) {
		rcpt := mismatchRcpt
		acc := e.alice.Submit(t, testenv.Draft{To: []string{rcpt}, Subject: "TLSA mismatch", Text: "Never delivered.\n"})
		m := e.alice.WaitRecipient(t, acc.ID, rcpt, "to", "deferred", deliveryWait)
		r, _ := m.Recipient(rcpt, "to")
		ev := lastAttempt(t, r)
		if !strings.HasPrefix(ev.Policy, "dane") || ev.Error == "" || ev.Code != 0 || ev.TLSAMatch != "" ||
			ev.Outcome != "temporary" || m.State != "sending" {
			t.Errorf("mismatch: message %s, attempt %+v; want a DANE attempt with an error, no reply, no match, temporary",
				m.State, ev)
		}
		t.Logf("deferred after %d run(s): %s %s: %s", r.Runs, ev.MX, ev.Policy, ev.Error)
		if found := delivered(t, e.lab.ee, rcpt, ""); len(found) != 0 {
			t.Errorf("%d message(s) for %s reached the MX despite the TLSA mismatch", len(found), rcpt)
		}
	})
}

// permanentFailure: RCPT TO answered 550 fails the delivery at once and the
// sender gets a bounce notice in her own mailbox, over the same secure route.
func (e *env) permanentFailure(t *testing.T) {
	acc := e.alice.Submit(t, testenv.Draft{To: []string{goneRcpt}, Subject: "Onbestelbaar", Text: "Will bounce.\n"})
	m := e.alice.WaitRecipient(t, acc.ID, goneRcpt, "to", "failed", deliveryWait)
	r, _ := m.Recipient(goneRcpt, "to")
	ev := lastAttempt(t, r)
	if ev.Code != 550 || ev.Enhanced != "5.1.1" || ev.Outcome != "permanent" || ev.Policy != "pkix" {
		t.Errorf("attempt %+v; want 550 5.1.1 permanent over pkix", ev)
	}
	testenv.WaitFor(t, deliveryWait, "message state failed", func() (bool, string) {
		m = e.alice.Message(t, acc.ID)
		return m.State == "failed", m.State
	})
	e.alice.WaitRecipient(t, acc.ID, alice, "notice", "delivered", deliveryWait)
	var notice testenv.Message
	testenv.WaitFor(t, deliveryWait, "bounce notice in the sender's mailbox", func() (bool, string) {
		for _, msg := range delivered(t, e.lab.sender, alice, "") {
			if strings.TrimSpace(msg.Header.Get("In-Reply-To")) == m.MessageID {
				notice = msg
				return true, ""
			}
		}
		return false, "no message In-Reply-To " + m.MessageID
	})
	subject, _ := new(mime.WordDecoder).DecodeHeader(notice.Header.Get("Subject"))
	if notice.Header.Get("Auto-Submitted") != "auto-replied" || notice.Sender != "" ||
		!strings.Contains(subject, goneRcpt) || !strings.Contains(string(notice.Raw), "5.1.1") {
		t.Errorf("bounce notice: Auto-Submitted %q, envelope sender %q, subject %q\n%s",
			notice.Header.Get("Auto-Submitted"), notice.Sender, subject, notice.Raw)
	}
}

func lastAttempt(t *testing.T, r testenv.RecipientView) testenv.AttemptView {
	t.Helper()
	if len(r.Attempts) == 0 {
		t.Fatalf("delivery to %s (%s) has no attempt recorded", r.Address, r.State)
	}
	return r.Attempts[len(r.Attempts)-1]
}

// checkEvidence compares an attempt with want; TLS version and cipher must be
// present whatever they are.
func checkEvidence(t *testing.T, got, want testenv.AttemptView) {
	t.Helper()
	want.TLSVersion, want.Cipher, want.Reply, want.Enhanced = got.TLSVersion, got.Cipher, got.Reply, got.Enhanced
	if got != want || got.TLSVersion == "" || got.Cipher == "" {
		js, _ := json.Marshal(got)
		t.Errorf("evidence %s\nwant %+v with a TLS version and cipher", js, want)
	}
}

// checkReceivedTLS cross-checks the evidence with Postfix's own Received
// header, e.g. "(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 …)".
func checkReceivedTLS(t *testing.T, m testenv.Message, ev testenv.AttemptView) {
	t.Helper()
	rcv := m.Header.Get("Received")
	version := "TLSv" + strings.TrimPrefix(ev.TLSVersion, "TLS ")
	if !strings.Contains(rcv, "using "+version) || (version == "TLSv1.3" && !strings.Contains(rcv, ev.Cipher)) {
		t.Errorf("evidence says %s %s, Postfix recorded: %s", ev.TLSVersion, ev.Cipher, rcv)
	}
}

// delivered returns the messages in p's Maildir for rcpt, with messageID if it
// is not empty.
func delivered(t *testing.T, p *testenv.Postfix, rcpt, messageID string) []testenv.Message {
	t.Helper()
	var out []testenv.Message
	for _, m := range p.Messages(t) {
		if strings.EqualFold(m.Recipient, rcpt) && (messageID == "" || strings.TrimSpace(m.Header.Get("Message-Id")) == messageID) {
			out = append(out, m)
		}
	}
	return out
}

// arrivedOnce waits until the message is in p's Maildir for rcpt and requires
// exactly one copy.
func arrivedOnce(t *testing.T, p *testenv.Postfix, rcpt, messageID string) testenv.Message {
	t.Helper()
	var found []testenv.Message
	testenv.WaitFor(t, deliveryWait, messageID+" in the Maildir of "+p.Hostname(), func() (bool, string) {
		found = delivered(t, p, rcpt, messageID)
		return len(found) > 0, strconv.Itoa(p.Count()) + " messages in the Maildir"
	})
	if len(found) != 1 {
		t.Errorf("%s arrived %d times for %s, want once", messageID, len(found), rcpt)
	}
	return found[0]
}

// headerSection is the message's header, up to the first empty line.
func headerSection(raw []byte) string {
	h, _, _ := bytes.Cut(raw, []byte("\n\n"))
	return string(h)
}

func checkNoBcc(t *testing.T, m testenv.Message, bccAddr string) {
	t.Helper()
	if _, ok := m.Header["Bcc"]; ok || strings.Contains(headerSection(m.Raw), bccAddr) {
		t.Errorf("the Bcc recipient %s shows in the header:\n%s", bccAddr, headerSection(m.Raw))
	}
}

func checkFrom(t *testing.T, m testenv.Message, name, addr string) {
	t.Helper()
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil || from.Address != addr || from.Name != name || m.Sender != addr {
		t.Errorf("From %q (%v), envelope sender %q; want %q <%s>", m.Header.Get("From"), err, m.Sender, name, addr)
	}
}

// checkDKIM verifies the message as stored by Postfix (its LF line ends made
// CRLF again) with the key records the organisation's admin is told to publish.
func checkDKIM(t *testing.T, m testenv.Message, txt map[string][]string) {
	t.Helper()
	raw := bytes.ReplaceAll(m.Raw, []byte("\n"), []byte("\r\n"))
	lookup := func(name string) ([]string, error) {
		return txt[strings.ToLower(strings.TrimSuffix(name, "."))], nil
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 1 {
		t.Fatalf("DKIM: %d signatures, %v", len(vs), err)
	}
	if vs[0].Err != nil || vs[0].Domain != domainSender {
		t.Errorf("DKIM signature of %q: %v (records %v)", vs[0].Domain, vs[0].Err, txt)
	}
}

// checkAttachment finds the attachment part and compares its decoded name
// (RFC 2231) and content.
func checkAttachment(t *testing.T, m testenv.Message, want testenv.Attachment) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := leafParts(msg.Header.Get("Content-Type"), msg.Body)
	if err != nil {
		t.Fatalf("MIME structure: %v", err)
	}
	for _, p := range parts {
		disp, params, err := mime.ParseMediaType(p.header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" {
			continue
		}
		if params["filename"] != want.Name || !bytes.Equal(p.body, want.Data) {
			t.Errorf("attachment %q (%d bytes), want %q (%d bytes)\n%s", params["filename"], len(p.body),
				want.Name, len(want.Data), p.header)
		}
		return
	}
	t.Errorf("no attachment part in:\n%s", m.Raw)
}

type leafPart struct {
	header mail.Header
	body   []byte
}

// leafParts walks a MIME tree and returns its non-multipart parts, bodies
// decoded from base64 where so encoded.
func leafParts(ctype string, body io.Reader) ([]leafPart, error) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return nil, err
	}
	var out []leafPart
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		h := mail.Header(p.Header)
		if sub, _, _ := mime.ParseMediaType(h.Get("Content-Type")); strings.HasPrefix(sub, "multipart/") {
			inner, err := leafParts(h.Get("Content-Type"), p)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		var r io.Reader = p
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
			r = base64.NewDecoder(base64.StdEncoding, p)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		out = append(out, leafPart{header: h, body: b})
	}
}
