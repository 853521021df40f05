package main

// Concurrency test: the real app under serve() on a loopback port
// with a real SQLite file, beside the in-repo OpenID Provider, hammered by
// many independent browsers at once. Nothing may answer 5xx, SQLite may never
// report itself busy or locked, and the sessions table must end up holding
// exactly the sessions the browsers believe they still have.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
	"golang.org/x/crypto/bcrypt"
)

const (
	loadClients     = 64              // parallel browsers, each with its own cookie jar
	loadDuration    = 5 * time.Second // how long they run...
	loadMaxRequests = 20000           // ...or until this many requests were sent
	loadAccounts    = 16              // password accounts, shared by the browsers
	loadStall       = 5 * time.Second // a request this slow gets the goroutines dumped
	loadPassword    = "correct horse battery staple"
	loadSSOEmail    = "sso-load@example.com"
	sessionCookie   = "gatehouse_session"
)

// dbTroubleWords are what SQLite contention looks like in a log. Any of them
// means a writer gave up waiting instead of queueing.
var dbTroubleWords = []string{"database is locked", "SQLITE_BUSY", "database table is locked", "SQLITE_LOCKED"}

// loadEnv is gatehouse and the test provider running for a load test.
type loadEnv struct {
	base   string
	op     *testop.Provider
	cfg    config.Config
	logs   *testkit.LogBuffer
	stop   func() // stops serve and reports its error
	stopMu sync.Once
}

// startLoadEnv starts the test provider (auto-approving one SSO user), seeds
// the password accounts, and runs serve() on a loopback listener with a
// fresh SQLite file.
//
// bcrypt: the configuration refuses costs under 10, but at cost 10 a
// password check takes tens of milliseconds of CPU (far more under -race),
// so on two cores the password path would measure bcrypt, not the database.
// Like startServe and the other HTTP tests, the app is built with
// bcrypt.MinCost set after validation, and the accounts are hashed at that
// cost too (no rehash on sign-in).
func startLoadEnv(t *testing.T) *loadEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	const clientID, secret = "gatehouse-load", "load-test-secret-0123456789"
	op, err := testop.Start(testop.Options{
		Clients: []testop.Client{{
			ID: clientID, Secret: secret, Name: "gatehouse load test",
			RedirectURIs:           []string{base + "/auth/callback"},
			PostLogoutRedirectURIs: []string{base + "/auth/logged-out"},
		}},
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	// Every /authorize approves at once as this user, so SSO needs no
	// picker page; the account is created just in time by the first
	// (concurrent) SSO sign-ins.
	op.SetLoginUser(&testop.User{Subject: "sub-load", Email: loadSSOEmail, Name: "Load Tester", EmailVerified: true})

	cfg := config.Default()
	cfg.Listen = ln.Addr().String()
	cfg.BaseURL = base
	cfg.Database = testkit.Database(t, "load.db")
	cfg.Log.Level = "info"
	cfg.Providers = []config.Provider{{
		ProviderConfig: sso.ProviderConfig{
			ID: "loadop", Name: "Load SSO", Issuer: op.Issuer(), ClientID: clientID, ClientSecret: secret,
			EmailDomains: []string{"example.com"},
		},
		Link: accounts.LinkPassword, AutoCreate: true,
	}}
	if err := cfg.Finish(); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	cfg.Password.BcryptCost = bcrypt.MinCost // see above

	ctx := context.Background()
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	hasher, err := password.New(bcrypt.MinCost, cfg.Password.MinLength)
	if err != nil {
		t.Fatal(err)
	}
	svc := &accounts.Service{DB: db, Hasher: hasher, Logger: slog.New(slog.DiscardHandler)}
	for i := range loadAccounts {
		pw := loadPassword
		if _, err := svc.CreateUser(ctx, accounts.NewUser{Email: loadEmail(i), Name: fmt.Sprintf("Load %d", i), Password: &pw}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	e := &loadEnv{base: base, op: op, cfg: cfg, logs: &testkit.LogBuffer{}}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(sctx, cfg, app.Options{Listener: ln, Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo})), Stdout: io.Discard})
	}()
	e.stop = func() {
		e.stopMu.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop within 30s")
			}
		})
	}
	t.Cleanup(e.stop)
	ssoBrowserWaitHealthy(t, base, done)
	return e
}

func loadEmail(i int) string { return fmt.Sprintf("load-%02d@example.com", i) }

// loadStats is what the browsers did and saw, shared by all of them.
type loadStats struct {
	requests, gatehouseRequests, opRequests atomic.Int64
	passwordLogins, ssoLogins, dashboards   atomic.Int64
	logouts, ssoLogouts                     atomic.Int64

	stallOnce sync.Once
	stallDump bytes.Buffer // every goroutine, when a request first took loadStall

	mu         sync.Mutex
	problems   []string          // 5xx, transport errors, unexpected answers
	live       map[string]string // session token -> who: sign-in answered, not signed out since
	ended      map[string]string // token -> why: signed out or replaced by a later sign-in
	maxLatency time.Duration
}

// dumpStall records every goroutine's stack the first time a request is
// slow enough to suggest a stall (a lock cycle that only busy_timeout
// breaks looks exactly like that); it is logged if the test fails.
func (s *loadStats) dumpStall() {
	s.stallOnce.Do(func() { _ = pprof.Lookup("goroutine").WriteTo(&s.stallDump, 2) })
}

func (s *loadStats) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// loadBrowser is one client with its own cookie jar.
type loadBrowser struct {
	id      int
	email   string // its password account
	base    string
	client  *http.Client
	stats   *loadStats
	token   string // the session it holds ("" when signed out)
	sso     bool   // whether that session came from SSO
	rng     *rand.Rand
	stopped func() bool
}

// do sends one request without following redirects, counts it, and flags a
// 5xx or a transport error. Bodies are read in full so connections are reused.
func (b *loadBrowser) do(req *http.Request) (*http.Response, string, error) {
	b.stats.requests.Add(1)
	fromGatehouse := strings.HasPrefix(req.URL.String(), b.base)
	if fromGatehouse {
		b.stats.gatehouseRequests.Add(1)
	} else {
		b.stats.opRequests.Add(1)
	}
	start := time.Now()
	stall := time.AfterFunc(loadStall, b.stats.dumpStall)
	resp, err := b.client.Do(req)
	stall.Stop()
	if err != nil {
		b.stats.problem("browser %d: %s %s: %v", b.id, req.Method, req.URL.Path, err)
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	b.stats.mu.Lock()
	b.stats.maxLatency = max(b.stats.maxLatency, d)
	b.stats.mu.Unlock()
	if err != nil {
		b.stats.problem("browser %d: %s %s: reading body: %v", b.id, req.Method, req.URL.Path, err)
		return nil, "", err
	}
	if resp.StatusCode >= 500 {
		b.stats.problem("browser %d: %s %s answered %d: %.300s", b.id, req.Method, req.URL.Path, resp.StatusCode, body)
		return nil, "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp, string(body), nil
}

// expect checks a response's status (and, for redirects, that Location
// starts with loc) and returns the absolute Location.
func (b *loadBrowser) expect(step string, resp *http.Response, body string, status int, loc string) (*url.URL, bool) {
	if resp.StatusCode != status {
		b.stats.problem("browser %d: %s: status %d, want %d (Location %q): %.300s", b.id, step, resp.StatusCode, status, resp.Header.Get("Location"), body)
		return nil, false
	}
	if loc == "" {
		return nil, true
	}
	next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(next.String(), loc) {
		b.stats.problem("browser %d: %s: redirected to %q, want %s...", b.id, step, resp.Header.Get("Location"), loc)
		return nil, false
	}
	return next, true
}

// newSession records the session cookie a sign-in answer set. The session
// the browser held before is replaced (its row deleted) by that sign-in.
func (b *loadBrowser) newSession(step string, resp *http.Response, sso bool) bool {
	var token string
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" && c.MaxAge >= 0 {
			token = c.Value
		}
	}
	if token == "" {
		b.stats.problem("browser %d: %s set no session cookie: %v", b.id, step, resp.Header["Set-Cookie"])
		return false
	}
	b.stats.mu.Lock()
	if b.token != "" {
		delete(b.stats.live, b.token)
		b.stats.ended[b.token] = fmt.Sprintf("browser %d: replaced by a later sign-in", b.id)
	}
	b.stats.live[token] = fmt.Sprintf("browser %d (%s)", b.id, step)
	b.stats.mu.Unlock()
	b.token, b.sso = token, sso
	return true
}

func (b *loadBrowser) get(u string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	return b.do(req)
}

func (b *loadBrowser) post(u string, form url.Values) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *loadBrowser) passwordLogin() bool {
	resp, body, err := b.post(b.base+"/auth/login", url.Values{"email": {b.email}, "password": {loadPassword}})
	if err != nil {
		return false
	}
	if _, ok := b.expect("password sign-in", resp, body, http.StatusSeeOther, b.base+"/dashboard"); !ok {
		return false
	}
	if !b.newSession("password sign-in", resp, false) {
		return false
	}
	b.stats.passwordLogins.Add(1)
	return true
}

// ssoLogin goes the whole way a browser does: the login form in SSO mode,
// the provider's /authorize (approving at once), the callback.
func (b *loadBrowser) ssoLogin() bool {
	resp, body, err := b.post(b.base+"/auth/login", url.Values{"email": {loadSSOEmail}, "is_sso": {"true"}})
	if err != nil {
		return false
	}
	authorize, ok := b.expect("SSO start", resp, body, http.StatusSeeOther, b.opIssuer()+"/authorize")
	if !ok {
		return false
	}
	if resp, body, err = b.get(authorize.String()); err != nil {
		return false
	}
	callback, ok := b.expect("provider /authorize", resp, body, http.StatusFound, b.base+"/auth/callback")
	if !ok {
		return false
	}
	if resp, body, err = b.get(callback.String()); err != nil {
		return false
	}
	if _, ok := b.expect("SSO callback", resp, body, http.StatusSeeOther, b.base+"/dashboard"); !ok {
		return false
	}
	if !b.newSession("SSO callback", resp, true) {
		return false
	}
	b.stats.ssoLogins.Add(1)
	return true
}

func (b *loadBrowser) opIssuer() string { return b.client.Jar.(*loadJar).opIssuer }

func (b *loadBrowser) dashboard() {
	resp, body, err := b.get(b.base + "/dashboard")
	if err != nil {
		return
	}
	if _, ok := b.expect("dashboard", resp, body, http.StatusOK, ""); !ok {
		return
	}
	want := "Password"
	if b.sso {
		want = "Single sign-on"
	}
	if !strings.Contains(body, want) {
		b.stats.problem("browser %d: dashboard does not say %q", b.id, want)
		return
	}
	b.stats.dashboards.Add(1)
}

// logout signs out; an SSO session continues through the provider's
// end-session endpoint and back to /auth/logged-out.
func (b *loadBrowser) logout() {
	resp, body, err := b.post(b.base+"/auth/logout", nil)
	if err != nil {
		return
	}
	want := b.base + "/login?notice=signed_out"
	if b.sso {
		want = b.opIssuer() + "/"
	}
	next, ok := b.expect("sign-out", resp, body, http.StatusSeeOther, want)
	if !ok {
		return
	}
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == sessionCookie && c.MaxAge < 0)
	}
	if !cleared {
		b.stats.problem("browser %d: sign-out did not expire the cookie: %v", b.id, resp.Header["Set-Cookie"])
		return
	}
	// The answer came back: the row is gone.
	b.stats.mu.Lock()
	delete(b.stats.live, b.token)
	b.stats.ended[b.token] = fmt.Sprintf("browser %d: signed out", b.id)
	b.stats.mu.Unlock()
	b.token = ""
	b.stats.logouts.Add(1)
	if !b.sso {
		return
	}
	if resp, body, err = b.get(next.String()); err != nil {
		return
	}
	back, ok := b.expect("provider end_session", resp, body, http.StatusFound, b.base+"/auth/logged-out")
	if !ok {
		return
	}
	if resp, body, err = b.get(back.String()); err != nil {
		return
	}
	if _, ok := b.expect("logged-out", resp, body, http.StatusSeeOther, b.base+"/login?notice=signed_out"); ok {
		b.stats.ssoLogouts.Add(1)
	}
}

// run mixes sign-ins, page views and sign-outs until told to stop.
func (b *loadBrowser) run() {
	for !b.stopped() {
		r := b.rng.IntN(100)
		switch {
		case b.token == "" && r < 60, b.token != "" && r < 8:
			b.passwordLogin()
		case b.token == "", b.token != "" && r < 15:
			b.ssoLogin()
		case r < 80:
			b.dashboard()
		default:
			b.logout()
		}
	}
}

// loadJar is a cookie jar that also knows the provider's issuer (so the
// browser can tell where redirects should go).
type loadJar struct {
	http.CookieJar
	opIssuer string
}

func TestLoadConcurrentSignIns(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	e := startLoadEnv(t)
	// Each browser has its own client address, as people do: gatehouse
	// limits the SSO sign-ins one address may start. 127.0.0.0/8 is all
	// loopback, so each dials from 127.0.1.<id+1>.
	transports := make([]*http.Transport, loadClients)
	for i := range transports {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i+1))}, Timeout: 10 * time.Second}
		transports[i] = &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
		defer transports[i].CloseIdleConnections()
	}
	stats := &loadStats{live: map[string]string{}, ended: map[string]string{}}

	var stop atomic.Bool
	deadline := time.Now().Add(loadDuration)
	stopped := func() bool {
		return stop.Load() || time.Now().After(deadline) || stats.requests.Load() >= loadMaxRequests
	}
	browsers := make([]*loadBrowser, loadClients)
	for i := range browsers {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		browsers[i] = &loadBrowser{
			id: i, email: loadEmail(i % loadAccounts), base: e.base, stats: stats, stopped: stopped,
			rng: rand.New(rand.NewPCG(uint64(i), 5)),
			client: &http.Client{
				Transport:     transports[i],
				Jar:           &loadJar{CookieJar: jar, opIssuer: e.op.Issuer()},
				Timeout:       60 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			},
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, b := range browsers {
		wg.Go(b.run)
	}
	wg.Wait()
	elapsed := time.Since(start)
	e.stop() // drain, close the database: what is in the file now is what was committed

	stats.mu.Lock()
	defer stats.mu.Unlock()
	t.Logf("%d browsers, %v: %d requests (%d to gatehouse, %.0f/s; %d to the provider), max latency %v",
		loadClients, elapsed.Round(time.Millisecond), stats.requests.Load(), stats.gatehouseRequests.Load(),
		float64(stats.gatehouseRequests.Load())/elapsed.Seconds(), stats.opRequests.Load(), stats.maxLatency.Round(time.Millisecond))
	t.Logf("sign-ins: %d password, %d SSO; %d dashboards; %d sign-outs (%d through the provider)",
		stats.passwordLogins.Load(), stats.ssoLogins.Load(), stats.dashboards.Load(), stats.logouts.Load(), stats.ssoLogouts.Load())
	for i, p := range stats.problems {
		if i == 20 {
			t.Errorf("... and %d more problems", len(stats.problems)-i)
			break
		}
		t.Errorf("%s", p)
	}
	if stats.passwordLogins.Load() == 0 || stats.ssoLogins.Load() == 0 || stats.logouts.Load() == 0 || stats.dashboards.Load() == 0 {
		t.Errorf("the mix did not exercise every path")
	}

	logs := e.logs.String()
	for _, w := range dbTroubleWords {
		if n := strings.Count(logs, w); n > 0 {
			t.Errorf("log mentions %q %d times", w, n)
		}
	}
	for _, w := range []string{"level=ERROR", "panic", "status=5"} {
		if strings.Contains(logs, w) {
			t.Errorf("log contains %q:\n%s", w, grepLines(logs, w, 20))
		}
	}

	// Every session a browser was told it has (and did not end) is in the
	// table; every one it ended, or replaced by signing in again, is gone.
	db, err := models.Open(e.cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	missing, lingering := 0, 0
	for token, who := range stats.live {
		if _, err := db.SessionByHash(ctx, sessionstore.Hash(token)); err != nil {
			missing++
			if missing <= 10 {
				t.Errorf("session of %s not in the table: %v", who, err)
			}
		}
	}
	for token, why := range stats.ended {
		_, err := db.SessionByHash(ctx, sessionstore.Hash(token))
		if !errors.Is(err, models.ErrNotFound) {
			lingering++
			if lingering <= 10 {
				t.Errorf("ended session still there (%s): %v", why, err)
			}
		}
	}
	var rows int64
	if err := rawSQL(t, e.cfg.Database).QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if len(stats.problems) == 0 && rows != int64(len(stats.live)) {
		t.Errorf("sessions table has %d rows, the browsers hold %d sessions", rows, len(stats.live))
	}
	t.Logf("sessions: %d held by browsers, all found (missing %d); %d ended or replaced, all gone (lingering %d); %d rows",
		len(stats.live), missing, len(stats.ended), lingering, rows)
	if len(stats.live) == 0 {
		t.Error("no live session left to verify")
	}
	stats.stallOnce.Do(func() {}) // no dump from now on
	if t.Failed() && stats.stallDump.Len() > 0 {
		t.Logf("goroutines when a request first took %v:\n%s", loadStall, stats.stallDump.String())
	}
	if n := countSSOUsers(t, e.cfg.Database); n != 1 {
		t.Errorf("%d accounts for the one SSO user, want 1 (concurrent just-in-time creation)", n)
	}
}

// countSSOUsers counts accounts with the load SSO user's email in the
// database file at path.
func countSSOUsers(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	if err := rawSQL(t, path).QueryRow("SELECT COUNT(*) FROM users WHERE email = $1", loadSSOEmail).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// grepLines returns up to n lines of s that contain w.
func grepLines(s, w string, n int) string {
	lines := slices.DeleteFunc(strings.Split(s, "\n"), func(l string) bool { return !strings.Contains(l, w) })
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("... %d more", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}
