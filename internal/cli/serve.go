package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/veilig/veilig/api"
	"github.com/veilig/veilig/directory"
	"github.com/veilig/veilig/internal/auth"
	"github.com/veilig/veilig/internal/database"
	"github.com/veilig/veilig/internal/metrics"
)

// serve runs the HTTP API until ctx ends (SIGINT/SIGTERM), then drains requests.
func serve(ctx context.Context, env Env, args []string) error {
	s, _, err := load(ctx, env, "serve", args, true, nil)
	if err != nil {
		return err
	}
	defer s.db.Close()
	s.log.Info("starting veilig", s.cfg.Masked()...)

	// Directory: store, in-memory view, LDAP sync.
	m := metrics.New()
	store := directory.NewStore(s.db.DB, time.Now)
	live := directory.NewLive(store, s.log, time.Now)
	if err := refreshIndex(ctx, live, m); err != nil {
		return err
	}
	syncer, err := newSyncer(s.cfg, store, s.log)
	if err != nil {
		return err
	}

	// Authentication.
	authSvc, err := newAuth(ctx, s, store)
	if err != nil {
		return err
	}

	// HTTP.
	gin.SetMode(gin.ReleaseMode)
	handler, err := api.New(api.Options{MaxBodyBytes: s.cfg.MaxBodyBytes, TrustedProxies: splitList(s.cfg.TrustedProxies)},
		api.Deps{Log: s.log, Metrics: m, Directory: live, Status: store, Login: authSvc, Tokens: authSvc,
			Ready: readiness(s.db)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}

	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	go watchIndex(bg, live, m, s.cfg.IndexRefresh, s.log)
	if syncer != nil && s.cfg.LDAPSyncInterval > 0 {
		go syncLoop(bg, s, syncer, m)
	}
	go pruneTokens(bg, authSvc, s)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String())
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
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := refreshIndex(ctx, live, m); err != nil && ctx.Err() == nil {
				log.Error("directory index refresh failed; serving the previous one", "err", err)
			}
		}
	}
}

func pruneTokens(ctx context.Context, a *auth.Service, s *setup) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			if n, err := a.Prune(pctx); err != nil {
				s.log.Error("pruning refresh tokens failed", "err", err)
			} else if n > 0 {
				s.log.Info("pruned refresh tokens", "count", n)
			}
			cancel()
		}
	}
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
