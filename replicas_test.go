package main

// TestReplicas runs two real `gatehouse serve` processes on one PostgreSQL
// database behind a round-robin reverse proxy, the way a deployment with
// replicas does, and checks that nothing a person does depends on which
// replica answers: every request through the proxy goes to the other
// replica than the one before it.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/testkit"
	"github.com/gatehouse/gatehouse/testop"
)

const (
	replicaClientID     = "gatehouse-replicas"
	replicaClientSecret = "replicas-client-secret-0123456789"
	// replicaClientIPHeader tells the test proxy which client address to
	// put in X-Forwarded-For, so each simulated browser has its own.
	replicaClientIPHeader = "X-Test-Client-Ip"
	replicaHeader         = "X-Test-Replica" // which replica answered, set by the proxy
)

// rrProxy is a reverse proxy that sends each request to the replica after
// the one the previous request went to, and tells the client which one
// answered. It sets X-Forwarded-For to the simulated client's address, as
// a load balancer in front of the replicas would.
type rrProxy struct {
	backends []*url.URL
	next     atomic.Uint64
	served   [2]atomic.Int64
	rp       *httputil.ReverseProxy
}

type replicaKey struct{}

func newRRProxy(backends []*url.URL) *rrProxy {
	p := &rrProxy{backends: backends}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := pr.In.Context().Value(replicaKey{}).(int)
			pr.SetURL(p.backends[i])
			pr.Out.Host = pr.In.Host // the public host, as proxies usually pass it
			ip := pr.In.Header.Get(replicaClientIPHeader)
			if ip == "" {
				ip, _, _ = net.SplitHostPort(pr.In.RemoteAddr)
			}
			pr.Out.Header.Del(replicaClientIPHeader)
			pr.Out.Header.Set("X-Forwarded-For", ip)
			pr.Out.Header.Set("X-Forwarded-Proto", "http")
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(replicaHeader, strconv.Itoa(resp.Request.Context().Value(replicaKey{}).(int)))
			return nil
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
	}
	return p
}

func (p *rrProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int((p.next.Add(1) - 1) % uint64(len(p.backends)))
	p.served[i].Add(1)
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), replicaKey{}, i)))
}

// replicaBrowser is one simulated browser: a cookie jar, a client address
// of its own, and no redirects followed.
type replicaBrowser struct {
	base string
	ip   string
	c    *http.Client
}

type replicaResponse struct {
	status  int
	loc     string
	body    string
	replica int // -1 when not answered through the proxy
	cookies []*http.Cookie
}

func newReplicaBrowser(base, ip string) *replicaBrowser {
	jar, _ := cookiejar.New(nil)
	return &replicaBrowser{base: base, ip: ip, c: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request (a form POST when form is not nil) to target, a path on
// the proxy or an absolute URL elsewhere (the test OP).
func (b *replicaBrowser) do(method, target string, form url.Values) (*replicaResponse, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if strings.HasPrefix(target, "/") {
		target = b.base + target
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, err
	}
	onProxy := strings.HasPrefix(target, b.base+"/")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if onProxy {
		req.Header.Set(replicaClientIPHeader, b.ip)
		if method == http.MethodPost { // what a browser sends with a same-origin form
			req.Header.Set("Origin", b.base)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	r := &replicaResponse{status: resp.StatusCode, loc: resp.Header.Get("Location"), body: string(data), replica: -1, cookies: resp.Cookies()}
	if v := resp.Header.Get(replicaHeader); v != "" {
		r.replica, _ = strconv.Atoi(v)
	}
	return r, nil
}

func (b *replicaBrowser) must(t *testing.T, method, target string, form url.Values) *replicaResponse {
	t.Helper()
	r, err := b.do(method, target, form)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return r
}

// session is the browser's session token, or "".
func (b *replicaBrowser) session() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// signIn signs in with a password and returns the response (303 with a
// session cookie on success).
func (b *replicaBrowser) signIn(t *testing.T, email, pw string) *replicaResponse {
	t.Helper()
	return b.must(t, http.MethodPost, "/auth/login", url.Values{"email": {email}, "password": {pw}, "next": {""}})
}

// wantDashboard loads the dashboard, which must be email's, and returns
// the replica that served it.
func (b *replicaBrowser) wantDashboard(t *testing.T, email string) int {
	t.Helper()
	r := b.must(t, http.MethodGet, "/dashboard", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="user-email">`+email+`<`) {
		t.Fatalf("dashboard of %s on replica %d: %d Location %q, want 200 with the email; page:\n%.2000s", email, r.replica, r.status, r.loc, r.body)
	}
	return r.replica
}

// wantSignedOut loads the dashboard, which must send the browser to the
// login page, and returns the replica that answered.
func (b *replicaBrowser) wantSignedOut(t *testing.T) int {
	t.Helper()
	r := b.must(t, http.MethodGet, "/dashboard", nil)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
		t.Fatalf("dashboard on replica %d: %d Location %q, want 303 to /login", r.replica, r.status, r.loc)
	}
	return r.replica
}

// ssoSignIn posts the SSO form for email (on one replica), passes through
// the OP, which approves at once, and delivers the callback (to the other
// replica). It returns the replicas that started and finished it.
func (b *replicaBrowser) ssoSignIn(t *testing.T, email, issuer string) (started, finished int) {
	t.Helper()
	authz := b.ssoStart(t, email, issuer)
	started = authz.replica
	r := b.must(t, http.MethodGet, authz.loc, nil)
	if r.status != http.StatusFound || !strings.HasPrefix(r.loc, b.base+"/auth/callback?") {
		t.Fatalf("OP /authorize: %d Location %q, want 302 to the callback; page:\n%.2000s", r.status, r.loc, r.body)
	}
	cb := b.must(t, http.MethodGet, r.loc, nil)
	if cb.status != http.StatusSeeOther || cb.loc != "/dashboard" {
		t.Fatalf("callback on replica %d (started on %d): %d Location %q, want 303 /dashboard; page:\n%.3000s", cb.replica, started, cb.status, cb.loc, cb.body)
	}
	return started, cb.replica
}

// ssoStart posts the SSO form and checks it sends the browser to issuer.
func (b *replicaBrowser) ssoStart(t *testing.T, email, issuer string) *replicaResponse {
	t.Helper()
	r, err := b.do(http.MethodPost, "/auth/login", url.Values{"email": {email}, "password": {""}, "next": {""}, "is_sso": {"true"}})
	if err != nil {
		t.Errorf("start SSO: %v", err)
		return nil
	}
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, issuer+"/authorize?") {
		t.Errorf("start SSO on replica %d: %d Location %q, want 303 to %s/authorize; page:\n%.3000s", r.replica, r.status, r.loc, issuer, r.body)
		return nil
	}
	return r
}

// replicaUserRE reads the account ID `gatehouse user create` prints.
var replicaUserRE = regexp.MustCompile(`created \S+ \(id (\d+)`)

// replicaUser creates an account with crashPassword through the CLI and
// returns its ID.
func replicaUser(t *testing.T, bin, cfgPath, email string, admin bool) int64 {
	t.Helper()
	args := []string{"user", "create", "--email", email, "--password-stdin", "--config", cfgPath}
	if admin {
		args = append(args, "--admin")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(crashPassword + "\n")
	cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=", "GATEHOUSE_DATABASE=")
	out, err := cmd.CombinedOutput()
	m := replicaUserRE.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("user create %s: %v: %s", email, err, out)
	}
	id, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return id
}

// replicaCount runs a counting query on the shared database.
func replicaCount(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int64
	if err := db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// otherReplica fails the test unless got is the replica other than prev:
// the proxy alternates, and the point of every check is that the second
// request was not answered by the process that handled the first.
func otherReplica(t *testing.T, what string, prev, got int) {
	t.Helper()
	if prev < 0 || got < 0 || prev == got {
		t.Fatalf("%s: replicas %d then %d, want one then the other", what, prev, got)
	}
}

func TestReplicas(t *testing.T) {
	if !testkit.OnPostgres() {
		t.Skip("two replicas share a PostgreSQL database; run with GATEHOUSE_TEST_DATABASE (make test-postgres)")
	}
	hermetic(t)
	bin := buildGatehouse(t)
	database := testkit.Database(t, "replicas.db")

	// The proxy's address is the base URL of both replicas, so it is known
	// before they are configured; it serves once they run.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()

	bob := testop.User{Subject: "sub-bob", Email: "bob@sso.test", Name: "Bob Builder", EmailVerified: true}
	op, err := testop.Start(testop.Options{
		Clients: []testop.Client{{
			ID: replicaClientID, Secret: replicaClientSecret, Name: "gatehouse replicas",
			RedirectURIs:           []string{base + "/auth/callback"},
			PostLogoutRedirectURIs: []string{base + "/auth/logged-out"},
			BackchannelLogoutURI:   base + "/auth/backchannel-logout",
		}},
		Users: []testop.User{bob},
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	op.SetLoginUser(&bob)
	dave := testop.User{Subject: "sub-dave", Email: "dave@reg.test", Name: "Dave", EmailVerified: true}
	regOP, err := testop.Start(testop.Options{Users: []testop.User{dave}}) // no clients: gatehouse registers one
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { regOP.Close() })
	regOP.SetLoginUser(&dave)

	cfgBody := fmt.Sprintf(`listen: "127.0.0.1:0"
base_url: %q
database: %q
database_max_conns: 20
trusted_proxies: ["127.0.0.1"]
log:
  level: info
password:
  bcrypt_cost: 10
providers:
  - id: acme
    name: Acme SSO
    issuer: %q
    client_id: %q
    client_secret: %q
    email_domains: [sso.test]
    auto_create: true
  - id: dyn
    name: Registered SSO
    issuer: %q
    registration: {}
    email_domains: [reg.test]
    auto_create: true
`, base, database, op.Issuer(), replicaClientID, replicaClientSecret, regOP.Issuer())
	var cfgPaths []string
	for i := range 2 {
		p := filepath.Join(t.TempDir(), fmt.Sprintf("replica%d.yaml", i))
		if err := os.WriteFile(p, []byte(cfgBody), 0o600); err != nil {
			t.Fatal(err)
		}
		cfgPaths = append(cfgPaths, p)
	}

	adminID := replicaUser(t, bin, cfgPaths[0], "admin@pw.test", true)
	_ = adminID
	replicaUser(t, bin, cfgPaths[0], "alice@pw.test", false)
	carolID := replicaUser(t, bin, cfgPaths[1], "carol@pw.test", false)
	replicaUser(t, bin, cfgPaths[0], "throttle-one@pw.test", false)
	replicaUser(t, bin, cfgPaths[1], "throttle-two@pw.test", false)
	const loadAccounts = 8
	for i := range loadAccounts {
		replicaUser(t, bin, cfgPaths[i%2], fmt.Sprintf("load%d@pw.test", i), false)
	}

	var servers []*crashServer
	var backends []*url.URL
	for _, p := range cfgPaths {
		s := startCrashServer(t, bin, p)
		servers = append(servers, s)
		u, _ := url.Parse(s.base)
		backends = append(backends, u)
	}
	proxy := newRRProxy(backends)
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() {
		for i, s := range servers {
			logs := s.stderr.String()
			if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "panic") {
				t.Errorf("replica %d logged errors:\n%s", i, grepLines(logs, "level=ERROR", 20))
			}
			if t.Failed() { // without the request lines, which are many
				var keep []string
				for _, l := range strings.Split(logs, "\n") {
					if !strings.Contains(l, "msg=request ") {
						keep = append(keep, l)
					}
				}
				t.Logf("replica %d log, requests left out:\n%s", i, strings.Join(keep, "\n"))
			}
		}
	})

	db, err := models.OpenSQL(database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	t.Run("password sign-in on one, dashboard on the other", func(t *testing.T) {
		b := newReplicaBrowser(base, "10.1.0.1")
		r := b.signIn(t, "alice@pw.test", crashPassword)
		if r.status != http.StatusSeeOther || b.session() == "" {
			t.Fatalf("sign-in on replica %d: %d Location %q, cookie %q", r.replica, r.status, r.loc, b.session())
		}
		otherReplica(t, "sign-in, dashboard", r.replica, b.wantDashboard(t, "alice@pw.test"))
		// The client's address came through the proxy, not the proxy's own.
		var ip string
		if err := db.QueryRow("SELECT ip FROM sessions WHERE token_hash = $1", sessionstore.Hash(b.session())).Scan(&ip); err != nil || ip != b.ip {
			t.Errorf("session row's ip %q (%v), want the client's %s", ip, err, b.ip)
		}
	})

	t.Run("logout on one, old cookie refused on the other", func(t *testing.T) {
		b := newReplicaBrowser(base, "10.2.0.1")
		if r := b.signIn(t, "alice@pw.test", crashPassword); r.status != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", r.status)
		}
		old := b.session()
		b.wantDashboard(t, "alice@pw.test")
		out := b.must(t, http.MethodPost, "/auth/logout", url.Values{})
		if out.status != http.StatusSeeOther || !strings.HasPrefix(out.loc, "/login") {
			t.Fatalf("logout on replica %d: %d Location %q", out.replica, out.status, out.loc)
		}
		// Replay the old cookie, as a copy of it kept elsewhere would be.
		stale := newReplicaBrowser(base, "10.2.0.1")
		stale.c.Jar.SetCookies(must(url.Parse(base)), []*http.Cookie{{Name: sessionCookie, Value: old, Path: "/"}})
		otherReplica(t, "logout, old cookie", out.replica, stale.wantSignedOut(t))
	})

	t.Run("SSO started on one, callback on the other", func(t *testing.T) {
		b := newReplicaBrowser(base, "10.3.0.1")
		started, finished := b.ssoSignIn(t, bob.Email, op.Issuer())
		otherReplica(t, "SSO start, callback", started, finished)
		r := b.must(t, http.MethodGet, "/dashboard", nil)
		if r.status != http.StatusOK || !strings.Contains(r.body, `id="user-email">`+bob.Email+`<`) || !strings.Contains(r.body, "Acme SSO") {
			t.Fatalf("dashboard after SSO: %d %q\n%.2000s", r.status, r.loc, r.body)
		}
	})

	t.Run("back-channel logout on one ends the session served by the other", func(t *testing.T) {
		b := newReplicaBrowser(base, "10.4.0.1")
		b.ssoSignIn(t, bob.Email, op.Issuer())
		served := b.wantDashboard(t, bob.Email)
		var sid string
		if err := db.QueryRow("SELECT sid FROM sessions WHERE token_hash = $1", sessionstore.Hash(b.session())).Scan(&sid); err != nil || sid == "" {
			t.Fatalf("session's sid %q: %v", sid, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		before := proxy.served[1-served].Load()
		// The OP posts to base_url, the proxy: the next request, this one,
		// goes to the replica that did not serve the dashboard.
		if status, err := op.SendBackchannelLogout(ctx, replicaClientID, bob.Subject, sid, nil); err != nil || status != http.StatusOK {
			t.Fatalf("back-channel logout: %d %v", status, err)
		}
		if proxy.served[1-served].Load() != before+1 {
			t.Fatalf("the logout token did not go to replica %d", 1-served)
		}
		if got := b.wantSignedOut(t); got != served {
			t.Fatalf("signed-out check on replica %d, want %d (the one that served the session)", got, served)
		}
	})

	t.Run("a logout token used on one is refused on the other", func(t *testing.T) {
		tok, err := op.LogoutToken(replicaClientID, bob.Subject, "", nil) // every session of bob
		if err != nil {
			t.Fatal(err)
		}
		poster := newReplicaBrowser(base, "10.4.0.2")
		first := poster.must(t, http.MethodPost, "/auth/backchannel-logout", url.Values{"logout_token": {tok}})
		if first.status != http.StatusOK {
			t.Fatalf("first use on replica %d: %d %s", first.replica, first.status, first.body)
		}
		b := newReplicaBrowser(base, "10.4.0.3")
		b.ssoSignIn(t, bob.Email, op.Issuer())
		replay := poster.must(t, http.MethodPost, "/auth/backchannel-logout", url.Values{"logout_token": {tok}})
		otherReplica(t, "logout token, its replay", first.replica, replay.replica)
		if replay.status != http.StatusBadRequest {
			t.Errorf("replay on replica %d: %d, want 400", replay.replica, replay.status)
		}
		b.wantDashboard(t, bob.Email) // a replayed token ends nothing
	})

	t.Run("throttling counts failures from both replicas", func(t *testing.T) {
		// tripAt counts wrong passwords until the first 429 (bounded), and
		// returns that attempt's number.
		tripAt := func(b *replicaBrowser, email string) (int, []int) {
			var replicas []int
			for n := 1; n <= 20; n++ {
				r := b.signIn(t, email, "wrong password, wrong password")
				replicas = append(replicas, r.replica)
				switch r.status {
				case http.StatusUnauthorized:
					continue
				case http.StatusTooManyRequests:
					return n, replicas
				default:
					t.Fatalf("wrong password %d for %s: %d", n, email, r.status)
				}
			}
			t.Fatalf("20 wrong passwords for %s and no 429", email)
			return 0, nil
		}
		// Baseline: one replica alone, straight to it.
		one := newReplicaBrowser(servers[0].base, "")
		one.c.Transport = headerTransport{"X-Forwarded-For": "10.5.0.1"}
		alone, _ := tripAt(one, "throttle-one@pw.test")
		both := newReplicaBrowser(base, "10.5.0.2")
		through, replicas := tripAt(both, "throttle-two@pw.test")
		t.Logf("locked at attempt %d on one replica, %d alternating replicas %v", alone, through, replicas)
		if alone != through {
			t.Errorf("locked at attempt %d on one replica, at %d alternating replicas", alone, through)
		}
		// The lock holds on the other replica too, even for the right password.
		if r := both.signIn(t, "throttle-two@pw.test", crashPassword); r.status != http.StatusTooManyRequests {
			t.Errorf("right password while locked, on replica %d: %d, want 429", r.replica, r.status)
		}
	})

	t.Run("disabling on one ends page views on the other", func(t *testing.T) {
		carol := newReplicaBrowser(base, "10.6.0.1")
		if r := carol.signIn(t, "carol@pw.test", crashPassword); r.status != http.StatusSeeOther {
			t.Fatalf("carol sign-in: %d", r.status)
		}
		carol.wantDashboard(t, "carol@pw.test")
		admin := newReplicaBrowser(base, "10.6.0.2")
		if r := admin.signIn(t, "admin@pw.test", crashPassword); r.status != http.StatusSeeOther {
			t.Fatalf("admin sign-in: %d", r.status)
		}
		r := admin.must(t, http.MethodPost, fmt.Sprintf("/admin/users/%d/disable", carolID), url.Values{})
		if r.status != http.StatusSeeOther || !strings.Contains(r.loc, "done=disabled") {
			t.Fatalf("disable on replica %d: %d Location %q\n%.2000s", r.replica, r.status, r.loc, r.body)
		}
		otherReplica(t, "disable, carol's next page", r.replica, carol.wantSignedOut(t))
		if r := carol.signIn(t, "carol@pw.test", crashPassword); r.status == http.StatusSeeOther {
			t.Errorf("disabled account signed in on replica %d", r.replica)
		}
	})

	t.Run("dynamic registration by both at once gives one client", func(t *testing.T) {
		if n := len(regOP.RegisteredClients()); n != 0 {
			t.Fatalf("%d clients registered before first use", n)
		}
		// Each replica fetches the OP's discovery document once, on first
		// use, and registers right after. Holding both discovery answers
		// until both replicas asked (bounded) lines their registrations up
		// at the same moment, so the test does not depend on luck.
		var asked atomic.Int32
		both := make(chan struct{})
		regOP.SetBehavior(testop.Behavior{Discovery: func(map[string]any) {
			if asked.Add(1) == 2 {
				close(both)
			}
			select {
			case <-both:
			case <-time.After(5 * time.Second):
			}
		}})
		defer regOP.SetBehavior(testop.Behavior{})
		browsers := []*replicaBrowser{newReplicaBrowser(base, "10.7.0.1"), newReplicaBrowser(base, "10.7.0.2")}
		starts := make([]*replicaResponse, len(browsers))
		var ready, wg sync.WaitGroup
		ready.Add(len(browsers))
		gate := make(chan struct{})
		for i, b := range browsers {
			wg.Go(func() {
				ready.Done()
				<-gate
				starts[i] = b.ssoStart(t, dave.Email, regOP.Issuer())
			})
		}
		ready.Wait()
		close(gate)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if starts[0].replica == starts[1].replica {
			t.Errorf("both first uses went to replica %d", starts[0].replica)
		}
		clients := regOP.RegisteredClients()
		rows := replicaCount(t, db, "SELECT count(*) FROM client_registrations WHERE provider_id = $1", "dyn")
		t.Logf("registration requests at the OP: %d; registered clients: %d; stored registrations: %d",
			regOP.Counts()[testop.EndpointRegistration], len(clients), rows)
		if rows != 1 {
			t.Errorf("%d stored registrations, want 1", rows)
		}
		if len(clients) != 1 {
			t.Fatalf("the OP registered %d clients, want 1", len(clients))
		}
		for i, s := range starts {
			u, _ := url.Parse(s.loc)
			if got := u.Query().Get("client_id"); got != clients[0].ID {
				t.Errorf("replica %d sent client_id %q, registered %q", s.replica, got, clients[0].ID)
			}
			// Each flow finishes on the other replica than it started on.
			r := browsers[i].must(t, http.MethodGet, s.loc, nil)
			if r.status != http.StatusFound {
				t.Fatalf("OP /authorize: %d", r.status)
			}
			cb := browsers[i].must(t, http.MethodGet, r.loc, nil)
			if cb.status != http.StatusSeeOther || cb.loc != "/dashboard" {
				t.Errorf("callback on replica %d: %d %q\n%.2000s", cb.replica, cb.status, cb.loc, cb.body)
			}
		}
	})

	t.Run("64 clients", func(t *testing.T) {
		const clients, views = 64, 4
		before := [2]int64{proxy.served[0].Load(), proxy.served[1].Load()}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var errs atomic.Int64
		var mu sync.Mutex
		var problems []string
		problem := func(format string, args ...any) {
			errs.Add(1)
			mu.Lock()
			defer mu.Unlock()
			if len(problems) < 20 {
				problems = append(problems, fmt.Sprintf(format, args...))
			}
		}
		tokens := make([]string, clients)
		start := time.Now()
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				b := newReplicaBrowser(base, fmt.Sprintf("10.64.0.%d", i+1))
				email := fmt.Sprintf("load%d@pw.test", i%loadAccounts)
				r, err := b.do(http.MethodPost, "/auth/login", url.Values{"email": {email}, "password": {crashPassword}})
				if err != nil || r.status != http.StatusSeeOther || b.session() == "" {
					problem("client %d: sign-in: %v %+v", i, err, r)
					return
				}
				tokens[i] = b.session()
				for v := range views {
					if ctx.Err() != nil {
						problem("client %d: out of time", i)
						return
					}
					r, err := b.do(http.MethodGet, "/dashboard", nil)
					if err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `id="user-email">`+email+`<`) {
						if r != nil {
							problem("client %d: view %d on replica %d: %v %d %q", i, v, r.replica, err, r.status, r.loc)
						} else {
							problem("client %d: view %d: %v", i, v, err)
						}
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		t.Logf("%d clients x %d requests in %v; replicas served %d and %d", clients, 1+views, elapsed.Round(time.Millisecond),
			proxy.served[0].Load()-before[0], proxy.served[1].Load()-before[1])
		if errs.Load() != 0 {
			t.Fatalf("%d errors:\n%s", errs.Load(), strings.Join(problems, "\n"))
		}
		if ctx.Err() != nil {
			t.Fatalf("load took %v, over its bound", elapsed)
		}
		for i, tok := range tokens {
			if n := replicaCount(t, db, "SELECT count(*) FROM sessions WHERE token_hash = $1 AND user_id IS NOT NULL", sessionstore.Hash(tok)); n != 1 {
				t.Errorf("client %d's session: %d rows", i, n)
			}
		}
		if n := replicaCount(t, db, "SELECT count(*) FROM sessions WHERE ip LIKE $1", "10.64.%"); n != clients {
			t.Errorf("%d sessions from the load's clients, want %d", n, clients)
		}
	})
}

// headerTransport adds fixed headers to each request: a client straight to
// one replica that says, as the proxy would, which address it is.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}
