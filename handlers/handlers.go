// Package handlers is gatehouse's HTTP layer: routes, middleware and thin
// handlers that parse requests, call the policy packages and render pages.
package handlers

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/assets"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/gatehouse/gatehouse/views"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
)

// MaxFormBytes caps request bodies: a sign-in form is a few hundred bytes.
const MaxFormBytes = 64 << 10

// Deps is everything the handlers need, built once by main (or a test).
type Deps struct {
	Config   config.Config
	DB       *models.DB
	Accounts *accounts.Service
	Sessions *sessionstore.Store
	Views    *views.Renderer
	Logger   *slog.Logger
	// SSO is the configured OpenID Providers; nil means none.
	SSO *sso.Set
	// IDPClient is the base HTTP client of calls to a provider that is not
	// configured yet (the "Add an SSO provider" page's discovery); nil is
	// a default client.
	IDPClient *http.Client
	// LimitClock is the clock of the per-address rate limits; nil is real
	// time. They measure elapsed time whatever clock the application's
	// times come from (Now); a test freezes it to count a flood exactly.
	LimitClock func() time.Time
	// Throttle slows password guessing; nil turns throttling off (tests
	// that are not about it).
	Throttle *throttle.Limiter
	// Setup holds the first-admin setup token serve issues while no
	// administrator exists; nil means /setup refuses every link.
	Setup *Setup
	// Metrics records Prometheus metrics; nil records nothing.
	Metrics *metrics.Metrics
	// Rand is the randomness of browser-binding cookies and one-time link
	// tokens; nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock of sign-in times, sudo mode, session checks and
	// one-time links; nil means time.Now.
	Now func() time.Time
	// KickMail asks the mail worker to look at the outbox now (after an
	// administrator retried a message); nil when mail is off.
	KickMail func()
	// DemoMail is gatehouse demo's captured mail, listed at /demo/mail;
	// nil (every gatehouse but the demo) leaves that route out.
	DemoMail *mail.MemoryTransport
}

// Per-address limits on the unauthenticated requests that make gatehouse
// work or store rows. Each tracks at most maxTrackedAddresses addresses, so
// its own state stays bounded.
const (
	// backchannelPerSecond is the back-channel logout posts allowed from one
	// source address each second (and the burst): far above what a provider
	// sends, and junk from one address never spends another's.
	backchannelPerSecond = 20
	// ssoStartsPerMinute is the SSO sign-ins one client address may start
	// each minute (and the burst), enough for a busy office behind one NAT.
	ssoStartsPerMinute = 60
	// passkeyBeginsPerMinute is the passwordless sign-ins one client
	// address may begin a minute: the sign-in page begins one as it
	// loads (the browser's autofill), so an office behind one address
	// needs room.
	passkeyBeginsPerMinute = 120
	// maxTrackedAddresses caps the addresses each limit remembers; past it
	// the one seen least recently is forgotten.
	maxTrackedAddresses = 10_000
)

// Handler holds the dependencies shared by every route.
type Handler struct {
	Deps
	engine   *gin.Engine
	bcLimit  *throttle.Buckets // back-channel logout posts, per source address
	ssoLimit *throttle.Buckets // SSO sign-ins started, per client address
	// passkeyLimit: passwordless sign-ins begun, per client address.
	passkeyLimit *throttle.Buckets
	brand        *brand // branding shown on every page, and its files
	// confirmable holds the sudo routes (by Gin's full path) with a
	// confirmation page at the same address, filled as routes register.
	confirmable map[string]bool
}

// rand is the randomness source: Deps.Rand or crypto/rand.
func (h *Handler) rand() io.Reader {
	if h.Rand == nil {
		return rand.Reader
	}
	return h.Rand
}

// New builds the application's http.Handler: Gin routes behind the
// cross-origin (CSRF) check.
func New(d Deps) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	if d.Now == nil {
		d.Now = time.Now
	}
	// The per-address rate limits measure real elapsed time, whatever clock
	// the application's times come from.
	limitNow := d.LimitClock
	if limitNow == nil {
		limitNow = time.Now
	}
	h := &Handler{
		Deps: d, engine: gin.New(),
		bcLimit:      throttle.NewBuckets(backchannelPerSecond, time.Second, maxTrackedAddresses, limitNow),
		ssoLimit:     throttle.NewBuckets(ssoStartsPerMinute, time.Minute, maxTrackedAddresses, limitNow),
		passkeyLimit: throttle.NewBuckets(passkeyBeginsPerMinute, time.Minute, maxTrackedAddresses, limitNow),
		brand:        newBrand(d.Config),
	}
	e := h.engine
	e.HTMLRender = d.Views
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(d.Config.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	e.Use(h.requestLog, gin.CustomRecovery(h.recovered), h.securityHeaders, h.limitBody, h.cleanUserAgent,
		ginsessions.Sessions(d.Config.CookieName(), d.Sessions), h.loadUser, h.mfaGate)
	h.routes()
	return h.csrf()
}

func (h *Handler) routes() {
	e := h.engine
	e.GET("/", h.home)
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/assets/*path", gin.WrapH(http.StripPrefix("/assets/", staticFiles(h.brand))))
	e.GET("/login", h.oneTimeNotice("notice", "error"), h.loginPage)
	e.POST("/auth/login", h.login)
	e.GET("/auth/logout", h.requireUser, h.logoutPage)
	e.POST("/auth/logout", h.logout)
	e.GET("/auth/callback", h.callback)
	e.GET("/auth/initiate", h.initiate)
	e.GET("/auth/link", h.linkPage)
	e.POST("/auth/link", h.link)
	e.GET("/auth/logged-out", h.loggedOut)
	e.POST("/auth/backchannel-logout", h.backchannelLogout)
	e.GET("/auth/reauth", h.requireUser, h.reauthPage)
	e.POST("/auth/reauth", h.requireUser, h.reauth)
	e.GET("/dashboard", h.requireUser, h.refreshSSO, h.dashboard)
	h.adminRoutes(e)
	h.ssoNewRoutes(e)
	h.accountRoutes(e)
	h.forgotRoutes(e)
	h.emailLinkRoutes(e)
	h.mfaRoutes(e)
	h.passkeyRoutes(e)
	h.demoRoutes(e)
	e.NoRoute(func(c *gin.Context) {
		h.errorPage(c, http.StatusNotFound, "Page not found", "There is nothing at this address.")
	})
	e.NoMethod(func(c *gin.Context) {
		if to, ok := formPage(c.Request.Method, c.Request.URL.Path); ok {
			c.Redirect(http.StatusSeeOther, to)
			return
		}
		h.errorPage(c, http.StatusMethodNotAllowed, "Method not allowed", "This page cannot be used that way.")
	})
}

// formPage names the page a POST-only account or admin form lives on, for a
// GET or HEAD of the form's address. A failed form is answered at its own
// address, so reloading that page, or coming back to it from the history or
// the address bar, asks for it by GET; sending the person back to the form's
// page beats a "Method not allowed" dead end. Other addresses keep the 405.
func formPage(method, path string) (string, bool) {
	if method != http.MethodGet && method != http.MethodHead {
		return "", false
	}
	if strings.HasPrefix(path, "/account/") {
		return "/account", true
	}
	if strings.HasPrefix(path, "/admin/mail/") {
		return "/admin/mail", true
	}
	if rest, ok := strings.CutPrefix(path, "/admin/users/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		if _, err := strconv.ParseInt(id, 10, 64); err == nil {
			return "/admin/users/" + id, true
		}
		return "/admin/users", true
	}
	return "", false
}

// csrf wraps the engine in Go's cross-origin protection: a state-changing
// request a browser marks as cross-site is refused before any handler runs.
// SameSite=Lax cookies are the second layer.
func (h *Handler) csrf() (http.Handler, error) {
	p := http.NewCrossOriginProtection()
	u, _ := url.Parse(h.Config.BaseURL) // validated by config
	if err := p.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
		return nil, fmt.Errorf("base_url origin: %w", err)
	}
	// Back-Channel Logout 1.0: the provider posts server to server; the
	// logout token's signature is the authentication, not the browser.
	p.AddInsecureBypassPattern("POST /auth/backchannel-logout")
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Logger.WarnContext(r.Context(), "cross-origin request refused", "method", r.Method, "path", r.URL.Path)
		h.renderStandalone(w, http.StatusForbidden, "Request refused",
			"This form was sent from another site, so it was not accepted. Go back to gatehouse and try again.")
	})
	p.SetDenyHandler(deny)
	inner := p.Handler(h.engine)
	if !h.Config.Secure() {
		return inner, nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if plainOrigin(r) {
			deny.ServeHTTP(w, r)
			return
		}
		inner.ServeHTTP(w, r)
	}), nil
}

// plainOrigin reports whether r changes state from a page that was not
// served over https: its Origin names another scheme. Under an https
// base_url no gatehouse page is served over http, so such a form comes
// from whoever can answer plain http for the host (a network attacker), and
// the cross-origin check alone lets it through, as it compares the Origin's
// host with the request's Host and ignores the scheme. The back-channel
// logout, posted server to server, is exempt like the cross-origin check.
func plainOrigin(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if r.URL.Path == "/auth/backchannel-logout" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" { // none: not a browser form; null: an opaque origin, the cross-origin check's to judge
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || !strings.EqualFold(u.Scheme, "https")
}

func (h *Handler) home(c *gin.Context) {
	if currentUser(c) != nil {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	c.Redirect(http.StatusSeeOther, "/login")
}

func (h *Handler) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := h.DB.Ping(ctx); err != nil {
		h.Metrics.DBError("ping")
		h.log(c).ErrorContext(ctx, "healthz: database ping failed", "err", err)
		c.String(http.StatusServiceUnavailable, "database unavailable\n")
		return
	}
	c.String(http.StatusOK, "ok\n")
}

// readyz answers 200 when this instance can serve traffic: the database
// answers and its schema is current (no pending migration). A load
// balancer takes a 503 out of rotation; the body says why.
func (h *Handler) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := h.DB.Ping(ctx); err != nil {
		h.Metrics.DBError("ping")
		h.log(c).WarnContext(ctx, "readyz: database ping failed", "err", err)
		c.String(http.StatusServiceUnavailable, "not ready: database unavailable\n")
		return
	}
	current, err := h.DB.MigrationsCurrent(ctx)
	switch {
	case err != nil:
		h.Metrics.DBError("migration status")
		h.log(c).WarnContext(ctx, "readyz: migration status unknown", "err", err)
		c.String(http.StatusServiceUnavailable, "not ready: migration status unknown\n")
	case !current:
		h.log(c).WarnContext(ctx, "readyz: database migrations pending")
		c.String(http.StatusServiceUnavailable, "not ready: migrations pending\n")
	default:
		c.String(http.StatusOK, "ready\n")
	}
}

// staticFiles serves the embedded assets and the branding files; folders
// are not listed.
func staticFiles(b *brand) http.Handler {
	files := http.FileServerFS(assets.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || r.URL.Path[len(r.URL.Path)-1] == '/' {
			http.NotFound(w, r)
			return
		}
		if b.serve(w, r, r.URL.Path) {
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
