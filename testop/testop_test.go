package testop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/gatehouse/gatehouse/testkit"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/testop"
)

const (
	redirectURI   = "http://127.0.0.1:1/callback"
	redirectURI2  = "http://127.0.0.1:1/other-callback"
	postLogoutURI = "http://127.0.0.1:1/signed-out"
	state         = "state-123"
	nonce         = "nonce-456"
)

var (
	basicClient = testop.Client{ID: "basic-app", Secret: "basic-secret", RedirectURIs: []string{redirectURI, redirectURI2},
		PostLogoutRedirectURIs: []string{postLogoutURI}}
	postClient = testop.Client{ID: "post-app", Secret: "post-secret", RedirectURIs: []string{redirectURI},
		TokenEndpointAuthMethod: testop.AuthMethodPost}
	alice = testop.User{Subject: "alice", Email: "alice@example.com", Name: "Alice", EmailVerified: true,
		Extra: map[string]any{"groups": []any{"admins"}}}
	bob = testop.User{Subject: "bob", Email: "bob@example.com", Name: "Bob"}
)

// start runs a provider with the standard clients and users for one test.
func start(t *testing.T, mutate func(*testop.Options)) *testop.Provider {
	t.Helper()
	opts := testop.Options{Clients: []testop.Client{basicClient, postClient}, Users: []testop.User{alice, bob}}
	if mutate != nil {
		mutate(&opts)
	}
	op, err := testop.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { op.Close() })
	op.SetLoginUser(&alice)
	return op
}

// noRedirects returns a client that hands back redirects instead of
// following them, optionally keeping cookies.
func noRedirects(t *testing.T, withJar bool) *http.Client {
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if withJar {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		hc.Jar = jar
	}
	return hc
}

// flow is a relying party built from the real go-oidc and x/oauth2 clients.
type flow struct {
	op       *testop.Provider
	provider *oidc.Provider
	cfg      oauth2.Config
	hc       *http.Client
}

func newFlow(t *testing.T, op *testop.Provider, c testop.Client) *flow {
	t.Helper()
	provider, err := oidc.NewProvider(t.Context(), op.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	// An explicit auth style: x/oauth2's auto-detection retries every failed
	// exchange with the other style, which would hide the real error.
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if c.TokenEndpointAuthMethod == testop.AuthMethodPost {
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	return &flow{op: op, provider: provider, hc: noRedirects(t, true), cfg: oauth2.Config{
		ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: c.RedirectURIs[0],
		Endpoint: endpoint, Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}}
}

// authorize runs the front channel and returns the redirect back to the
// client, failing the test if there is none.
func (f *flow) authorize(t *testing.T, opts ...oauth2.AuthCodeOption) (verifier string, back url.Values) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	opts = append(opts, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	loc := redirectOf(t, f.hc, f.cfg.AuthCodeURL(state, opts...))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != f.cfg.RedirectURL {
		t.Fatalf("redirected to %s, want %s", got, f.cfg.RedirectURL)
	}
	return verifier, loc.Query()
}

// login runs a full code flow with opts and returns the token response.
func (f *flow) login(t *testing.T, opts ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	verifier, back := f.authorize(t, opts...)
	if back.Get("code") == "" {
		t.Fatalf("no code in redirect: %v", back)
	}
	tok, err := f.cfg.Exchange(t.Context(), back.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// verify checks the ID token of tok with go-oidc's verifier.
func (f *flow) verify(t *testing.T, tok *oauth2.Token) (*oidc.IDToken, error) {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		t.Fatalf("token response without id_token")
	}
	return f.provider.Verifier(&oidc.Config{ClientID: f.cfg.ClientID}).Verify(t.Context(), raw)
}

// redirectOf GETs u and returns the Location of the expected 302.
func redirectOf(t *testing.T, hc *http.Client, u string) *url.URL {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302; body: %s", u, resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	return loc
}

// jwtPart decodes part i (0 header, 1 claims) of a compact JWT.
func jwtPart(t *testing.T, raw string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[i])
	if err != nil {
		t.Fatalf("decode JWT part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal JWT part %d: %v", i, err)
	}
	return m
}

func TestCodeFlow(t *testing.T) {
	t.Parallel()
	for _, c := range []testop.Client{basicClient, postClient} {
		t.Run(c.ID, func(t *testing.T) {
			op := start(t, nil)
			f := newFlow(t, op, c)
			verifier, back := f.authorize(t, oauth2.SetAuthURLParam("login_hint", "alice@example.com"))
			if back.Get("state") != state || back.Get("iss") != op.Issuer() {
				t.Fatalf("redirect state=%q iss=%q, want %q and %q", back.Get("state"), back.Get("iss"), state, op.Issuer())
			}
			if got := op.LastAuthorize().Get("login_hint"); got != "alice@example.com" {
				t.Errorf("LastAuthorize login_hint = %q", got)
			}
			tok, err := f.cfg.Exchange(t.Context(), back.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			idt, err := f.verify(t, tok)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			var claims struct {
				Email         string   `json:"email"`
				EmailVerified bool     `json:"email_verified"`
				Name          string   `json:"name"`
				SID           string   `json:"sid"`
				AuthTime      int64    `json:"auth_time"`
				Groups        []string `json:"groups"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if idt.Subject != "alice" || idt.Nonce != nonce || claims.Email != alice.Email || !claims.EmailVerified ||
				claims.Name != "Alice" || claims.SID == "" || claims.AuthTime == 0 || len(claims.Groups) != 1 {
				t.Errorf("unexpected ID token: sub=%q nonce=%q claims=%+v", idt.Subject, idt.Nonce, claims)
			}
			ui, err := f.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if ui.Subject != "alice" || ui.Email != alice.Email || !ui.EmailVerified {
				t.Errorf("userinfo = %+v", ui)
			}
			counts := op.Counts()
			if counts[testop.EndpointToken] < 1 || counts[testop.EndpointUserinfo] != 1 || counts[testop.EndpointAuthorize] != 1 {
				t.Errorf("Counts = %v", counts)
			}
			if c.TokenEndpointAuthMethod == testop.AuthMethodPost && op.LastTokenRequest().Get("client_secret") != c.Secret {
				t.Errorf("client_secret_post: secret not in form")
			}
		})
	}
}

// retrieveError asserts err is an OAuth error response with status and code.
func retrieveError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want *oauth2.RetrieveError", err)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %q (%s), want %d %q", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, status, code)
	}
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		exchange   func(t *testing.T, f *flow, clk *testkit.Clock, code, verifier string) error
		wantStatus int
		wantCode   string
	}{
		{"wrong PKCE verifier", func(t *testing.T, f *flow, _ *testkit.Clock, code, _ string) error {
			_, err := f.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			return err
		}, 400, "invalid_grant"},
		{"missing PKCE verifier", func(t *testing.T, f *flow, _ *testkit.Clock, code, _ string) error {
			_, err := f.cfg.Exchange(t.Context(), code)
			return err
		}, 400, "invalid_grant"},
		{"code reuse", func(t *testing.T, f *flow, _ *testkit.Clock, code, verifier string) error {
			if _, err := f.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); err != nil {
				t.Fatalf("first exchange: %v", err)
			}
			_, err := f.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			return err
		}, 400, "invalid_grant"},
		{"expired code", func(t *testing.T, f *flow, clk *testkit.Clock, code, verifier string) error {
			clk.Advance(testop.CodeTTL + time.Second)
			_, err := f.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			return err
		}, 400, "invalid_grant"},
		{"other redirect_uri", func(t *testing.T, f *flow, _ *testkit.Clock, code, verifier string) error {
			cfg := f.cfg
			cfg.RedirectURL = redirectURI2
			_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			return err
		}, 400, "invalid_grant"},
		{"code of another client", func(t *testing.T, f *flow, _ *testkit.Clock, code, verifier string) error {
			cfg := f.cfg
			cfg.ClientID, cfg.ClientSecret = postClient.ID, postClient.Secret
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			return err
		}, 400, "invalid_grant"},
		{"wrong secret does not burn the code", func(t *testing.T, f *flow, _ *testkit.Clock, code, verifier string) error {
			cfg := f.cfg
			cfg.ClientSecret = "wrong"
			_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			if _, err2 := f.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); err2 != nil {
				t.Errorf("exchange with the right secret after a wrong one: %v", err2)
			}
			return err
		}, 401, "invalid_client"},
		{"secret in form for a basic client", func(t *testing.T, f *flow, _ *testkit.Clock, code, verifier string) error {
			cfg := f.cfg
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			return err
		}, 401, "invalid_client"},
		{"TokenError behaviour", func(t *testing.T, f *flow, _ *testkit.Clock, code, verifier string) error {
			f.op.SetBehavior(testop.Behavior{TokenError: "temporarily_unavailable"})
			_, err := f.cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			return err
		}, 400, "temporarily_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testkit.NewClock(time.Now())
			op := start(t, func(o *testop.Options) { o.Now = clk.Now })
			f := newFlow(t, op, basicClient)
			verifier, back := f.authorize(t)
			retrieveError(t, tt.exchange(t, f, clk, back.Get("code"), verifier), tt.wantStatus, tt.wantCode)
		})
	}
}

func TestAuthorizeErrors(t *testing.T) {
	t.Parallel()
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	valid := url.Values{"response_type": {"code"}, "client_id": {basicClient.ID}, "redirect_uri": {redirectURI},
		"scope": {"openid email"}, "state": {state}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	tests := []struct {
		name     string
		edit     func(q url.Values)
		behavior testop.Behavior
		wantPage bool   // error page instead of a redirect
		wantErr  string // error= in the redirect
	}{
		{name: "unknown client", edit: func(q url.Values) { q.Set("client_id", "nope") }, wantPage: true},
		{name: "unregistered redirect_uri", edit: func(q url.Values) { q.Set("redirect_uri", "http://evil.example/cb") }, wantPage: true},
		{name: "AuthorizeError does not override a bad redirect_uri", edit: func(q url.Values) { q.Set("redirect_uri", redirectURI+"x") },
			behavior: testop.Behavior{AuthorizeError: "access_denied"}, wantPage: true},
		{name: "response_type token", edit: func(q url.Values) { q.Set("response_type", "token") }, wantErr: "unsupported_response_type"},
		{name: "no openid scope", edit: func(q url.Values) { q.Set("scope", "email") }, wantErr: "invalid_scope"},
		{name: "no state", edit: func(q url.Values) { q.Del("state") }, wantErr: "invalid_request"},
		{name: "no PKCE", edit: func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, wantErr: "invalid_request"},
		{name: "plain PKCE", edit: func(q url.Values) { q.Set("code_challenge_method", "plain") }, wantErr: "invalid_request"},
		{name: "prompt=none without session", edit: func(q url.Values) { q.Set("prompt", "none") }, wantErr: "login_required"},
		{name: "AuthorizeError", behavior: testop.Behavior{AuthorizeError: "access_denied", AuthorizeErrorDescription: "nope"},
			wantErr: "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := start(t, nil)
			op.SetBehavior(tt.behavior)
			q := url.Values{}
			for k, v := range valid {
				q[k] = v
			}
			if tt.edit != nil {
				tt.edit(q)
			}
			resp, err := noRedirects(t, false).Get(op.Issuer() + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.wantPage {
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d Location %q, want 400 error page", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("status %d, want redirect: %v", resp.StatusCode, err)
			}
			back := loc.Query()
			wantState := q.Get("state")
			if back.Get("error") != tt.wantErr || back.Get("state") != wantState || back.Get("iss") != op.Issuer() || back.Has("code") {
				t.Fatalf("redirect %s: want error=%s state=%q iss=%s and no code", loc, tt.wantErr, wantState, op.Issuer())
			}
		})
	}
}

func TestIssParameter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		behavior testop.Behavior
		wantIss  []string
	}{
		{"correct", testop.Behavior{}, []string{"ISSUER"}},
		{"omitted", testop.Behavior{OmitIssParam: true}, nil},
		{"wrong", testop.Behavior{IssParam: "http://evil.example"}, []string{"http://evil.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := start(t, nil)
			f := newFlow(t, op, basicClient)
			if !f.providerClaims(t)["authorization_response_iss_parameter_supported"].(bool) {
				t.Fatal("discovery does not advertise RFC 9207 support")
			}
			op.SetBehavior(tt.behavior)
			_, back := f.authorize(t)
			want := strings.Join(tt.wantIss, ",")
			want = strings.ReplaceAll(want, "ISSUER", op.Issuer())
			if got := strings.Join(back["iss"], ","); got != want {
				t.Fatalf("iss = %q, want %q", got, want)
			}
		})
	}
}

// providerClaims returns the raw discovery document.
func (f *flow) providerClaims(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := f.provider.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIDTokenMisbehaviour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		behavior testop.Behavior
		wantErr  string // substring of go-oidc's error; "" = must verify
	}{
		{"correct", testop.Behavior{}, ""},
		{"unknown key type beside the real key", testop.Behavior{JWKSExtraKeys: []map[string]any{testop.UnknownKeyTypeJWK()}}, ""},
		{"alg none", testop.Behavior{SignAlg: "none"}, "malformed jwt"},
		{"HS256 with client secret", testop.Behavior{SignAlg: "HS256"}, "malformed jwt"},
		{"foreign key", testop.Behavior{SignWithForeignKey: true}, "failed to verify"},
		{"kid header changed", testop.Behavior{IDTokenHeader: func(h map[string]any) { h["kid"] = "other" }}, "failed to verify"},
		{"wrong audience", testop.Behavior{IDTokenClaims: func(c map[string]any) { c["aud"] = "someone-else" }}, "expected audience"},
		{"wrong issuer", testop.Behavior{IDTokenClaims: func(c map[string]any) { c["iss"] = "http://evil.example" }}, "different provider"},
		{"expired", testop.Behavior{IDTokenClaims: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }}, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := start(t, nil)
			f := newFlow(t, op, basicClient)
			op.SetBehavior(tt.behavior)
			tok := f.login(t)
			_, err := f.verify(t, tok)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("verify: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("verify error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestTokenResponseShapes(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	f := newFlow(t, op, basicClient)

	op.SetBehavior(testop.Behavior{OmitIDToken: true})
	if tok := f.login(t); tok.Extra("id_token") != nil {
		t.Errorf("OmitIDToken: id_token present")
	}

	stringVerified := alice
	stringVerified.EmailVerified = "true"
	op.SetLoginUser(&stringVerified)
	op.SetBehavior(testop.Behavior{UserinfoClaims: func(c map[string]any) { c["sub"] = "mallory" }})
	tok := f.login(t)
	claims := jwtPart(t, tok.Extra("id_token").(string), 1)
	if claims["email_verified"] != "true" {
		t.Errorf("email_verified = %#v, want the string \"true\"", claims["email_verified"])
	}
	if h := jwtPart(t, tok.Extra("id_token").(string), 0); h["typ"] != "JWT" || h["alg"] != "RS256" || h["kid"] == "" {
		t.Errorf("ID token header = %v", h)
	}
	ui, err := f.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != "mallory" {
		t.Errorf("UserinfoClaims: sub = %q", ui.Subject)
	}

	op.SetLoginUser(&bob) // EmailVerified nil: claim omitted
	if _, ok := jwtPart(t, f.login(t).Extra("id_token").(string), 1)["email_verified"]; ok {
		t.Errorf("email_verified present for nil EmailVerified")
	}

	resp, err := http.Get(op.Issuer() + "/userinfo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo without token: %d, want 401", resp.StatusCode)
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	f := newFlow(t, op, basicClient)
	old := f.login(t)
	if err := op.RotateKey(); err != nil {
		t.Fatal(err)
	}
	f = newFlow(t, op, basicClient) // fresh key cache
	if _, err := f.verify(t, old); err == nil {
		t.Fatal("token signed by the rotated-out key still verifies")
	}
	if _, err := f.verify(t, f.login(t)); err != nil {
		t.Fatalf("token signed by the new key: %v", err)
	}
}

func TestSignJWT(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	f := newFlow(t, op, basicClient)
	now := time.Now()
	claims := map[string]any{"iss": op.Issuer(), "aud": basicClient.ID, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	raw, err := op.SignJWT(nil, claims)
	if err != nil {
		t.Fatal(err)
	}
	v := f.provider.Verifier(&oidc.Config{ClientID: basicClient.ID})
	if _, err := v.Verify(t.Context(), raw); err != nil {
		t.Fatalf("SignJWT token does not verify: %v", err)
	}
	noKid, err := op.SignJWT(map[string]any{"kid": nil, "typ": "at+jwt"}, claims)
	if err != nil {
		t.Fatal(err)
	}
	if h := jwtPart(t, noKid, 0); h["kid"] != nil || h["typ"] != "at+jwt" {
		t.Errorf("header = %v, want no kid and typ at+jwt", h)
	}
}

func TestMetadataMisbehaviour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		behavior testop.Behavior
	}{
		{"down", testop.Behavior{Down: true}},
		{"wrong issuer", testop.Behavior{DiscoveryIssuer: "http://evil.example"}},
		{"HTML", testop.Behavior{Garbage: map[string]testop.Garbage{testop.EndpointDiscovery: testop.GarbageHTML}}},
		{"invalid JSON", testop.Behavior{Garbage: map[string]testop.Garbage{testop.EndpointDiscovery: testop.GarbageInvalidJSON}}},
		{"huge", testop.Behavior{Garbage: map[string]testop.Garbage{testop.EndpointDiscovery: testop.GarbageHuge}, HugeBodyBytes: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := start(t, nil)
			op.SetBehavior(tt.behavior)
			if _, err := oidc.NewProvider(t.Context(), op.Issuer()); err == nil {
				t.Fatal("discovery succeeded against a misbehaving provider")
			}
			op.SetBehavior(testop.Behavior{}) // recovers without restart
			if _, err := oidc.NewProvider(t.Context(), op.Issuer()); err != nil {
				t.Fatalf("discovery after recovery: %v", err)
			}
			if n := op.Counts()[testop.EndpointDiscovery]; n != 2 {
				t.Errorf("discovery count = %d, want 2", n)
			}
		})
	}
}

func TestGarbageBodies(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	for _, g := range []struct {
		kind     testop.Garbage
		wantType string
		wantLen  int
	}{
		{testop.GarbageHTML, "text/html; charset=utf-8", -1},
		{testop.GarbageInvalidJSON, "application/json", -1},
		{testop.GarbageHuge, "application/json", 100_000},
	} {
		op.SetBehavior(testop.Behavior{Garbage: map[string]testop.Garbage{testop.EndpointJWKS: g.kind}, HugeBodyBytes: 100_000})
		resp, err := http.Get(op.Issuer() + "/jwks")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != g.wantType || json.Valid(body) ||
			(g.wantLen >= 0 && len(body) != g.wantLen) {
			t.Errorf("garbage %d: status %d type %q len %d valid JSON %v", g.kind, resp.StatusCode,
				resp.Header.Get("Content-Type"), len(body), json.Valid(body))
		}
	}
}

func TestHang(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	f := newFlow(t, op, basicClient)
	tok := f.login(t)
	op.SetBehavior(testop.Behavior{HangEndpoints: []string{testop.EndpointJWKS}})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	raw := tok.Extra("id_token").(string)
	begin := time.Now()
	if _, err := f.provider.Verifier(&oidc.Config{ClientID: basicClient.ID}).Verify(ctx, raw); err == nil {
		t.Fatal("verify succeeded while JWKS hangs")
	}
	if d := time.Since(begin); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("verify returned after %v, want about the 200ms timeout", d)
	}

	// A handler hung on a client without a timeout must not block Close.
	op.ResetCounts()
	op.SetBehavior(testop.Behavior{Hang: true})
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(op.Issuer() + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); op.Counts()[testop.EndpointDiscovery] == 0; {
		if time.Now().After(deadline) {
			t.Fatal("hung request never reached the provider")
		}
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- op.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close deadlocked on a hung handler")
	}
	if err := <-errc; err == nil {
		t.Error("hung request completed successfully after Close")
	}
	if err := op.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSessionAndLogout(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	f := newFlow(t, op, basicClient)
	tok := f.login(t) // SetLoginUser signs in and starts an IdP session (cookie)
	rawIDToken := tok.Extra("id_token").(string)

	op.SetLoginUser(nil)
	if _, back := f.authorize(t, oauth2.SetAuthURLParam("prompt", "none")); back.Get("code") == "" {
		t.Fatalf("prompt=none with session: %v", back)
	}

	endSession := f.providerClaims(t)["end_session_endpoint"].(string)
	q := url.Values{"id_token_hint": {rawIDToken}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"bye"}}
	loc := redirectOf(t, f.hc, endSession+"?"+q.Encode())
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != postLogoutURI || loc.Query().Get("state") != "bye" {
		t.Fatalf("end_session redirected to %s", loc)
	}
	if got := op.LastEndSession().Get("id_token_hint"); got != rawIDToken {
		t.Errorf("LastEndSession id_token_hint = %q", got)
	}
	if _, back := f.authorize(t, oauth2.SetAuthURLParam("prompt", "none")); back.Get("error") != "login_required" {
		t.Fatalf("prompt=none after logout: %v", back)
	}
}

// TestReuseSession: by default a new authorization request signs the user
// in anew (a fresh auth_time); under ReuseSession the OP answers from its
// existing session, as one that ignores prompt=login and max_age=0 does.
func TestReuseSession(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Now().Truncate(time.Second))
	op := start(t, func(o *testop.Options) { o.Now = clk.Now })
	f := newFlow(t, op, basicClient)
	authTime := func() (int64, string) {
		claims := jwtPart(t, f.login(t, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")).Extra("id_token").(string), 1)
		at, _ := claims["auth_time"].(float64)
		sid, _ := claims["sid"].(string)
		return int64(at), sid
	}
	first, sid := authTime()
	if first != clk.Now().Unix() {
		t.Fatalf("auth_time %d, want now %d", first, clk.Now().Unix())
	}
	clk.Advance(time.Hour)
	if again, againSID := authTime(); again != clk.Now().Unix() || againSID == sid {
		t.Fatalf("prompt=login: auth_time %d sid %q, want a new sign-in at %d", again, againSID, clk.Now().Unix())
	}
	_, sid = authTime()
	clk.Advance(time.Hour)
	op.SetBehavior(testop.Behavior{ReuseSession: true})
	if reused, reusedSID := authTime(); reused != clk.Now().Add(-time.Hour).Unix() || reusedSID != sid {
		t.Fatalf("ReuseSession: auth_time %d sid %q, want the session's %d and %q", reused, reusedSID, clk.Now().Add(-time.Hour).Unix(), sid)
	}
}

func TestEndSessionValidation(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	f := newFlow(t, op, basicClient)
	raw := f.login(t).Extra("id_token").(string)
	forged, err := op.SignJWT(nil, map[string]any{"iss": "http://evil.example", "aud": basicClient.ID, "sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		q          url.Values
		wantStatus int
	}{
		{"no redirect shows page", url.Values{"client_id": {basicClient.ID}}, 200},
		{"client_id and redirect", url.Values{"client_id": {basicClient.ID}, "post_logout_redirect_uri": {postLogoutURI}}, 302},
		{"unregistered redirect", url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"http://evil.example/"}}, 400},
		{"redirect without client", url.Values{"post_logout_redirect_uri": {postLogoutURI}}, 400},
		{"hint for another client", url.Values{"id_token_hint": {raw}, "client_id": {postClient.ID}}, 400},
		{"hint from another issuer", url.Values{"id_token_hint": {forged}}, 400},
		{"garbage hint", url.Values{"id_token_hint": {"a.b.c"}}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := noRedirects(t, false).Get(op.Issuer() + "/end_session?" + tt.q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestDemoPicker(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	op.SetLoginUser(nil)
	f := newFlow(t, op, basicClient)
	verifier := oauth2.GenerateVerifier()
	authURL := f.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "bob@example.com"))
	resp, err := f.hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("picker: status %d CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{`value="alice"`, `value="bob" class="hint"`, `name="code_challenge"`, `name="state" value="` + state} {
		if !strings.Contains(page, want) {
			t.Errorf("picker page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("picker page contains a script")
	}

	loc := postPicker(t, f.hc, op, authURL, "subject", "bob")
	tok, err := f.cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if idt, err := f.verify(t, tok); err != nil || idt.Subject != "bob" {
		t.Fatalf("picked bob, got %v, %v", idt, err)
	}
}

// TestDemoPickerDeny: the picker's Deny button sends the browser back with
// error=access_denied, the state and the issuer, and signs nobody in.
func TestDemoPickerDeny(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	op.SetLoginUser(nil)
	f := newFlow(t, op, basicClient)
	authURL := f.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	resp, err := f.hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `name="deny"`) {
		t.Fatalf("picker page has no Deny button:\n%s", body)
	}
	loc := postPicker(t, f.hc, op, authURL, "deny", "1")
	q := loc.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != state || q.Get("iss") != op.Issuer() || q.Has("code") {
		t.Fatalf("deny redirected to %s", loc)
	}
	if !strings.HasPrefix(loc.String(), redirectURI) {
		t.Fatalf("deny redirected to %s, want the registered %s", loc, redirectURI)
	}
}

// TestHomePage: the root URL says what the provider is and who can sign in.
func TestHomePage(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	resp, err := http.Get(op.Issuer() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{op.Issuer(), "alice@example.com", "bob@example.com", "Deny", "access_denied"} {
		if !strings.Contains(page, want) {
			t.Errorf("home page lacks %q:\n%s", want, page)
		}
	}
	resp, err = http.Get(op.Issuer() + "/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %d, want 404", resp.StatusCode)
	}
}

func TestDynamicRegistration(t *testing.T) {
	t.Parallel()
	const iat = "initial-token"
	op := start(t, func(o *testop.Options) { o.InitialAccessToken = iat })
	good := map[string]any{"redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "client_secret_post",
		"client_name": "Registered", "backchannel_logout_uri": "http://127.0.0.1:1/bcl"}
	tests := []struct {
		name       string
		token      string
		md         map[string]any
		wantStatus int
		wantError  string
	}{
		{"no initial access token", "", good, 401, "invalid_token"},
		{"wrong initial access token", "nope", good, 401, "invalid_token"},
		{"no redirect_uris", iat, map[string]any{"client_name": "x"}, 400, "invalid_redirect_uri"},
		{"fragment in redirect", iat, map[string]any{"redirect_uris": []string{"http://a.example/cb#x"}}, 400, "invalid_redirect_uri"},
		{"unsupported auth method", iat, map[string]any{"redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "private_key_jwt"}, 400, "invalid_client_metadata"},
		{"implicit grant", iat, map[string]any{"redirect_uris": []string{redirectURI}, "grant_types": []string{"implicit"}}, 400, "invalid_client_metadata"},
		{"valid", iat, good, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := registerClient(t, op, tt.token, tt.md)
			if status != tt.wantStatus || (tt.wantError != "" && out["error"] != tt.wantError) {
				t.Fatalf("status %d body %v, want %d %q", status, out, tt.wantStatus, tt.wantError)
			}
			if status != 201 {
				return
			}
			if out["client_id"] == "" || out["client_secret"] == "" || out["client_secret_expires_at"] != 0.0 ||
				out["client_name"] != "Registered" || out["token_endpoint_auth_method"] != "client_secret_post" {
				t.Fatalf("registration response = %v", out)
			}
			clients := op.RegisteredClients()
			c := clients[len(clients)-1]
			if len(clients) != 3 || c.ID != out["client_id"] || c.BackchannelLogoutURI != "http://127.0.0.1:1/bcl" {
				t.Fatalf("RegisteredClients = %+v", clients)
			}
			f := newFlow(t, op, c)
			if _, err := f.verify(t, f.login(t)); err != nil {
				t.Fatalf("flow with registered client: %v", err)
			}
		})
	}
}

func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	op := start(t, nil)
	provider, err := oidc.NewProvider(t.Context(), op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "bcl-app"})
	got := make(chan *oidc.LogoutToken, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lt, err := verifier.VerifyLogout(r.Context(), r.PostFormValue("logout_token"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- lt
	}))
	defer rp.Close()

	status, out := registerClient(t, op, "", map[string]any{"redirect_uris": []string{redirectURI}, "backchannel_logout_uri": rp.URL})
	if status != 201 {
		t.Fatalf("register: %d %v", status, out)
	}
	clientID := out["client_id"].(string)
	verifier = provider.Verifier(&oidc.Config{ClientID: clientID})

	raw, err := op.LogoutToken(clientID, "alice", "sid-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if h := jwtPart(t, raw, 0); h["typ"] != "logout+jwt" {
		t.Errorf("logout token typ = %v", h["typ"])
	}
	tests := []struct {
		name       string
		mutate     func(map[string]any)
		wantStatus int
	}{
		{"valid", nil, 200},
		{"with nonce", func(c map[string]any) { c["nonce"] = "n" }, 400},
		{"without event", func(c map[string]any) { delete(c, "events") }, 400},
		{"wrong audience", func(c map[string]any) { c["aud"] = "other" }, 400},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, err := op.SendBackchannelLogout(t.Context(), clientID, "alice", "sid-1", tt.mutate)
			if err != nil || status != tt.wantStatus {
				t.Fatalf("status %d err %v, want %d", status, err, tt.wantStatus)
			}
			if status != 200 {
				return
			}
			lt := <-got
			if lt.Subject != "alice" || lt.SessionID != "sid-1" || lt.TokenID == "" || lt.Expiry.Sub(lt.IssuedAt) != 2*time.Minute {
				t.Errorf("logout token = %+v", lt)
			}
		})
	}
}

// registerClient POSTs client metadata to /register, with an initial access
// token unless token is empty.
func registerClient(t *testing.T, op *testop.Provider, token string, md map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(md)
	req, _ := http.NewRequest(http.MethodPost, op.Issuer()+"/register", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode registration response: %v", err)
	}
	return resp.StatusCode, out
}

// postPicker submits the sign-in page of the authorization request authURL
// with one extra field (a picked subject, or deny) and returns where the
// provider redirects.
func postPicker(t *testing.T, hc *http.Client, op *testop.Provider, authURL, field, value string) *url.URL {
	t.Helper()
	form, _ := url.ParseQuery(strings.SplitN(authURL, "?", 2)[1])
	form.Set(field, value)
	resp, err := hc.PostForm(op.Issuer()+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("post the sign-in page with %s: status %d", field, resp.StatusCode)
	}
	return loc
}
