// Package submission is Veilig's SMTP submission gateway (RFC 6409) for mail
// clients and servers without the add-in. A client must start TLS (STARTTLS,
// RFC 3207) and then authenticate with AUTH PLAIN (RFC 4954, RFC 4616) using the
// same credentials as the API before MAIL is accepted. The message (RFC 5322) is
// spooled to a private file and handed to the same Accept as the HTTP API, so it
// follows exactly the same routing and transport policy; the final 250 is sent
// only after Accept has returned, that is once the message is stored durably
// (RFC 5321 §6.1). Every refusal is a precise reply with an enhanced status code
// (RFC 2034, RFC 3463).
//
// The server is github.com/emersion/go-smtp; Session implements its Session and
// AuthSession interfaces.
package submission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/message"
)

// Errors returned by this package.
var ErrInvalidConfig = errors.New("submission: invalid configuration")

// Authenticator checks a user's password, as the API's password grant does
// (LDAP bind or local Argon2id hash, with the same rate limits). It returns an
// error wrapping auth.ErrInvalidCredentials for bad credentials and an
// *auth.RateLimitError when too many attempts failed.
type Authenticator interface {
	Authenticate(ctx context.Context, email, password, clientIP string) (auth.Principal, error)
}

// Acceptor stores a message durably and queues its deliveries (message.Service).
type Acceptor interface {
	Accept(ctx context.Context, from message.Sender, d message.Draft, idempotencyKey string) (message.Accepted, error)
}

// Directory is the current community directory (directory.Live): it refuses
// recipients outside the community at RCPT time and gives the sender's display
// name.
type Directory interface {
	Snapshot() *directory.Snapshot
}

// Config holds the gateway's settings.
type Config struct {
	Hostname        string      // in the greeting (VEILIG_SMTP_HOSTNAME)
	TLS             *tls.Config // for STARTTLS; required (see TLSConfig)
	MaxMessageBytes int64       // VEILIG_MAX_MESSAGE_BYTES, advertised as SIZE (RFC 1870)
	MaxRecipients   int         // VEILIG_MAX_RECIPIENTS, advertised as LIMITS RCPTMAX (RFC 9422)
	SpoolDir        string      // $DataDir/spool; created 0700
	// ReadTimeout is how long the server waits for a command or, during DATA, for
	// more data; WriteTimeout bounds each reply. Default 5 minutes each
	// (RFC 5321 §4.5.3.2).
	ReadTimeout, WriteTimeout time.Duration
	AuthTimeout               time.Duration // one password check; default 15 s
	AcceptTimeout             time.Duration // storing one message; default 2 min
}

// Deps are the gateway's collaborators.
type Deps struct {
	Log       *slog.Logger
	Auth      Authenticator
	Messages  Acceptor
	Directory Directory // optional: without it recipients are checked at DATA only
}

// Default timeouts.
const (
	defaultIOTimeout     = 5 * time.Minute
	defaultAuthTimeout   = 15 * time.Second
	defaultAcceptTimeout = 2 * time.Minute
)

// Server is the submission gateway.
type Server struct {
	cfg    Config
	deps   Deps
	smtp   *smtp.Server
	base   context.Context // parent of every Accept; ended by Close
	cancel context.CancelFunc
}

// New checks cfg, makes the spool directory private and returns a Server.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := check(cfg, deps); err != nil {
		return nil, err
	}
	cfg = withDefaults(cfg)
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("submission: spool directory: %w", err)
	}
	if err := os.Chmod(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("submission: spool directory: %w", err)
	}
	s := &Server{cfg: cfg, deps: deps}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.smtp = s.newSMTP()
	return s, nil
}

func check(cfg Config, deps Deps) error {
	switch {
	case cfg.TLS == nil || (len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil):
		return fmt.Errorf("%w: a TLS certificate is required (STARTTLS before AUTH)", ErrInvalidConfig)
	case cfg.MaxMessageBytes < 1 || cfg.MaxRecipients < 1:
		return fmt.Errorf("%w: MaxMessageBytes and MaxRecipients must be positive", ErrInvalidConfig)
	case cfg.SpoolDir == "" || cfg.Hostname == "":
		return fmt.Errorf("%w: SpoolDir and Hostname are required", ErrInvalidConfig)
	case deps.Log == nil || deps.Auth == nil || deps.Messages == nil:
		return fmt.Errorf("%w: Log, Auth and Messages are required", ErrInvalidConfig)
	}
	return nil
}

func withDefaults(cfg Config) Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ReadTimeout, defaultIOTimeout)
	def(&cfg.WriteTimeout, defaultIOTimeout)
	def(&cfg.AuthTimeout, defaultAuthTimeout)
	def(&cfg.AcceptTimeout, defaultAcceptTimeout)
	return cfg
}

func (s *Server) newSMTP() *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = s.cfg.Hostname
	srv.TLSConfig = s.cfg.TLS
	srv.AllowInsecureAuth = false // AUTH is neither offered nor accepted before STARTTLS
	srv.MaxMessageBytes = s.cfg.MaxMessageBytes
	srv.MaxRecipients = s.cfg.MaxRecipients
	srv.ReadTimeout = s.cfg.ReadTimeout
	srv.WriteTimeout = s.cfg.WriteTimeout
	srv.ErrorLog = errorLog{s.deps.Log}
	return srv
}

// Serve answers connections on ln until Shutdown or Close; it then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	err := s.smtp.Serve(ln)
	if err != nil && s.base.Err() == nil {
		return fmt.Errorf("submission: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits, until ctx ends, for the open
// sessions to finish; messages being stored are stored.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.smtp.Shutdown(ctx)
	s.cancel()
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("submission: shutdown: %w", err)
	}
	return nil
}

// Close drops every connection at once; a message not yet answered 250 is not
// accepted, and its client will retry.
func (s *Server) Close() error {
	s.cancel()
	if err := s.smtp.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("submission: close: %w", err)
	}
	return nil
}

// errorLog hands go-smtp's internal errors to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Warn("smtp submission", "detail", fmt.Sprintf(format, v...))
}

func (l errorLog) Println(v ...any) { l.log.Warn("smtp submission", "detail", fmt.Sprint(v...)) }

// TLSConfig loads a PEM certificate chain and key for STARTTLS: TLS 1.2 at
// least, and for TLS 1.2 only ECDHE with AES-GCM or ChaCha20-Poly1305 (NCSC-NL
// TLS guidelines, "good" and "sufficient").
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("submission: TLS certificate: %w", err)
	}
	return ServerTLS(cert), nil
}

// ServerTLS is the STARTTLS configuration for certs (see TLSConfig).
func ServerTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: certs,
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		},
	}
}
