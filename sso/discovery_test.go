package sso

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// failTransport fails the test on any outbound request.
type failTransport struct{ t *testing.T }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("unexpected request to %s", r.URL)
	return nil, errors.New("no network in this test")
}

func TestNewProviderMakesNoRequest(t *testing.T) {
	t.Parallel()
	cfg := ProviderConfig{
		ID: "x", Issuer: "https://idp.invalid", ClientID: "c", ClientSecret: "s",
		RedirectURL: "https://app.example.com/cb",
	}
	dyn := cfg
	dyn.ClientID, dyn.ClientSecret, dyn.Registration = "", "", &RegistrationConfig{}
	for _, c := range []ProviderConfig{cfg, dyn} {
		_, err := NewProvider(c, Options{HTTPClient: &http.Client{Transport: failTransport{t}}, Registrations: newMemRegistrations()})
		if err != nil {
			t.Fatalf("NewProvider: %v", err)
		}
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		issuer func(op *testOP) string
	}{
		{"trailing slash", func(op *testOP) string { return op.issuer() + "/" }},
		{"other host", func(op *testOP) string { return "https://evil.example.com" }},
		{"missing", func(op *testOP) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.set(func(op *testOP) { op.discovery["issuer"] = tt.issuer(op) })
			_, err := newTestProvider(t, op).AuthCodeURL(context.Background(), AuthOptions{})
			if !errors.Is(err, ErrIssuerMismatch) {
				t.Fatalf("AuthCodeURL error = %v, want ErrIssuerMismatch", err)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("issuer mismatch reported as unavailable: %v", err)
			}
		})
	}
}

func TestStaticMetadataMakesNoDiscoveryRequest(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	op.issue(op.claims())
	iss := op.issuer()
	p := newTestProvider(t, op, func(c *ProviderConfig, _ *Options) {
		c.Issuer = ""
		c.Metadata = &Metadata{
			Issuer:                iss,
			AuthorizationEndpoint: iss + "/authorize",
			TokenEndpoint:         iss + "/token",
			JWKSURI:               iss + "/jwks",
			EndSessionEndpoint:    iss + "/logout",
		}
	})
	ctx := context.Background()
	if _, err := p.AuthCodeURL(ctx, AuthOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := exchange(p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.EndSessionURL(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyLogoutToken(ctx, op.sign(op.logoutClaims())); err != nil {
		t.Fatal(err)
	}
	if n := op.hitCount("/.well-known/openid-configuration"); n != 0 {
		t.Errorf("static metadata made %d discovery requests", n)
	}
	if n := op.hitCount("/userinfo"); n != 0 {
		t.Errorf("userinfo called %d times without a userinfo endpoint", n)
	}
}

// TestDiscoveryBackoff: a failing OP is retried only after an exponentially
// growing wait (on the injected clock), and a success is cached.
func TestDiscoveryBackoff(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	var mu sync.Mutex
	down := true
	op.handle("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		op.mu.Lock()
		doc := op.discovery
		op.mu.Unlock()
		writeJSON(w, http.StatusOK, doc)
	})
	p := newTestProvider(t, op)
	ctx := context.Background()
	steps := []struct {
		advance   time.Duration
		up        bool
		wantHits  int
		wantError bool
	}{
		{0, false, 1, true},                      // first use: request, fails, retry in 1s
		{0, false, 1, true},                      // immediately again: no request
		{999 * time.Millisecond, false, 1, true}, // still inside 1s
		{time.Millisecond, false, 2, true},       // 1s passed: request, fails, retry in 2s
		{time.Second, false, 2, true},            // inside 2s
		{time.Second, false, 3, true},            // 2s passed: retry in 4s
		{3 * time.Second, true, 3, true},         // OP is back, but we wait the 4s out
		{time.Second, true, 4, false},            // recovers
		{time.Hour, true, 4, false},              // cached: no more discovery
	}
	for i, s := range steps {
		op.clock.Advance(s.advance)
		mu.Lock()
		down = !s.up
		mu.Unlock()
		_, err := p.AuthCodeURL(ctx, AuthOptions{})
		if s.wantError != (err != nil) {
			t.Fatalf("step %d: error = %v, want error %v", i, err, s.wantError)
		}
		if err != nil && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("step %d: error %v is not ErrUnavailable", i, err)
		}
		if n := op.hitCount("/.well-known/openid-configuration"); n != s.wantHits {
			t.Fatalf("step %d: %d discovery requests, want %d", i, n, s.wantHits)
		}
	}
}

func TestBackoffSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {5, 16 * time.Second},
		{6, 30 * time.Second}, {7, 30 * time.Second}, {100, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := backoff(tt.failures); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

// TestConcurrentFirstUseDiscoversOnce: requests racing on a cold provider
// share one discovery.
func TestConcurrentFirstUseDiscoversOnce(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := p.AuthCodeURL(context.Background(), AuthOptions{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := op.hitCount("/.well-known/openid-configuration"); n != 1 {
		t.Errorf("%d discovery requests, want 1", n)
	}
}

// TestDiscoveryUnusableDocument: whatever the discovery endpoint returns
// that is not valid metadata is ErrUnavailable.
func TestDiscoveryUnusableDocument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler func(op *testOP) http.HandlerFunc
	}{
		{"HTML", func(op *testOP) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<!doctype html><title>Sign in</title>"))
			}
		}},
		{"not an object", func(op *testOP) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`["issuer"]`)) }
		}},
		{"wrong types", func(op *testOP) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"issuer": 5}`)) }
		}},
		{"missing jwks_uri", func(op *testOP) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, map[string]any{
					"issuer": op.issuer(), "authorization_endpoint": op.issuer() + "/a", "token_endpoint": op.issuer() + "/t",
				})
			}
		}},
		{"only symmetric algorithms", func(op *testOP) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				doc := map[string]any{}
				op.mu.Lock()
				for k, v := range op.discovery {
					doc[k] = v
				}
				op.mu.Unlock()
				doc["id_token_signing_alg_values_supported"] = []string{"HS256", "none"}
				writeJSON(w, http.StatusOK, doc)
			}
		}},
		{"not found", func(op *testOP) http.HandlerFunc { return http.NotFound }},
		{"10 MB", func(op *testOP) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"issuer": "` + op.issuer() + `", "x": "`))
				writeBytes(w, 10<<20)
				w.Write([]byte(`"}`))
			}
		}},
		{"10 MB declared", func(op *testOP) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10485760")
				writeBytes(w, 10<<20)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.handle("/.well-known/openid-configuration", tt.handler(op))
			_, err := newTestProvider(t, op).AuthCodeURL(context.Background(), AuthOptions{})
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("error = %v, want ErrUnavailable", err)
			}
		})
	}
}

// TestOversizeBodyBoundedMemory: a 10 MB discovery document fails without
// reading it all: allocations stay far below its size. It is not
// parallel: it measures the whole process's allocations.
func TestOversizeBodyBoundedMemory(t *testing.T) {
	op := newTestOP(t, newFakeClock())
	const size = 10 << 20
	op.handle("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"issuer": "` + op.issuer() + `", "x": "`))
		writeBytes(w, size)
		w.Write([]byte(`"}`))
	})
	p := newTestProvider(t, op) // default MaxResponseBytes: 1 MiB

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := p.AuthCodeURL(context.Background(), AuthOptions{})
	runtime.ReadMemStats(&after)

	var tooLarge *tooLargeError
	if !errors.As(err, &tooLarge) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error = %v, want a too-large ErrUnavailable", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/2 {
		t.Errorf("allocated %d bytes for a %d byte body capped at %d", alloc, size, DefaultMaxResponseBytes)
	}
}

func TestLimitedBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"under the limit", 999, false},
		{"at the limit", 1000, false},
		{"one byte over", 1001, true},
		{"far over", 100000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.handle("/blob", func(w http.ResponseWriter, r *http.Request) {
				w.(http.Flusher).Flush() // force chunked: no Content-Length shortcut
				writeBytes(w, tt.size)
			})
			client := newHTTPClient(op.srv.Client(), time.Second, 1000)
			req, _ := http.NewRequest(http.MethodGet, op.issuer()+"/blob", nil)
			r, err := do(context.Background(), client, req, "blob")
			if tt.wantErr {
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("error = %v, want ErrUnavailable", err)
				}
				return
			}
			if err != nil || len(r.body) != tt.size {
				t.Fatalf("got %d bytes, %v; want %d", len(r.body), err, tt.size)
			}
		})
	}
}

// TestJWKSUnusable: an unusable key set is ErrUnavailable, not a bad token,
// also when a back-channel token is refused a refetch by the rate limit.
func TestJWKSUnusable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }},
		{"HTML", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html></html>")) }},
		{"no keys member", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"kids": []}`)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.issue(op.claims())
			op.handle("/jwks", tt.handler)
			p := newTestProvider(t, op)
			if _, err := exchange(p); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("error = %v, want ErrUnavailable", err)
			}
			// A sign-in asks again (its token comes from the OP itself).
			if _, err := exchange(p); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("second error = %v, want ErrUnavailable", err)
			}
			if n := op.hitCount("/jwks"); n != 2 {
				t.Errorf("%d JWKS requests, want 2", n)
			}
			// A logout token within the refetch interval does not: the
			// failure is remembered and still reported as unavailability.
			if _, err := p.VerifyLogoutToken(context.Background(), op.sign(op.logoutClaims())); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("logout token error = %v, want ErrUnavailable", err)
			}
			if n := op.hitCount("/jwks"); n != 2 {
				t.Errorf("%d JWKS requests after the logout token, want 2", n)
			}
		})
	}
}

// TestKeyRefetchRateLimited: tokens with unknown kids (anyone can POST
// logout tokens) cause at most one JWKS fetch per interval.
func TestKeyRefetchRateLimited(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op)
	ctx := context.Background()
	if _, err := p.VerifyLogoutToken(ctx, op.sign(op.logoutClaims())); err != nil {
		t.Fatal(err)
	}
	_, foreign := testKeys()
	forged := func(kid string) string {
		return signJWT(t, op.logoutClaims(), jwtOptions{key: foreign, kid: kid})
	}
	for i := range 10 {
		if _, err := p.VerifyLogoutToken(ctx, forged("kid-"+string(rune('a'+i)))); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("forged token accepted or wrong error: %v", err)
		}
	}
	if n := op.hitCount("/jwks"); n != 1 {
		t.Fatalf("%d JWKS requests within the interval, want 1", n)
	}

	// Key rotation: after the interval, a new kid triggers one refetch.
	op.clock.Advance(minKeyRefetchInterval)
	newKey := op.key // same key under a new kid, published by the OP
	op.set(func(op *testOP) {
		op.jwks = jwksJSON(t, jwkOf(newKey, "key-2"))
	})
	claims := op.logoutClaims()
	claims["jti"] = "jti-rotated"
	if _, err := p.VerifyLogoutToken(ctx, signJWT(t, claims, jwtOptions{kid: "key-2"})); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	for i := range 5 {
		p.VerifyLogoutToken(ctx, forged("other-"+string(rune('a'+i))))
	}
	if n := op.hitCount("/jwks"); n != 2 {
		t.Errorf("%d JWKS requests, want 2", n)
	}
}

// TestRedirects: GETs (discovery, JWKS) may be redirected; POSTs carrying
// the code and client secret may not.
func TestRedirects(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	op.issue(op.claims())
	op.set(func(op *testOP) { op.discovery["jwks_uri"] = op.issuer() + "/old-jwks" })
	op.handle("/old-jwks", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jwks", http.StatusMovedPermanently)
	})
	if _, err := exchange(newTestProvider(t, op)); err != nil {
		t.Fatalf("Exchange with redirected jwks_uri: %v", err)
	}
	if op.hitCount("/old-jwks") != 1 || op.hitCount("/jwks") != 1 {
		t.Errorf("jwks hits: old %d, new %d", op.hitCount("/old-jwks"), op.hitCount("/jwks"))
	}

	op.handle("/token", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	if _, err := exchange(newTestProvider(t, op)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Exchange with redirecting token endpoint: %v, want ErrUnavailable", err)
	}
	if n := op.hitCount("/elsewhere"); n != 0 {
		t.Errorf("token request followed a redirect (%d hits)", n)
	}
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	m, err := Discover(context.Background(), nil, op.issuer())
	if err != nil {
		t.Fatal(err)
	}
	if m.Issuer != op.issuer() || m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" || m.JWKSURI == "" {
		t.Fatalf("metadata = %+v", m)
	}
	if _, err := Discover(context.Background(), nil, op.issuer()+"/"); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("trailing slash: %v, want ErrIssuerMismatch", err)
	}
	var ce *ConfigError
	for _, bad := range []string{"", "not a url", "http://idp.example.com", "https://idp.example.com?x=1", "ftp://idp.example.com"} {
		if _, err := Discover(context.Background(), nil, bad); !errors.As(err, &ce) || ce.Key != "issuer" {
			t.Errorf("Discover(%q) = %v, want a ConfigError on issuer", bad, err)
		}
	}
	if _, err := Discover(context.Background(), nil, "http://127.0.0.1:9/none"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("nobody answering: %v, want ErrUnavailable", err)
	}
	if op.hitCount(WellKnownPath) != 2 {
		t.Errorf("discovery requests = %d, want 2", op.hitCount(WellKnownPath))
	}
}

func TestSuggestID(t *testing.T) {
	t.Parallel()
	for issuer, want := range map[string][2]string{
		"https://login.acme.com":                      {"acme", "Acme"},
		"https://accounts.google.com":                 {"google", "Google"},
		"https://dev-123.okta.com/oauth2/default":     {"okta", "Okta"},
		"https://auth.example.co.uk/realms/staff":     {"example", "Example"},
		"https://Login.Big_Corp.example:8443":         {"big_corp", "Big_corp"},
		"https://idp":                                 {"sso", "SSO"},
		"http://127.0.0.1:5556/dex":                   {"dex", "Dex"},
		"http://localhost:8080/realms/My Realm":       {"my-realm", "My-realm"},
		"http://[::1]:9":                              {"sso", "SSO"},
		"https://xn--bcher-kva.example/":              {"xn--bcher-kva", "Xn--bcher-kva"},
		"https://login.microsoftonline.com/tenant/v2": {"microsoftonline", "Microsoftonline"},
	} {
		id, name := SuggestID(issuer)
		if id != want[0] || name != want[1] {
			t.Errorf("SuggestID(%q) = %q, %q, want %q, %q", issuer, id, name, want[0], want[1])
		}
		if _, err := (ProviderConfig{ID: id, Issuer: "https://x.example", ClientID: "c", ClientSecret: "s"}).Normalize("https://gh.example"); err != nil {
			t.Errorf("SuggestID(%q) id %q does not normalize: %v", issuer, id, err)
		}
	}
}
