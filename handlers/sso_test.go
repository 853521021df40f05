package handlers_test

// SSO end-to-end tests: the real handler stack (app.New with a real
// SQLite file, the real session store, views, account service and sso
// package) behind an httptest server, signing in against the in-repo test
// OpenID Provider (testop) over loopback. Each browser (browser_test.go)
// has its own cookie jar and never follows redirects, so the test steps
// through every 303 to the provider, the provider's 302 back to the
// callback, and so on, and can inspect or replay each hop.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
)

const (
	ssoSecret   = "op-client-secret-0123456789abcdef"
	ssoPassword = "correct horse battery staple"
)

// Users the test OPs know. Local accounts are created per test as needed.
var (
	ssoBob   = testop.User{Subject: "sub-bob", Email: "bob@example.com", Name: "Bob Builder", EmailVerified: true}
	ssoAlice = testop.User{Subject: "sub-alice", Email: "alice@example.com", Name: "Alice at the IdP", EmailVerified: true}
	ssoAdmin = testop.User{Subject: "sub-admin", Email: "admin@example.com", Name: "Admin at the IdP", EmailVerified: true}
	ssoCarol = testop.User{Subject: "sub-carol", Email: "carol@example.com", Name: "Carol", EmailVerified: true}
)

// Provider IDs, names and email domains, by OP index.
var (
	ssoProviderIDs   = []string{"acme", "globex", "initech"}
	ssoProviderNames = []string{"Acme SSO", "Globex SSO", "Initech SSO"}
	ssoDomains       = []string{"example.com", "globex.test", "initech.test"}
)

type ssoEnvOpts struct {
	ops                int  // number of test OPs; default 1
	dynamic            bool // the first provider registers dynamically (RFC 7591)
	initialAccessToken string
	tenantIssuers      bool     // the OPs are multi-tenant, as Entra ID's organizations endpoint (testop.Options.TenantIssuers)
	throttle           bool     // keep the brute-force throttle's default rules
	proxies            []string // trusted proxies (X-Forwarded-For)
	// providers edits the provider configuration before cfg.Finish.
	providers func(e *ssoEnv, ps []config.Provider)
	// configure edits the configuration after it is validated.
	configure func(*config.Config)
	// limitClock is the per-address rate limits' clock; nil is real time.
	limitClock func() time.Time
}

// ssoEnv is a running gatehouse plus its test OPs.
type ssoEnv struct {
	*server
	ops []*testop.Provider
	op  *testop.Provider // ops[0]
}

// newSSOEnv starts the OPs and gatehouse. The app's listener exists before
// the OPs so their clients can name its redirect URIs, and the OPs exist
// before the app is configured so its providers can name their issuers.
func newSSOEnv(t testing.TB, o ssoEnvOpts) *ssoEnv {
	t.Helper()
	if o.ops == 0 {
		o.ops = 1
	}
	e := &ssoEnv{}
	clock := testkit.NewClock(time.Now().Truncate(time.Second))
	providers := func(base string) []config.Provider {
		var ps []config.Provider
		for i := range o.ops {
			opts := testop.Options{
				Users: []testop.User{ssoBob, ssoAlice, ssoAdmin, ssoCarol},
				Now:   clock.Now, InitialAccessToken: o.initialAccessToken, TenantIssuers: o.tenantIssuers,
			}
			dynamic := o.dynamic && i == 0
			if !dynamic {
				opts.Clients = []testop.Client{{
					ID: ssoClientID(i), Secret: ssoSecret, Name: "gatehouse",
					RedirectURIs:           []string{base + "/auth/callback"},
					PostLogoutRedirectURIs: []string{base + "/auth/logged-out"},
					BackchannelLogoutURI:   base + "/auth/backchannel-logout",
				}}
			}
			op, err := testop.Start(opts)
			if err != nil {
				t.Fatalf("start test OP: %v", err)
			}
			t.Cleanup(func() { op.Close() })
			op.SetLoginUser(&ssoBob)
			e.ops = append(e.ops, op)
			p := config.Provider{
				ProviderConfig: sso.ProviderConfig{
					ID: ssoProviderIDs[i], Name: ssoProviderNames[i], Issuer: op.Issuer(),
					EmailDomains: []string{ssoDomains[i]},
				},
				Link: accounts.LinkPassword, AutoCreate: true,
			}
			if dynamic {
				p.Registration = &sso.RegistrationConfig{InitialAccessToken: o.initialAccessToken}
			} else {
				p.ClientID, p.ClientSecret = ssoClientID(i), ssoSecret
			}
			ps = append(ps, p)
		}
		e.op = e.ops[0]
		if o.providers != nil {
			o.providers(e, ps)
		}
		return ps
	}
	e.server = newServer(t, serverOpts{clock: clock, providers: providers, throttle: o.throttle, proxies: o.proxies, configure: o.configure, limitClock: o.limitClock})
	t.Cleanup(func() {
		if logs := e.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "panic") {
			t.Errorf("server logged an error or panic")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

func ssoClientID(i int) string { return "gatehouse-" + ssoProviderIDs[i] }

func (e *ssoEnv) createUser(email string, admin bool) *models.User {
	e.t.Helper()
	return e.server.createUser(e.t, email, "Local "+email, ssoPassword, admin)
}

func (e *ssoEnv) count(table, where string, args ...any) int64 {
	e.t.Helper()
	return countRows(e.t, e.dbPath, table, where, args...)
}

func (e *ssoEnv) events(kind models.EventKind) []models.Event {
	e.t.Helper()
	all, err := e.db.Events(context.Background(), 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []models.Event
	for _, ev := range all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (e *ssoEnv) identity(sub string) *models.Identity {
	e.t.Helper()
	id, err := e.db.IdentityBySubject(context.Background(), e.op.Issuer(), sub)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// ssoMark is a snapshot of what a refused sign-in must not change.
type ssoMark struct {
	sessions, failures, identities, users, events int64
	noPending                                     float64 // gatehouse_sso_callbacks_without_pending_total
}

func (e *ssoEnv) mark() ssoMark {
	e.t.Helper()
	return ssoMark{
		sessions:   e.count("sessions", ""),
		failures:   e.count("events", "kind = ?", models.EventLoginFailure),
		identities: e.count("identities", ""),
		users:      e.count("users", ""),
		events:     e.count("events", ""),
		noPending:  e.metric(e.t, "gatehouse_sso_callbacks_without_pending_total"),
	}
}

// wantRefused checks a refused SSO step: the given 4xx status, a friendly
// page with the given text and a way back to /login, no redirect, no new
// session, identity or account, and a login.failure in the audit log.
func (e *ssoEnv) wantRefused(t *testing.T, r *response, m ssoMark, status int, texts ...string) {
	t.Helper()
	e.wantRefusedPage(t, r, m, status, texts...)
	if n := e.count("events", "kind = ?", models.EventLoginFailure); n <= m.failures {
		t.Errorf("no %s audit event recorded", models.EventLoginFailure)
	}
}

// wantExpired checks the answer to a callback that matched no pending
// sign-in: the "Sign-in expired" page (400) and nothing created, and, as
// anyone can send one without a cookie, nothing audited: it is counted in
// gatehouse_sso_callbacks_without_pending_total instead.
func (e *ssoEnv) wantExpired(t *testing.T, r *response, m ssoMark) {
	t.Helper()
	e.wantRefusedPage(t, r, m, http.StatusBadRequest, "Sign-in expired",
		"This sign-in has expired, was already used, or was started in another browser.")
	if n := e.count("events", ""); n != m.events {
		t.Errorf("%d audit events written for a callback without a pending sign-in, want none", n-m.events)
	}
	if got := e.metric(t, "gatehouse_sso_callbacks_without_pending_total"); got != m.noPending+1 {
		t.Errorf("gatehouse_sso_callbacks_without_pending_total went from %v to %v, want one more", m.noPending, got)
	}
}

// wantAlreadySignedIn checks the answer to a callback without a pending
// sign-in from a browser that is signed in: the status stays 400 and, as for
// wantExpired, nothing is created or audited, but the page says the person
// is signed in and offers the dashboard rather than the sign-in form.
func (e *ssoEnv) wantAlreadySignedIn(t *testing.T, r *response, m ssoMark) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Errorf("status %d, want 400; body:\n%s", r.status, r.text())
	}
	if loc := r.header.Get("Location"); loc != "" {
		t.Errorf("redirects to %q", loc)
	}
	text := r.text()
	for _, s := range []string{"You are already signed in", "Go to your dashboard"} {
		if !strings.Contains(text, s) {
			t.Errorf("page does not say %q:\n%s", s, text)
		}
	}
	for _, s := range []string{"Sign-in expired", "Back to sign in", "Please start again"} {
		if strings.Contains(text, s) {
			t.Errorf("page says %q to someone signed in:\n%s", s, text)
		}
	}
	if !strings.Contains(r.body, `href="/dashboard">Go to your dashboard<`) {
		t.Errorf("page has no link to the dashboard:\n%s", r.body)
	}
	for table, want := range map[string]int64{"sessions": m.sessions, "identities": m.identities, "users": m.users, "events": m.events} {
		if n := e.count(table, ""); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	if got := e.metric(t, "gatehouse_sso_callbacks_without_pending_total"); got != m.noPending+1 {
		t.Errorf("gatehouse_sso_callbacks_without_pending_total went from %v to %v, want one more", m.noPending, got)
	}
}

// wantRefusedPage checks a refused SSO step's page and that it created no
// session, identity or account.
func (e *ssoEnv) wantRefusedPage(t *testing.T, r *response, m ssoMark, status int, texts ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d; body:\n%s", r.status, status, r.text())
	}
	if r.status >= 500 {
		t.Errorf("server error %d", r.status)
	}
	if loc := r.header.Get("Location"); loc != "" {
		t.Errorf("refusal redirects to %q", loc)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want an HTML page", ct)
	}
	for _, s := range texts {
		if !strings.Contains(r.text(), s) {
			t.Errorf("page does not say %q:\n%s", s, r.text())
		}
	}
	// A way back to sign in: /login itself, or / (which sends a signed-out
	// visitor to /login).
	if !strings.Contains(r.body, `href="/login"`) && !strings.Contains(r.body, `href="/"`+">Back") {
		t.Errorf("page has no way back to sign in:\n%s", r.body)
	}
	if n := e.count("sessions", ""); n != m.sessions {
		t.Errorf("sessions: %d rows, want %d", n, m.sessions)
	}
	if n := e.count("identities", ""); n != m.identities {
		t.Errorf("identities: %d rows, want %d", n, m.identities)
	}
	if n := e.count("users", ""); n != m.users {
		t.Errorf("users: %d rows, want %d", n, m.users)
	}
}

// ssoBrowser is one browser (browser_test.go) of an SSO test: its cookie
// jar is shared by gatehouse and the OPs, and every answer, 5xx included,
// goes back to the test.
type ssoBrowser struct {
	*browser
	e *ssoEnv
}

func (e *ssoEnv) browser() *ssoBrowser {
	b := &ssoBrowser{browser: e.newBrowser(), e: e}
	b.serverErrorsOK = true
	return b
}

func ssoForm(email string) url.Values {
	return url.Values{"email": {email}, "password": {""}, "next": {""}, "is_sso": {"true"}}
}

// start posts the SSO form and returns the OP authorization URL gatehouse
// sent the browser to.
func (b *ssoBrowser) start(t *testing.T, form url.Values) *url.URL {
	t.Helper()
	r := b.post(t, "/auth/login", form)
	if r.status != http.StatusSeeOther || !strings.Contains(r.loc, "/authorize?") {
		t.Fatalf("POST /auth/login %v: got %d Location %q, want 303 to an OP's /authorize; page:\n%s", form, r.status, r.loc, r.text())
	}
	u, err := url.Parse(r.loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// toCallback starts SSO for email and passes through the OP, returning the
// callback URL the OP redirected to (not yet visited).
func (b *ssoBrowser) toCallback(t *testing.T, email string) string {
	t.Helper()
	authz := b.start(t, ssoForm(email))
	r := b.get(t, authz.String())
	if r.status != http.StatusFound || !strings.HasPrefix(r.loc, b.e.base+"/auth/callback?") {
		t.Fatalf("OP /authorize: got %d Location %q, want 302 to the callback; page:\n%s", r.status, r.loc, r.text())
	}
	return r.loc
}

// signIn completes an SSO sign-in that must succeed and returns the
// session row.
func (b *ssoBrowser) signIn(t *testing.T, email string) *models.Session {
	t.Helper()
	r := b.get(t, b.toCallback(t, email))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
		t.Fatalf("callback: got %d Location %q, want 303 /dashboard; page:\n%s", r.status, r.header.Get("Location"), r.text())
	}
	row := b.session(t)
	if row == nil {
		t.Fatal("signed in without a session row")
	}
	return row
}

// session returns the row of the browser's session cookie, or nil.
func (b *ssoBrowser) session(t *testing.T) *models.Session {
	t.Helper()
	tok := b.cookie(b.e.cfg.CookieName())
	if tok == "" {
		return nil
	}
	row, err := b.e.db.SessionByHash(context.Background(), sessionstore.Hash(tok))
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// wantDashboard checks the browser is signed in as email through SSO.
func (b *ssoBrowser) wantDashboard(t *testing.T, email, method string) {
	t.Helper()
	r := b.get(t, "/dashboard")
	if r.status != http.StatusOK {
		t.Fatalf("GET /dashboard: got %d Location %q, want 200", r.status, r.loc)
	}
	if want := `id="user-email">` + email + `<`; !strings.Contains(r.body, want) {
		t.Fatalf("dashboard does not show %s:\n%s", email, r.text())
	}
	if !strings.Contains(r.text(), "Signed in with "+method) {
		t.Fatalf("dashboard does not say signed in with %q:\n%s", method, r.text())
	}
}

// wantSignedOut checks the browser has no live session.
func (b *ssoBrowser) wantSignedOut(t *testing.T) {
	t.Helper()
	r := b.get(t, "/dashboard")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("GET /dashboard: got %d Location %q, want 303 to /login", r.status, r.header.Get("Location"))
	}
}

// ssoClaims decodes a JWT's payload without verifying it.
func ssoClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSSOHappyPath(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	b := e.browser()

	r := b.post(t, "/auth/login", ssoForm("Bob@Example.com"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST /auth/login: got %d, want 303; page:\n%s", r.status, r.text())
	}
	authz, err := url.Parse(r.loc)
	if err != nil || authz.Scheme+"://"+authz.Host+authz.Path != e.op.Issuer()+"/authorize" {
		t.Fatalf("redirected to %q, want the OP's authorization endpoint", r.loc)
	}
	q := authz.Query()
	for k, want := range map[string]string{
		"response_type": "code", "client_id": ssoClientID(0), "redirect_uri": e.base + "/auth/callback",
		"code_challenge_method": "S256", "login_hint": "bob@example.com",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if !slices.Contains(strings.Fields(q.Get("scope")), "openid") {
		t.Errorf("scope %q lacks openid", q.Get("scope"))
	}
	for _, k := range []string{"state", "nonce"} {
		if len(q.Get(k)) < 32 {
			t.Errorf("%s %q is missing or short", k, q.Get(k))
		}
	}
	if len(q.Get("code_challenge")) != 43 {
		t.Errorf("code_challenge %q is not a base64url SHA-256", q.Get("code_challenge"))
	}
	if b.cookie("gatehouse_sso") == "" {
		t.Error("no browser-binding cookie set before leaving for the OP")
	}
	if n := e.count("pending_logins", ""); n != 1 {
		t.Errorf("pending_logins: %d rows, want 1", n)
	}

	r = b.get(t, authz.String())
	if r.status != http.StatusFound || !strings.HasPrefix(r.loc, e.base+"/auth/callback?") {
		t.Fatalf("OP: got %d Location %q, want 302 to the callback", r.status, r.loc)
	}
	seen := e.op.LastAuthorize()
	for k := range q {
		if seen.Get(k) != q.Get(k) {
			t.Errorf("OP saw %s = %q, gatehouse sent %q", k, seen.Get(k), q.Get(k))
		}
	}
	cb, _ := url.Parse(r.loc)
	if cb.Query().Get("state") != q.Get("state") || cb.Query().Get("iss") != e.op.Issuer() {
		t.Errorf("callback query %v lacks the state or the RFC 9207 iss", cb.Query())
	}

	r = b.get(t, r.loc)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
		t.Fatalf("callback: got %d Location %q, want 303 /dashboard; page:\n%s", r.status, r.header.Get("Location"), r.text())
	}
	if n := e.count("pending_logins", ""); n != 0 {
		t.Errorf("pending_logins: %d rows left after the callback, want 0", n)
	}
	b.wantDashboard(t, "bob@example.com", "Single sign-on (Acme SSO)")

	row := b.session(t)
	if row == nil {
		t.Fatal("no session row")
	}
	if row.AuthMethod != "sso" || row.ProviderID != "acme" || row.Issuer != e.op.Issuer() || row.Subject != "sub-bob" {
		t.Errorf("session row: method %q provider %q issuer %q subject %q", row.AuthMethod, row.ProviderID, row.Issuer, row.Subject)
	}
	if row.SID == "" || row.IDToken == "" {
		t.Fatalf("session row lacks sid (%q) or id_token", row.SID)
	}
	claims := ssoClaims(t, row.IDToken)
	if claims["sid"] != row.SID || claims["nonce"] != q.Get("nonce") || claims["sub"] != "sub-bob" {
		t.Errorf("stored ID token: sid %v nonce %v sub %v; want sid %q nonce %q", claims["sid"], claims["nonce"], claims["sub"], row.SID, q.Get("nonce"))
	}
	if e.op.Counts()[testop.EndpointToken] != 1 {
		t.Errorf("token endpoint called %d times, want 1", e.op.Counts()[testop.EndpointToken])
	}
	// Bob had no account: auto_create made one and linked the identity.
	u, err := e.db.UserByEmail(context.Background(), "bob@example.com")
	if err != nil {
		t.Fatalf("no account created: %v", err)
	}
	if u.Name != "Bob Builder" || u.HasPassword() || row.UserID == nil || *row.UserID != u.ID {
		t.Errorf("created account %+v, session user %v", u, row.UserID)
	}
	if id := e.identity("sub-bob"); id == nil || id.UserID != u.ID || id.ProviderID != "acme" {
		t.Errorf("identity row %+v", id)
	}
	if len(e.events(models.EventUserCreated)) != 1 || len(e.events(models.EventLoginSuccess)) != 1 {
		t.Errorf("audit: %d user.created, %d login.success; want 1 each",
			len(e.events(models.EventUserCreated)), len(e.events(models.EventLoginSuccess)))
	}
	if ev := e.events(models.EventLoginSuccess); len(ev) == 1 && (ev[0].Method != "sso" || ev[0].ProviderID != "acme") {
		t.Errorf("login.success event %+v", ev[0])
	}
}

func TestSSOProviderChoice(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{ops: 2})
	acme, globex := e.ops[0], e.ops[1]
	wantOP := func(t *testing.T, u *url.URL, op *testop.Provider, clientID string) {
		t.Helper()
		if u.Scheme+"://"+u.Host != op.Issuer() || u.Query().Get("client_id") != clientID {
			t.Errorf("went to %s with client_id %q, want %s with %q", u.Scheme+"://"+u.Host, u.Query().Get("client_id"), op.Issuer(), clientID)
		}
	}
	t.Run("login page lists every provider", func(t *testing.T) {
		r := e.browser().get(t, "/login")
		for _, id := range []string{"acme", "globex"} {
			if !strings.Contains(r.body, `name="provider" value="`+id+`"`) {
				t.Errorf("no button for provider %s", id)
			}
		}
	})
	t.Run("by email domain", func(t *testing.T) {
		wantOP(t, e.browser().start(t, ssoForm("someone@globex.test")), globex, ssoClientID(1))
		wantOP(t, e.browser().start(t, ssoForm("bob@example.com")), acme, ssoClientID(0))
	})
	t.Run("domain wins over a posted button", func(t *testing.T) {
		f := ssoForm("bob@example.com")
		f.Set("provider", "globex")
		wantOP(t, e.browser().start(t, f), acme, ssoClientID(0))
	})
	t.Run("posted provider button", func(t *testing.T) {
		f := url.Values{"email": {""}, "provider": {"globex"}}
		wantOP(t, e.browser().start(t, f), globex, ssoClientID(1))
		f = url.Values{"email": {"x@other.test"}, "provider": {"acme"}}
		u := e.browser().start(t, f)
		wantOP(t, u, acme, ssoClientID(0))
		if u.Query().Get("login_hint") != "x@other.test" {
			t.Errorf("login_hint %q", u.Query().Get("login_hint"))
		}
	})
	t.Run("unknown posted provider", func(t *testing.T) {
		r := e.browser().post(t, "/auth/login", url.Values{"email": {"x@other.test"}, "provider": {"nope"}})
		if r.status != http.StatusBadRequest || r.loc != "" || !strings.Contains(r.text(), "Choose one of the sign-in providers") {
			t.Errorf("got %d Location %q; page:\n%s", r.status, r.loc, r.text())
		}
	})
	t.Run("no provider for the domain", func(t *testing.T) {
		before := acme.Counts()[testop.EndpointAuthorize] + globex.Counts()[testop.EndpointAuthorize]
		pending := e.count("pending_logins", "")
		m := e.mark()
		r := e.browser().post(t, "/auth/login", ssoForm("someone@other.test"))
		if r.status != http.StatusBadRequest || r.loc != "" {
			t.Fatalf("got %d Location %q, want 400 and no redirect", r.status, r.loc)
		}
		if !strings.Contains(r.text(), "SSO is not set up for other.test") || !strings.Contains(r.body, `id="login-form"`) {
			t.Errorf("login page does not explain:\n%s", r.text())
		}
		if !strings.Contains(r.body, `value="someone@other.test"`) {
			t.Error("the typed email was not kept")
		}
		if n := e.count("pending_logins", ""); n != pending {
			t.Errorf("pending_logins: %d, want %d: a sign-in was started", n, pending)
		}
		if after := acme.Counts()[testop.EndpointAuthorize] + globex.Counts()[testop.EndpointAuthorize]; after != before {
			t.Error("an OP was contacted")
		}
		if e.count("sessions", "") != m.sessions {
			t.Error("a session was created")
		}
	})
}

func TestSSOOnlyProviderTakesAnyEmail(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	u := e.browser().start(t, ssoForm("someone@other.test"))
	if u.Scheme+"://"+u.Host != e.op.Issuer() || u.Query().Get("login_hint") != "someone@other.test" {
		t.Errorf("went to %s", u)
	}
	// No email at all: still the only provider, without a login_hint.
	u = e.browser().start(t, ssoForm(""))
	if u.Scheme+"://"+u.Host != e.op.Issuer() || u.Query().Has("login_hint") {
		t.Errorf("went to %s", u)
	}
}

func TestSSOState(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})

	t.Run("unknown state", func(t *testing.T) {
		b := e.browser()
		cb, _ := url.Parse(b.toCallback(t, "bob@example.com")) // the browser has a binding cookie
		q := cb.Query()
		q.Set("state", "made-up-state-made-up-state-made-up-state")
		cb.RawQuery = q.Encode()
		m := e.mark()
		tokens := e.op.Counts()[testop.EndpointToken]
		e.wantExpired(t, b.get(t, cb.String()), m)
		if e.op.Counts()[testop.EndpointToken] != tokens {
			t.Error("the code was redeemed for an unknown state")
		}
	})
	t.Run("no state and no cookie", func(t *testing.T) {
		m := e.mark()
		e.wantExpired(t, e.browser().get(t, "/auth/callback?code=abc"), m)
	})
	t.Run("replayed state", func(t *testing.T) {
		b := e.browser()
		cb := b.toCallback(t, "bob@example.com")
		if r := b.get(t, cb); r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
			t.Fatalf("first use: got %d Location %q", r.status, r.header.Get("Location"))
		}
		first := b.cookie(e.cfg.CookieName())
		m := e.mark()
		e.wantAlreadySignedIn(t, b.get(t, cb), m)
		if b.cookie(e.cfg.CookieName()) != first {
			t.Error("the replay changed the session cookie")
		}
		// The same replay from a signed-out browser is the expired page.
		m = e.mark()
		e.wantExpired(t, e.browser().get(t, cb), m)
	})
	t.Run("state from another browser", func(t *testing.T) {
		victim, attacker := e.browser(), e.browser()
		cb := victim.toCallback(t, "bob@example.com")
		attacker.toCallback(t, "bob@example.com") // the attacker has a binding cookie of its own
		m := e.mark()
		e.wantExpired(t, attacker.get(t, cb), m)
		if attacker.session(t) != nil {
			t.Fatal("the other browser got a session")
		}
		// The refused attempt did not burn the victim's sign-in.
		if r := victim.get(t, cb); r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
			t.Fatalf("victim's own callback: got %d Location %q; page:\n%s", r.status, r.header.Get("Location"), r.text())
		}
	})
	t.Run("concurrent replays", func(t *testing.T) {
		b := e.browser()
		cb := b.toCallback(t, "bob@example.com")
		sessions, tokens := e.count("sessions", ""), e.op.Counts()[testop.EndpointToken]
		const n = 8
		var wg sync.WaitGroup
		results := make([]*response, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], errs[i] = b.do(http.MethodGet, cb, nil, nil)
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, r := range results {
			switch {
			case errs[i] != nil:
				t.Errorf("request %d: %v", i, errs[i])
			case r.status == http.StatusSeeOther && r.header.Get("Location") == "/dashboard":
				wins++
			case r.status != http.StatusBadRequest:
				t.Errorf("request %d: got %d, want 303 or 400; page:\n%s", i, r.status, r.text())
			}
		}
		if wins != 1 {
			t.Errorf("%d of %d concurrent callbacks signed in, want exactly 1", wins, n)
		}
		if got := e.count("sessions", ""); got != sessions+1 {
			t.Errorf("sessions: %d, want %d", got, sessions+1)
		}
		if got := e.op.Counts()[testop.EndpointToken]; got != tokens+1 {
			t.Errorf("code redeemed %d times, want once", got-tokens)
		}
	})
	t.Run("pending login expires", func(t *testing.T) {
		b := e.browser()
		cb := b.toCallback(t, "bob@example.com")
		e.clock.Advance(11 * time.Minute)
		m := e.mark()
		tokens := e.op.Counts()[testop.EndpointToken]
		e.wantExpired(t, b.get(t, cb), m)
		if e.op.Counts()[testop.EndpointToken] != tokens {
			t.Error("an expired sign-in reached the token endpoint")
		}
	})
}

func TestSSOIssParameter(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	for _, tc := range []struct {
		name string
		b    testop.Behavior
	}{
		{"iss missing though the OP promises it", testop.Behavior{OmitIssParam: true}},
		{"wrong iss", testop.Behavior{IssParam: "http://127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			e.op.SetBehavior(tc.b)
			defer e.op.SetBehavior(testop.Behavior{})
			cb := b.toCallback(t, "bob@example.com")
			m := e.mark()
			tokens := e.op.Counts()[testop.EndpointToken]
			e.wantRefused(t, b.get(t, cb), m, http.StatusBadRequest, "Sign-in failed", "could not be verified")
			if e.op.Counts()[testop.EndpointToken] != tokens {
				t.Error("the code was redeemed despite the mix-up check")
			}
		})
	}
	t.Run("control: correct iss", func(t *testing.T) {
		e.browser().signIn(t, "bob@example.com")
	})
}

func TestSSOIDTokenRules(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	client := ssoClientID(0)
	now := func() int64 { return e.clock.Now().Unix() }
	claims := func(f func(c map[string]any)) testop.Behavior { return testop.Behavior{IDTokenClaims: f} }
	for _, tc := range []struct {
		name string
		b    testop.Behavior
	}{
		{"no nonce", claims(func(c map[string]any) { delete(c, "nonce") })},
		{"wrong nonce", claims(func(c map[string]any) { c["nonce"] = "not-the-nonce-we-sent" })},
		{"no sub", claims(func(c map[string]any) { delete(c, "sub") })},
		{"empty sub", claims(func(c map[string]any) { c["sub"] = "" })},
		{"no iat", claims(func(c map[string]any) { delete(c, "iat") })},
		{"iat in the future", claims(func(c map[string]any) { c["iat"] = now() + 3600 })},
		{"auth_time in the future", claims(func(c map[string]any) { c["auth_time"] = now() + 365*24*3600 })},
		{"auth_time beyond the skew", claims(func(c map[string]any) { c["auth_time"] = now() + 3*60 })},
		{"expired", claims(func(c map[string]any) { c["iat"], c["exp"] = now()-7200, now()-3600 })},
		{"no exp", claims(func(c map[string]any) { delete(c, "exp") })},
		{"wrong aud", claims(func(c map[string]any) { c["aud"] = "someone-else" })},
		{"several aud without azp", claims(func(c map[string]any) { c["aud"] = []string{client, "someone-else"} })},
		{"wrong azp", claims(func(c map[string]any) { c["aud"], c["azp"] = []string{client, "someone-else"}, "someone-else" })},
		{"wrong iss", claims(func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" })},
		{"wrong at_hash", claims(func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" })},
		{"alg none", testop.Behavior{SignAlg: "none"}},
		{"alg HS256 with the client secret", testop.Behavior{SignAlg: "HS256"}},
		{"signed with a key not in the JWKS", testop.Behavior{SignWithForeignKey: true}},
		{"no id_token", testop.Behavior{OmitIDToken: true}},
		{"userinfo for another subject", testop.Behavior{
			IDTokenClaims:  func(c map[string]any) { delete(c, "email") },
			UserinfoClaims: func(c map[string]any) { c["sub"] = "sub-mallory"; c["email"] = "mallory@example.com" },
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			e.op.SetBehavior(tc.b)
			defer e.op.SetBehavior(testop.Behavior{})
			cb := b.toCallback(t, "bob@example.com")
			m := e.mark()
			e.wantRefused(t, b.get(t, cb), m, http.StatusBadRequest, "Sign-in failed", "could not be verified")
		})
	}
	// Controls: the harness itself lets a good token through, and an ID
	// token without email is completed from userinfo when its sub matches.
	t.Run("control: untouched token", func(t *testing.T) {
		e.browser().signIn(t, "bob@example.com")
	})
	t.Run("control: email from userinfo", func(t *testing.T) {
		e.op.SetBehavior(testop.Behavior{IDTokenClaims: func(c map[string]any) { delete(c, "email") }})
		defer e.op.SetBehavior(testop.Behavior{})
		e.op.SetLoginUser(&ssoCarol)
		defer e.op.SetLoginUser(&ssoBob)
		calls := e.op.Counts()[testop.EndpointUserinfo]
		b := e.browser()
		b.signIn(t, "carol@example.com")
		b.wantDashboard(t, "carol@example.com", "Single sign-on")
		if e.op.Counts()[testop.EndpointUserinfo] != calls+1 {
			t.Error("userinfo was not consulted")
		}
	})
}

func TestSSOAuthorizeError(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	e.op.SetBehavior(testop.Behavior{AuthorizeError: "access_denied", AuthorizeErrorDescription: "<b>nope</b>"})
	b := e.browser()
	cb := b.toCallback(t, "bob@example.com")
	if q, _ := url.Parse(cb); q.Query().Get("error") != "access_denied" {
		t.Fatalf("OP did not answer with an error: %s", cb)
	}
	m := e.mark()
	r := b.get(t, cb)
	e.wantRefused(t, r, m, http.StatusBadRequest, "Sign-in with Acme SSO failed", "Acme SSO did not sign you in.", "Back to sign in")
	if !strings.Contains(r.body, `<a href="/login">Back to sign in</a>`) {
		t.Errorf("no way back to /login:\n%s", r.body)
	}
	if strings.Contains(r.body, "<b>nope") {
		t.Error("the provider's description reached the page unescaped")
	}
	if !strings.Contains(r.body, "access_denied: &lt;b&gt;nope&lt;/b&gt;") {
		t.Errorf("the provider's error is not shown (escaped):\n%s", r.body)
	}
	if e.op.Counts()[testop.EndpointToken] != 0 {
		t.Error("token endpoint called after an error response")
	}
}

func TestSSOLinking(t *testing.T) {
	t.Parallel()
	verifiedEmail := func(e *ssoEnv, ps []config.Provider) { ps[0].Link = accounts.LinkVerifiedEmail }

	t.Run("password proof", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{})
		alice := e.createUser("alice@example.com", false)
		e.op.SetLoginUser(&ssoAlice)
		b := e.browser()
		m := e.mark()
		r := b.get(t, b.toCallback(t, "alice@example.com"))
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/auth/link?t=") {
			t.Fatalf("callback: got %d Location %q, want 303 /auth/link?t=...; page:\n%s", r.status, r.header.Get("Location"), r.text())
		}
		linkURL := r.header.Get("Location")
		token := strings.TrimPrefix(linkURL, "/auth/link?t=")
		if e.count("sessions", "") != m.sessions || e.identity("sub-alice") != nil {
			t.Fatal("signed in or linked before the password was proved")
		}
		r = b.get(t, linkURL)
		if r.status != http.StatusOK || !strings.Contains(r.text(), "An account for alice@example.com already exists") {
			t.Fatalf("link page: %d\n%s", r.status, r.text())
		}
		if !strings.Contains(r.text(), "Acme SSO") {
			t.Error("link page does not name the provider")
		}
		// The link page belongs to this browser only.
		other := e.browser()
		other.toCallback(t, "alice@example.com")
		if r := other.get(t, linkURL); r.status != http.StatusBadRequest || !strings.Contains(r.text(), "Link expired") {
			t.Errorf("link page in another browser: %d\n%s", r.status, r.text())
		}

		r = b.post(t, "/auth/link", url.Values{"t": {token}, "password": {"wrong password here"}})
		if r.status != http.StatusUnauthorized || !strings.Contains(r.text(), "That password is not right.") {
			t.Errorf("wrong password: %d\n%s", r.status, r.text())
		}
		if e.identity("sub-alice") != nil || e.count("sessions", "") != m.sessions {
			t.Fatal("a wrong password linked or signed in")
		}
		if len(e.events(models.EventLinkFailure)) != 1 {
			t.Error("no link.failure audit event")
		}

		r = b.post(t, "/auth/link", url.Values{"t": {token}, "password": {ssoPassword}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
			t.Fatalf("right password: got %d Location %q; page:\n%s", r.status, r.header.Get("Location"), r.text())
		}
		b.wantDashboard(t, "alice@example.com", "Single sign-on (Acme SSO)")
		id := e.identity("sub-alice")
		if id == nil || id.UserID != alice.ID || id.ProviderID != "acme" {
			t.Fatalf("identity %+v, want linked to user %d", id, alice.ID)
		}
		row := b.session(t)
		if row.AuthMethod != "sso" || row.Subject != "sub-alice" || row.SID == "" || row.IDToken == "" {
			t.Errorf("session after linking: %+v", row)
		}
		if ev := e.events(models.EventIdentityLinked); len(ev) != 1 || ev[0].Detail != "password proof" {
			t.Errorf("identity.linked events %+v", ev)
		}
		// The session made by linking carries the provider's sid, so a
		// back-channel logout for that sid ends it.
		if status, err := e.op.SendBackchannelLogout(context.Background(), ssoClientID(0), "", row.SID, nil); err != nil || status != http.StatusOK {
			t.Errorf("back-channel logout: %d %v", status, err)
		}
		if b.session(t) != nil {
			t.Error("the linked session survived a back-channel logout for its sid")
		}
		// The pending link is used up.
		if r := b.post(t, "/auth/link", url.Values{"t": {token}, "password": {ssoPassword}}); r.status != http.StatusBadRequest {
			t.Errorf("reused link token: %d", r.status)
		}

		// Next time the identity is found by issuer and subject, even after
		// the email changed at the provider.
		moved := ssoAlice
		moved.Email = "alice.renamed@example.com"
		e.op.SetLoginUser(&moved)
		again := e.browser()
		again.signIn(t, "alice@example.com")
		again.wantDashboard(t, "alice@example.com", "Single sign-on")
		if e.count("users", "") != m.users {
			t.Error("a second sign-in created an account")
		}
	})

	t.Run("cancel", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{})
		alice := e.createUser("alice@example.com", false)
		e.op.SetLoginUser(&ssoAlice)
		b := e.browser()
		r := b.get(t, b.toCallback(t, "alice@example.com"))
		token := strings.TrimPrefix(r.header.Get("Location"), "/auth/link?t=")
		r = b.post(t, "/auth/link", url.Values{"t": {token}, "cancel": {"1"}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?notice=link_cancelled" {
			t.Fatalf("cancel: got %d Location %q", r.status, r.header.Get("Location"))
		}
		if r := b.page(t, "/login?notice=link_cancelled"); !strings.Contains(r.text(), "Linking was cancelled.") {
			t.Errorf("login page:\n%s", r.text())
		}
		if r := b.get(t, "/auth/link?t="+token); r.status != http.StatusBadRequest {
			t.Errorf("cancelled link page: %d", r.status)
		}
		if e.identity("sub-alice") != nil || e.count("sessions", "") != 0 {
			t.Error("cancel linked or signed in")
		}
		// The attempt is in the account's history: who, through which provider.
		evs := e.events(models.EventLinkCancelled)
		if len(evs) != 1 {
			t.Fatalf("%d %s events, want 1", len(evs), models.EventLinkCancelled)
		}
		if ev := evs[0]; ev.Email != "alice@example.com" || ev.UserID == nil || *ev.UserID != alice.ID || ev.ProviderID != "acme" || ev.Method != models.MethodSSO {
			t.Errorf("cancel event %+v", ev)
		}
		if n := len(e.events(models.EventLinkFailure)); n != 0 {
			t.Errorf("%d %s events for a cancel, want none", n, models.EventLinkFailure)
		}
	})

	t.Run("policy never", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) { ps[0].Link = accounts.LinkNever }})
		e.createUser("alice@example.com", false)
		e.op.SetLoginUser(&ssoAlice)
		b := e.browser()
		cb := b.toCallback(t, "alice@example.com")
		m := e.mark()
		e.wantRefused(t, b.get(t, cb), m, http.StatusForbidden, "Sign-in refused",
			"An account for alice@example.com already exists, and Acme SSO may not sign in to it.")
		if ev := e.events(models.EventLoginFailure); len(ev) == 0 || ev[0].Detail != accounts.ReasonLinkNever.String() {
			t.Errorf("login.failure events %+v", ev)
		}
	})

	t.Run("verified email is linked automatically", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		alice := e.createUser("alice@example.com", false)
		e.op.SetLoginUser(&ssoAlice)
		b := e.browser()
		b.signIn(t, "alice@example.com")
		b.wantDashboard(t, "alice@example.com", "Single sign-on (Acme SSO)")
		if id := e.identity("sub-alice"); id == nil || id.UserID != alice.ID {
			t.Errorf("identity %+v", id)
		}
		if ev := e.events(models.EventIdentityLinked); len(ev) != 1 || ev[0].Detail != "automatic (verified_email)" {
			t.Errorf("identity.linked events %+v", ev)
		}
	})

	t.Run("verified email outside the provider's domains needs the password", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) {
			ps[0].Link, ps[0].EmailDomains = accounts.LinkVerifiedEmail, []string{"corp.test"}
		}})
		e.createUser("alice@example.com", false)
		e.op.SetLoginUser(&ssoAlice)
		b := e.browser()
		r := b.get(t, b.toCallback(t, "alice@example.com"))
		if !strings.HasPrefix(r.header.Get("Location"), "/auth/link?t=") || e.identity("sub-alice") != nil {
			t.Errorf("got %d Location %q, want the link page and no identity", r.status, r.header.Get("Location"))
		}
	})

	t.Run("email_verified as a string is not verified", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		e.createUser("alice@example.com", false)
		u := ssoAlice
		u.EmailVerified = "true"
		e.op.SetLoginUser(&u)
		b := e.browser()
		r := b.get(t, b.toCallback(t, "alice@example.com"))
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/auth/link?t=") {
			t.Errorf("got %d Location %q, want the link page", r.status, r.header.Get("Location"))
		}
		if e.identity("sub-alice") != nil || e.count("sessions", "") != 0 {
			t.Error(`email_verified "true" (a string) auto-linked the account`)
		}
	})

	t.Run("unverified admin email then cancel is audited", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		admin := e.createUser("admin@example.com", true)
		u := ssoAdmin
		u.EmailVerified = false
		e.op.SetLoginUser(&u)
		b := e.browser()
		r := b.get(t, b.toCallback(t, "admin@example.com"))
		token, ok := strings.CutPrefix(r.header.Get("Location"), "/auth/link?t=")
		if r.status != http.StatusSeeOther || !ok {
			t.Fatalf("got %d Location %q, want the link page", r.status, r.header.Get("Location"))
		}
		r = b.post(t, "/auth/link", url.Values{"t": {token}, "cancel": {"1"}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?notice=link_cancelled" {
			t.Fatalf("cancel: got %d Location %q", r.status, r.header.Get("Location"))
		}
		evs := e.events(models.EventLinkCancelled)
		if len(evs) != 1 || evs[0].UserID == nil || *evs[0].UserID != admin.ID || evs[0].Email != admin.Email || evs[0].ProviderID != "acme" {
			t.Fatalf("%s events %+v, want one for the admin through acme", models.EventLinkCancelled, evs)
		}
		if e.identity("sub-admin") != nil || e.count("sessions", "") != 0 {
			t.Error("cancel linked or signed in")
		}
	})

	t.Run("admin is never linked without the password", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		e.createUser("admin@example.com", true)
		e.op.SetLoginUser(&ssoAdmin)
		b := e.browser()
		r := b.get(t, b.toCallback(t, "admin@example.com"))
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/auth/link?t=") {
			t.Fatalf("got %d Location %q, want the link page", r.status, r.header.Get("Location"))
		}
		if e.identity("sub-admin") != nil || e.count("sessions", "") != 0 {
			t.Error("the admin account was linked without its password")
		}
		if r := b.get(t, r.header.Get("Location")); !strings.Contains(r.text(), "An account for admin@example.com already exists") {
			t.Errorf("link page:\n%s", r.text())
		}
	})

	t.Run("no account and no auto_create", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) { ps[0].AutoCreate = false }})
		b := e.browser()
		cb := b.toCallback(t, "bob@example.com")
		m := e.mark()
		e.wantRefused(t, b.get(t, cb), m, http.StatusForbidden, "Sign-in refused",
			"There is no account for bob@example.com. Ask your administrator to create one.")
	})

	t.Run("disabled account", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		carol := e.createUser("carol@example.com", false)
		alice := e.createUser("alice@example.com", false)
		if err := e.db.SetDisabled(context.Background(), carol.ID, true); err != nil {
			t.Fatal(err)
		}
		e.op.SetLoginUser(&ssoCarol)
		b := e.browser()
		cb := b.toCallback(t, "carol@example.com")
		m := e.mark()
		e.wantRefused(t, b.get(t, cb), m, http.StatusForbidden, "Sign-in refused", "This account is disabled.")

		// An already linked account that is then disabled is refused too,
		// and its live session ends.
		e.op.SetLoginUser(&ssoAlice)
		linked := e.browser()
		linked.signIn(t, "alice@example.com")
		if err := e.db.SetDisabled(context.Background(), alice.ID, true); err != nil {
			t.Fatal(err)
		}
		linked.wantSignedOut(t)
		b = e.browser()
		cb = b.toCallback(t, "alice@example.com")
		m = e.mark()
		e.wantRefused(t, b.get(t, cb), m, http.StatusForbidden, "This account is disabled.")
	})
}

func TestSSOLogout(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	t.Run("at both ends", func(t *testing.T) {
		b := e.browser()
		row := b.signIn(t, "bob@example.com")
		token := b.cookie(e.cfg.CookieName())
		r := b.post(t, "/auth/logout", url.Values{})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, e.op.Issuer()+"/end_session?") {
			t.Fatalf("logout: got %d Location %q, want 303 to the OP's end_session endpoint", r.status, r.loc)
		}
		// The local session is gone before the browser reaches the OP.
		if _, err := e.db.SessionByHash(context.Background(), sessionstore.Hash(token)); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("session row still there (err %v)", err)
		}
		if b.cookie(e.cfg.CookieName()) != "" {
			t.Error("session cookie not cleared")
		}
		end, _ := url.Parse(r.loc)
		q := end.Query()
		if q.Get("id_token_hint") != row.IDToken || q.Get("client_id") != ssoClientID(0) ||
			q.Get("post_logout_redirect_uri") != e.base+"/auth/logged-out" || q.Get("state") == "" {
			t.Errorf("end_session query %v", q)
		}
		r = b.get(t, r.loc)
		if r.status != http.StatusFound || !strings.HasPrefix(r.loc, e.base+"/auth/logged-out?") {
			t.Fatalf("OP end_session: got %d Location %q; page:\n%s", r.status, r.loc, r.text())
		}
		seen := e.op.LastEndSession()
		for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
			if seen.Get(k) != q.Get(k) {
				t.Errorf("OP saw %s = %q, want %q", k, seen.Get(k), q.Get(k))
			}
		}
		if back, _ := url.Parse(r.loc); back.Query().Get("state") != q.Get("state") {
			t.Errorf("state not echoed back: %s", r.loc)
		}
		r = b.get(t, r.loc)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?notice=signed_out" {
			t.Fatalf("logged-out: got %d Location %q", r.status, r.header.Get("Location"))
		}
		if r := b.page(t, r.header.Get("Location")); r.status != http.StatusOK || !strings.Contains(r.text(), "You have been signed out.") {
			t.Errorf("login page: %d\n%s", r.status, r.text())
		}
		b.wantSignedOut(t)
		if len(e.events(models.EventLogout)) != 1 {
			t.Error("no logout audit event")
		}
	})
	t.Run("password session", func(t *testing.T) {
		e.createUser("alice@example.com", false)
		b := e.browser()
		r := b.post(t, "/auth/login", url.Values{"email": {"alice@example.com"}, "password": {ssoPassword}, "is_sso": {"false"}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
			t.Fatalf("password login: %d %q", r.status, r.header.Get("Location"))
		}
		ends := e.op.Counts()[testop.EndpointEndSession]
		r = b.post(t, "/auth/logout", url.Values{})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?notice=signed_out" {
			t.Errorf("logout: got %d Location %q, want 303 /login?notice=signed_out", r.status, r.header.Get("Location"))
		}
		b.wantSignedOut(t)
		if e.op.Counts()[testop.EndpointEndSession] != ends {
			t.Error("a password session's logout went to the OP")
		}
	})
}

// ssoSignRS256 signs a JWT with key: a token that looks right but is not
// signed by the OP.
func ssoSignRS256(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestSSOBackchannelLogout(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	ctx := context.Background()
	client := ssoClientID(0)
	post := func(t *testing.T, tok string, header map[string]string) *response {
		t.Helper()
		b := e.browser() // a fresh client: server to server, no cookies
		r, err := b.do(http.MethodPost, "/auth/backchannel-logout", url.Values{"logout_token": {tok}}, header)
		if err != nil {
			t.Fatal(err)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		return r
	}

	t.Run("ends the session", func(t *testing.T) {
		b := e.browser()
		row := b.signIn(t, "bob@example.com")
		status, err := e.op.SendBackchannelLogout(ctx, client, "sub-bob", row.SID, nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("back-channel logout: %d %v", status, err)
		}
		if b.session(t) != nil {
			t.Error("session row survived")
		}
		b.wantSignedOut(t)
		if len(e.events(models.EventBackchannel)) != 1 {
			t.Error("no logout.backchannel audit event")
		}
	})

	t.Run("replayed token", func(t *testing.T) {
		first := e.browser()
		first.signIn(t, "bob@example.com")
		tok, err := e.op.LogoutToken(client, "sub-bob", "", nil) // every session of bob
		if err != nil {
			t.Fatal(err)
		}
		if r := post(t, tok, nil); r.status != http.StatusOK {
			t.Fatalf("first use: %d %s", r.status, r.body)
		}
		if first.session(t) != nil {
			t.Fatal("session survived the first use")
		}
		second := e.browser()
		second.signIn(t, "bob@example.com")
		if r := post(t, tok, nil); r.status != http.StatusBadRequest {
			t.Errorf("replay: %d, want 400", r.status)
		}
		if second.session(t) == nil {
			t.Error("a replayed logout token ended a session")
		}
	})

	b := e.browser()
	row := b.signIn(t, "bob@example.com")
	now := e.clock.Now()
	base := func() map[string]any {
		return map[string]any{
			"iss": e.op.Issuer(), "aud": client, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
			"jti": rand.Text(), "sub": "sub-bob", "sid": row.SID,
			"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
		}
	}
	sign := func(header map[string]any) func(t *testing.T) string {
		return func(t *testing.T) string {
			tok, err := e.op.SignJWT(header, base())
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
	}
	mutate := func(f func(c map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string {
			tok, err := e.op.LogoutToken(client, "sub-bob", row.SID, f)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
	}
	foreign := func(t *testing.T) string {
		good, err := e.op.LogoutToken(client, "sub-bob", row.SID, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := base64.RawURLEncoding.DecodeString(strings.Split(good, ".")[0])
		var header map[string]any
		if err := json.Unmarshal(h, &header); err != nil {
			t.Fatal(err)
		}
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return ssoSignRS256(t, key, header, base()) // same kid, wrong key
	}
	for _, tc := range []struct {
		name  string
		token func(t *testing.T) string
	}{
		{"nonce present", mutate(func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" })},
		{"events missing", mutate(func(c map[string]any) { delete(c, "events") })},
		{"events without the logout event", mutate(func(c map[string]any) { c["events"] = map[string]any{"urn:other": map[string]any{}} })},
		{"neither sub nor sid", mutate(func(c map[string]any) { delete(c, "sub"); delete(c, "sid") })},
		{"wrong aud", mutate(func(c map[string]any) { c["aud"] = "someone-else" })},
		{"expired", mutate(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-30*time.Minute).Unix()
		})},
		{"no jti", mutate(func(c map[string]any) { delete(c, "jti") })},
		{"typ JWT (an ID token's)", sign(map[string]any{"typ": "JWT"})},
		{"signed with a foreign key", foreign},
		{"unknown issuer", mutate(func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" })},
		{"not a JWT", func(*testing.T) string { return "not.a.jwt" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := post(t, tc.token(t), nil); r.status != http.StatusBadRequest {
				t.Errorf("got %d, want 400; body %q", r.status, r.body)
			}
			if b.session(t) == nil {
				t.Fatal("an invalid logout token ended the session")
			}
		})
	}

	t.Run("cross-site POST is not refused by CSRF protection", func(t *testing.T) {
		crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.test"}
		// Control: the same headers on a browser form are refused.
		r, err := b.do(http.MethodPost, "/auth/logout", url.Values{}, crossSite)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != http.StatusForbidden || b.session(t) == nil {
			t.Fatalf("cross-site /auth/logout: %d, want 403 and the session kept", r.status)
		}
		if r := post(t, sign(map[string]any{"typ": "logout+jwt"})(t), crossSite); r.status != http.StatusOK {
			t.Fatalf("cross-site back-channel logout: %d %q, want 200", r.status, r.body)
		}
		if b.session(t) != nil {
			t.Error("session survived a valid back-channel logout")
		}
	})
}

// TestSSOKeyRotation: the provider rotates its signing key between two
// back-to-back sign-ins (as the OpenID Foundation's RP certification does);
// the second one refetches the keys at once and succeeds. Logout tokens with
// unknown kids, which anyone can post, still cannot make gatehouse fetch the
// keys more than once per interval.
func TestSSOKeyRotation(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	e.browser().signIn(t, "bob@example.com")
	if n := e.op.Counts()[testop.EndpointJWKS]; n != 1 {
		t.Fatalf("%d JWKS fetches after the first sign-in, want 1", n)
	}
	for i := range 2 {
		if err := e.op.RotateKey(); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		b.signIn(t, "bob@example.com")
		b.wantDashboard(t, "bob@example.com", "Single sign-on")
		if n := e.op.Counts()[testop.EndpointJWKS]; n != 2+i {
			t.Fatalf("rotation %d: %d JWKS fetches, want %d", i+1, n, 2+i)
		}
	}

	post := func(kid string) int {
		claims := map[string]any{
			"iss": e.op.Issuer(), "aud": ssoClientID(0), "iat": e.clock.Now().Unix(), "exp": e.clock.Now().Add(time.Minute).Unix(),
			"jti": rand.Text(), "sub": "sub-bob",
			"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
		}
		tok, err := e.op.SignJWT(map[string]any{"kid": kid, "typ": "logout+jwt"}, claims)
		if err != nil {
			t.Error(err)
			return 0
		}
		r, err := e.browser().do(http.MethodPost, "/auth/backchannel-logout", url.Values{"logout_token": {tok}}, nil)
		if err != nil {
			t.Error(err)
			return 0
		}
		return r.status
	}
	before := e.op.Counts()[testop.EndpointJWKS]
	for i := range 20 {
		if status := post("unknown-" + strconv.Itoa(i)); status != http.StatusBadRequest && status != http.StatusTooManyRequests {
			t.Fatalf("logout token with an unknown kid: %d, want 400", status)
		}
	}
	if n := e.op.Counts()[testop.EndpointJWKS] - before; n != 0 {
		t.Errorf("20 logout tokens with unknown kids right after a fetch: %d JWKS fetches, want 0", n)
	}
	e.clock.Advance(10 * time.Second)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { post("concurrent-" + strconv.Itoa(i)) })
	}
	wg.Wait()
	if n := e.op.Counts()[testop.EndpointJWKS] - before; n > 1 {
		t.Errorf("20 concurrent logout tokens with unknown kids: %d JWKS fetches, want at most 1", n)
	}
	e.browser().signIn(t, "bob@example.com")
}

func TestSSOStaticMetadata(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) {
		iss := ps[0].Issuer
		ps[0].Issuer = ""
		ps[0].Metadata = &sso.Metadata{
			Issuer: iss, AuthorizationEndpoint: iss + "/authorize", TokenEndpoint: iss + "/token",
			UserinfoEndpoint: iss + "/userinfo", JWKSURI: iss + "/jwks", EndSessionEndpoint: iss + "/end_session",
			AuthorizationResponseISSParameterSupported: true,
		}
	}})
	b := e.browser()
	row := b.signIn(t, "bob@example.com")
	b.wantDashboard(t, "bob@example.com", "Single sign-on (Acme SSO)")
	if row.Issuer != e.op.Issuer() {
		t.Errorf("session issuer %q", row.Issuer)
	}
	// RP-initiated logout uses the static end_session_endpoint.
	if r := b.post(t, "/auth/logout", url.Values{}); !strings.HasPrefix(r.loc, e.op.Issuer()+"/end_session?") {
		t.Errorf("logout went to %q", r.loc)
	}
	// Back-channel logout finds the provider by its static issuer.
	b2 := e.browser()
	row = b2.signIn(t, "bob@example.com")
	if status, err := e.op.SendBackchannelLogout(context.Background(), ssoClientID(0), "", row.SID, nil); err != nil || status != http.StatusOK {
		t.Errorf("back-channel logout: %d %v", status, err)
	}
	// The static metadata promises iss (RFC 9207), so its absence is refused.
	e.op.SetBehavior(testop.Behavior{OmitIssParam: true})
	b3 := e.browser()
	cb := b3.toCallback(t, "bob@example.com")
	m := e.mark()
	e.wantRefused(t, b3.get(t, cb), m, http.StatusBadRequest, "Sign-in failed")
	if n := e.op.Counts()[testop.EndpointDiscovery]; n != 0 {
		t.Errorf("%d discovery requests with static metadata, want 0", n)
	}
}

func TestSSODynamicRegistration(t *testing.T) {
	t.Parallel()
	const iat = "initial-access-token-for-tests"
	e := newSSOEnv(t, ssoEnvOpts{dynamic: true, initialAccessToken: iat})
	if n := len(e.op.RegisteredClients()); n != 0 {
		t.Fatalf("%d clients registered before first use", n)
	}
	for restart := range 3 {
		if restart > 0 {
			e.boot()
		}
		b := e.browser()
		authz := b.start(t, ssoForm("bob@example.com"))
		clients := e.op.RegisteredClients()
		if len(clients) != 1 {
			t.Fatalf("after %d restarts: %d registered clients, want exactly 1", restart, len(clients))
		}
		c := clients[0]
		if authz.Query().Get("client_id") != c.ID {
			t.Errorf("authorization request uses client_id %q, registered %q", authz.Query().Get("client_id"), c.ID)
		}
		r := b.get(t, authz.String())
		if r.status != http.StatusFound {
			t.Fatalf("OP: %d %s", r.status, r.text())
		}
		if r := b.get(t, r.loc); r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
			t.Fatalf("after %d restarts: callback %d %q; page:\n%s", restart, r.status, r.header.Get("Location"), r.text())
		}
		b.wantDashboard(t, "bob@example.com", "Single sign-on (Acme SSO)")
		if restart == 0 {
			if !slices.Equal(c.RedirectURIs, []string{e.base + "/auth/callback"}) ||
				!slices.Contains(c.PostLogoutRedirectURIs, e.base+"/auth/logged-out") ||
				c.BackchannelLogoutURI != e.base+"/auth/backchannel-logout" {
				t.Errorf("registered client metadata %+v", c)
			}
			row := b.session(t)
			if status, err := e.op.SendBackchannelLogout(context.Background(), c.ID, "sub-bob", row.SID, nil); err != nil || status != http.StatusOK {
				t.Errorf("back-channel logout to the registered client: %d %v", status, err)
			}
		}
	}
	if n := e.op.Counts()[testop.EndpointRegistration]; n != 1 {
		t.Errorf("%d registration requests, want 1", n)
	}
	if n := e.count("client_registrations", ""); n != 1 {
		t.Errorf("%d stored registrations, want 1", n)
	}
}

func TestSSODynamicRegistrationRefused(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{dynamic: true, initialAccessToken: "right-token", providers: func(e *ssoEnv, ps []config.Provider) {
		ps[0].Registration = &sso.RegistrationConfig{InitialAccessToken: "wrong-token"} // not what the OP expects
	}})
	r := e.browser().post(t, "/auth/login", ssoForm("bob@example.com"))
	if r.status == http.StatusInternalServerError || r.status < 400 || r.loc != "" {
		t.Fatalf("got %d Location %q, want a friendly refusal", r.status, r.loc)
	}
	if !strings.Contains(r.text(), "Sign-in with Acme SSO is not working right now") {
		t.Errorf("page:\n%s", r.text())
	}
	if len(e.op.RegisteredClients()) != 0 {
		t.Error("registered without the initial access token")
	}
}

func TestSSOProviderDownAtStart(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	e.createUser("alice@example.com", false)
	e.op.SetBehavior(testop.Behavior{Down: true})

	b := e.browser()
	r := b.post(t, "/auth/login", url.Values{"email": {"alice@example.com"}, "password": {ssoPassword}, "is_sso": {"false"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
		t.Fatalf("password login while the IdP is down: %d %q", r.status, r.header.Get("Location"))
	}
	b.wantDashboard(t, "alice@example.com", "Password")

	sso := e.browser()
	for attempt := range 2 {
		r = sso.post(t, "/auth/login", ssoForm("bob@example.com"))
		if r.status != http.StatusServiceUnavailable || r.loc != "" {
			t.Fatalf("attempt %d: got %d Location %q, want 503 and no redirect", attempt, r.status, r.loc)
		}
		if !strings.Contains(r.text(), "Acme SSO is not answering right now") || !strings.Contains(r.body, `id="login-form"`) {
			t.Errorf("attempt %d: page:\n%s", attempt, r.text())
		}
	}
	// The second attempt fell inside the backoff: no second request.
	if n := e.op.Counts()[testop.EndpointDiscovery]; n != 1 {
		t.Errorf("%d discovery requests while backing off, want 1", n)
	}

	e.op.SetBehavior(testop.Behavior{})
	if r := sso.post(t, "/auth/login", ssoForm("bob@example.com")); r.status != http.StatusServiceUnavailable {
		t.Errorf("retry inside the backoff: %d, want 503 without asking the IdP", r.status)
	}
	e.clock.Advance(time.Minute) // past the sso package's backoff
	sso.signIn(t, "bob@example.com")
	sso.wantDashboard(t, "bob@example.com", "Single sign-on")
}

func TestSSORefreshInterval(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) { ps[0].RefreshInterval = time.Minute }})
	b := e.browser()
	b.signIn(t, "bob@example.com")
	token := b.cookie(e.cfg.CookieName())
	b.wantDashboard(t, "bob@example.com", "Single sign-on")

	e.clock.Advance(2 * time.Minute)
	r := b.get(t, "/dashboard")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, e.op.Issuer()+"/authorize?") {
		t.Fatalf("stale session: got %d Location %q, want 303 to the OP", r.status, r.loc)
	}
	if u, _ := url.Parse(r.loc); u.Query().Get("prompt") != "none" {
		t.Errorf("re-check without prompt=none: %s", r.loc)
	}
	r = b.get(t, r.loc)
	if r.status != http.StatusFound || !strings.HasPrefix(r.loc, e.base+"/auth/callback?") {
		t.Fatalf("OP: got %d Location %q", r.status, r.loc)
	}
	r = b.get(t, r.loc)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
		t.Fatalf("refresh callback: %d %q; page:\n%s", r.status, r.header.Get("Location"), r.text())
	}
	b.wantDashboard(t, "bob@example.com", "Single sign-on")
	if b.cookie(e.cfg.CookieName()) != token || b.session(t) == nil {
		t.Error("the re-check replaced or lost the session")
	}

	// The OP no longer has the user signed in.
	e.op.SetBehavior(testop.Behavior{AuthorizeError: "login_required"})
	e.clock.Advance(2 * time.Minute)
	r = b.get(t, "/dashboard")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, e.op.Issuer()+"/authorize?") {
		t.Fatalf("stale session: got %d Location %q", r.status, r.loc)
	}
	r = b.get(t, r.loc)
	r = b.get(t, r.loc)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?error=session_expired" {
		t.Fatalf("login_required: got %d Location %q, want 303 /login?error=session_expired", r.status, r.header.Get("Location"))
	}
	if _, err := e.db.SessionByHash(context.Background(), sessionstore.Hash(token)); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("session row survived login_required (err %v)", err)
	}
	if r := b.page(t, "/login?error=session_expired"); !strings.Contains(r.text(), "Your session has ended.") {
		t.Errorf("login page:\n%s", r.text())
	}
	b.wantSignedOut(t)
}

// TestSSORefreshIntervalOwnClock: the refresh interval runs from the
// sign-in on gatehouse's clock, whatever auth_time the provider reports: a
// sign-in remembered by the provider for a month is not re-checked at once,
// and one stamped in the future (within the clock skew) is not re-checked
// late.
func TestSSORefreshIntervalOwnClock(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Minute
	e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) { ps[0].RefreshInterval = interval }})
	wantChecked := func(t *testing.T, b *ssoBrowser, checked bool) {
		t.Helper()
		r := b.get(t, "/dashboard")
		toOP := r.status == http.StatusSeeOther && strings.HasPrefix(r.loc, e.op.Issuer()+"/authorize?")
		switch {
		case checked && !toOP:
			t.Fatalf("%s after sign-in: got %d Location %q, want the prompt=none check", e.clock.Now().Sub(b.session(t).CreatedAt), r.status, r.loc)
		case !checked && r.status != http.StatusOK:
			t.Fatalf("%s after sign-in: got %d Location %q, want the dashboard", e.clock.Now().Sub(b.session(t).CreatedAt), r.status, r.loc)
		}
	}
	for _, tc := range []struct {
		name     string
		authTime time.Duration // relative to the sign-in
	}{
		{"auth_time a month old", -30 * 24 * time.Hour},
		{"auth_time a minute ahead", time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.op.SetBehavior(testop.Behavior{IDTokenClaims: func(c map[string]any) {
				c["auth_time"] = e.clock.Now().Add(tc.authTime).Unix()
			}})
			b := e.browser()
			b.signIn(t, "bob@example.com")
			e.op.SetBehavior(testop.Behavior{})
			wantChecked(t, b, false)
			e.clock.Advance(interval - time.Second)
			wantChecked(t, b, false)
			e.clock.Advance(time.Second)
			wantChecked(t, b, true)
		})
	}
}

func TestSSORefreshOtherUserAtProvider(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) { ps[0].RefreshInterval = time.Minute }})
	b := e.browser()
	b.signIn(t, "bob@example.com")
	// In the same browser, someone signs in to the IdP as Alice (the OP
	// replaces its session) without finishing the sign-in here.
	e.op.SetLoginUser(&ssoAlice)
	b.toCallback(t, "alice@example.com")
	e.clock.Advance(2 * time.Minute)
	r := b.get(t, "/dashboard")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, e.op.Issuer()+"/authorize?") {
		t.Fatalf("stale session: got %d Location %q", r.status, r.loc)
	}
	r = b.get(t, r.loc) // prompt=none: the IdP answers for Alice
	if r.status != http.StatusFound {
		t.Fatalf("OP: %d", r.status)
	}
	r = b.get(t, r.loc)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?error=session_expired" {
		t.Fatalf("re-check answered by another user: got %d Location %q, want 303 /login?error=session_expired", r.status, r.header.Get("Location"))
	}
	b.wantSignedOut(t)
	if e.count("sessions", "") != 0 || e.identity("sub-alice") != nil {
		t.Error("the re-check signed someone in")
	}
}

func TestSSOLogoutWithoutEndSessionEndpoint(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) {
		iss := ps[0].Issuer
		ps[0].Issuer = ""
		ps[0].Metadata = &sso.Metadata{
			Issuer: iss, AuthorizationEndpoint: iss + "/authorize", TokenEndpoint: iss + "/token",
			UserinfoEndpoint: iss + "/userinfo", JWKSURI: iss + "/jwks",
		}
	}})
	b := e.browser()
	b.signIn(t, "bob@example.com")
	r := b.post(t, "/auth/logout", url.Values{})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?notice=signed_out" {
		t.Errorf("logout: got %d Location %q, want 303 /login?notice=signed_out", r.status, r.header.Get("Location"))
	}
	b.wantSignedOut(t)
	if e.count("sessions", "") != 0 || e.op.Counts()[testop.EndpointEndSession] != 0 {
		t.Error("session left behind or end_session called")
	}
}

func TestSSOUseLinkedProvider(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{ops: 2})
	// Bob's account is created by Acme and has no password.
	e.browser().signIn(t, "bob@example.com")
	// The same email through Globex (not authoritative for example.com):
	// nothing to prove ownership with, so point to the linked provider.
	b := e.browser()
	authz := b.start(t, url.Values{"email": {""}, "provider": {"globex"}})
	if authz.Scheme+"://"+authz.Host != e.ops[1].Issuer() {
		t.Fatalf("went to %s, want Globex", authz)
	}
	r := b.get(t, authz.String())
	if r.status != http.StatusFound {
		t.Fatalf("Globex: %d", r.status)
	}
	m := e.mark()
	r = b.get(t, r.loc)
	if r.status != http.StatusConflict || r.loc != "" {
		t.Fatalf("got %d Location %q, want 409 and no redirect", r.status, r.loc)
	}
	if !strings.Contains(r.text(), "An account for bob@example.com already exists and signs in with Acme SSO.") {
		t.Errorf("page:\n%s", r.text())
	}
	if e.count("sessions", "") != m.sessions || e.count("identities", "") != m.identities {
		t.Error("signed in or linked through the other provider")
	}
	if ev := e.events(models.EventLoginFailure); len(ev) == 0 || ev[0].Detail != "use_linked_provider" {
		t.Errorf("login.failure events %+v", ev)
	}
}

func TestSSONextSurvivesTheRoundTrip(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	for next, want := range map[string]string{
		"/dashboard?tab=sessions": "/dashboard?tab=sessions",
		"//evil.test/":            "/dashboard",
		"/auth/logout":            "/dashboard",
	} {
		b := e.browser()
		f := ssoForm("bob@example.com")
		f.Set("next", next)
		authz := b.start(t, f)
		for k, vs := range authz.Query() {
			for _, v := range vs { // random values are base64url: no '.', '=' or '/'
				if strings.Contains(v, "evil.test") || strings.Contains(v, "tab=sessions") || strings.Contains(v, "/auth/logout") {
					t.Errorf("next leaked into the authorization request as %s=%q", k, v)
				}
			}
		}
		r := b.get(t, authz.String())
		r = b.get(t, r.loc)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Errorf("next %q: got %d Location %q, want %q", next, r.status, r.header.Get("Location"), want)
		}
	}
}
