package handlers_test

// HTTP tests: the real handler stack (app.New with a real SQLite file,
// the real session store, views and account service) behind a real
// httptest server, driven by a script client (browser_test.go) that keeps
// no cookie jar, so every Set-Cookie and redirect is visible to the test.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
)

const (
	alice      = "alice@example.com"
	bob        = "bob@example.com"
	carol      = "carol@example.com" // disabled in every env
	goodPW     = "correct horse battery staple"
	badCredMsg = "Incorrect email or password."
)

// env is one running gatehouse handler stack, driven by a script client
// that keeps no cookies: each request names the cookies it sends, and each
// Set-Cookie stays visible to the test.
type env struct {
	*server
	client *browser
}

type envOpts struct {
	https    bool
	throttle bool     // keep the brute-force throttle's default rules
	proxies  []string // trusted proxies (X-Forwarded-For)
	dbPath   string   // reuse an existing database file ("restart")
	clock    *testkit.Clock
}

// newEnv starts a handler stack over a fresh (or the given) SQLite file.
// Users alice and bob (enabled) and carol (disabled) exist in a fresh one.
func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{server: newServer(t, serverOpts{https: o.https, throttle: o.throttle, proxies: o.proxies, dbPath: o.dbPath, clock: o.clock})}
	e.client = e.newClient()
	if o.dbPath == "" {
		e.createUser(t, alice, goodPW, false)
		e.createUser(t, bob, goodPW, false)
		u := e.createUser(t, carol, goodPW, false)
		if err := e.db.SetDisabled(context.Background(), u.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) createUser(t testing.TB, email, pw string, admin bool) *models.User {
	t.Helper()
	return e.server.createUser(t, email, "", pw, admin)
}

func (e *env) do(t *testing.T, r req) *response {
	t.Helper()
	return e.client.must(t, r)
}

// try is do without the test: safe to call from any goroutine.
func (e *env) try(r req) (*response, error) { return e.client.send(r) }

func loginForm(email, pw string) url.Values {
	return url.Values{"email": {email}, "password": {pw}, "next": {""}, "is_sso": {"false"}}
}

// login signs in and returns the new session cookie, failing unless the
// answer is 303 to /dashboard with a cookie.
func (e *env) login(t *testing.T, email, pw string, cookies ...*http.Cookie) *http.Cookie {
	t.Helper()
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(email, pw), cookies: cookies})
	if r.status != http.StatusSeeOther || r.location() != "/dashboard" {
		t.Fatalf("login %s: got %d Location %q, want 303 /dashboard; body:\n%s", email, r.status, r.location(), r.body)
	}
	c := r.cookie(e.cfg.CookieName())
	if c == nil || c.Value == "" {
		t.Fatalf("login %s: no %s cookie in %v", email, e.cfg.CookieName(), r.header["Set-Cookie"])
	}
	return c
}

// session is the cookie as a browser would send it back.
func (e *env) session(value string) *http.Cookie {
	return &http.Cookie{Name: e.cfg.CookieName(), Value: value}
}

// wantSignedIn checks GET /dashboard with c shows email's dashboard.
func (e *env) wantSignedIn(t *testing.T, c *http.Cookie, email string) {
	t.Helper()
	r := e.do(t, req{path: "/dashboard", cookies: []*http.Cookie{c}})
	if r.status != http.StatusOK {
		t.Fatalf("GET /dashboard: got %d (Location %q), want 200 for %s", r.status, r.location(), email)
	}
	if want := `id="user-email">` + email + `<`; !strings.Contains(r.body, want) {
		t.Fatalf("dashboard does not show %s (%q):\n%s", email, want, r.body)
	}
}

// wantSignedOut checks GET /dashboard with c goes to the login page.
func (e *env) wantSignedOut(t *testing.T, c *http.Cookie) {
	t.Helper()
	r := e.do(t, req{path: "/dashboard", cookies: []*http.Cookie{c}})
	if r.status != http.StatusSeeOther || r.location() != "/login?next=%2Fdashboard" {
		t.Fatalf("GET /dashboard with a dead cookie: got %d Location %q, want 303 /login?next=%%2Fdashboard", r.status, r.location())
	}
}

func (e *env) sessionRows(t *testing.T) int64 {
	t.Helper()
	return countRows(t, e.dbPath, "sessions", "")
}

func (e *env) sessionRow(t *testing.T, token string) *models.Session {
	t.Helper()
	row, err := e.db.SessionByHash(context.Background(), sessionstore.Hash(token))
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func (e *env) events(t *testing.T, kind models.EventKind) []models.Event {
	t.Helper()
	all, err := e.db.Events(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []models.Event
	for _, ev := range all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// wantEvents fails the test unless the audit log has want events of kind.
func (e *env) wantEvents(t *testing.T, kind models.EventKind, want int) {
	t.Helper()
	if n := len(e.events(t, kind)); n != want {
		t.Errorf("%d %s events, want %d", n, kind, want)
	}
}

// noServerErrors fails when the server logged an error or a locked database.
func (e *env) noServerErrors(t *testing.T) {
	t.Helper()
	logs := e.logs.String()
	for _, bad := range []string{"locked", "level=ERROR", "SQLITE_BUSY", "panic"} {
		if strings.Contains(logs, bad) {
			t.Errorf("server log contains %q:\n%s", bad, logs)
		}
	}
}

// TestLoginNonTextUserAgent: a browser whose User-Agent holds invalid UTF-8
// (PostgreSQL refuses it; Go refuses to send a NUL) still signs in; the session
// keeps the header with those bytes replaced.
func TestLoginNonTextUserAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW),
		header: map[string]string{"User-Agent": "Mozilla/5.0 \xff\xfe (X11)"}})
	if r.status != http.StatusSeeOther || r.location() != "/dashboard" {
		t.Fatalf("got %d Location %q, want 303 /dashboard; body:\n%s", r.status, r.location(), r.body)
	}
	c := r.cookie("gatehouse_session")
	if c == nil {
		t.Fatal("no session cookie")
	}
	row := e.sessionRow(t, c.Value)
	if row == nil || row.UserAgent != "Mozilla/5.0 \uFFFD (X11)" {
		t.Fatalf("session row = %+v, want the User-Agent with its non-text bytes replaced", row)
	}
	e.do(t, req{path: "/dashboard", cookies: []*http.Cookie{c}, header: map[string]string{"User-Agent": "Mozilla/5.0 \xff\xfe (X11)"}}).want(t, http.StatusOK, "")
}

func TestLoginSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	// Email is matched case- and space-insensitively.
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm("  Alice@Example.COM ", goodPW)})
	if r.status != http.StatusSeeOther || r.location() != "/dashboard" {
		t.Fatalf("got %d Location %q, want 303 /dashboard; body:\n%s", r.status, r.location(), r.body)
	}
	c := r.cookie("gatehouse_session")
	if c == nil {
		t.Fatalf("no session cookie in %v", r.header["Set-Cookie"])
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.Domain != "" {
		t.Errorf("cookie attributes: %s, want HttpOnly; SameSite=Lax; Path=/; not Secure over http; no Domain", r.header.Get("Set-Cookie"))
	}
	if c.MaxAge != 0 {
		t.Errorf("cookie Max-Age = %d, want a browser-session cookie (permanent: false)", c.MaxAge)
	}
	if row := e.sessionRow(t, c.Value); row == nil || row.UserID == nil || row.AuthMethod != "password" {
		t.Fatalf("session row = %+v, want one for the user with auth_method password", row)
	}
	if strings.Contains(e.logs.String(), c.Value) {
		t.Error("the session token appears in the server log")
	}
	e.wantSignedIn(t, c, alice)

	ev := e.events(t, models.EventLoginSuccess)
	if len(ev) != 1 || ev[0].Email != alice || ev[0].Method != "password" || ev[0].UserID == nil || ev[0].IP != "127.0.0.1" {
		t.Fatalf("login.success events = %+v, want one for %s by password from 127.0.0.1", ev, alice)
	}
	u, err := e.db.UserByEmail(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if u.LastLoginAt == nil || u.LastLoginMethod != "password" {
		t.Errorf("last login not recorded: %+v", u)
	}
	// A signed-in visitor is sent on from / and /login.
	for _, p := range []string{"/", "/login"} {
		if r := e.do(t, req{path: p, cookies: []*http.Cookie{c}}); r.status != http.StatusSeeOther || r.location() != "/dashboard" {
			t.Errorf("GET %s signed in: got %d %q, want 303 /dashboard", p, r.status, r.location())
		}
	}
	if r := e.do(t, req{path: "/"}); r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Errorf("GET / signed out: got %d %q, want 303 /login", r.status, r.location())
	}
	e.noServerErrors(t)
}

func TestLoginFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tests := []struct {
		name, email, pw, reason string
		wantUser                bool
	}{
		{"wrong password", alice, "not the password at all", accounts.ReasonWrongPassword.String(), true},
		{"unknown email", "nobody@example.com", goodPW, accounts.ReasonUnknownEmail.String(), false},
		{"disabled account", carol, goodPW, accounts.ReasonDisabled.String(), true},
		{"password over bcrypt's 72 bytes", alice, goodPW + strings.Repeat("x", 80), accounts.ReasonWrongPassword.String(), true},
		{"html in the email is escaped", `x"><b>bold</b>@example.com`, goodPW, accounts.ReasonUnknownEmail.String(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.events(t, models.EventLoginFailure))
			r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(tt.email, tt.pw)})
			if r.status != http.StatusUnauthorized {
				t.Fatalf("got %d, want 401; body:\n%s", r.status, r.body)
			}
			if !strings.Contains(r.body, badCredMsg) {
				t.Errorf("body lacks %q:\n%s", badCredMsg, r.body)
			}
			if want := `value="` + html.EscapeString(tt.email) + `"`; !strings.Contains(r.body, want) {
				t.Errorf("typed email not kept in the form (want %s):\n%s", want, r.body)
			}
			if strings.Contains(r.body, "<b>bold</b>") {
				t.Error("typed email reflected unescaped")
			}
			if len(r.cookies) != 0 {
				t.Errorf("failed login set cookies: %v", r.header["Set-Cookie"])
			}
			if n := e.sessionRows(t); n != 0 {
				t.Errorf("%d session rows after a failed login, want 0", n)
			}
			ev := e.events(t, models.EventLoginFailure)
			if len(ev) != before+1 {
				t.Fatalf("%d login.failure events, want %d", len(ev), before+1)
			}
			got := ev[0] // newest first
			if got.Detail != tt.reason || got.Email != sso.NormalizeEmail(tt.email) || got.Method != "password" || (got.UserID != nil) != tt.wantUser {
				t.Errorf("event = %+v, want reason %q email %q user set %v", got, tt.reason, sso.NormalizeEmail(tt.email), tt.wantUser)
			}
		})
	}
	if n := len(e.events(t, models.EventLoginSuccess)); n != 0 {
		t.Errorf("%d login.success events, want 0", n)
	}
	e.noServerErrors(t)
}

// TestSessionFixation: the token a browser had before sign-in is not the one
// it has after, and the old one no longer works.
func TestSessionFixation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	old := e.login(t, bob, goodPW)
	e.wantSignedIn(t, old, bob)

	tests := []struct {
		name   string
		cookie *http.Cookie
	}{
		{"valid session of another login", old},
		{"planted unknown token", e.session("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.login(t, alice, goodPW, tt.cookie)
			if c.Value == tt.cookie.Value {
				t.Fatal("session cookie value unchanged by sign-in")
			}
			e.wantSignedIn(t, c, alice)
			e.wantSignedOut(t, tt.cookie)
			if e.sessionRow(t, tt.cookie.Value) != nil {
				t.Error("the replaced session's row still exists")
			}
		})
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	c := e.login(t, alice, goodPW)

	// GET only asks.
	r := e.do(t, req{path: "/auth/logout", cookies: []*http.Cookie{c}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `<form method="post" action="/auth/logout">`) || !strings.Contains(r.body, alice) {
		t.Fatalf("GET /auth/logout: got %d, want 200 with a confirm form naming %s:\n%s", r.status, alice, r.body)
	}
	if len(r.cookies) != 0 {
		t.Errorf("GET /auth/logout set cookies: %v", r.header["Set-Cookie"])
	}
	if e.sessionRow(t, c.Value) == nil {
		t.Fatal("GET /auth/logout deleted the session")
	}
	e.wantSignedIn(t, c, alice)
	if r := e.do(t, req{path: "/auth/logout"}); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
		t.Errorf("GET /auth/logout signed out: got %d %q, want 303 to /login", r.status, r.location())
	}

	// A cross-site POST cannot sign anyone out.
	r = e.do(t, req{method: "POST", path: "/auth/logout", cookies: []*http.Cookie{c}, header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if r.status != http.StatusForbidden {
		t.Errorf("cross-site POST /auth/logout: got %d, want 403", r.status)
	}
	e.wantSignedIn(t, c, alice)

	r = e.do(t, req{method: "POST", path: "/auth/logout", cookies: []*http.Cookie{c}})
	if r.status != http.StatusSeeOther || r.location() != "/login?notice=signed_out" {
		t.Fatalf("POST /auth/logout: got %d %q, want 303 /login?notice=signed_out", r.status, r.location())
	}
	if gone := r.cookie("gatehouse_session"); gone == nil || gone.MaxAge >= 0 || gone.Value != "" {
		t.Errorf("logout did not expire the cookie: %v", r.header["Set-Cookie"])
	}
	if e.sessionRow(t, c.Value) != nil {
		t.Error("session row still exists after logout")
	}
	e.wantSignedOut(t, c)
	if ev := e.events(t, models.EventLogout); len(ev) != 1 || ev[0].Email != alice {
		t.Errorf("logout events = %+v, want one for %s", ev, alice)
	}
	r = e.newBrowser().page(t, "/login?notice=signed_out")
	if !strings.Contains(r.body, "You have been signed out.") {
		t.Errorf("login page lacks the signed-out notice:\n%s", r.body)
	}

	// Signing out twice, or with no session, is harmless.
	for _, cs := range [][]*http.Cookie{{c}, nil} {
		if r := e.do(t, req{method: "POST", path: "/auth/logout", cookies: cs}); r.status != http.StatusSeeOther {
			t.Errorf("POST /auth/logout again: got %d, want 303", r.status)
		}
	}
	e.noServerErrors(t)
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	idle := config.Default().Session.IdleTimeout
	life := config.Default().Session.Lifetime
	type step struct {
		advance time.Duration
		alive   bool
	}
	// A step of exactly idle - 1m keeps the session; activity never pushes
	// it past the absolute lifetime.
	var absolute []step
	var elapsed time.Duration
	for elapsed+idle/2 < life {
		absolute = append(absolute, step{idle / 2, true})
		elapsed += idle / 2
	}
	absolute = append(absolute, step{life - elapsed - time.Minute, true}, step{time.Minute, false})

	tests := []struct {
		name  string
		steps []step
	}{
		{"idle", []step{{idle - time.Minute, true}, {idle - time.Minute, true}, {idle, false}}},
		{"idle boundary", []step{{idle, false}}},
		{"absolute", absolute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			start := e.clock.Now()
			c := e.login(t, alice, goodPW)
			for i, s := range tt.steps {
				e.clock.Advance(s.advance)
				if s.alive {
					e.wantSignedIn(t, c, alice)
					continue
				}
				e.wantSignedOut(t, c)
				if e.sessionRow(t, c.Value) != nil {
					t.Errorf("expired session row not deleted")
				}
				if i != len(tt.steps)-1 {
					t.Fatal("test table: expiry must be the last step")
				}
				t.Logf("expired after %.0f minutes", e.clock.Now().Sub(start).Minutes())
			}
			e.noServerErrors(t)
		})
	}
}

// TestRestartKeepsSession: sessions live in the database, so a new process
// over the same file honours cookies from the old one.
func TestRestartKeepsSession(t *testing.T) {
	t.Parallel()
	first := newEnv(t, envOpts{})
	c := first.login(t, alice, goodPW)
	first.srv.Close()
	if err := first.db.Close(); err != nil {
		t.Fatal(err)
	}

	second := newEnv(t, envOpts{dbPath: first.dbPath, clock: first.clock})
	second.wantSignedIn(t, c, alice)
	r := second.do(t, req{method: "POST", path: "/auth/logout", cookies: []*http.Cookie{c}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("logout after restart: %d", r.status)
	}
	second.wantSignedOut(t, c)
}

func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	base := e.cfg.BaseURL
	tests := []struct {
		name   string
		header map[string]string
		host   string
		want   int
	}{
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", http.StatusForbidden},
		{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1"}, "", http.StatusForbidden},
		{"foreign Origin, no Sec-Fetch-Site", map[string]string{"Origin": "http://evil.example"}, "", http.StatusForbidden},
		{"Origin null", map[string]string{"Origin": "null"}, "", http.StatusForbidden},
		{"same-origin Origin", map[string]string{"Origin": base}, "", http.StatusSeeOther},
		{"Sec-Fetch-Site same-origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": base}, "", http.StatusSeeOther},
		{"base_url Origin behind a proxy with another Host", map[string]string{"Origin": base}, "gatehouse.internal:8080", http.StatusSeeOther},
		{"no browser headers (curl)", nil, "", http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sessionRows(t)
			r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: tt.header, host: tt.host})
			if r.status != tt.want {
				t.Fatalf("got %d, want %d; body:\n%s", r.status, tt.want, r.body)
			}
			after := e.sessionRows(t)
			if tt.want == http.StatusForbidden {
				if !strings.Contains(r.body, "Request refused") {
					t.Errorf("403 body lacks the friendly page:\n%s", r.body)
				}
				if after != before || len(r.cookies) != 0 {
					t.Errorf("refused request created a session (%d -> %d rows, cookies %v)", before, after, r.header["Set-Cookie"])
				}
				return
			}
			if after != before+1 || r.cookie("gatehouse_session") == nil {
				t.Errorf("accepted login created no session (%d -> %d rows)", before, after)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "cross-origin request refused") {
		t.Error("refusals were not logged")
	}
}

// TestPlainOriginRefusedUnderHTTPS: with an https base_url, a form posted
// from the same host over plain http (a page a network attacker can serve)
// is refused, with or without Sec-Fetch-Site, and changes nothing; the
// https origin itself still signs in.
func TestPlainOriginRefusedUnderHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{https: true})
	host := strings.TrimPrefix(e.cfg.BaseURL, "https://")
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"same host over http", map[string]string{"Origin": "http://" + host}, http.StatusForbidden},
		{"same host over http, Sec-Fetch-Site same-origin", map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, http.StatusForbidden},
		{"same host over http, upper-case scheme", map[string]string{"Origin": "HTTP://" + host}, http.StatusForbidden},
		{"same host, another scheme", map[string]string{"Origin": "ws://" + host}, http.StatusForbidden},
		{"the https origin", map[string]string{"Origin": e.cfg.BaseURL}, http.StatusSeeOther},
		{"the https origin, Sec-Fetch-Site same-origin", map[string]string{"Origin": e.cfg.BaseURL, "Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sessionRows(t)
			r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: tt.header})
			if r.status != tt.want {
				t.Fatalf("got %d, want %d; body:\n%s", r.status, tt.want, r.body)
			}
			after := e.sessionRows(t)
			if tt.want == http.StatusForbidden {
				if !strings.Contains(r.body, "Request refused") || after != before || len(r.cookies) != 0 {
					t.Errorf("refusal: friendly page %t, sessions %d -> %d, cookies %v", strings.Contains(r.body, "Request refused"), before, after, r.header["Set-Cookie"])
				}
				return
			}
			if after != before+1 || r.cookie(e.cfg.CookieName()) == nil {
				t.Errorf("accepted login created no session (%d -> %d rows)", before, after)
			}
		})
	}
	// A signed-in person's sign-out posted from plain http is refused too.
	c := e.login(t, alice, goodPW)
	r := e.do(t, req{method: "POST", path: "/auth/logout", cookies: []*http.Cookie{c}, header: map[string]string{"Origin": "http://" + host}})
	if r.status != http.StatusForbidden {
		t.Fatalf("logout from http origin: %d, want 403", r.status)
	}
	e.wantSignedIn(t, c, alice)
}

func TestNextRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tests := []struct{ next, want string }{
		{"/dashboard?x=1", "/dashboard?x=1"},
		{"/dashboard", "/dashboard"},
		{"//evil.com", "/dashboard"},
		{"https://evil.com/", "/dashboard"},
		{`/\evil.com`, "/dashboard"},
		{"/%2F%2Fevil.com", "/dashboard"},
		{"/auth/logout", "/dashboard"},
		{"javascript:alert(1)", "/dashboard"},
		{"", "/dashboard"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			f := loginForm(alice, goodPW)
			f.Set("next", tt.next)
			r := e.do(t, req{method: "POST", path: "/auth/login", form: f})
			if r.status != http.StatusSeeOther || r.location() != tt.want {
				t.Fatalf("got %d Location %q, want 303 %q", r.status, r.location(), tt.want)
			}
			c := r.cookie("gatehouse_session")
			// Already signed in, GET /login?next= follows the same rule.
			r = e.do(t, req{path: "/login?next=" + url.QueryEscape(tt.next), cookies: []*http.Cookie{c}})
			if r.status != http.StatusSeeOther || r.location() != tt.want {
				t.Errorf("signed-in GET /login?next: got %d %q, want 303 %q", r.status, r.location(), tt.want)
			}
		})
	}

	// The round trip: a signed-out visit remembers the page in the form.
	r := e.do(t, req{path: "/dashboard?x=1"})
	if r.status != http.StatusSeeOther || r.location() != "/login?next=%2Fdashboard%3Fx%3D1" {
		t.Fatalf("GET /dashboard?x=1 signed out: %d %q", r.status, r.location())
	}
	r = e.do(t, req{path: r.location()})
	if !strings.Contains(r.body, `name="next" value="/dashboard?x=1"`) {
		t.Fatalf("login page does not carry next in its form:\n%s", r.body)
	}
	r = e.do(t, req{path: "/login?next=" + url.QueryEscape("//evil.com")})
	if !strings.Contains(r.body, `name="next" value=""`) || strings.Contains(r.body, "evil.com") {
		t.Errorf("hostile next reached the form:\n%s", r.body)
	}
}

func TestLoginPageMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	const generic = "Something went wrong. Please sign in again."
	hostile := []string{
		"<script>alert(1)</script>",
		`"><img src=x onerror=alert(1)>`,
		"Your account is locked, call +1 555 0100",
	}
	tests := []struct {
		query, want string
		absent      []string
	}{
		{"error=session_expired", "Your session has ended. Please sign in again.", nil},
		{"error=account_disabled", "This account is disabled. Ask your administrator.", nil},
		{"error=sso_failed", "Single sign-on did not complete. Please try again.", nil},
		{"error=login_expired", "The sign-in took too long. Please start again.", nil},
		{"notice=signed_out", "You have been signed out.", nil},
		{"error=nope", generic, []string{"nope"}},
	}
	for _, h := range hostile {
		forms := []string{h, html.EscapeString(h), url.QueryEscape(h), url.PathEscape(h), "alert(1)", "alert&#40;1", "alert%281", "call +1 555"}
		tests = append(tests,
			struct {
				query, want string
				absent      []string
			}{"error=" + url.QueryEscape(h), generic, forms},
			struct {
				query, want string
				absent      []string
			}{"notice=" + url.QueryEscape(h), "", forms},
		)
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.newBrowser().page(t, "/login?"+tt.query)
			if r.status != http.StatusOK {
				t.Fatalf("got %d, want 200", r.status)
			}
			if tt.want != "" && !strings.Contains(r.body, tt.want) {
				t.Errorf("body lacks %q:\n%s", tt.want, r.body)
			}
			for _, a := range tt.absent {
				if strings.Contains(r.body, a) {
					t.Errorf("body reflects %q:\n%s", a, r.body)
				}
			}
		})
	}
}

// TestBadInputNever5xx throws malformed requests at every route.
func TestBadInputNever5xx(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	bigForm := url.Values{"email": {alice}, "password": {goodPW}, "pad": {strings.Repeat("a", 1<<20)}}.Encode()
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("email", alice)
	_ = mw.WriteField("pad", strings.Repeat("b", 1<<20))
	_ = mw.Close()

	tests := []struct {
		name     string
		r        req
		want     int
		wantBody string
	}{
		{"no fields", req{method: "POST", path: "/auth/login", form: url.Values{}}, 400, "Enter your email and password."},
		{"no body at all", req{method: "POST", path: "/auth/login"}, 400, "Enter your email and password."},
		{"missing password", req{method: "POST", path: "/auth/login", form: url.Values{"email": {alice}}}, 400, "Enter your email and password."},
		{"missing email", req{method: "POST", path: "/auth/login", form: url.Values{"password": {goodPW}}}, 400, "Enter your email and password."},
		{"invalid UTF-8 email", req{method: "POST", path: "/auth/login", body: strings.NewReader("email=%ff%fe%40x&password=" + url.QueryEscape(goodPW)), ctype: "application/x-www-form-urlencoded"}, 400, "Enter a valid email address."},
		{"invalid UTF-8 password", req{method: "POST", path: "/auth/login", body: strings.NewReader("email=" + url.QueryEscape(alice) + "&password=%c3%28%ff"), ctype: "application/x-www-form-urlencoded"}, 400, badCredMsg},
		{"10 KB email", req{method: "POST", path: "/auth/login", form: loginForm(strings.Repeat("a", 10<<10)+"@example.com", goodPW)}, 400, "Enter a valid email address."},
		{"10 KB password", req{method: "POST", path: "/auth/login", form: loginForm(alice, strings.Repeat("p", 10<<10))}, 400, badCredMsg},
		{"NUL in email", req{method: "POST", path: "/auth/login", form: loginForm("alice\x00@example.com", goodPW)}, 400, "Enter a valid email address."},
		{"malformed urlencoding", req{method: "POST", path: "/auth/login", body: strings.NewReader("email=%zz&password=%"), ctype: "application/x-www-form-urlencoded"}, 400, "Bad request"},
		{"1 MB body", req{method: "POST", path: "/auth/login", body: strings.NewReader(bigForm), ctype: "application/x-www-form-urlencoded"}, 413, "Request too large"},
		{"1 MB multipart body", req{method: "POST", path: "/auth/login", body: bytes.NewReader(mp.Bytes()), ctype: mw.FormDataContentType()}, 400, ""},
		{"JSON body", req{method: "POST", path: "/auth/login", body: strings.NewReader(`{"email":"alice@example.com"}`), ctype: "application/json"}, 400, "Enter your email and password."},
		{"is_sso with no provider", req{method: "POST", path: "/auth/login", form: url.Values{"email": {alice}, "is_sso": {"false", "true"}}}, 400, "Single sign-on is not set up."},
		{"provider button with no provider", req{method: "POST", path: "/auth/login", form: url.Values{"email": {alice}, "provider": {"acme"}}}, 400, "Single sign-on is not set up."},
		{"unknown route", req{path: "/no/such/page"}, 404, "Page not found"},
		{"unknown route with POST", req{method: "POST", path: "/no/such/page", form: url.Values{}}, 404, "Page not found"},
		{"missing asset", req{path: "/assets/css/nope.css"}, 404, ""},
		{"asset path traversal", req{path: "/assets/../handlers/handlers.go"}, 0, ""},
		{"wrong method on a page", req{method: "PUT", path: "/login"}, 405, "Method not allowed"},
		{"GET on the login action", req{path: "/auth/login"}, 405, "Method not allowed"},
		{"DELETE dashboard", req{method: "DELETE", path: "/dashboard"}, 405, "Method not allowed"},
		{"POST to the login page", req{method: "POST", path: "/login", form: loginForm(alice, goodPW)}, 405, "Method not allowed"},
		{"hostile query on the login page", req{path: "/login?next=%00%ff&error=%ff&notice="}, 303, ""}, // the notice and error dropped
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sessionRows(t)
			r := e.do(t, tt.r)
			switch {
			case r.status >= 500:
				t.Fatalf("got %d:\n%s", r.status, r.body)
			case tt.want == 0 && r.status == http.StatusOK:
				t.Fatalf("got 200, want a refusal:\n%s", r.body)
			case tt.want != 0 && r.status != tt.want:
				t.Fatalf("got %d, want %d:\n%s", r.status, tt.want, r.body)
			}
			if tt.wantBody != "" && !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("body lacks %q:\n%s", tt.wantBody, r.body)
			}
			if after := e.sessionRows(t); after != before {
				t.Errorf("session rows %d -> %d", before, after)
			}
		})
	}

	// Garbage session cookies sign nobody in and break nothing. They are
	// sent as raw Cookie headers, as a hostile client would.
	cookieHeaders := []string{
		"gatehouse_session=garbage",
		"gatehouse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // well-formed, unknown
		"gatehouse_session=" + strings.Repeat("!", 43),
		"gatehouse_session=" + strings.Repeat("A", 4000),
		`gatehouse_session="quoted"`,
		"gatehouse_session=",
		"gatehouse_session",
		"gatehouse_session=a=b=c; ;;=; gatehouse_session=%00%ff",
		"gatehouse_session=\xff\xfe" + "\xc3\x28",
	}
	for i, ch := range cookieHeaders {
		t.Run(fmt.Sprintf("cookie header %d", i), func(t *testing.T) {
			hdr := map[string]string{"Cookie": ch}
			r := e.do(t, req{path: "/dashboard", header: hdr})
			if r.status != http.StatusSeeOther || r.location() != "/login?next=%2Fdashboard" {
				t.Errorf("GET /dashboard: %d %q, want 303 to login", r.status, r.location())
			}
			if r := e.do(t, req{path: "/login", header: hdr}); r.status != http.StatusOK {
				t.Errorf("GET /login: %d", r.status)
			}
			if r := e.do(t, req{method: "POST", path: "/auth/logout", header: hdr}); r.status != http.StatusSeeOther {
				t.Errorf("POST /auth/logout: %d", r.status)
			}
			r = e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: hdr})
			c := r.cookie("gatehouse_session")
			if r.status != http.StatusSeeOther || c == nil {
				t.Fatalf("POST /auth/login: %d, cookies %v", r.status, r.header["Set-Cookie"])
			}
			e.wantSignedIn(t, c, alice)
		})
	}
	// Control bytes in the header, which Go's client refuses to send.
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /dashboard HTTP/1.1\r\nHost: x\r\nCookie: gatehouse_session=\x01\x02\x7f; ;;=\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("control bytes in Cookie: %d", resp.StatusCode)
	}
	e.noServerErrors(t)
}

// TestConcurrentLogins runs 50 sign-ins interleaved with page views against
// one SQLite file.
func TestConcurrentLogins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	users := []string{alice, bob}
	for i := range 3 {
		u := fmt.Sprintf("user%d@example.com", i)
		e.createUser(t, u, goodPW, false)
		users = append(users, u)
	}
	const n = 50
	type result struct {
		email, token string
	}
	results := make(chan result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		email := users[i%len(users)]
		wg.Go(func() {
			<-start
			check := func(what string, r *response, err error, want int) bool {
				if err != nil {
					t.Errorf("worker %d %s: %v", i, what, err)
					return false
				}
				if r.status != want {
					t.Errorf("worker %d %s: got %d, want %d:\n%s", i, what, r.status, want, r.body)
					return false
				}
				return true
			}
			r, err := e.try(req{path: "/login"})
			if !check("GET /login", r, err, 200) {
				return
			}
			r, err = e.try(req{method: "POST", path: "/auth/login", form: loginForm(email, goodPW)})
			if !check("POST /auth/login", r, err, 303) {
				return
			}
			c := r.cookie("gatehouse_session")
			if c == nil {
				t.Errorf("worker %d: no cookie", i)
				return
			}
			results <- result{email, c.Value}
			for _, p := range []string{"/dashboard", "/healthz", "/assets/css/app.css", "/dashboard"} {
				r, err = e.try(req{path: p, cookies: []*http.Cookie{c}})
				if !check("GET "+p, r, err, 200) {
					return
				}
				if p == "/dashboard" && !strings.Contains(r.body, `id="user-email">`+email+`<`) {
					t.Errorf("worker %d: dashboard is not %s's", i, email)
				}
			}
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	close(results)
	t.Logf("%d concurrent sign-ins with page views took %v", n, time.Since(t0))

	got := 0
	for res := range results {
		got++
		row := e.sessionRow(t, res.token)
		if row == nil || row.UserID == nil {
			t.Errorf("session of %s missing afterwards", res.email)
			continue
		}
		u, err := e.db.UserByID(context.Background(), *row.UserID)
		if err != nil || u.Email != res.email {
			t.Errorf("session of %s belongs to %v (%v)", res.email, u, err)
		}
	}
	if got != n {
		t.Errorf("%d sign-ins succeeded, want %d", got, n)
	}
	if rows := e.sessionRows(t); rows != n {
		t.Errorf("%d session rows, want %d", rows, n)
	}
	if ev := e.events(t, models.EventLoginSuccess); len(ev) != n {
		t.Errorf("%d login.success events, want %d", len(ev), n)
	}
	e.noServerErrors(t)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	c := e.login(t, alice, goodPW)
	tests := []struct {
		name string
		r    req
		want int
	}{
		{"login page", req{path: "/login"}, 200},
		{"dashboard", req{path: "/dashboard", cookies: []*http.Cookie{c}}, 200},
		{"logout page", req{path: "/auth/logout", cookies: []*http.Cookie{c}}, 200},
		{"failed login", req{method: "POST", path: "/auth/login", form: loginForm(alice, "wrong password!!")}, 401},
		{"redirect", req{path: "/dashboard"}, 303},
		{"not found", req{path: "/nope"}, 404},
		{"method not allowed", req{method: "PUT", path: "/login"}, 405},
		{"cross-site refusal", req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403},
		{"healthz", req{path: "/healthz"}, 200},
		{"asset", req{path: "/assets/js/login.js"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.r)
			if r.status != tt.want {
				t.Fatalf("got %d, want %d", r.status, tt.want)
			}
			csp := map[string]string{}
			for d := range strings.SplitSeq(r.header.Get("Content-Security-Policy"), ";") {
				name, val, _ := strings.Cut(strings.TrimSpace(d), " ")
				csp[name] = val
			}
			if csp["script-src"] != "'self'" {
				t.Errorf("CSP script-src = %q, want 'self' (policy %q)", csp["script-src"], r.header.Get("Content-Security-Policy"))
			}
			if csp["frame-ancestors"] != "'none'" {
				t.Errorf("CSP frame-ancestors = %q, want 'none'", csp["frame-ancestors"])
			}
			if strings.Contains(r.header.Get("Content-Security-Policy"), "unsafe-inline") {
				t.Error("CSP allows 'unsafe-inline'")
			}
			if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := r.header.Get("Referrer-Policy"); got == "" {
				t.Error("no Referrer-Policy")
			}
			if got := r.header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("HSTS %q sent under an http base_url", got)
			}
			if ct := r.header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") && r.status != http.StatusSeeOther && r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("HTML page Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
			}
		})
	}
}

func TestHealthAndAssets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tests := []struct {
		path   string
		want   int
		ctype  string
		inBody string
	}{
		{"/healthz", 200, "text/plain", "ok"},
		{"/assets/css/app.css", 200, "text/css", ".card"},
		{"/assets/js/login.js", 200, "text/javascript", "sso-toggle"},
		{"/assets/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"/assets/", 404, "", ""},
		{"/assets/css/", 404, "", ""},
		{"/assets/js/", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := e.do(t, req{path: tt.path})
			if r.status != tt.want {
				t.Fatalf("got %d, want %d:\n%s", r.status, tt.want, r.body)
			}
			if ct := r.header.Get("Content-Type"); tt.ctype != "" && !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.ctype)
			}
			if !strings.Contains(r.body, tt.inBody) {
				t.Errorf("body lacks %q", tt.inBody)
			}
			if tt.want == 404 {
				for _, listing := range []string{"app.css", "login.js", "favicon", "<a href"} {
					if strings.Contains(r.body, listing) {
						t.Errorf("folder listed: body contains %q:\n%s", listing, r.body)
					}
				}
			}
		})
	}
	// healthz reports a dead database instead of claiming ok.
	e.db.Close()
	if r := e.do(t, req{path: "/healthz"}); r.status != http.StatusServiceUnavailable {
		t.Errorf("healthz with the database closed: %d, want 503", r.status)
	}
}

func TestHTTPSBaseURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{https: true})
	if !strings.HasPrefix(e.srv.URL, "https://") {
		t.Fatal("server is not TLS")
	}
	const name = "__Host-gatehouse_session"
	r := e.do(t, req{method: "POST", path: "/auth/login", form: loginForm(alice, goodPW), header: map[string]string{"Origin": e.cfg.BaseURL, "Sec-Fetch-Site": "same-origin"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", r.status, r.body)
	}
	c := r.cookie(name)
	if c == nil {
		t.Fatalf("no %s cookie in %v", name, r.header["Set-Cookie"])
	}
	// __Host- requires Secure, Path=/ and no Domain.
	if !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %q: want Secure; Path=/; no Domain; HttpOnly; SameSite=Lax", r.header.Get("Set-Cookie"))
	}
	if r.cookie("gatehouse_session") != nil {
		t.Error("unprefixed cookie also set")
	}
	hsts := r.header.Get("Strict-Transport-Security")
	if !strings.Contains(hsts, "max-age=") || strings.Contains(hsts, "max-age=0") {
		t.Errorf("HSTS = %q", hsts)
	}
	e.wantSignedIn(t, c, alice)
	// The unprefixed name is not honoured under https.
	e.wantSignedOut(t, &http.Cookie{Name: "gatehouse_session", Value: c.Value})

	r = e.do(t, req{method: "POST", path: "/auth/logout", cookies: []*http.Cookie{c}})
	if gone := r.cookie(name); r.status != http.StatusSeeOther || gone == nil || !gone.Secure || gone.MaxAge >= 0 {
		t.Errorf("logout under https: %d, Set-Cookie %v", r.status, r.header["Set-Cookie"])
	}
	e.wantSignedOut(t, c)
}
