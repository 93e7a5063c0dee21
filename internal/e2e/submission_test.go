package e2e

// Scenario 3: the SMTP submission gateway end to end with real clients.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/textproto"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/veilig/veilig/internal/testenv"
)

const clientTimeout = 90 * time.Second

func (e *env) submissionGateway(t *testing.T) {
	t.Run("swaks", e.viaSwaks)
	t.Run("python smtplib", e.viaPython)
	t.Run("AUTH before STARTTLS is refused", e.authBeforeTLS)
}

func newMessageID(t *testing.T, client string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "<" + client + "-" + hex.EncodeToString(b) + "@client.test>"
}

// viaSwaks submits with swaks (STARTTLS, AUTH PLAIN): 250 only once stored,
// then delivered to the recipient's MX with DANE.
func (e *env) viaSwaks(t *testing.T) {
	bin, err := exec.LookPath("swaks")
	if err != nil {
		testenv.Missing(t, "swaks (Debian package swaks)")
	}
	msgID, rcpt := newMessageID(t, "swaks"), "jan@"+domainDANE
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--server", e.srv.SMTPAddr, "--tls", "--auth", "PLAIN",
		"--auth-user", alice, "--auth-password", e.password, "--ehlo", "client.test",
		"--from", alice, "--to", rcpt, "--header", "Subject: Via swaks", "--header", "Message-Id: "+msgID,
		"--body", "Hallo via swaks.", "--timeout", "60").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	_, afterData, _ := bytes.Cut(out, []byte("~> .\n"))
	if !bytes.Contains(afterData, []byte("<~  250 ")) {
		t.Fatalf("swaks saw no 250 after the end of DATA:\n%s", out)
	}
	e.checkSubmitted(t, msgID, rcpt)
}

// viaPython submits with Python's smtplib, verifying the gateway's certificate
// with the lab CA. Python is an alternative client: without it swaks suffices.
func (e *env) viaPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed; the swaks variant covers the gateway")
	}
	msgID, rcpt := newMessageID(t, "smtplib"), "jan@"+domainPKIX
	host, port, _ := net.SplitHostPort(e.srv.SMTPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", pythonClient, host, port, alice, rcpt, msgID, e.lab.caFile)
	cmd.Stdin = strings.NewReader(e.password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "refused: {}") {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	e.checkSubmitted(t, msgID, rcpt)
}

// pythonClient sends one message over STARTTLS with AUTH PLAIN; the password
// comes on standard input, so that it is not in the process list.
const pythonClient = `
import smtplib, ssl, sys
host, port, user, rcpt, msgid, cafile = sys.argv[1:7]
password = sys.stdin.readline().rstrip("\n")
ctx = ssl.create_default_context(cafile=cafile)
msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: Via smtplib\r\nMessage-ID: %s\r\n\r\nHallo via Python.\r\n"
       % (user, rcpt, msgid))
with smtplib.SMTP(host, int(port), local_hostname="client.test", timeout=60) as s:
    s.starttls(context=ctx)
    s.login(user, password)
    print("refused:", s.sendmail(user, [rcpt], msg))
`

// checkSubmitted: the message the client just had answered 250 is already in
// the sender's list (stored before the reply), and it is delivered once.
func (e *env) checkSubmitted(t *testing.T, msgID, rcpt string) {
	t.Helper()
	var id string
	for _, s := range e.alice.List(t) {
		if s.MessageID == msgID {
			id = s.ID
		}
	}
	if id == "" {
		t.Fatalf("%s answered 250 but is not among the sender's messages", msgID)
	}
	m := e.alice.WaitRecipient(t, id, rcpt, "to", "delivered", deliveryWait)
	p := e.lab.ee
	if strings.HasSuffix(rcpt, "@"+domainPKIX) {
		p = e.lab.pkix
	}
	got := arrivedOnce(t, p, rcpt, m.MessageID)
	checkFrom(t, got, aliceName, alice)
}

// authBeforeTLS speaks SMTP by hand: EHLO must not offer AUTH in the clear, AUTH
// with correct credentials is refused, and MAIL is refused unauthenticated.
func (e *env) authBeforeTLS(t *testing.T) {
	conn, err := net.DialTimeout("tcp", e.srv.SMTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(clientTimeout))
	c := textproto.NewConn(conn)
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	ehlo := command(t, c, "EHLO client.test")
	if ehlo.code != 250 || !strings.Contains(ehlo.msg, "STARTTLS") || strings.Contains(ehlo.msg, "AUTH") {
		t.Errorf("EHLO before STARTTLS: %d %q; want STARTTLS offered and AUTH not", ehlo.code, ehlo.msg)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + e.password))
	if r := command(t, c, "AUTH PLAIN "+plain); r.code/100 != 5 {
		t.Errorf("AUTH PLAIN before STARTTLS: %d %q; want a 5xx refusal", r.code, r.msg)
	} else {
		t.Logf("AUTH before STARTTLS: %d %s", r.code, r.msg)
	}
	if r := command(t, c, "MAIL FROM:<"+alice+">"); r.code != 530 {
		t.Errorf("MAIL without TLS and AUTH: %d %q; want 530", r.code, r.msg)
	}
	command(t, c, "QUIT")
}

type reply struct {
	code int
	msg  string
}

func command(t *testing.T, c *textproto.Conn, line string) reply {
	t.Helper()
	if _, err := c.Cmd("%s", line); err != nil {
		t.Fatalf("%s: %v", strings.Fields(line)[0], err)
	}
	code, msg, err := c.ReadResponse(0)
	if err != nil {
		t.Fatalf("%s: %v", strings.Fields(line)[0], err)
	}
	return reply{code, msg}
}
