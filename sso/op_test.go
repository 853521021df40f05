package sso

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"github.com/gatehouse/gatehouse/testkit"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// This file is a minimal OpenID Provider for tests: discovery, JWKS, token,
// userinfo and registration endpoints on an httptest server bound to
// 127.0.0.1, with knobs to make each endpoint misbehave.

const (
	testClientID     = "client-1"
	testClientSecret = "secret-1-0123456789abcdefghijklmnopqrstuvwxyz"
	testNonce        = "nonce-0123456789"
	testVerifier     = "verifier-0123456789-0123456789-0123456789-01"
	testCode         = "code-1"
	testAccessToken  = "access-token-1"
	testSubject      = "user-1"
	testKID          = "key-1"
)

// testKeys are generated once per test binary: RSA key generation is slow
// under -race. They are never modified.
var testKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	op, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return op, foreign
})

// newFakeClock starts in the past, so code that consults the real clock
// instead of Options.Now sees every test token as expired.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC))
}

// testOP is the fake OpenID Provider.
type testOP struct {
	t     *testing.T
	srv   *httptest.Server
	clock *testkit.Clock
	key   *rsa.PrivateKey

	mu         sync.Mutex
	hits       map[string]int
	handlers   map[string]http.HandlerFunc // per-path overrides
	discovery  map[string]any
	jwks       []byte // JWKS document; default: the public key of key
	idToken    string // id_token returned by the token endpoint
	tokenExtra map[string]any
	userinfo   map[string]any
	tokenForms []url.Values
	tokenAuth  []string
	regBodies  []map[string]any
	regAuth    []string
	deleted    []string
	nextClient int
}

// newTestOP starts a fake OP; it is closed when the test ends.
func newTestOP(t *testing.T, clock *testkit.Clock) *testOP {
	t.Helper()
	key, _ := testKeys()
	op := &testOP{t: t, clock: clock, key: key, hits: map[string]int{}, handlers: map[string]http.HandlerFunc{}}
	op.srv = httptest.NewServer(op)
	t.Cleanup(op.srv.Close)
	iss := op.srv.URL
	op.discovery = map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"userinfo_endpoint":                     iss + "/userinfo",
		"jwks_uri":                              iss + "/jwks",
		"end_session_endpoint":                  iss + "/logout",
		"registration_endpoint":                 iss + "/register",
		"id_token_signing_alg_values_supported": []string{"RS256", "HS256", "none"},
	}
	op.jwks = jwksJSON(t, jose.JSONWebKey{Key: key.Public(), KeyID: testKID, Algorithm: "RS256", Use: "sig"})
	op.userinfo = map[string]any{"sub": testSubject, "email": "userinfo@example.com", "email_verified": true, "name": "From Userinfo"}
	return op
}

// issuer returns the OP's issuer identifier.
func (op *testOP) issuer() string { return op.srv.URL }

// hitCount returns how many requests a path received.
func (op *testOP) hitCount(path string) int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.hits[path]
}

// set runs f with the OP locked, to change its behaviour.
func (op *testOP) set(f func(op *testOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

// handle overrides the handler of one path.
func (op *testOP) handle(path string, h http.HandlerFunc) {
	op.set(func(op *testOP) { op.handlers[path] = h })
}

// ServeHTTP implements http.Handler.
func (op *testOP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	op.hits[r.URL.Path]++
	h := op.handlers[r.URL.Path]
	op.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	switch {
	case r.URL.Path == "/.well-known/openid-configuration":
		op.mu.Lock()
		doc := op.discovery
		op.mu.Unlock()
		writeJSON(w, http.StatusOK, doc)
	case r.URL.Path == "/jwks":
		op.mu.Lock()
		body := op.jwks
		op.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	case r.URL.Path == "/token":
		op.serveToken(w, r)
	case r.URL.Path == "/userinfo":
		op.serveUserinfo(w, r)
	case r.URL.Path == "/register":
		op.serveRegister(w, r)
	case strings.HasPrefix(r.URL.Path, "/register/") && r.Method == http.MethodDelete:
		op.mu.Lock()
		op.deleted = append(op.deleted, strings.TrimPrefix(r.URL.Path, "/register/"))
		op.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// serveToken is the token endpoint (OIDC Core §3.1.3.1). It insists on the
// test code and PKCE verifier and records how the client authenticated.
func (op *testOP) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	op.mu.Lock()
	op.tokenForms = append(op.tokenForms, r.PostForm)
	op.tokenAuth = append(op.tokenAuth, r.Header.Get("Authorization"))
	resp := map[string]any{"access_token": testAccessToken, "token_type": "Bearer", "expires_in": 300, "id_token": op.idToken}
	for k, v := range op.tokenExtra {
		resp[k] = v
	}
	op.mu.Unlock()
	if r.PostForm.Get("code") != testCode || r.PostForm.Get("code_verifier") != testVerifier {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// serveUserinfo is the UserInfo endpoint (OIDC Core §5.3).
func (op *testOP) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testAccessToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	op.mu.Lock()
	info := op.userinfo
	op.mu.Unlock()
	writeJSON(w, http.StatusOK, info)
}

// serveRegister is the registration endpoint (RFC 7591 §3).
func (op *testOP) serveRegister(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_client_metadata"})
		return
	}
	op.mu.Lock()
	op.regBodies = append(op.regBodies, body)
	op.regAuth = append(op.regAuth, r.Header.Get("Authorization"))
	op.nextClient++
	id := "dyn-client-" + strconv.Itoa(op.nextClient)
	op.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"client_id":                  id,
		"client_secret":              "dyn-secret-" + id,
		"registration_access_token":  "rat-" + id,
		"registration_client_uri":    op.issuer() + "/register/" + id,
		"token_endpoint_auth_method": body["token_endpoint_auth_method"],
		"redirect_uris":              body["redirect_uris"],
	})
}

// claims returns valid ID token claims for the test client and nonce.
func (op *testOP) claims() map[string]any {
	now := op.clock.Now()
	return map[string]any{
		"iss":            op.issuer(),
		"sub":            testSubject,
		"aud":            testClientID,
		"exp":            now.Add(5 * time.Minute).Unix(),
		"iat":            now.Unix(),
		"auth_time":      now.Add(-time.Minute).Unix(),
		"nonce":          testNonce,
		"email":          "  Alice@Example.COM ",
		"email_verified": true,
		"name":           "Alice",
		"sid":            "session-1",
	}
}

// logoutClaims returns valid logout token claims (Back-Channel §2.4).
func (op *testOP) logoutClaims() map[string]any {
	now := op.clock.Now()
	return map[string]any{
		"iss":    op.issuer(),
		"sub":    testSubject,
		"aud":    testClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    "jti-1",
		"sid":    "session-1",
		"events": map[string]any{backchannelLogoutEvent: map[string]any{}},
	}
}

// sign signs claims with the OP key as RS256 with the test kid.
func (op *testOP) sign(claims map[string]any) string {
	return signJWT(op.t, claims, jwtOptions{})
}

// issue makes the token endpoint return an ID token with these claims.
func (op *testOP) issue(claims map[string]any) {
	tok := op.sign(claims)
	op.set(func(op *testOP) { op.idToken = tok })
}

// jwtOptions selects how signJWT signs.
type jwtOptions struct {
	alg jose.SignatureAlgorithm // default RS256; "none" for an unsigned JWT
	key any                     // default: the OP key
	kid string                  // default testKID; "-" for none
	typ string                  // typ header, if any
}

// signJWT produces a compact JWS of claims.
func signJWT(t *testing.T, claims map[string]any, o jwtOptions) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	if o.alg == "" {
		o.alg = jose.RS256
	}
	if o.kid == "" {
		o.kid = testKID
	}
	if o.kid == "-" {
		o.kid = ""
	}
	if o.alg == "none" {
		header := map[string]any{"alg": "none"}
		if o.typ != "" {
			header["typ"] = o.typ
		}
		h, _ := json.Marshal(header)
		return b64(h) + "." + b64(payload) + "."
	}
	if o.key == nil {
		o.key, _ = testKeys()
	}
	opts := &jose.SignerOptions{}
	if o.typ != "" {
		opts = opts.WithType(jose.ContentType(o.typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: o.alg, Key: jose.JSONWebKey{Key: o.key, KeyID: o.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksJSON encodes public keys as a JWK Set.
func jwksJSON(t *testing.T, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// testConfig is a valid discovery-mode config for op.
func testConfig(op *testOP) ProviderConfig {
	return ProviderConfig{
		ID:                    "test",
		Name:                  "Test OP",
		Issuer:                op.issuer(),
		ClientID:              testClientID,
		ClientSecret:          testClientSecret,
		RedirectURL:           "https://app.example.com/sso/test/callback",
		PostLogoutRedirectURL: "https://app.example.com/signed-out",
		BackchannelLogoutURL:  "https://app.example.com/sso/test/backchannel",
		EmailDomains:          []string{"example.com"},
		Timeout:               5 * time.Second,
	}
}

// testOptions wires the provider to op's client and clock.
func testOptions(op *testOP) Options {
	return Options{
		HTTPClient: op.srv.Client(),
		Now:        op.clock.Now,
		Replays:    newMemReplays(),
	}
}

// newTestProvider creates a provider for op, letting the test adjust the
// config first.
func newTestProvider(t *testing.T, op *testOP, adjust ...func(*ProviderConfig, *Options)) *Provider {
	t.Helper()
	cfg, opts := testConfig(op), testOptions(op)
	for _, f := range adjust {
		f(&cfg, &opts)
	}
	p, err := NewProvider(cfg, opts)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return p
}

// exchange runs Exchange with the test code and pending request.
func exchange(p *Provider) (*Identity, error) {
	return p.Exchange(context.Background(), CallbackParams{Code: testCode}, Pending{Nonce: testNonce, CodeVerifier: testVerifier})
}

// memReplays is an in-memory ReplayStore.
type memReplays struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newMemReplays() *memReplays { return &memReplays{seen: map[string]time.Time{}} }

func (m *memReplays) Remember(_ context.Context, issuer, jti string, expiresAt time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := issuer + "\x00" + jti
	if _, ok := m.seen[key]; ok {
		return false, nil
	}
	m.seen[key] = expiresAt
	return true, nil
}

// memRegistrations is an in-memory RegistrationStore. With forgetful set,
// Registration always reports none, simulating a race between replicas.
type memRegistrations struct {
	mu        sync.Mutex
	regs      map[string]*ClientRegistration
	forgetful bool
}

func newMemRegistrations() *memRegistrations {
	return &memRegistrations{regs: map[string]*ClientRegistration{}}
}

func (m *memRegistrations) Registration(_ context.Context, providerID, issuer string) (*ClientRegistration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.forgetful {
		return nil, nil
	}
	return m.regs[providerID+"\x00"+issuer], nil
}

func (m *memRegistrations) SaveRegistration(_ context.Context, reg *ClientRegistration) (*ClientRegistration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := reg.ProviderID + "\x00" + reg.Issuer
	if existing, ok := m.regs[key]; ok {
		return existing, nil
	}
	m.regs[key] = reg
	return reg, nil
}

// atHash computes the at_hash of an access token for RS256 (OIDC Core
// §3.1.3.6).
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64(sum[:16])
}

// jwkOf is the public JWK of key under kid.
func jwkOf(key *rsa.PrivateKey, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: "RS256", Use: "sig"}
}
