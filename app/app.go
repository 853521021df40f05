// Package app builds gatehouse once. New opens and migrates the database
// and wires accounts, sessions, throttling, the OpenID Providers, metrics
// and the HTTP handlers from one configuration; Run serves them. The serve
// and demo commands, the benchmarks and the end-to-end tests all get their
// application from New, so what they exercise is what production runs.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/secrets"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gatehouse/gatehouse/views"
	"github.com/prometheus/client_golang/prometheus"
)

// Options are New's inputs beyond the configuration: what an operator's
// process, a benchmark or a test chooses. Every field is optional.
type Options struct {
	// Logger receives the application's log; nil discards it.
	Logger *slog.Logger
	// Now is the clock every component reads; nil is time.Now.
	Now func() time.Time
	// Rand is the source of every token and secret; nil is crypto/rand.
	Rand io.Reader
	// IDPClient is the base HTTP client for calls to OpenID Providers
	// (each provider gets an instrumented copy with its own timeout); nil
	// is a default client.
	IDPClient *http.Client
	// WebhookClient sends audit.webhook's deliveries (with its timeout on
	// each); nil is a client of the worker's own.
	WebhookClient *http.Client
	// LimitClock is the clock of the per-address rate limits
	// (handlers.Deps.LimitClock); nil is real time, as in production.
	LimitClock func() time.Time
	// Listener is where Run serves; nil listens on the configured listen
	// address.
	Listener net.Listener
	// MetricsListener is where Run serves /metrics; nil listens on
	// metrics.listen when that is set.
	MetricsListener net.Listener
	// Stdout receives Run's messages to the operator (where gatehouse is
	// running, the first-admin setup link); nil discards them.
	Stdout io.Writer
	// Version is logged at start.
	Version string
	// Command is how the operator runs gatehouse ("go run ." or the
	// binary's path, with --config when one was given), so a command Run
	// prints can be pasted as it is; "" is "gatehouse".
	Command string
	// MailTransport delivers the outbox instead of the transport the mail
	// block names (mail.smtp or mail.dir), for tests; nil is that one. It
	// needs a mail block, which still gives the sender: an override with
	// mail off is an error rather than silently nothing.
	MailTransport mail.Transport
	// DemoMail is gatehouse demo's mail capture: every message is
	// delivered to it instead (as MailTransport would be), and GET
	// /demo/mail lists them to anyone, so a newcomer follows a reset link
	// with no mail server. Only the demo, which listens on loopback alone,
	// sets it: nil leaves the page out. It needs a mail block and excludes
	// MailTransport.
	DemoMail *mail.MemoryTransport
	// Reload asks Run to re-read the configuration (SIGHUP): LoadConfig
	// reads it, Reload validates it, and Run swaps the application built
	// from it in, or keeps the running one and logs why. Nil: no reload.
	Reload     <-chan struct{}
	LoadConfig func() (config.Config, error)
	// LogLevel, when set, is the level of Logger's handler: a reload sets
	// it from log.level.
	LogLevel *slog.LevelVar
	// Notify tells the service manager of a state change (sd_notify:
	// READY=1, RELOADING=1, STOPPING=1); nil tells nobody.
	Notify func(state string)

	// noKeyFile keeps wire from making or reading a key file beside the
	// database: Check's scratch database stands for a PostgreSQL one.
	noKeyFile bool
}

// notify passes state to Options.Notify, if any.
func (o Options) notify(state string) {
	if o.Notify != nil {
		o.Notify(state)
	}
}

// mailTransport is the transport Options put in place of the configured
// one, nil for none.
func (o Options) mailTransport() (mail.Transport, error) {
	switch {
	case o.DemoMail != nil && o.MailTransport != nil:
		return nil, errors.New("app: set Options.MailTransport or Options.DemoMail, not both")
	case o.DemoMail != nil:
		return o.DemoMail, nil
	}
	return o.MailTransport, nil
}

// App is one wired gatehouse. Its fields are the components, exported so
// the command line and tests reach the same instances the handlers use.
type App struct {
	Config   config.Config
	DB       *models.DB
	Accounts *accounts.Service
	Sessions *sessionstore.Store
	Throttle *throttle.Limiter
	SSO      *sso.Set
	// Setup holds the first-admin setup link Run offers while no
	// administrator exists.
	Setup    *handlers.Setup
	Metrics  *metrics.Metrics
	Registry *prometheus.Registry // served at /metrics
	// Mailer renders messages and MailWorker delivers the outbox (Run runs
	// it); both nil when mail is off (no mail block).
	Mailer     *mail.Mailer
	MailWorker *mail.Worker
	// Audit turns every stored event into its log record and, with
	// audit.webhook, a queued delivery (DB.SetAudit); AuditWorker delivers
	// the queue (Run runs it), nil without a webhook.
	Audit       *audit.Stream
	AuditWorker *audit.Worker
	Logger      *slog.Logger

	opts    Options
	handler http.Handler
	// auditHooks are Audit's hooks, installed on the shared database
	// once this application serves (New, or Run's swap at a reload): a
	// reload refused after wiring them must leave the running ones.
	auditHooks *models.EventHooks
}

// New opens and migrates the database named by cfg and wires the
// application. It makes no network call: providers are discovered on first
// use, so gatehouse starts while an IdP is down. A provider configuration
// that cannot work is an error matching sso.ErrConfig.
func New(ctx context.Context, cfg config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	db, err := OpenDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	db.Now = o.Now
	a, err := wire(cfg, db, o)
	if err != nil {
		db.Close()
		return nil, err
	}
	db.SetAudit(a.auditHooks)
	return a, nil
}

// OpenDB opens the configured database and applies pending migrations.
func OpenDB(ctx context.Context, cfg config.Config) (*models.DB, error) {
	db, err := models.Open(cfg.Database)
	if err != nil {
		return nil, err
	}
	if db.Dialect() == models.Postgres {
		db.SetMaxConns(cfg.DatabaseMaxConns)
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// wire builds every component over an open database.
func wire(cfg config.Config, db *models.DB, o Options) (*App, error) {
	hasher, err := password.New(cfg.Password.BcryptCost, cfg.Password.MinLength)
	if err != nil {
		return nil, err
	}
	renderer, err := views.New(nil)
	if err != nil {
		return nil, err
	}
	a := &App{
		Config:   cfg,
		DB:       db,
		Accounts: &accounts.Service{DB: db, Hasher: hasher, Logger: o.Logger},
		Sessions: sessionstore.New(db, sessionstore.Options{
			Secure: cfg.Secure(), IdleTimeout: cfg.Session.IdleTimeout, Lifetime: cfg.Session.Lifetime,
			Permanent: cfg.Session.Permanent, Logger: o.Logger, Now: o.Now, Rand: o.Rand,
		}),
		Throttle: throttle.New(db, cfg.Throttle),
		Registry: metrics.NewRegistry(), // per app: no global registry
		Logger:   o.Logger,
		opts:     o,
	}
	a.Setup = &handlers.Setup{Rand: o.Rand, Accounts: a.Accounts}
	a.Metrics = metrics.New(a.Registry)
	a.Metrics.CountSessionsWith(db.CountActiveSessions)
	override, err := o.mailTransport()
	if err != nil {
		return nil, err
	}
	if override != nil && cfg.Mail == nil {
		return nil, errors.New("app: a mail transport was given but mail is off (no mail block)")
	}
	if cfg.Mail != nil {
		if a.Mailer, err = mail.New(*cfg.Mail, mail.Options{Now: o.Now, Rand: o.Rand, Logger: o.Logger}); err != nil {
			return nil, err
		}
		if override != nil {
			a.Mailer.Transport = override
		}
		a.MailWorker = mail.NewWorker(db, a.Mailer, a.Metrics, o.Logger)
		a.Metrics.CountMailQueueWith(db.CountQueuedMail)
	}
	a.wireAudit(cfg, db, o)
	if a.SSO, err = newSSOSet(cfg, db, o, a.Metrics); err != nil {
		return nil, err
	}
	a.Accounts.Providers = ssoPolicies(cfg, a.SSO)
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	a.Accounts.URLs = accounts.URLs{Reset: base + "/auth/reset", Invite: base + "/auth/invite", Verify: base + "/auth/verify"}
	a.Accounts.Rand = o.Rand
	a.Accounts.Issuer, a.Accounts.MFAPolicy = cfg.Branding.Name, cfg.MFA
	if a.Accounts.WebAuthn, err = accounts.RelyingParty(cfg.BaseURL, cfg.Branding.Name); err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	sqlitePath := ""
	if db.Dialect() == models.SQLite && !o.noKeyFile {
		sqlitePath = cfg.Database
	}
	if a.Accounts.Secrets, err = secrets.Open(cfg.Secrets, sqlitePath, o.Rand); err != nil {
		return nil, err
	}
	if a.Accounts.Secrets.Generated() {
		// A key file made just now cannot open what an earlier one sealed.
		n, err := db.CountTOTPFactors(context.Background())
		if err != nil {
			return nil, err
		}
		if n > 0 {
			// The new file goes again, so the next start says the same.
			_ = os.Remove(secrets.KeyFile(sqlitePath))
			return nil, fmt.Errorf("secrets: %s was missing, so a new key was made, but %d second factors are sealed under the old one: "+
				"restore the old file (from the backup of the database folder) or set secrets.key to it", secrets.KeyFile(sqlitePath), n)
		}
	}
	for i, pc := range cfg.Providers {
		if pc.OfflineCheck > 0 && !a.Accounts.Secrets.HasKey() {
			return nil, fmt.Errorf("providers[%d] (%s).offline_check needs secrets.key (every replica the same) to keep refresh tokens sealed", i, pc.ID)
		}
	}
	if cfg.MFA.RequiredFor != accounts.MFAForNone && !a.Accounts.Secrets.HasKey() {
		return nil, fmt.Errorf("mfa.required_for: %s needs secrets.key (every replica the same) to store second factors", cfg.MFA.RequiredFor)
	}
	if a.Mailer != nil {
		a.Accounts.Mail = &accounts.Mail{
			Mailer: a.Mailer, Site: cfg.Branding.Name, ProviderName: a.SSO.Name, Kick: a.MailWorker.Kick,
			Notices: cfg.Mail.Notices,
		}
	}
	deps := handlers.Deps{
		Config: cfg, DB: db, Sessions: a.Sessions, Views: renderer, Logger: o.Logger, SSO: a.SSO, Now: o.Now, Rand: o.Rand,
		Throttle: a.Throttle, Setup: a.Setup, Metrics: a.Metrics, Accounts: a.Accounts, IDPClient: o.IDPClient, LimitClock: o.LimitClock,
		DemoMail: o.DemoMail,
	}
	if a.MailWorker != nil {
		deps.KickMail = a.MailWorker.Kick
	}
	a.handler, err = handlers.New(deps)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// wireAudit sets up the audit stream: a log record for every event db
// stores, and with audit.webhook its worker and outbox queue.
func (a *App) wireAudit(cfg config.Config, db *models.DB, o Options) {
	a.Audit = &audit.Stream{Logger: o.Logger, Metrics: a.Metrics, Now: o.Now, Rand: o.Rand}
	if wh := cfg.Audit.Webhook; wh != nil {
		a.AuditWorker = audit.NewWorker(*wh, db, o.Logger, o.WebhookClient)
		a.AuditWorker.Metrics, a.AuditWorker.Rand = a.Metrics, o.Rand
		a.Audit.Webhook, a.Audit.Kick = true, a.AuditWorker.Kick
		a.Metrics.CountAuditQueueWith(db.CountQueuedAudit)
	}
	a.auditHooks = a.Audit.Hooks()
}

// newSSOSet builds the configured OpenID Providers, each with its own copy
// of the IdP client instrumented for the metrics (labelled with the
// provider ID), the app's clock and randomness, and the database for
// dynamic registrations and logout-token replays.
func newSSOSet(cfg config.Config, db *models.DB, o Options, m *metrics.Metrics) (*sso.Set, error) {
	var ps []*sso.Provider
	for i, pc := range cfg.Providers {
		p, err := sso.NewProvider(pc.ProviderConfig, sso.Options{
			HTTPClient: m.InstrumentClient(pc.ID, o.IDPClient), Now: o.Now, Rand: o.Rand, Logger: o.Logger,
			Registrations: db, Replays: db,
		})
		if err != nil {
			return nil, fmt.Errorf("providers[%d] (%s): %w", i, pc.ID, err)
		}
		ps = append(ps, p)
	}
	return sso.NewSet(ps...)
}

// ssoPolicies is each provider's account policy: its configured linking
// and creation rules, and the provider's own word on which email domains
// it speaks for.
func ssoPolicies(cfg config.Config, set *sso.Set) map[string]accounts.SSOPolicy {
	out := make(map[string]accounts.SSOPolicy, len(cfg.Providers))
	for _, pc := range cfg.Providers {
		p, ok := set.ByID(pc.ID)
		if !ok {
			continue
		}
		out[pc.ID] = accounts.SSOPolicy{
			Link: pc.Link, AutoCreate: pc.AutoCreate, Authoritative: p.Authoritative, RefreshInterval: pc.RefreshInterval,
			GroupsClaim: pc.GroupsClaim, AdminGroups: pc.AdminGroups, AllowedGroups: pc.AllowedGroups,
			MigrateFrom: pc.MigrateFrom, MigrateEnd: pc.MigrateEnd, Issuer: p.Issuer(),
			SubjectClaim: pc.SubjectClaim, EmailClaim: pc.EmailClaim, NameClaim: pc.NameClaim,
			OfflineCheck: pc.OfflineCheck, DisableAfter: pc.DisableAfterPeriod,
		}
	}
	return out
}

// Handler is the application's HTTP handler (the routes behind the
// cross-origin check), for tests and benchmarks that serve it themselves.
func (a *App) Handler() http.Handler { return a.handler }

// MetricsHandler serves the app's registry at GET /metrics: what Run serves
// on the metrics listener, which has no authentication of its own.
func (a *App) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(a.Registry, a.Logger))
	return mux
}

// Close closes the database.
func (a *App) Close() error { return a.DB.Close() }
