package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	gmail "github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/throttle"
	"golang.org/x/crypto/bcrypt"
)

// server is gatehouse as app.New builds it for production, over a SQLite
// file, behind a loopback httptest server. Every handler test gets its
// stack from newServer, so each one exercises the real wiring.
type server struct {
	t      testing.TB // a *testing.F for fuzz tests: use it only outside the fuzz function
	app    *app.App   // replaced by restart
	db     *models.DB // app.DB
	cfg    config.Config
	dbPath string
	clock  *testkit.Clock
	logs   *testkit.LogBuffer
	log    *slog.Logger
	srv    *httptest.Server
	base   string

	handler atomic.Pointer[http.Handler] // what srv serves: swapped by restart

	limitClock    func() time.Time       // app.Options.LimitClock, kept for restarts
	mailTransport gmail.Transport        // app.Options.MailTransport, kept for restarts
	demoMail      *gmail.MemoryTransport // app.Options.DemoMail, kept for restarts
}

type serverOpts struct {
	https   bool
	proxies []string       // trusted proxies (X-Forwarded-For)
	dbPath  string         // reuse an existing database file ("restart")
	clock   *testkit.Clock // default newClock()
	// limitClock is the per-address rate limits' clock; nil is real time.
	limitClock func() time.Time
	// throttle keeps the default brute-force limits; otherwise they are
	// set so high that tests not about throttling never meet them.
	throttle bool
	// providers returns the configured OpenID Providers; it runs once the
	// base URL is known, so test OPs can register gatehouse's redirect URIs.
	providers func(base string) []config.Provider
	// configure edits the configuration after it is validated.
	configure func(*config.Config)
	// mailTransport and demoMail are app.Options.MailTransport and
	// app.Options.DemoMail (either needs a mail block from configure).
	mailTransport gmail.Transport
	demoMail      *gmail.MemoryTransport
}

// newServer builds and starts gatehouse. Passwords are hashed at bcrypt's
// minimum cost: the handlers are under test, not bcrypt.
func newServer(t testing.TB, o serverOpts) *server {
	t.Helper()
	s := &server{t: t, clock: o.clock, logs: &testkit.LogBuffer{}, dbPath: o.dbPath, mailTransport: o.mailTransport, demoMail: o.demoMail, limitClock: o.limitClock}
	if s.clock == nil {
		s.clock = testkit.NewClock(time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC))
	}
	if s.dbPath == "" {
		s.dbPath = testkit.Database(t, "gatehouse.db")
	}
	s.log = slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*s.handler.Load()).ServeHTTP(w, r)
	}))
	s.srv.Config.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	scheme := "http"
	if o.https {
		scheme = "https"
	}
	s.base = scheme + "://" + s.srv.Listener.Addr().String()

	s.cfg = config.Default()
	s.cfg.Database = s.dbPath
	s.cfg.BaseURL = s.base
	s.cfg.TrustedProxies = o.proxies
	if o.providers != nil {
		s.cfg.Providers = o.providers(s.base)
	}
	if err := s.cfg.Finish(); err != nil {
		t.Fatalf("config: %v", err)
	}
	s.cfg.Password.BcryptCost = bcrypt.MinCost
	// A configured key, as every PostgreSQL installation with second
	// factors has (SQLite's generated key file is app's to test).
	s.cfg.Secrets.Key = "dGVzdCBrZXkgZm9yIGdhdGVob3VzZSBzZWNyZXRzISE="
	if !o.throttle {
		for _, r := range []*throttle.Rule{&s.cfg.Throttle.AccountAddress, &s.cfg.Throttle.Account, &s.cfg.Throttle.Address, &s.cfg.Throttle.Device,
			&s.cfg.Throttle.Forgot.Address, &s.cfg.Throttle.Forgot.Email} {
			r.Failures = 1 << 30
		}
	}
	if o.configure != nil {
		o.configure(&s.cfg)
	}
	s.boot()
	if o.https {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	t.Cleanup(s.srv.Close)
	return s
}

// boot builds the application over the database and serves it instead of
// the one before: calling it again is a restart.
func (s *server) boot() {
	s.t.Helper()
	a, err := app.New(context.Background(), s.cfg, app.Options{Logger: s.log, Now: s.clock.Now, MailTransport: s.mailTransport, DemoMail: s.demoMail, LimitClock: s.limitClock})
	if err != nil {
		s.t.Fatalf("app.New: %v", err)
	}
	old := s.app
	s.app, s.db = a, a.DB
	h := a.Handler()
	s.handler.Store(&h)
	if old != nil {
		old.Close()
	} else {
		s.t.Cleanup(func() { s.app.Close() })
	}
}

// createUser creates an account through the accounts service; an empty pw
// makes it SSO-only.
func (s *server) createUser(t testing.TB, email, name, pw string, admin bool) *models.User {
	t.Helper()
	n := accounts.NewUser{Email: email, Name: name, Admin: admin}
	if pw != "" {
		n.Password = &pw
	}
	u, err := s.app.Accounts.CreateUser(context.Background(), n)
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	// A seasoned account: its address was confirmed long ago. The tests of
	// unconfirmed addresses make theirs with createUnverified.
	if err := s.db.MarkEmailVerified(context.Background(), u.ID, u.Email); err != nil {
		t.Fatal(err)
	}
	u.EmailVerifiedAt = new(s.db.Time())
	return u
}

// createUnverified is createUser for an account whose address was never
// confirmed (one an administrator typed).
func (s *server) createUnverified(t testing.TB, email, pw string) *models.User {
	t.Helper()
	n := accounts.NewUser{Email: email}
	if pw != "" {
		n.Password = &pw
	}
	u, err := s.app.Accounts.CreateUser(context.Background(), n)
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}
