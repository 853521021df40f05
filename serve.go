package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gatehouse/gatehouse/views"
	"github.com/prometheus/client_golang/prometheus"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("serve", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return serve(ctx, cfg, ln, newLogger(cfg, stderr), stdout)
}

// app is a wired gatehouse: the pieces serve runs and tests inspect.
type app struct {
	db       *models.DB
	sessions *sessionstore.Store
	throttle *throttle.Limiter
	handler  http.Handler
	setup    *handlers.Setup      // the first-admin setup link
	registry *prometheus.Registry // served at /metrics when metrics.listen is set
}

// newApp opens the database, migrates it and wires the handlers.
func newApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*app, error) {
	return buildApp(ctx, cfg, log, nil)
}

// buildApp is newApp with the base client for calls to OpenID Providers
// (nil: a default client).
func buildApp(ctx context.Context, cfg config.Config, log *slog.Logger, idpClient *http.Client) (*app, error) {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	hasher, err := password.New(cfg.Password.BcryptCost, cfg.Password.MinLength)
	if err != nil {
		db.Close()
		return nil, err
	}
	renderer, err := views.New(nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	store := sessionstore.New(db, sessionstore.Options{
		Secure: cfg.Secure(), IdleTimeout: cfg.Session.IdleTimeout, Lifetime: cfg.Session.Lifetime,
		Permanent: cfg.Session.Permanent, Logger: log,
	})
	limiter := throttle.New(db, cfg.Throttle)
	reg := metrics.NewRegistry() // per app: no global registry
	m := metrics.New(reg)
	m.CountSessionsWith(db.CountActiveSessions)
	set, err := handlers.NewSSOSetWithMetrics(cfg, db, log, idpClient, m)
	if err != nil {
		db.Close()
		return nil, errUsage{err}
	}
	setup := &handlers.Setup{}
	h, err := handlers.New(handlers.Deps{
		Config: cfg, DB: db, Sessions: store, Views: renderer, Logger: log, SSO: set,
		Throttle: limiter, Setup: setup, Metrics: m,
		Accounts: &accounts.Service{DB: db, Hasher: hasher, Logger: log},
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &app{db: db, sessions: store, throttle: limiter, handler: h, setup: setup, registry: reg}, nil
}

// serve runs gatehouse on ln (and /metrics on metrics.listen when set) until
// ctx ends, then drains requests and closes the database.
func serve(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger, stdout io.Writer) error {
	return serveWith(ctx, cfg, ln, log, stdout, serveOptions{})
}

// serveOptions are serve's inputs beyond the configuration; tests set them.
type serveOptions struct {
	// metricsListener serves /metrics; nil means listen on metrics.listen
	// when it is set.
	metricsListener net.Listener
	// idpClient is the base client for calls to OpenID Providers; nil
	// means a default client.
	idpClient *http.Client
}

// serveWith is serve with test seams.
func serveWith(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger, stdout io.Writer, o serveOptions) error {
	mln := o.metricsListener
	if mln == nil && cfg.Metrics.Listen != "" {
		var err error
		if mln, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			ln.Close()
			return fmt.Errorf("metrics: listen on %s: %w", cfg.Metrics.Listen, err)
		}
	}
	a, err := buildApp(ctx, cfg, log, o.idpClient)
	if err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		return err
	}
	defer a.db.Close()
	offerSetup(ctx, cfg, a, log, stdout)
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go a.sessions.RunCleanup(bg, 5*time.Minute)
	go sweep(bg, a, log, 5*time.Minute)

	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("gatehouse listening", "addr", ln.Addr().String(), "url", cfg.BaseURL, "database", cfg.Database, "version", version)
	var msrv *http.Server // nil: metrics off
	if mln != nil {
		msrv = metricsServer(cfg, a, log)
		go func() { errc <- msrv.Serve(mln) }()
		log.Info("metrics listening", "addr", mln.Addr().String(), "path", "/metrics")
	}
	fmt.Fprintf(stdout, "gatehouse is running at %s\n", cfg.BaseURL)

	select {
	case err := <-errc:
		srv.Close()
		if msrv != nil {
			msrv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if msrv != nil { // after the main server: scrapes work while it drains
		err = errors.Join(err, msrv.Shutdown(sctx))
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// metricsServer serves the app's registry at /metrics, with the main
// server's timeouts. It is meant for a private address: no authentication.
func metricsServer(cfg config.Config, a *app, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(a.registry, log))
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// sweep deletes expired pending sign-ins, pending links, logout token IDs
// and throttle counters every interval until ctx ends.
func sweep(ctx context.Context, a *app, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := a.db.DeleteExpiredPending(ctx, 500); err != nil && ctx.Err() == nil {
			log.Warn("delete expired pending sign-ins", "err", err)
		}
		if err := a.throttle.Cleanup(ctx); err != nil && ctx.Err() == nil {
			log.Warn("delete old throttle counters", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// offerSetup prints a one-time first-admin setup link (stdout and log) when
// no enabled administrator exists. The link works once, for handlers.SetupTTL.
func offerSetup(ctx context.Context, cfg config.Config, a *app, log *slog.Logger, stdout io.Writer) {
	n, err := a.db.CountUsers(ctx, true)
	if err != nil {
		log.Error("count administrators; no setup link offered", "err", err)
		return
	}
	if n > 0 {
		return
	}
	tok, err := a.setup.Issue(a.db.Now(), handlers.SetupTTL)
	if err != nil {
		log.Error("setup token; no setup link offered", "err", err)
		return
	}
	link := cfg.BaseURL + "/setup?token=" + tok
	msg := "no administrator yet"
	if total, err := a.db.CountUsers(ctx, false); err == nil && total == 0 {
		msg = "no accounts yet"
	}
	log.Warn(msg+"; create the first administrator at the one-time setup link (valid for 1 hour, once), "+
		"or with: echo 'a-long-password' | gatehouse user create --admin --email you@example.com --password-stdin", "url", link)
	fmt.Fprintf(stdout, "No administrator yet. Create the first one at this one-time link (valid for 1 hour):\n  %s\n", link)
}
