package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/handlers"
)

// cleanupEvery is how often expired sessions, pending sign-ins and old
// throttle counters are deleted.
const cleanupEvery = 5 * time.Minute

// maxHeaderBytes caps request headers on both listeners.
const maxHeaderBytes = 32 << 10

// Run serves the application (and /metrics when configured) until ctx
// ends, then drains requests within the shutdown timeout. While no enabled
// administrator exists it offers a one-time setup link first. Run closes
// its listeners; the caller closes the App.
func (a *App) Run(ctx context.Context) error {
	ln, mln, err := a.listen()
	if err != nil {
		return err
	}
	a.offerSetup(ctx)
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go a.Sessions.RunCleanup(bg, cleanupEvery)
	go a.sweep(bg, cleanupEvery)

	log, cfg := a.Logger, a.Config
	srv := a.server(a.handler)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("gatehouse listening", "addr", ln.Addr().String(), "url", cfg.BaseURL, "database", cfg.Database, "version", a.opts.Version)
	var msrv *http.Server // nil: metrics off
	if mln != nil {
		msrv = a.server(a.MetricsHandler())
		go func() { errc <- msrv.Serve(mln) }()
		log.Info("metrics listening", "addr", mln.Addr().String(), "path", "/metrics")
	}
	fmt.Fprintf(a.opts.Stdout, "gatehouse is running at %s\n", cfg.BaseURL)

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

// listen returns the main and metrics listeners (nil: metrics off), from
// Options or the configured addresses. On failure neither is left open.
func (a *App) listen() (ln, mln net.Listener, err error) {
	ln, mln = a.opts.Listener, a.opts.MetricsListener
	if ln == nil {
		if ln, err = net.Listen("tcp", a.Config.Listen); err != nil {
			if mln != nil {
				mln.Close()
			}
			return nil, nil, fmt.Errorf("listen on %s: %w", a.Config.Listen, err)
		}
	}
	if mln == nil && a.Config.Metrics.Listen != "" {
		if mln, err = net.Listen("tcp", a.Config.Metrics.Listen); err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("metrics: listen on %s: %w", a.Config.Metrics.Listen, err)
		}
	}
	return ln, mln, nil
}

// server is an http.Server for h with the configured timeouts. The metrics
// listener gets the same: it is meant for a private address, but it is
// still a listener.
func (a *App) server(h http.Handler) *http.Server {
	cfg := a.Config.Server
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
}

// sweep deletes expired pending sign-ins, pending links, logout token IDs
// and throttle counters every interval until ctx ends.
func (a *App) sweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := a.DB.DeleteExpiredPending(ctx, 500); err != nil && ctx.Err() == nil {
			a.Logger.Warn("delete expired pending sign-ins", "err", err)
		}
		if err := a.Throttle.Cleanup(ctx); err != nil && ctx.Err() == nil {
			a.Logger.Warn("delete old throttle counters", "err", err)
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
func (a *App) offerSetup(ctx context.Context) {
	log := a.Logger
	n, err := a.DB.CountUsers(ctx, true)
	if err != nil {
		log.Error("count administrators; no setup link offered", "err", err)
		return
	}
	if n > 0 {
		return
	}
	tok, err := a.Setup.Issue(a.DB.Now(), handlers.SetupTTL)
	if err != nil {
		log.Error("setup token; no setup link offered", "err", err)
		return
	}
	link := a.Config.BaseURL + "/setup?token=" + tok
	msg := "no administrator yet"
	if total, err := a.DB.CountUsers(ctx, false); err == nil && total == 0 {
		msg = "no accounts yet"
	}
	log.Warn(msg+"; create the first administrator at the one-time setup link (valid for 1 hour, once), "+
		"or with: echo 'a-long-password' | gatehouse user create --admin --email you@example.com --password-stdin", "url", link)
	fmt.Fprintf(a.opts.Stdout, "No administrator yet. Create the first one at this one-time link (valid for 1 hour):\n  %s\n", link)
}
