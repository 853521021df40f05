package handlers_test

// IdP fault tolerance: the real handler stack against a test OP
// (testop) that hangs, answers garbage or floods us, over loopback. The
// environment, browsers and assertions come from sso_test.go.
//
// "IdP down at start" (password sign-in keeps working, SSO shows a friendly
// 503 page, no discovery request while backing off, recovery once the clock
// passes the backoff without a restart) is TestSSOProviderDownAtStart in
// sso_test.go.

import (
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/testkit"
	"github.com/gatehouse/gatehouse/testop"
)

const (
	// faultTimeout is the per-call provider timeout of these tests.
	faultTimeout = 300 * time.Millisecond
	// faultBound only catches "no timeout at all" (a hang would last until
	// the browser's 30 s client timeout); it is not a performance assertion.
	faultBound = 5 * time.Second
	// faultHugeBody is the size of a GarbageHuge body: ten times the sso
	// package's default response cap (1 MiB).
	faultHugeBody = 10 << 20
	// faultMaxAlloc bounds what one request may allocate while the OP sends
	// a faultHugeBody: far below the body, so it was never read whole.
	// Reading up to the 1 MiB cap costs about 2.3 MiB (io.ReadAll's growth).
	faultMaxAlloc = 5 << 20
)

// faultAllocScale is 2 under the race detector, whose instrumentation
// doubles io.ReadAll's allocations (about 4.5 MiB for the 1 MiB cap). An
// uncapped read of faultHugeBody scales the same way (over 20 MiB, 40 MiB
// with -race), so the bound stays as sharp.
func faultAllocScale() uint64 {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return 2
			}
		}
	}
	return 1
}

func faultEnv(t *testing.T) *ssoEnv {
	return newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) { ps[0].Timeout = faultTimeout }})
}

// wantUnavailable checks a callback refused because the IdP failed: the
// friendly "Provider unavailable" page (503, which is allowed; never 500),
// a way back to /login, no redirect, and no new session, identity or
// account.
func (e *ssoEnv) wantUnavailable(t *testing.T, r *response, m ssoMark) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503; page:\n%s", r.status, r.text())
	}
	if loc := r.header.Get("Location"); loc != "" {
		t.Errorf("refusal redirects to %q", loc)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want an HTML page", ct)
	}
	for _, s := range []string{"Provider unavailable", "Acme SSO is not answering right now. Please try again in a moment."} {
		if !strings.Contains(r.text(), s) {
			t.Errorf("page does not say %q:\n%s", s, r.text())
		}
	}
	if !strings.Contains(r.body, `href="/login"`) {
		t.Errorf("page has no way back to /login:\n%s", r.body)
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
	if n := e.count("events", "kind = ?", models.EventLoginFailure); n <= m.failures {
		t.Errorf("no %s audit event recorded", models.EventLoginFailure)
	}
}

// wantStartUnavailable checks "Sign in with SSO" refused because discovery
// failed: the login form again, in SSO mode, saying the provider is not
// answering (503), no redirect and no pending sign-in stored.
func (e *ssoEnv) wantStartUnavailable(t *testing.T, r *response, m ssoMark) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.loc != "" {
		t.Errorf("got %d Location %q, want 503 and no redirect", r.status, r.loc)
	}
	if !strings.Contains(r.text(), "Acme SSO is not answering right now. Please try again in a moment.") || !strings.Contains(r.body, `id="login-form"`) {
		t.Errorf("page:\n%s", r.text())
	}
	if n := e.count("pending_logins", ""); n != 0 {
		t.Errorf("pending_logins: %d rows, want 0", n)
	}
	if n := e.count("sessions", ""); n != m.sessions {
		t.Errorf("sessions: %d rows, want %d", n, m.sessions)
	}
}

// faultIdleConns closes the idle keep-alive connections of every client in
// play: the browsers' and the sso package's (both on http.DefaultTransport,
// as app.New gets no IdP client).
func faultIdleConns() {
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

// faultBaseline returns the goroutine count once it has stopped changing
// (idle connections closed, their server sides gone).
func faultBaseline(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	last, same := -1, 0
	for time.Now().Before(deadline) {
		faultIdleConns()
		n := runtime.NumGoroutine()
		if n == last {
			if same++; same == 10 {
				return n
			}
		} else {
			last, same = n, 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// faultSettle polls until at most limit goroutines are left, or a few
// seconds pass, and returns the last count.
func faultSettle(limit int) int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		faultIdleConns()
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFaultHang: an IdP that accepts the connection and never answers, on
// the token endpoint and separately on the JWKS endpoint. With a 300 ms
// provider timeout every sign-in ends promptly on the "Provider
// unavailable" page without a session, and 20 hung sign-ins leave no
// goroutine or connection behind.
func TestFaultHang(t *testing.T) {
	const attempts = 20
	const slack = 3
	for _, ep := range []string{testop.EndpointToken, testop.EndpointJWKS} {
		t.Run(ep, func(t *testing.T) {
			e := faultEnv(t)
			b := e.browser()
			e.op.SetBehavior(testop.Behavior{HangEndpoints: []string{ep}})

			// attempt runs one sign-in into the hang and reports whether the
			// OP saw the hung request.
			attempt := func(t *testing.T) bool {
				t.Helper()
				if ep == testop.EndpointJWKS {
					// Keys are refetched at most every 10 s (of the injected
					// clock); without this, attempts after the first would
					// fail fast from the remembered error and never reach
					// the OP.
					e.clock.Advance(11 * time.Second)
				}
				cb := b.toCallback(t, "bob@example.com")
				m := e.mark()
				before := e.op.Counts()[ep]
				start := time.Now()
				r := b.get(t, cb)
				if d := time.Since(start); d > faultBound {
					t.Fatalf("callback took %v with a %v provider timeout", d, faultTimeout)
				}
				e.wantUnavailable(t, r, m)
				if b.session(t) != nil {
					t.Fatal("a hung sign-in left the browser with a session")
				}
				return e.op.Counts()[ep] > before
			}

			// Warm up (discovery, database connections, one hung sign-in)
			// so that lazily started long-lived goroutines are in the
			// baseline.
			if !attempt(t) {
				t.Fatalf("the %s endpoint was not called", ep)
			}
			baseline := faultBaseline(t)

			// Each sign-in normally reaches the hung endpoint; go-oidc may,
			// rarely, hand a sign-in the result of the previous fetch, so
			// count the hung requests the OP saw rather than sign-ins.
			hung := 0
			for i := 0; hung < attempts; i++ {
				if i == 2*attempts {
					t.Fatalf("only %d of %d sign-ins reached the hung %s endpoint", hung, i, ep)
				}
				if attempt(t) {
					hung++
				}
			}
			if ep == testop.EndpointToken {
				if n := e.op.Counts()[ep]; n != attempts+1 {
					t.Errorf("%d token requests, want %d: one per sign-in", n, attempts+1)
				}
			}
			after := faultSettle(baseline)
			t.Logf("goroutines: baseline %d, after %d hung sign-ins %d", baseline, attempts, after)
			if after > baseline+slack {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines: %d after %d hung sign-ins, baseline %d: leak\n%s",
					after, attempts, baseline, buf[:runtime.Stack(buf, true)])
			}
			if n := e.count("sessions", ""); n != 0 {
				t.Errorf("sessions: %d rows, want 0", n)
			}

			// The IdP answers again: SSO works without a restart.
			e.op.SetBehavior(testop.Behavior{})
			e.clock.Advance(time.Minute)
			b.signIn(t, "bob@example.com")
			b.wantDashboard(t, "bob@example.com", "Single sign-on")
		})
	}
}

// faultAlloc reports the bytes allocated (TotalAlloc, process-wide) and the
// change in live heap (HeapAlloc after a GC) across f.
func faultAlloc(f func()) (total uint64, heap int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	total = after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	return total, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// TestFaultGarbage: an IdP answering an HTML error page, invalid JSON or a
// 10 MB body on discovery, token, userinfo and JWKS. Each ends on a clear
// error page without a session, no request reads more than the response
// cap, and nothing broken is cached: SSO works once the IdP is fixed.
func TestFaultGarbage(t *testing.T) {
	kinds := []struct {
		name string
		g    testop.Garbage
	}{
		{"html", testop.GarbageHTML},
		{"invalid json", testop.GarbageInvalidJSON},
		{"10 MB", testop.GarbageHuge},
	}
	for _, ep := range []string{testop.EndpointDiscovery, testop.EndpointToken, testop.EndpointUserinfo, testop.EndpointJWKS} {
		for _, k := range kinds {
			t.Run(ep+"/"+k.name, func(t *testing.T) {
				e := faultEnv(t)
				bad := testop.Behavior{Garbage: map[string]testop.Garbage{ep: k.g}, HugeBodyBytes: faultHugeBody}
				if ep == testop.EndpointUserinfo {
					// UserInfo is consulted, and its failure is fatal, only
					// when the ID token lacks the email.
					bad.IDTokenClaims = func(c map[string]any) { delete(c, "email") }
				}
				b := e.browser()
				cb := ""
				if ep != testop.EndpointDiscovery {
					// Discovery must work to get this far.
					e.op.SetBehavior(bad)
					cb = b.toCallback(t, "bob@example.com")
				}
				e.op.SetBehavior(bad)
				m := e.mark()
				calls := e.op.Counts()[ep]
				var r *response
				total, heap := faultAlloc(func() {
					if ep == testop.EndpointDiscovery {
						r = b.post(t, "/auth/login", ssoForm("bob@example.com"))
					} else {
						r = b.get(t, cb)
					}
				})
				t.Logf("%s %s: status %d, allocated %d KiB, live heap %+d KiB", ep, k.name, r.status, total>>10, heap>>10)
				if e.op.Counts()[ep] == calls {
					t.Fatalf("the %s endpoint was not called", ep)
				}
				if ep == testop.EndpointDiscovery {
					e.wantStartUnavailable(t, r, m)
				} else {
					e.wantUnavailable(t, r, m)
				}
				if b.session(t) != nil {
					t.Error("signed in despite the garbage")
				}
				if limit := faultMaxAlloc * faultAllocScale(); total > limit {
					t.Errorf("the request allocated %d bytes (limit %d) while the OP sent garbage (%d-byte huge bodies): a body was read past the cap", total, limit, faultHugeBody)
				}

				// Fixed IdP, clock past the discovery backoff and the JWKS
				// refetch interval: SSO works without a restart.
				e.op.SetBehavior(testop.Behavior{})
				e.clock.Advance(time.Minute)
				b.signIn(t, "bob@example.com")
				b.wantDashboard(t, "bob@example.com", "Single sign-on")
			})
		}
	}
}

// TestFaultUnknownKeyType: a JWKS with a key of an unknown type beside the
// real key must be accepted (RFC 7517 §5: ignore keys you do not
// understand), so SSO sign-in succeeds.
func TestFaultUnknownKeyType(t *testing.T) {
	e := faultEnv(t)
	e.op.SetBehavior(testop.Behavior{JWKSExtraKeys: []map[string]any{testop.UnknownKeyTypeJWK()}})
	b := e.browser()
	row := b.signIn(t, "bob@example.com")
	b.wantDashboard(t, "bob@example.com", "Single sign-on (Acme SSO)")
	if row.Subject != "sub-bob" {
		t.Errorf("session subject %q", row.Subject)
	}
	if e.op.Counts()[testop.EndpointJWKS] == 0 {
		t.Error("the JWKS was never fetched")
	}
}

// TestFaultPendingLoginsCapped: one browser starting 15 SSO sign-ins keeps
// only its 10 newest pending ones (maxPendingPerBrowser): the callbacks of
// the 5 oldest are refused without reaching the token endpoint, the newest
// works, and another browser's pending sign-in is untouched.
func TestFaultPendingLoginsCapped(t *testing.T) {
	const starts, kept = 15, 10
	e := newSSOEnv(t, ssoEnvOpts{})
	other := e.browser()
	otherCB := other.toCallback(t, "bob@example.com")

	b := e.browser()
	var cbs []string
	for range starts {
		cbs = append(cbs, b.toCallback(t, "bob@example.com"))
	}
	hash := sessionstore.Hash(b.cookie("gatehouse_sso"))
	if n := e.count("pending_logins", "browser_hash = ?", hash); n != kept {
		t.Errorf("pending_logins of the browser: %d, want %d", n, kept)
	}
	tokens := e.op.Counts()[testop.EndpointToken]
	for i := range starts - kept {
		m := e.mark()
		e.wantExpired(t, b.get(t, cbs[i]), m)
	}
	if n := e.op.Counts()[testop.EndpointToken]; n != tokens {
		t.Errorf("%d token requests for evicted sign-ins", n-tokens)
	}
	if r := b.get(t, cbs[starts-1]); r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
		t.Fatalf("newest callback: got %d Location %q, want 303 /dashboard; page:\n%s", r.status, r.header.Get("Location"), r.text())
	}
	b.wantDashboard(t, "bob@example.com", "Single sign-on")
	// The oldest kept one still works too.
	if r := b.get(t, cbs[starts-kept]); r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
		t.Errorf("oldest kept callback: got %d Location %q; page:\n%s", r.status, r.header.Get("Location"), r.text())
	}
	if r := other.get(t, otherCB); r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard" {
		t.Errorf("another browser's callback: got %d Location %q; page:\n%s", r.status, r.header.Get("Location"), r.text())
	}
}

// TestFaultBackchannelRateLimit: a flood of back-channel logout requests is
// answered 429 past the limiter's 20 per second; a valid logout token that
// was answered 429 ended nothing, one answered 200 ended its session, and
// the endpoint serves again once the flood is over. The limiter's clock
// stands still during the flood, so however slowly a loaded machine lets
// the requests in, exactly the burst of 20 is served.
func TestFaultBackchannelRateLimit(t *testing.T) {
	const sessions, garbage = 30, 70 // 100 requests at once against a burst of 20
	limits := testkit.NewClock(time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC))
	e := newSSOEnv(t, ssoEnvOpts{limitClock: limits.Now})
	client := ssoClientID(0)
	type target struct {
		b     *ssoBrowser
		token string
	}
	targets := make([]target, sessions)
	for i := range targets {
		b := e.browser()
		row := b.signIn(t, "bob@example.com")
		tok, err := e.op.LogoutToken(client, "sub-bob", row.SID, nil)
		if err != nil {
			t.Fatal(err)
		}
		targets[i] = target{b, tok}
	}
	if n := e.count("sessions", ""); n != sessions {
		t.Fatalf("sessions: %d, want %d", n, sessions)
	}

	server := e.browser() // server to server: no cookies that matter
	post := func(tok string) (*response, error) {
		return server.do(http.MethodPost, "/auth/backchannel-logout", url.Values{"logout_token": {tok}}, nil)
	}
	results := make([]*response, sessions+garbage)
	errs := make([]error, len(results))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		tok := "not.a.jwt"
		if i < sessions {
			tok = targets[i].token
		}
		wg.Go(func() {
			<-start
			results[i], errs[i] = post(tok)
		})
	}
	close(start)
	wg.Wait()

	var limited, limitedValid, passed int
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("request %d: Cache-Control %q, want no-store", i, cc)
		}
		alive := i < sessions && targets[i].b.session(t) != nil
		switch {
		case r.status == http.StatusTooManyRequests:
			limited++
			if i < sessions {
				limitedValid++
				if !alive {
					t.Errorf("request %d: 429, yet its session ended", i)
				}
			}
		case i < sessions && r.status == http.StatusOK:
			passed++
			if alive {
				t.Errorf("request %d: 200, yet its session survived", i)
			}
		case i >= sessions && r.status == http.StatusBadRequest:
			passed++
		default:
			t.Errorf("request %d (valid token: %v): status %d %q", i, i < sessions, r.status, r.body)
		}
	}
	t.Logf("back-channel flood: %d requests, %d served, %d answered 429 (%d of them valid logout tokens)", len(results), passed, limited, limitedValid)
	if limited == 0 {
		t.Fatalf("no 429 among %d simultaneous requests", len(results))
	}
	if limitedValid != sessions-20 || passed != len(results)-limitedValid {
		t.Errorf("%d valid logout tokens answered 429 and %d requests served, want %d and %d: the burst is 20", limitedValid, passed, sessions-20, len(results)-(sessions-20))
	}
	if want := int64(limitedValid); e.count("sessions", "") != want {
		t.Errorf("sessions: %d, want %d", e.count("sessions", ""), want)
	}

	// Once the flood is over, a limited logout token is served: a second
	// later the bucket has refilled.
	limits.Advance(time.Second)
	if limitedValid > 0 {
		for i, r := range results[:sessions] {
			if r.status != http.StatusTooManyRequests {
				continue
			}
			deadline := time.Now().Add(faultBound)
			for {
				r, err := post(targets[i].token)
				if err != nil {
					t.Fatal(err)
				}
				if r.status == http.StatusOK {
					break
				}
				if r.status != http.StatusTooManyRequests || time.Now().After(deadline) {
					t.Fatalf("retry of a limited logout token: %d %q", r.status, r.body)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if targets[i].b.session(t) != nil {
				t.Error("the served retry did not end the session")
			}
			targets[i].b.wantSignedOut(t)
			break
		}
	}
}
