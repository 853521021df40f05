package main

// Operations tests: the real app under serve() with a
// metrics listener beside the in-repo OpenID Provider. They check what an
// operator sees: the Prometheus metrics, /readyz, and the logs, which must
// never carry a secret and must tie every request to its X-Request-ID.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
	"golang.org/x/crypto/bcrypt"
)

const (
	opsEmail     = "ops-alice@example.com"
	opsPassword  = "ops-Pa55word-never-logged"
	opsClientID  = "gatehouse-ops"
	opsSecret    = "ops-client-secret-never-logged-0123"
	opsProvider  = "opsidp"
	opsSessionCK = "gatehouse_session"
)

var opsBob = testop.User{Subject: "sub-ops-bob", Email: "bob@example.com", Name: "Bob at the IdP", EmailVerified: true}

// opsSecretParams are the URL and form parameters whose values are secrets.
var opsSecretParams = []string{"state", "nonce", "code", "code_verifier", "id_token_hint", "logout_token", "password", "access_token", "id_token", "refresh_token", "client_secret"}

// opsEnv is gatehouse under serve() with its test OP and metrics
// listener. It records every secret that crosses the wire (in either
// direction, to gatehouse or from gatehouse to the OP) and every
// X-Request-ID gatehouse answered with.
type opsEnv struct {
	t          *testing.T
	base       string
	metricsURL string
	op         *testop.Provider
	logs       *testkit.LogBuffer
	stop       func()

	mu      sync.Mutex
	secrets map[string]map[string]bool // kind -> values
	reqIDs  []string
}

func (e *opsEnv) secret(kind, v string) {
	if v == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.secrets[kind] == nil {
		e.secrets[kind] = map[string]bool{}
	}
	e.secrets[kind][v] = true
}

// secretValues records the secret parameters among vs.
func (e *opsEnv) secretValues(vs url.Values) {
	for _, k := range opsSecretParams {
		for _, v := range vs[k] {
			e.secret(k, v)
		}
	}
}

// startOpsEnv runs gatehouse with log.format = format at debug level, a
// local account (opsEmail) and one provider whose OP signs in opsBob.
func startOpsEnv(t *testing.T, format string) *opsEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &opsEnv{
		t: t, base: "http://" + ln.Addr().String(), metricsURL: "http://" + mln.Addr().String() + "/metrics",
		logs: &testkit.LogBuffer{}, secrets: map[string]map[string]bool{},
	}
	e.op, err = testop.Start(testop.Options{
		Clients: []testop.Client{{
			ID: opsClientID, Secret: opsSecret, Name: "gatehouse ops test",
			RedirectURIs:           []string{e.base + "/auth/callback"},
			PostLogoutRedirectURIs: []string{e.base + "/auth/logged-out"},
			BackchannelLogoutURI:   e.base + "/auth/backchannel-logout",
		}},
		Users: []testop.User{opsBob},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.op.Close() })
	e.op.SetLoginUser(&opsBob)
	e.secret("client_secret", opsSecret)
	e.secret("password", opsPassword)

	cfg := config.Default()
	cfg.Listen = ln.Addr().String()
	cfg.BaseURL = e.base
	cfg.Database = testkit.Database(t, "gatehouse.db")
	cfg.Metrics.Listen = mln.Addr().String()
	cfg.Log.Level, cfg.Log.Format = "debug", format
	cfg.Providers = []config.Provider{{
		ProviderConfig: sso.ProviderConfig{
			ID: opsProvider, Name: "Ops IdP", Issuer: e.op.Issuer(), ClientID: opsClientID, ClientSecret: opsSecret,
			EmailDomains: []string{"example.com"},
		},
		Link: accounts.LinkPassword, AutoCreate: true,
	}}
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	cfg.Password.BcryptCost = bcrypt.MinCost // after validation, as startServe does

	ctx := context.Background()
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(bcrypt.MinCost, 12)
	if err != nil {
		t.Fatal(err)
	}
	pw := opsPassword
	// An administrator, so serve offers no setup link (whose token is
	// printed on stdout).
	if _, err := (&accounts.Service{DB: db, Hasher: hasher}).CreateUser(ctx, accounts.NewUser{Email: opsEmail, Name: "Alice", Password: &pw, Admin: true}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	idp := &http.Client{Transport: &opsCapture{e: e, next: http.DefaultTransport}}
	go func() {
		done <- serve(sctx, cfg, app.Options{Listener: ln, Logger: newLogger(cfg, e.logs), MetricsListener: mln, IDPClient: idp})
	}()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("serve did not stop")
			}
		})
	}
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	// The listener is open already: this waits for migrations and Serve.
	if r := e.browser().get("/healthz"); r.status != http.StatusOK {
		t.Fatalf("GET /healthz: %d", r.status)
	}
	return e
}

// opsCapture is gatehouse's transport to the OP: it records the secrets
// gatehouse sends (code, verifier, client secret) and receives (tokens).
type opsCapture struct {
	e    *opsEnv
	next http.RoundTripper
}

func (c *opsCapture) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, pw, ok := req.BasicAuth(); ok {
		pw, _ = url.QueryUnescape(pw)
		c.e.secret("client_secret", pw)
	}
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		c.e.secret("access_token", tok)
	}
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(body)
			body.Close()
			if form, err := url.ParseQuery(string(b)); err == nil {
				c.e.secretValues(form)
			}
		}
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var doc map[string]any
	if json.Unmarshal(b, &doc) == nil {
		for _, k := range []string{"access_token", "id_token", "refresh_token"} {
			if s, ok := doc[k].(string); ok {
				c.e.secret(k, s)
			}
		}
	}
	return resp, nil
}

// opsBrowser is one browser: a cookie jar for gatehouse and the OP, no
// automatic redirects.
type opsBrowser struct {
	e *opsEnv
	c *http.Client
}

type opsResp struct {
	status int
	loc    string // Location resolved against the request URL
	rawLoc string // Location as sent
	body   string
}

func (e *opsEnv) browser() *opsBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &opsBrowser{e: e, c: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *opsBrowser) get(target string) *opsResp { return b.do(http.MethodGet, target, nil) }

func (b *opsBrowser) post(target string, form url.Values) *opsResp {
	return b.do(http.MethodPost, target, form)
}

// do sends a request (a target starting with / is on gatehouse) and records
// the secrets in it and in its answer, and gatehouse's X-Request-ID.
func (b *opsBrowser) do(method, target string, form url.Values) *opsResp {
	t, e := b.e.t, b.e
	t.Helper()
	if strings.HasPrefix(target, "/") {
		target = e.base + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
		e.secretValues(form)
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	e.secretValues(req.URL.Query())
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	onGatehouse := strings.HasPrefix(target, e.base+"/")
	if method == http.MethodPost && onGatehouse {
		req.Header.Set("Origin", e.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &opsResp{status: resp.StatusCode, rawLoc: resp.Header.Get("Location"), body: string(data)}
	if u, err := resp.Location(); err == nil {
		r.loc = u.String()
		e.secretValues(u.Query())
	}
	if onGatehouse {
		id := resp.Header.Get("X-Request-ID")
		if id == "" {
			t.Errorf("%s %s: no X-Request-ID", method, target)
		}
		e.mu.Lock()
		e.reqIDs = append(e.reqIDs, id)
		e.mu.Unlock()
		for _, c := range resp.Cookies() {
			e.secret("cookie "+c.Name, c.Value)
		}
	}
	return r
}

// want fails unless r has the status and, when loc is set, a Location
// starting with loc.
func (r *opsResp) want(t *testing.T, step string, status int, loc string) {
	t.Helper()
	if r.status != status || !strings.HasPrefix(r.loc, loc) && !strings.HasPrefix(r.rawLoc, loc) {
		t.Fatalf("%s: got %d Location %q, want %d %q; body:\n%s", step, r.status, r.loc, status, loc, r.body)
	}
}

// passwordLogin signs in with the password (or fails with a wrong one).
func (b *opsBrowser) passwordLogin(t *testing.T, pw string) {
	t.Helper()
	r := b.post("/auth/login", url.Values{"email": {opsEmail}, "password": {pw}})
	if pw == opsPassword {
		r.want(t, "password sign-in", http.StatusSeeOther, "/dashboard")
		b.get("/dashboard").want(t, "dashboard", http.StatusOK, "")
	} else {
		r.want(t, "wrong password", http.StatusUnauthorized, "")
	}
}

// ssoLogin signs in as opsBob through the OP.
func (b *opsBrowser) ssoLogin(t *testing.T) {
	t.Helper()
	e := b.e
	r := b.post("/auth/login", url.Values{"email": {opsBob.Email}, "is_sso": {"true"}})
	r.want(t, "start SSO", http.StatusSeeOther, e.op.Issuer()+"/authorize?")
	r = b.get(r.loc)
	r.want(t, "OP authorize", http.StatusFound, e.base+"/auth/callback?")
	r = b.get(r.loc)
	r.want(t, "callback", http.StatusSeeOther, "/dashboard")
	b.get("/dashboard").want(t, "dashboard after SSO", http.StatusOK, "")
}

// logout signs out; an SSO session goes through the OP's end_session.
func (b *opsBrowser) logout(t *testing.T, sso bool) {
	t.Helper()
	e := b.e
	r := b.post("/auth/logout", url.Values{})
	if sso {
		r.want(t, "logout", http.StatusSeeOther, e.op.Issuer()+"/end_session?")
		r = b.get(r.loc)
		r.want(t, "OP end_session", http.StatusFound, e.base+"/auth/logged-out")
		r = b.get(r.loc)
	}
	r.want(t, "logged out", http.StatusSeeOther, "/login?notice=signed_out")
	b.get("/dashboard").want(t, "dashboard after logout", http.StatusSeeOther, "/login")
}

// backchannelLogout has the OP end opsBob's sessions server to server.
func (e *opsEnv) backchannelLogout(t *testing.T) {
	t.Helper()
	tok, err := e.op.LogoutToken(opsClientID, opsBob.Subject, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.browser().post("/auth/backchannel-logout", url.Values{"logout_token": {tok}}).want(t, "back-channel logout", http.StatusOK, "")
}

// scrape returns every sample of the metrics endpoint as
// `name{label="value",...}` (labels sorted) -> value.
func (e *opsEnv) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(e.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return testkit.ParseMetrics(t, string(b))
}

func wantSamples(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if v, ok := got[k]; !ok || v != want[k] {
			t.Errorf("%s = %v (present: %v), want %v", k, v, ok, want[k])
		}
	}
}

func TestMetrics(t *testing.T) {
	e := startOpsEnv(t, "text")
	e.browser().passwordLogin(t, opsPassword)
	e.browser().passwordLogin(t, "wrong password, surely")
	e.browser().ssoLogin(t)
	e.browser().get("/auth/callback?state=forged&code=forged").want(t, "forged callback", http.StatusBadRequest, "")

	// Not on the public listener.
	if r := e.browser().get("/metrics"); r.status != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener: %d, want 404", r.status)
	}
	s := e.scrape(t)
	wantSamples(t, s, map[string]float64{
		`gatehouse_signins_total{method="password",provider="",result="success"}`:               1,
		`gatehouse_signins_total{method="password",provider="",result="failure"}`:               1,
		`gatehouse_signins_total{method="sso",provider="` + opsProvider + `",result="success"}`: 1,
		`gatehouse_sso_callbacks_without_pending_total`:                                         1, // counted, not a sign-in failure
		`gatehouse_http_requests_total{code="400",method="GET",route="/auth/callback"}`:         1,
		`gatehouse_active_sessions`: 2,
		`gatehouse_http_requests_total{code="303",method="POST",route="/auth/login"}`:                       2,
		`gatehouse_http_requests_total{code="401",method="POST",route="/auth/login"}`:                       1,
		`gatehouse_http_requests_total{code="303",method="GET",route="/auth/callback"}`:                     1,
		`gatehouse_http_requests_total{code="404",method="GET",route="unmatched"}`:                          1,
		`gatehouse_http_request_duration_seconds_count{route="/auth/login"}`:                                3,
		`gatehouse_idp_request_duration_seconds_count{endpoint="discovery",provider="` + opsProvider + `"}`: 1,
		`gatehouse_idp_request_duration_seconds_count{endpoint="jwks",provider="` + opsProvider + `"}`:      1,
		`gatehouse_idp_request_duration_seconds_count{endpoint="token",provider="` + opsProvider + `"}`:     1,
	})
	if _, ok := s[`gatehouse_signins_total{method="sso",provider="",result="failure"}`]; ok {
		t.Error("a forged callback, which matches no pending sign-in, was counted as a failed sign-in")
	}
	for k := range s {
		if strings.HasPrefix(k, "gatehouse_idp_request_errors_total") || strings.HasPrefix(k, "gatehouse_db_errors_total") {
			t.Errorf("unexpected %s = %v", k, s[k])
		}
		if strings.Contains(k, "/metrics") || strings.Contains(k, "?") {
			t.Errorf("raw path or query in a label: %s", k)
		}
	}
	for _, k := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := s[k]; !ok {
			t.Errorf("no %s: runtime collectors missing", k)
		}
	}
	// Only /metrics is served there.
	resp, err := http.Get(strings.TrimSuffix(e.metricsURL, "/metrics") + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("metrics listener GET /login: %d, want 404", resp.StatusCode)
	}

	// The gauge is cached: a logout shows within SessionsCacheTTL, not at once.
	e.backchannelLogout(t)
	if got := e.scrape(t)[`gatehouse_active_sessions`]; got != 2 {
		t.Errorf("active sessions right after a logout: %v, want the cached 2", got)
	}

	// Both listeners close on shutdown.
	e.stop()
	if _, err := http.Get(e.metricsURL); err == nil {
		t.Error("metrics listener still answers after serve returned")
	}
}

// TestServeMetricsListen runs plain serve() with metrics.listen set: it
// opens the listener itself; left empty, no metrics listener exists.
func TestServeMetricsListen(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "g.db")
	cfg.Metrics.Listen = addr
	var logs testkit.LogBuffer
	base, cancel, done := startServe(t, cfg, io.Discard, &logs)
	defer cancel()
	if resp, err := noRedirect.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v %v", resp, err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "gatehouse_http_requests_total") {
		t.Fatalf("GET /metrics: %d\n%s", resp.StatusCode, b)
	}
	if !strings.Contains(logs.String(), "metrics listening") {
		t.Errorf("no 'metrics listening' log line:\n%s", logs.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return")
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("metrics listener open after serve returned")
	}

	// Taken address: serve fails before starting, and frees the main listener.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg.Metrics.Listen = busy.Addr().String()
	base, cancel, done = startServe(t, cfg, io.Discard, io.Discard)
	defer cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "metrics") {
			t.Fatalf("serve with a taken metrics address: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve kept running without its metrics listener")
	}
	if _, err := noRedirect.Get(base + "/healthz"); err == nil {
		t.Error("main listener left open after serve failed")
	}
}

func TestReadyz(t *testing.T) {
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "g.db")
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	cfg.Password.BcryptCost = bcrypt.MinCost
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := noRedirect.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if path == "/readyz" && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("readyz Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("readyz: %d %q, want 200 ready", code, body)
	}

	// A database one migration behind the binary is not ready (but healthy).
	gdb := rawSQL(t, cfg.Database)
	var last int64
	if err := gdb.QueryRow("SELECT MAX(version_id) FROM goose_db_version").Scan(&last); err != nil || last < 2 {
		t.Fatalf("last migration %d: %v", last, err)
	}
	if _, err := gdb.Exec("DELETE FROM goose_db_version WHERE version_id = $1", last); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body != "not ready: migrations pending\n" {
		t.Errorf("readyz with a pending migration: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz with a pending migration: %d, want 200", code)
	}
	if _, err := gdb.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, TRUE)", last); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("readyz with the migration recorded again: %d", code)
	}

	// A closed database: neither ready nor healthy, and counted.
	a.DB.Close()
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body != "not ready: database unavailable\n" {
		t.Errorf("readyz with the database closed: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("healthz with the database closed: %d", code)
	}
	resp, err := noRedirect.PostForm(srv.URL+"/auth/login", url.Values{"email": {"a@example.com"}, "password": {"whatever it is"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("sign-in with the database closed: %d, want 503", resp.StatusCode)
	}
	rec := httptest.NewRecorder()
	a.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	wantSamples(t, testkit.ParseMetrics(t, rec.Body.String()), map[string]float64{
		`gatehouse_db_errors_total{op="ping"}`:         2,
		`gatehouse_db_errors_total{op="authenticate"}`: 1,
	})
}

// TestLogHygiene runs every kind of sign-in and sign-out with logs at debug
// level, as text and as JSON, and checks that no secret reaches the log and
// that request lines carry the X-Request-ID of their response.
func TestLogHygiene(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			e := startOpsEnv(t, format)
			e.browser().passwordLogin(t, "a wrong password for alice")
			alice := e.browser()
			alice.passwordLogin(t, opsPassword)
			alice.logout(t, false)
			bob := e.browser()
			bob.ssoLogin(t)
			bob.logout(t, true)
			bob = e.browser()
			bob.ssoLogin(t)
			e.backchannelLogout(t)
			bob.get("/dashboard").want(t, "dashboard after back-channel logout", http.StatusSeeOther, "/login")
			e.browser().get("/auth/callback?state=forged-state-value-never-logged&code=forged-code-never-logged")
			e.secret("state", "forged-state-value-never-logged")
			e.secret("code", "forged-code-never-logged")
			e.stop() // every request line is written

			logs := e.logs.String()
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, kind := range []string{
				"password", "client_secret", "cookie " + opsSessionCK, "cookie gatehouse_sso", "cookie gatehouse_device", "state", "nonce",
				"code", "code_verifier", "id_token", "access_token", "id_token_hint", "logout_token",
			} {
				if len(e.secrets[kind]) == 0 {
					t.Errorf("the test saw no %s: it checks nothing", kind)
				}
			}
			for kind, vs := range e.secrets {
				for v := range vs {
					if len(v) < 8 {
						continue // too short to mean anything (and to search for)
					}
					for _, form := range []string{v, url.QueryEscape(v)} {
						if strings.Contains(logs, form) {
							t.Errorf("log contains a %s (%.12s...)", kind, form)
						}
					}
				}
			}
			if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, `"level":"ERROR"`) {
				t.Errorf("errors logged")
			}
			checkRequestIDs(t, format, logs, e.reqIDs)
		})
	}
}

// checkRequestIDs parses every log line in format and checks each request
// line's request_id is the X-Request-ID of one response (one line per
// response), and every other request-scoped line names one of them.
func checkRequestIDs(t *testing.T, format, logs string, ids []string) {
	t.Helper()
	want := map[string]int{}
	for _, id := range ids {
		want[id]++
		if want[id] > 1 {
			t.Errorf("X-Request-ID %s answered twice", id)
		}
	}
	got := map[string]int{}
	textID := regexp.MustCompile(`(?:^| )request_id=([^ ]*)`)
	textRequest := regexp.MustCompile(`(?:^| )msg=request(?: |$)`)
	n := 0
	for line := range strings.Lines(logs) {
		line = strings.TrimSuffix(line, "\n")
		n++
		var msg, id string
		var hasID bool
		switch format {
		case "json":
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %d is not JSON: %v\n%s", n, err, line)
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("log line %d lacks %q: %s", n, k, line)
				}
			}
			msg, _ = rec["msg"].(string)
			var v any
			v, hasID = rec["request_id"]
			id, _ = v.(string)
		default:
			if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=") {
				t.Fatalf("log line %d is not slog text: %s", n, line)
			}
			if textRequest.MatchString(line) {
				msg = "request"
			}
			if m := textID.FindStringSubmatch(line); m != nil {
				hasID, id = true, m[1]
			}
		}
		if msg == "request" {
			if !hasID {
				t.Errorf("request line without request_id: %s", line)
				continue
			}
			got[id]++
		}
		if hasID && want[id] == 0 {
			t.Errorf("request_id %q matches no X-Request-ID: %s", id, line)
		}
	}
	if n == 0 {
		t.Fatal("nothing logged")
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("X-Request-ID %s has %d request lines, want 1", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d request ids in request lines, %d responses", len(got), len(want))
	}
}
