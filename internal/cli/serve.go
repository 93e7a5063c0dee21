package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/addin"
	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/api/adapt"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/directory/ldapsync"
	"github.com/veilig/veilig/internal/audit"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/config"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/detect"
	"github.com/veilig/veilig/internal/metrics"
	"github.com/veilig/veilig/internal/submission"
)

// serve runs the HTTP API until ctx ends (SIGINT/SIGTERM), then drains requests.
func serve(ctx context.Context, env Env, args []string) error {
	s, _, err := load(ctx, env, "serve", args, true, nil)
	if err != nil {
		return err
	}
	defer s.db.Close()
	s.log.Info("starting veilig", s.cfg.Masked()...)
	if s.cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(s.cfg.MemoryLimit << 20)
	}
	app, err := newApp(ctx, s)
	if err != nil {
		return err
	}
	bg, stopBG := context.WithCancel(ctx)
	outboxDone := make(chan struct{})
	defer func() {
		stopBG()
		<-outboxDone // the last delivery is recorded before the database closes
		app.send.deliverer.Close()
	}()
	app.startBackground(bg, outboxDone)
	if app.submission != nil {
		go serveSubmission(bg, s, app.submission)
	}
	return serveHTTP(ctx, s, app.handler)
}

// app is the wired server: the HTTP handler and what runs beside it.
type app struct {
	s       *setup
	metrics *metrics.Metrics
	live    *directory.Live
	syncer  *ldapsync.Syncer
	auth    *auth.Service
	send    *sending
	partner *partners
	trail   *audit.Trail
	handler http.Handler

	submission *submission.Server
}

func newApp(ctx context.Context, s *setup) (*app, error) {
	a := &app{s: s, metrics: metrics.New()}
	var err error
	if a.trail, err = s.withTrail(); err != nil {
		return nil, err
	}
	store := directory.NewStore(s.db.DB, time.Now)
	a.live = directory.NewLive(store, s.log, time.Now)
	if err := refreshIndex(ctx, a.live, a.metrics); err != nil {
		return nil, err
	}
	if a.syncer, err = newSyncer(s.cfg, store, s.log, s.recorder()); err != nil {
		return nil, err
	}
	if a.auth, err = newAuth(ctx, s, store); err != nil {
		return nil, err
	}
	if a.send, err = newSending(ctx, s, a.live); err != nil {
		return nil, err
	}
	if a.submission, err = newSubmission(s, a); err != nil {
		return nil, err
	}
	host, err := smtpHostname(s.cfg)
	if err != nil {
		return nil, err
	}
	if a.partner, err = newPartners(s, a, store, a.send.ring, host); err != nil {
		return nil, err
	}
	a.handler, err = newHandler(s, a, store)
	return a, err
}

func newHandler(s *setup, a *app, store *directory.Store) (http.Handler, error) {
	host, err := smtpHostname(s.cfg)
	if err != nil {
		return nil, err
	}
	origins, add, err := newAddins(s.cfg)
	if err != nil {
		return nil, err
	}
	detector, err := newDetector(s.cfg)
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	return api.New(api.Options{MaxBodyBytes: s.cfg.MaxBodyBytes, TrustedProxies: splitList(s.cfg.TrustedProxies),
		MetricsAllow: splitList(s.cfg.MetricsAllow), MaxMessageBytes: s.cfg.MaxMessageBytes,
		SpoolDir: filepath.Join(s.cfg.DataDir, "spool"), SPFInclude: "_spf." + host, AddinOrigins: origins},
		api.Deps{Log: s.log, Metrics: a.metrics, Directory: a.live, Status: store, Login: a.auth,
			Tokens: a.auth, Ready: readiness(s.db), Messages: a.send.messages, Organisations: store,
			DKIM: a.send.keys, Transport: a.send.deliverer, Revoker: a.send.messages,
			Unlocker: a.send.unlocker(), Pages: append(a.send.pages(), add), Settings: a.send.store,
			Detector: detector, Enrolments: adapt.Enrolments{S: a.partner.enrol},
			Events: adapt.Trust{S: a.partner.trust}, Reports: adapt.Trust{S: a.partner.trust},
			Pins:  adapt.Monitor{M: a.partner.monitor},
			Users: a.auth.Users(), APIKeys: a.auth.APIKeys(), Audit: a.trail})
}

// newAddins prepares the add-in files and manifests for PUBLIC_URL and returns
// the origins allowed CORS: ADDIN_ORIGINS, or else PUBLIC_URL's own origin.
// newDetector is the sensitive-data detector with VEILIG_DETECT_PATTERNS.
func newDetector(cfg config.Config) (*detect.Detector, error) {
	var patterns []detect.Pattern
	if cfg.DetectPatterns != "" {
		if err := json.Unmarshal([]byte(cfg.DetectPatterns), &patterns); err != nil {
			return nil, fmt.Errorf("VEILIG_DETECT_PATTERNS: %w", err)
		}
	}
	return detect.New(patterns...)
}

func newAddins(cfg config.Config) ([]string, *addin.Addin, error) {
	extra := splitList(cfg.AddinOrigins)
	add, err := addin.New(cfg.PublicURL, addin.WithFrameAncestors(extra...))
	if err != nil {
		return nil, nil, err
	}
	if len(extra) > 0 {
		return extra, add, nil
	}
	origin, err := addin.Origin(cfg.PublicURL)
	return []string{origin}, add, err
}

func (a *app) startBackground(ctx context.Context, outboxDone chan<- struct{}) {
	go a.send.runOutbox(ctx, a.s, outboxDone)
	go a.send.sweepLoop(ctx, a.s)
	go a.send.lifecycleLoop(ctx, a.s)
	go watchIndex(ctx, a.live, a.metrics, a.s.cfg.IndexRefresh, a.s.log)
	if a.syncer != nil && a.s.cfg.LDAPSyncInterval > 0 {
		go syncLoop(ctx, a.s, a.syncer, a.metrics)
	}
	go pruneTokens(ctx, a.auth, a.s)
	a.partner.run(ctx, a.s)
	go a.trail.Run(ctx)
	go tick(ctx, 24*time.Hour, func() { purgeTrail(ctx, a.s, a.trail) })
}

// serveHTTP listens with timeouts on every phase and shuts down gracefully.
func serveHTTP(ctx context.Context, s *setup, handler http.Handler) error {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	if ln, err = withTLS(ln, s.cfg); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.cfg.HTTPTLSCert != "")
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("stopped")
	return nil
}

// withTLS wraps ln in TLS (1.2 minimum, Go's default suites) when a certificate
// is configured.
func withTLS(ln net.Listener, c config.Config) (net.Listener, error) {
	if c.HTTPTLSCert == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(c.HTTPTLSCert, c.HTTPTLSKey)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("VEILIG_HTTP_TLS_CERT/KEY: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"}}), nil
}

// serveSubmission runs the SMTP submission gateway until ctx ends.
func serveSubmission(ctx context.Context, s *setup, srv *submission.Server) {
	ln, err := net.Listen("tcp", s.cfg.SubmissionAddr)
	if err != nil {
		s.log.Error("submission gateway cannot listen", "addr", s.cfg.SubmissionAddr, "err", err)
		return
	}
	s.log.Info("submission gateway listening", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil {
		s.log.Error("submission gateway stopped", "err", err)
	}
}

func readiness(db *database.DB) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if err := db.Ping(ctx); err != nil {
			return err
		}
		return db.CheckMigrated(ctx)
	}
}

func refreshIndex(ctx context.Context, live *directory.Live, m *metrics.Metrics) error {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	loaded, err := live.Refresh(rctx)
	if err != nil {
		return fmt.Errorf("load directory index: %w", err)
	}
	if loaded {
		m.IndexLoad.Observe(time.Since(start).Seconds())
		m.IndexRecords.Set(float64(live.Snapshot().Index.Len()))
	}
	return nil
}

func watchIndex(ctx context.Context, live *directory.Live, m *metrics.Metrics, every time.Duration, log interface {
	Error(string, ...any)
}) {
	tick(ctx, every, func() {
		if err := refreshIndex(ctx, live, m); err != nil && ctx.Err() == nil {
			log.Error("directory index refresh failed; serving the previous one", "err", err)
		}
	})
}

// tick calls fn every d until ctx ends (the first call after d).
func tick(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func pruneTokens(ctx context.Context, a *auth.Service, s *setup) {
	tick(ctx, time.Hour, func() {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if n, err := a.Prune(pctx); err != nil {
			s.log.Error("pruning refresh tokens failed", "err", err)
		} else if n > 0 {
			s.log.Info("pruned refresh tokens", "count", n)
		}
	})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
