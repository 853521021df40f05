package sso

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestNewProviderValidation(t *testing.T) {
	t.Parallel()
	valid := func() ProviderConfig {
		return ProviderConfig{
			ID: "corp", Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s",
			RedirectURL: "https://app.example.com/cb",
		}
	}
	static := &Metadata{
		Issuer:                "https://idp.example.com",
		AuthorizationEndpoint: "https://idp.example.com/auth",
		TokenEndpoint:         "https://idp.example.com/token",
		JWKSURI:               "https://idp.example.com/jwks",
	}
	tests := []struct {
		name   string
		mutate func(c *ProviderConfig)
		ok     bool
	}{
		{"valid", func(c *ProviderConfig) {}, true},
		{"loopback http issuer", func(c *ProviderConfig) { c.Issuer = "http://127.0.0.1:5556/dex" }, true},
		{"static metadata", func(c *ProviderConfig) { c.Issuer, c.Metadata = "", static }, true},
		{"dynamic registration", func(c *ProviderConfig) { c.ClientID, c.ClientSecret, c.Registration = "", "", &RegistrationConfig{} }, true},
		{"post auth method", func(c *ProviderConfig) { c.TokenEndpointAuthMethod = AuthMethodPost }, true},
		{"missing id", func(c *ProviderConfig) { c.ID = "" }, false},
		{"missing issuer", func(c *ProviderConfig) { c.Issuer = "" }, false},
		{"http issuer", func(c *ProviderConfig) { c.Issuer = "http://idp.example.com" }, false},
		{"issuer with query", func(c *ProviderConfig) { c.Issuer = "https://idp.example.com?tenant=1" }, false},
		{"relative issuer", func(c *ProviderConfig) { c.Issuer = "idp.example.com" }, false},
		{"static metadata of another issuer", func(c *ProviderConfig) { c.Metadata = static; c.Issuer = "https://other.example.com" }, false},
		{"static metadata without jwks", func(c *ProviderConfig) {
			m := *static
			m.JWKSURI = ""
			c.Issuer, c.Metadata = "", &m
		}, false},
		{"static metadata with http endpoint", func(c *ProviderConfig) {
			m := *static
			m.TokenEndpoint = "http://idp.example.com/token"
			c.Issuer, c.Metadata = "", &m
		}, false},
		{"static metadata with only HS256", func(c *ProviderConfig) {
			m := *static
			m.IDTokenSigningAlgs = []string{"HS256"}
			c.Issuer, c.Metadata = "", &m
		}, false},
		{"no client", func(c *ProviderConfig) { c.ClientID = "" }, false},
		{"no secret", func(c *ProviderConfig) { c.ClientSecret = "" }, false},
		{"client and registration", func(c *ProviderConfig) { c.Registration = &RegistrationConfig{} }, false},
		{"auth method auto", func(c *ProviderConfig) { c.TokenEndpointAuthMethod = "auto" }, false},
		{"auth method none", func(c *ProviderConfig) { c.TokenEndpointAuthMethod = "none" }, false},
		{"no redirect", func(c *ProviderConfig) { c.RedirectURL = "" }, false},
		{"relative redirect", func(c *ProviderConfig) { c.RedirectURL = "/cb" }, false},
		{"scopes without openid", func(c *ProviderConfig) { c.Scopes = []string{"email"} }, false},
		{"bad email domain", func(c *ProviderConfig) { c.EmailDomains = []string{"a@b"} }, false},
		{"bad max_age", func(c *ProviderConfig) { c.AuthParams = map[string]string{"max_age": "soon"} }, false},
		{"negative timeout", func(c *ProviderConfig) { c.Timeout = -time.Second }, false},
	}
	for _, name := range []string{"state", "nonce", "code_challenge", "code_challenge_method", "redirect_uri",
		"client_id", "response_type", "scope", "response_mode", "request", "request_uri"} {
		tests = append(tests, struct {
			name   string
			mutate func(c *ProviderConfig)
			ok     bool
		}{"auth param " + name, func(c *ProviderConfig) { c.AuthParams = map[string]string{name: "x"} }, false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			p, err := NewProvider(cfg, Options{Registrations: newMemRegistrations()})
			if tt.ok {
				if err != nil || p == nil {
					t.Fatalf("NewProvider: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("NewProvider error = %v, want ErrConfig", err)
			}
		})
	}
}

func TestNewProviderDefaults(t *testing.T) {
	t.Parallel()
	p, err := NewProvider(ProviderConfig{
		ID: "corp", Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s",
		RedirectURL: "https://app.example.com/cb", EmailDomains: []string{" Example.COM "},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	if c.Name != "corp" || c.TokenEndpointAuthMethod != AuthMethodBasic || c.Timeout != DefaultTimeout ||
		c.MaxResponseBytes != DefaultMaxResponseBytes || strings.Join(c.Scopes, " ") != "openid profile email" ||
		c.EmailDomains[0] != "example.com" {
		t.Errorf("defaults not applied: %+v", c)
	}
	c.Scopes[0] = "mutated"
	if p.Config().Scopes[0] != "openid" {
		t.Error("Config returned shared state")
	}
	if _, err := NewProvider(c, Options{}); err == nil {
		t.Error("config without openid accepted")
	}
}

func TestNewProviderNeedsRegistrationStore(t *testing.T) {
	t.Parallel()
	_, err := NewProvider(ProviderConfig{
		ID: "corp", Issuer: "https://idp.example.com", Registration: &RegistrationConfig{},
		RedirectURL: "https://app.example.com/cb",
	}, Options{})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("error = %v, want ErrConfig", err)
	}
}

func TestAuthCodeURL(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	random := bytes.Repeat([]byte{1}, 32)
	random = append(random, bytes.Repeat([]byte{2}, 32)...)
	random = append(random, bytes.Repeat([]byte{3}, 32)...)
	p := newTestProvider(t, op, func(c *ProviderConfig, o *Options) {
		c.AuthParams = map[string]string{"prompt": "login", "domain_hint": "example.com", "acr_values": "mfa"}
		o.Rand = bytes.NewReader(random)
	})
	req, err := p.AuthCodeURL(context.Background(), AuthOptions{
		LoginHint: "alice@example.com", Prompt: "select_account", Extra: map[string]string{"ui_locales": "fr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	if req.State != enc(random[:32]) || req.Nonce != enc(random[32:64]) || req.CodeVerifier != enc(random[64:]) {
		t.Errorf("state/nonce/verifier not drawn from Options.Rand: %+v", req)
	}
	if len(req.CodeVerifier) != 43 {
		t.Errorf("verifier length %d, want 43 (RFC 7636 §4.1)", len(req.CodeVerifier))
	}
	if req.Pending() != (Pending{Nonce: req.Nonce, CodeVerifier: req.CodeVerifier}) {
		t.Errorf("Pending() = %+v", req.Pending())
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != op.issuer()+"/authorize" {
		t.Errorf("endpoint %q", got)
	}
	want := url.Values{
		"response_type":         {"code"},
		"client_id":             {testClientID},
		"redirect_uri":          {"https://app.example.com/sso/test/callback"},
		"scope":                 {"openid profile email"},
		"state":                 {req.State},
		"nonce":                 {req.Nonce},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(req.CodeVerifier)},
		"code_challenge_method": {"S256"},
		"login_hint":            {"alice@example.com"},
		"prompt":                {"select_account"},
		"domain_hint":           {"example.com"},
		"acr_values":            {"mfa"},
		"ui_locales":            {"fr"},
	}
	if got := u.Query(); got.Encode() != want.Encode() {
		t.Errorf("query\n got %v\nwant %v", got, want)
	}
	if strings.Contains(req.URL, req.CodeVerifier) {
		t.Error("code verifier leaked into the URL")
	}
}

// TestAuthCodeURLReauthenticate: a re-authentication asks for a new login
// twice over (prompt=login, max_age=0, over any configured prompt or
// max_age) and carries its time to Pending.
func TestAuthCodeURLReauthenticate(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op, func(c *ProviderConfig, _ *Options) {
		c.AuthParams = map[string]string{"prompt": "consent", "max_age": "3600"}
	})
	req, err := p.AuthCodeURL(context.Background(), AuthOptions{Reauthenticate: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("prompt") != "login" || q.Get("max_age") != "0" {
		t.Errorf("prompt=%q max_age=%q, want login and 0", q.Get("prompt"), q.Get("max_age"))
	}
	if !req.AuthTimeNotBefore.Equal(op.clock.Now()) || !req.Pending().AuthTimeNotBefore.Equal(op.clock.Now()) {
		t.Errorf("AuthTimeNotBefore %v (Pending %v), want the request time %v", req.AuthTimeNotBefore, req.Pending().AuthTimeNotBefore, op.clock.Now())
	}
	plain, err := p.AuthCodeURL(context.Background(), AuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !plain.AuthTimeNotBefore.IsZero() {
		t.Errorf("an ordinary request has AuthTimeNotBefore %v", plain.AuthTimeNotBefore)
	}
	if _, err := p.AuthCodeURL(context.Background(), AuthOptions{Reauthenticate: true, Prompt: "none"}); !errors.Is(err, ErrConfig) {
		t.Errorf("Reauthenticate with prompt=none: %v, want ErrConfig", err)
	}
}

func TestAuthCodeURLFreshValues(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op)
	seen := map[string]bool{}
	for range 10 {
		req, err := p.AuthCodeURL(context.Background(), AuthOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{req.State, req.Nonce, req.CodeVerifier} {
			if seen[v] || len(v) != 43 {
				t.Fatalf("value %q repeated or of wrong length", v)
			}
			seen[v] = true
		}
	}
}

func TestAuthCodeURLRefusesProtocolOverrides(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op)
	for _, name := range []string{"state", "nonce", "code_challenge", "redirect_uri", "client_id", "response_type", "scope", "max_age"} {
		_, err := p.AuthCodeURL(context.Background(), AuthOptions{Extra: map[string]string{name: "x"}})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("Extra %q: error = %v, want ErrConfig", name, err)
		}
	}
}

func TestAuthCodeURLRandomFailure(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op, func(_ *ProviderConfig, o *Options) { o.Rand = bytes.NewReader(make([]byte, 40)) })
	if _, err := p.AuthCodeURL(context.Background(), AuthOptions{}); err == nil {
		t.Fatal("AuthCodeURL succeeded with exhausted randomness")
	}
}

func TestHashState(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if got := HashState(tt.in); got != tt.want {
			t.Errorf("HashState(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestNormalizeNamesKey: every rule reports a *ConfigError whose Key is the
// configuration file key to fix, and which matches ErrConfig.
func TestNormalizeNamesKey(t *testing.T) {
	t.Parallel()
	valid := func() ProviderConfig {
		return ProviderConfig{ID: "corp", Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s"}
	}
	static := Metadata{
		Issuer:                "https://idp.example.com",
		AuthorizationEndpoint: "https://idp.example.com/auth",
		TokenEndpoint:         "https://idp.example.com/token",
		JWKSURI:               "https://idp.example.com/jwks",
	}
	withStatic := func(edit func(m *Metadata)) func(c *ProviderConfig) {
		return func(c *ProviderConfig) {
			m := static
			edit(&m)
			c.Issuer, c.Metadata = "", &m
		}
	}
	tests := []struct {
		name   string
		mutate func(c *ProviderConfig)
		key    string
	}{
		{"missing id", func(c *ProviderConfig) { c.ID = "" }, "id"},
		{"upper-case id", func(c *ProviderConfig) { c.ID = "Corp" }, "id"},
		{"id with space", func(c *ProviderConfig) { c.ID = "a b" }, "id"},
		{"neither issuer nor metadata", func(c *ProviderConfig) { c.Issuer = "" }, "issuer"},
		{"issuer and metadata", func(c *ProviderConfig) { m := static; c.Metadata = &m }, "issuer"},
		{"http issuer", func(c *ProviderConfig) { c.Issuer = "http://idp.example.com" }, "issuer"},
		{"issuer with fragment", func(c *ProviderConfig) { c.Issuer = "https://idp.example.com#x" }, "issuer"},
		{"http static issuer", withStatic(func(m *Metadata) { m.Issuer = "http://idp.example.com" }), "metadata.issuer"},
		{"static without authorization endpoint", withStatic(func(m *Metadata) { m.AuthorizationEndpoint = "" }), "metadata.authorization_endpoint"},
		{"static without token endpoint", withStatic(func(m *Metadata) { m.TokenEndpoint = "" }), "metadata.token_endpoint"},
		{"static without jwks", withStatic(func(m *Metadata) { m.JWKSURI = "" }), "metadata.jwks_uri"},
		{"static http userinfo", withStatic(func(m *Metadata) { m.UserinfoEndpoint = "http://idp.example.com/u" }), "metadata.userinfo_endpoint"},
		{"static HS256 only", withStatic(func(m *Metadata) { m.IDTokenSigningAlgs = []string{"HS256"} }), "metadata.id_token_signing_alg_values_supported"},
		{"no client", func(c *ProviderConfig) { c.ClientID = "" }, "client_id"},
		{"client and registration", func(c *ProviderConfig) { c.Registration = &RegistrationConfig{} }, "client_id"},
		{"no secret", func(c *ProviderConfig) { c.ClientSecret = "" }, "client_secret"},
		{"http registration endpoint", func(c *ProviderConfig) {
			c.ClientID, c.ClientSecret, c.Registration = "", "", &RegistrationConfig{Endpoint: "http://idp.example.com/reg"}
		}, "registration.endpoint"},
		{"registration without any endpoint", func(c *ProviderConfig) {
			withStatic(func(*Metadata) {})(c)
			c.ClientID, c.ClientSecret, c.Registration = "", "", &RegistrationConfig{}
		}, "registration.endpoint"},
		{"auth method", func(c *ProviderConfig) { c.TokenEndpointAuthMethod = "private_key_jwt" }, "token_endpoint_auth_method"},
		{"relative redirect", func(c *ProviderConfig) { c.RedirectURL = "/cb" }, "redirect_url"},
		{"post-logout with fragment", func(c *ProviderConfig) { c.PostLogoutRedirectURL = "https://app.example.com/out#x" }, "post_logout_redirect_url"},
		{"scopes without openid", func(c *ProviderConfig) { c.Scopes = []string{"email"} }, "scopes"},
		{"auth param state", func(c *ProviderConfig) { c.AuthParams = map[string]string{"state": "x"} }, "auth_params.state"},
		{"auth param client_secret", func(c *ProviderConfig) { c.AuthParams = map[string]string{"client_secret": "x"} }, "auth_params.client_secret"},
		{"first bad auth param in key order", func(c *ProviderConfig) { c.AuthParams = map[string]string{"state": "x", "nonce": "y"} }, "auth_params.nonce"},
		{"bad max_age", func(c *ProviderConfig) { c.AuthParams = map[string]string{"max_age": "soon"} }, "auth_params.max_age"},
		{"email address as domain", func(c *ProviderConfig) { c.EmailDomains = []string{"ok.example", "a@b.example"} }, "email_domains[1]"},
		{"domain with @", func(c *ProviderConfig) { c.EmailDomains = []string{"@example.com"} }, "email_domains[0]"},
		{"empty domain", func(c *ProviderConfig) { c.EmailDomains = []string{" "} }, "email_domains[0]"},
		{"domain with path", func(c *ProviderConfig) { c.EmailDomains = []string{"example.com/x"} }, "email_domains[0]"},
		{"negative timeout", func(c *ProviderConfig) { c.Timeout = -time.Second }, "timeout"},
		{"icon not an image name", func(c *ProviderConfig) { c.Icon = "acme.gif" }, "icon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			_, err := c.Normalize("https://app.example.com")
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key || !errors.Is(err, ErrConfig) {
				t.Fatalf("Normalize error = %v, want a *ConfigError for key %q matching ErrConfig", err, tt.key)
			}
			if !strings.HasPrefix(err.Error(), tt.key+": ") || strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("message %q does not start with %q or is not one line", err, tt.key+": ")
			}
		})
	}
}

// TestNormalizeDefaults: the base URL supplies gatehouse's own endpoints,
// the input is left alone, and normalizing again changes nothing.
func TestNormalizeDefaults(t *testing.T) {
	t.Parallel()
	in := ProviderConfig{
		ID: "corp", Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s",
		EmailDomains: []string{" Example.COM "}, AuthParams: map[string]string{"prompt": "login"},
	}
	c, err := in.Normalize("https://login.example.com")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"name", c.Name, "corp"},
		{"redirect_url", c.RedirectURL, "https://login.example.com/auth/callback"},
		{"post_logout_redirect_url", c.PostLogoutRedirectURL, "https://login.example.com/auth/logged-out"},
		{"back-channel logout URL", c.BackchannelLogoutURL, "https://login.example.com/auth/backchannel-logout"},
		{"scopes", strings.Join(c.Scopes, " "), "openid profile email"},
		{"token_endpoint_auth_method", c.TokenEndpointAuthMethod, AuthMethodBasic},
		{"email_domains", strings.Join(c.EmailDomains, ","), "example.com"},
		{"timeout", c.Timeout.String(), DefaultTimeout.String()},
		{"max response bytes", strconv.FormatInt(c.MaxResponseBytes, 10), strconv.Itoa(DefaultMaxResponseBytes)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if in.EmailDomains[0] != " Example.COM " || in.Name != "" {
		t.Errorf("Normalize changed its input: %+v", in)
	}
	c.AuthParams["prompt"] = "none"
	if in.AuthParams["prompt"] != "login" {
		t.Error("Normalize result shares AuthParams with its input")
	}
	c.AuthParams["prompt"] = "login"
	again, err := c.Normalize("https://other.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, c) {
		t.Errorf("Normalize of a normalized config changed it:\n%+v\nwas\n%+v", again, c)
	}

	explicit := in
	explicit.RedirectURL, explicit.PostLogoutRedirectURL = "https://app.example.com/cb", "https://app.example.com/bye"
	c, err = explicit.Normalize("https://login.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.RedirectURL != explicit.RedirectURL || c.PostLogoutRedirectURL != explicit.PostLogoutRedirectURL {
		t.Errorf("configured URLs replaced by defaults: %+v", c)
	}

	if _, err := in.Normalize(""); err == nil {
		t.Error("no redirect URL and no base URL accepted")
	}
}

// TestNewProviderStaticConfigRoundTrips: the configuration a static-mode
// Provider reports is accepted by NewProvider again.
func TestNewProviderStaticConfigRoundTrips(t *testing.T) {
	t.Parallel()
	p, err := NewProvider(ProviderConfig{
		ID: "corp", ClientID: "c", ClientSecret: "s", RedirectURL: "https://app.example.com/cb",
		Metadata: &Metadata{
			Issuer:                "https://idp.example.com",
			AuthorizationEndpoint: "https://idp.example.com/auth",
			TokenEndpoint:         "https://idp.example.com/token",
			JWKSURI:               "https://idp.example.com/jwks",
		},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer() != "https://idp.example.com" {
		t.Errorf("Issuer() = %q, want the static metadata's", p.Issuer())
	}
	if _, err := NewProvider(p.Config(), Options{}); err != nil {
		t.Errorf("NewProvider(p.Config()): %v", err)
	}
}
