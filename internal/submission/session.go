package submission

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/message"
	"github.com/veilig/veilig/internal/spool"
)

// Session is one SMTP session; go-smtp makes a new one after STARTTLS.
type Session struct {
	srv       *Server
	conn      *smtp.Conn
	clientIP  string
	principal *auth.Principal
	from      string
	rcpts     []string
	seen      map[string]bool
}

var (
	_ smtp.Session     = (*Session)(nil)
	_ smtp.AuthSession = (*Session)(nil)
)

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	ip := ""
	if addr, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		ip = addr.IP.String()
	}
	return &Session{srv: s, conn: c, clientIP: ip}, nil
}

// AuthMechanisms offers PLAIN; go-smtp advertises it only once TLS is up.
func (ss *Session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth checks AUTH PLAIN credentials (RFC 4616) with the Authenticator.
func (ss *Session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	if _, tls := ss.conn.TLSConnectionState(); !tls { // AllowInsecureAuth=false already refuses this
		return nil, errTLSRequired
	}
	return sasl.NewPlainServer(ss.authenticate), nil
}

func (ss *Session) authenticate(identity, username, password string) error {
	if identity != "" && identity != username {
		return smtp.ErrAuthFailed // no authorisation identity other than oneself
	}
	ctx, cancel := context.WithTimeout(ss.srv.base, ss.srv.cfg.AuthTimeout)
	defer cancel()
	p, err := ss.srv.deps.Auth.Authenticate(ctx, username, password, ss.clientIP)
	if err != nil {
		reply := authReply(err)
		ss.srv.deps.Log.Info("smtp authentication failed", "client_ip", ss.clientIP, "code", reply.Code,
			"err", err)
		return reply
	}
	ss.principal = &p
	ss.srv.deps.Log.Info("smtp authenticated", "client_ip", ss.clientIP, "user", p.UserID)
	return nil
}

// Mail starts a transaction: only over TLS, only after AUTH, only for a sender
// who may send, and only with their own address as the reverse-path.
func (ss *Session) Mail(from string, _ *smtp.MailOptions) error {
	if _, tls := ss.conn.TLSConnectionState(); !tls {
		return errTLSRequired
	}
	p := ss.principal
	switch {
	case p == nil:
		return errAuthRequired
	case !maySend(*p):
		return errMayNotSend
	case !strings.EqualFold(from, p.Email):
		return errNotOwner
	}
	ss.from = from
	return nil
}

// Rcpt refuses an unusable address at once (501 5.1.3) and, with a Directory,
// a recipient outside the community (550 5.7.1); duplicates count once.
func (ss *Session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.from == "" {
		return errAuthRequired
	}
	if _, reason, detail := directory.CheckAddress(to); reason != "" {
		return badRecipient(to, detail)
	}
	if err := ss.route(to); err != nil {
		return err
	}
	key := strings.ToLower(to)
	if !ss.seen[key] {
		if ss.seen == nil {
			ss.seen = map[string]bool{}
		}
		ss.seen[key] = true
		ss.rcpts = append(ss.rcpts, to)
	}
	return nil
}

func (ss *Session) route(to string) error {
	d := ss.srv.deps.Directory
	if d == nil {
		return nil
	}
	snap := d.Snapshot()
	if snap == nil {
		return nil
	}
	switch r := snap.Resolve([]string{to})[0]; r.Route {
	case directory.RouteInternal:
		return nil
	case directory.RouteExternal:
		return externalRecipients([]string{to})
	default:
		return badRecipient(to, r.Detail)
	}
}

// Data spools the message to a sealed private file and accepts it; the reply
// (250 or an error) is written by go-smtp only after this returns.
func (ss *Session) Data(r io.Reader) error {
	if ss.principal == nil || ss.from == "" {
		return errAuthRequired
	}
	start := time.Now()
	sp, err := spool.New(ss.srv.cfg.SpoolDir)
	if err != nil {
		return ss.failed(fmt.Errorf("submission: %w", err), 0, start)
	}
	defer ss.removeSpool(sp)
	raw, size, err := ss.spool(sp, r)
	if err != nil {
		return ss.failed(err, size, start)
	}
	ctx, cancel := context.WithTimeout(ss.srv.base, ss.srv.cfg.AcceptTimeout)
	defer cancel()
	acc, err := ss.srv.deps.Messages.Accept(ctx, ss.sender(), message.Draft{Raw: raw, EnvelopeRecipients: ss.rcpts}, "")
	if err != nil {
		return ss.failed(err, size, start)
	}
	ss.srv.deps.Log.Info("smtp message accepted", "id", acc.ID, "user", ss.principal.UserID, "client_ip", ss.clientIP,
		"recipients", len(ss.rcpts), "size", size, "duration", time.Since(start))
	return nil
}

// spool streams the DATA stream into a sealed 0600 file (internal/spool) and
// opens it for reading; sp closes the reader. Each read pushes the read
// deadline on, so ReadTimeout bounds a stall rather than the whole transfer.
// An error of the stream (e.g. go-smtp's 552 past MaxMessageBytes) is wrapped
// as it is.
func (ss *Session) spool(sp *spool.Spool, r io.Reader) (io.Reader, int64, error) {
	in := &deadlineReader{r: r, conn: ss.conn.Conn(), timeout: ss.srv.cfg.ReadTimeout}
	f, err := sp.Write(in)
	if err != nil {
		return nil, in.n, fmt.Errorf("submission: %w", err)
	}
	raw, err := f.Open()
	if err != nil {
		return nil, f.Size(), fmt.Errorf("submission: %w", err)
	}
	return raw, f.Size(), nil
}

func (ss *Session) removeSpool(sp *spool.Spool) {
	if err := sp.Remove(); err != nil {
		ss.srv.deps.Log.Error("removing spool files failed", "err", err)
	}
}

// failed turns err into the reply and logs the outcome once; the detail of an
// internal error stays in the log.
func (ss *Session) failed(err error, size int64, start time.Time) error {
	reply := dataReply(err)
	level := slog.LevelInfo
	if reply.Code/100 == 4 {
		level = slog.LevelWarn
	}
	ss.srv.deps.Log.Log(context.Background(), level, "smtp message refused", "user", ss.principal.UserID,
		"client_ip", ss.clientIP, "recipients", len(ss.rcpts), "size", size, "code", reply.Code,
		"enhanced", fmt.Sprintf("%d.%d.%d", reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2]),
		"duration", time.Since(start), "err", err)
	return reply
}

func (ss *Session) sender() message.Sender {
	p := ss.principal
	return message.Sender{UserID: p.UserID, Email: p.Email, OrganisationID: p.OrganisationID,
		Name: displayName(ss.srv.deps.Directory, p.Email)}
}

// Reset ends the transaction; the authentication stays.
func (ss *Session) Reset() {
	ss.from, ss.rcpts, ss.seen = "", nil, nil
}

// Logout ends the session.
func (ss *Session) Logout() error { return nil }

// maySend: only senders and organisation administrators send (operators: no).
func maySend(p auth.Principal) bool {
	return (p.Role == auth.RoleSender || p.Role == auth.RoleOrgAdmin) && p.OrganisationID != ""
}

// displayName is the directory's name for the person with this address, or "".
func displayName(d Directory, email string) string {
	if d == nil {
		return ""
	}
	return d.Snapshot().PersonName(email)
}

// deadlineReader extends the connection's read deadline before every read and
// counts the bytes read (for the log when spooling fails).
type deadlineReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
	n       int64
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	n, err := d.r.Read(p)
	d.n += int64(n)
	return n, err
}
