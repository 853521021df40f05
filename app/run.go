package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/models"
)

// cleanupEvery is how often expired sessions, pending sign-ins, old
// throttle counters and audit events past their retention are deleted.
const cleanupEvery = 5 * time.Minute

// sweepBatch is the most rows one delete statement of the sweep removes:
// each holds SQLite's write lock only briefly, so sign-ins are not held up
// while a large backlog goes.
const sweepBatch = 500

// keepSentMail and keepFailedMail are how long the outbox keeps a message
// after it was sent (its body may carry a link) or given up on (for an
// administrator to retry); keepFailedAudit how long audit_outbox keeps a
// webhook delivery given up on, for an operator to look at.
const (
	keepSentMail    = 24 * time.Hour
	keepFailedMail  = 30 * 24 * time.Hour
	keepFailedAudit = 30 * 24 * time.Hour
)

// maxHeaderBytes caps request headers on both listeners.
const maxHeaderBytes = 32 << 10

// Run serves the application (and /metrics when configured) until ctx
// ends, then drains requests within the shutdown timeout. While no enabled
// administrator exists it offers a one-time setup link first. Each signal
// on Options.Reload re-reads the configuration and, when it is valid and
// changes nothing only a restart can, serves the application wired from
// it from the next request on (reloadApp). Run closes its listeners; the
// caller closes the App (the database every reload shares).
func (a *App) Run(ctx context.Context) error {
	ln, mln, err := a.listen()
	if err != nil {
		return err
	}
	a.offerSetup(ctx)
	var cur atomic.Pointer[App]
	cur.Store(a)
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go a.Sessions.RunCleanup(bg, cleanupEvery)
	go every(bg, cleanupEvery, true, func(ctx context.Context) { cur.Load().Sweep(ctx) })
	go every(bg, checkEvery, false, func(ctx context.Context) { cur.Load().CheckProviders(ctx) })
	stopWorkers := a.startWorkers()
	defer func() { stopWorkers() }()
	var retired sync.WaitGroup // workers a reload replaced
	defer retired.Wait()

	log, cfg := a.Logger, a.Config
	srv := a.server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().handler.ServeHTTP(w, r) }))
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("gatehouse listening", "addr", ln.Addr().String(), "url", cfg.BaseURL, "database", models.Redact(cfg.Database), "version", a.opts.Version)
	var msrv *http.Server // nil: metrics off
	if mln != nil {
		msrv = a.server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().MetricsHandler().ServeHTTP(w, r) }))
		go func() { errc <- msrv.Serve(mln) }()
		log.Info("metrics listening", "addr", mln.Addr().String(), "path", "/metrics")
	}
	fmt.Fprintf(a.opts.Stdout, "gatehouse is running at %s\n", cfg.BaseURL)
	a.opts.notify("READY=1")

wait:
	for {
		select {
		case err := <-errc:
			srv.Close()
			if msrv != nil {
				msrv.Close()
			}
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			break wait
		case <-a.opts.Reload:
			if next := a.reloadApp(cur.Load()); next != nil {
				// The new workers start before the old ones stop: two
				// workers share an outbox as replicas do.
				stopOld := stopWorkers
				stopWorkers = next.startWorkers()
				a.DB.SetAudit(next.auditHooks)
				cur.Store(next)
				// The old workers finish what they deliver in the
				// background: the loop keeps watching ctx; shutdown
				// waits for them.
				retired.Go(stopOld)
			}
		}
	}
	a.opts.notify("STOPPING=1")
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

// reloadApp reads the configuration again and wires the application from
// it (App.Reload), telling the service manager; nil, logged with the
// reason, when the configuration cannot be read or is refused: the
// running application goes on as it was.
//
// The service manager hears RELOADING=1, then READY=1 with a STATUS line
// saying how it went: `systemctl status` shows a refusal's reason.
func (a *App) reloadApp(running *App) *App {
	a.opts.notify("RELOADING=1")
	if a.opts.LoadConfig == nil {
		a.opts.notify("READY=1")
		return nil
	}
	cfg, err := a.opts.LoadConfig()
	if err == nil {
		var next *App
		if next, err = running.Reload(cfg); err == nil {
			a.Logger.Info("configuration reloaded", "providers", len(cfg.Providers), "mail", cfg.Mail != nil, "log_level", cfg.Log.Level)
			if lv := a.opts.LogLevel; lv != nil { // after saying so at the level it had
				lv.Set(LogLevel(cfg))
			}
			a.opts.notify("READY=1\nSTATUS=configuration reloaded")
			return next
		}
	}
	a.Logger.Warn("configuration reload refused; still running on the previous configuration", "err", err)
	a.opts.notify("READY=1\nSTATUS=configuration reload refused: " + strings.ReplaceAll(err.Error(), "\n", " "))
	return nil
}

// startWorkers runs a's outbox workers (mail, the audit webhook; those
// configured) until the returned function is called, which waits for a
// delivery under way to finish and be recorded. They have a context of
// their own, not Run's: Run stops them after the requests drained (a
// request may still enqueue), and a reload stops the ones it replaced.
func (a *App) startWorkers() (stop func()) {
	var runs []func(context.Context)
	if a.MailWorker != nil {
		runs = append(runs, a.MailWorker.Run)
	}
	if a.AuditWorker != nil {
		runs = append(runs, a.AuditWorker.Run)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Go(func() { run(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}

// every runs fn every interval (and once at the start when first is set)
// until ctx ends.
func every(ctx context.Context, interval time.Duration, first bool, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	if first {
		fn(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
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

// checkEvery is how often the providers' offline checks run a round.
const checkEvery = time.Minute

// CheckProviders runs one round of the offline check (offline_check) and
// of disable_after for every provider that has them: what Run does each
// minute, for tests to call.
func (a *App) CheckProviders(ctx context.Context) {
	for _, p := range a.SSO.All() {
		pol := a.Accounts.Policy(p.ID())
		if pol.OfflineCheck <= 0 && pol.DisableAfter <= 0 {
			continue
		}
		rep, err := a.Accounts.CheckProvider(ctx, p.ID(), p.CheckRefresh)
		if err != nil && ctx.Err() == nil {
			a.Logger.ErrorContext(ctx, "offline check", "provider", p.ID(), "err", err)
		}
		if rep != (accounts.CheckReport{}) {
			a.Logger.InfoContext(ctx, "offline check round", "provider", p.ID(), "checked", rep.Checked, "confirmed", rep.Confirmed,
				"revoked", rep.Revoked, "unavailable", rep.Unavailable, "idle", rep.Idle, "sessions_ended", rep.SessionsEnded, "disabled", rep.Disabled)
		}
	}
}

// Sweep deletes expired pending sign-ins, pending links and logout token
// IDs, audit events older than audit.retention, outbox mail sent over a day
// ago or given up on over 30 days ago, audit webhook deliveries given up on
// over 30 days ago, expired password reset, invitation
// and verification links, sign-ins that never gave their second factor,
// and old throttle counters.
// Rows are deleted in batches of sweepBatch until a batch comes back short,
// so a backlog of any size (a flood of sign-ins started and abandoned,
// years of audit log) is cleared in one pass rather than sweepBatch rows
// per interval. A failed step is logged and the others still run.
func (a *App) Sweep(ctx context.Context) {
	cutoff := a.opts.Now().Add(-a.Config.Audit.Retention)
	for _, step := range []struct {
		what string
		del  func(context.Context) (int64, error)
	}{
		{"delete expired pending sign-ins", func(ctx context.Context) (int64, error) { return a.DB.DeleteExpiredPending(ctx, sweepBatch) }},
		{"delete audit events past their retention", func(ctx context.Context) (int64, error) {
			return a.DB.DeleteEventsBefore(ctx, cutoff, sweepBatch)
		}},
		{"delete old mail", func(ctx context.Context) (int64, error) {
			now := a.opts.Now()
			return a.DB.DeleteOldMail(ctx, now.Add(-keepSentMail), now.Add(-keepFailedMail), sweepBatch)
		}},
		{"delete given-up audit webhook deliveries", func(ctx context.Context) (int64, error) {
			return a.DB.DeleteFailedAudit(ctx, a.opts.Now().Add(-keepFailedAudit), sweepBatch)
		}},
		{"delete expired invitation and verification links", func(ctx context.Context) (int64, error) {
			return a.DB.DeleteExpiredEmailLinks(ctx, sweepBatch)
		}},
		{"delete expired second steps", func(ctx context.Context) (int64, error) {
			return a.DB.DeleteExpiredPendingMFA(ctx, sweepBatch)
		}},
		{"delete expired passkey ceremonies", func(ctx context.Context) (int64, error) {
			return a.DB.DeleteExpiredPasskeyCeremonies(ctx, sweepBatch)
		}},
		// At most one an account: one statement is enough.
		{"delete expired password reset links", func(ctx context.Context) (int64, error) {
			_, err := a.DB.DeleteExpiredPasswordResets(ctx)
			return 0, err
		}},
	} {
		if err := drain(ctx, step.del); err != nil && ctx.Err() == nil {
			a.Logger.Warn(step.what, "err", err)
		}
	}
	if err := a.Throttle.Cleanup(ctx); err != nil && ctx.Err() == nil {
		a.Logger.Warn("delete old throttle counters", "err", err)
	}
}

// drain calls del until it deletes fewer than sweepBatch rows (del counts
// every table it deletes from, so a short total means every table is
// done), or ctx ends.
func drain(ctx context.Context, del func(context.Context) (int64, error)) error {
	for ctx.Err() == nil {
		n, err := del(ctx)
		if err != nil {
			return err
		}
		if n < sweepBatch {
			return nil
		}
	}
	return ctx.Err()
}

// offerSetup prints a one-time first-admin setup link, and the command that
// does the same from the shell, to stdout when no enabled administrator
// exists. The link works once, for handlers.SetupTTL. It is printed once and
// only there: the log, often shipped and kept elsewhere, says a link was
// printed but never carries the token.
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
	tok, err := a.Setup.Issue(ctx, handlers.SetupTTL)
	if err != nil {
		log.Error("setup token; no setup link offered", "err", err)
		return
	}
	link := a.Config.BaseURL + "/setup?token=" + tok
	msg := "no administrator yet"
	if total, err := a.DB.CountUsers(ctx, false); err == nil && total == 0 {
		msg = "no accounts yet"
	}
	log.Warn(msg + "; a one-time first-administrator setup link (valid for 1 hour, once) was printed to stdout")
	cmd := a.opts.Command
	if cmd == "" {
		cmd = "gatehouse"
	}
	fmt.Fprintf(a.opts.Stdout, "No administrator yet. Create the first one at this one-time link (valid for 1 hour):\n  %s\n"+
		"or from the shell:\n  echo 'a-long-passphrase' | %s user create --admin --email you@example.com --password-stdin\n", link, cmd)
}
