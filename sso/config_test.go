package sso

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestNewProviderValidation(t *testing.T) {
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
	_, err := NewProvider(ProviderConfig{
		ID: "corp", Issuer: "https://idp.example.com", Registration: &RegistrationConfig{},
		RedirectURL: "https://app.example.com/cb",
	}, Options{})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("error = %v, want ErrConfig", err)
	}
}

func TestAuthCodeURL(t *testing.T) {
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

func TestAuthCodeURLFreshValues(t *testing.T) {
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
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op, func(_ *ProviderConfig, o *Options) { o.Rand = bytes.NewReader(make([]byte, 40)) })
	if _, err := p.AuthCodeURL(context.Background(), AuthOptions{}); err == nil {
		t.Fatal("AuthCodeURL succeeded with exhausted randomness")
	}
}

func TestHashState(t *testing.T) {
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
