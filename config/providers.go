package config

import (
	"fmt"
	"github.com/gatehouse/gatehouse/accounts"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Provider configures one OpenID Provider for "Sign in with SSO".
type Provider struct {
	// ID names the provider in URLs, the database and logs; it must stay stable.
	ID string `yaml:"id"`
	// Name is the button label ("Sign in with Acme").
	Name string `yaml:"name"`
	// Issuer enables OpenID Connect Discovery; the document's issuer must match exactly.
	Issuer string `yaml:"issuer"`
	// Metadata configures the provider statically instead: no discovery request is made.
	Metadata *Metadata `yaml:"metadata"`

	// ClientID and ClientSecret are a static client registration.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Registration asks for RFC 7591 dynamic client registration on first use instead.
	Registration *Registration `yaml:"registration"`
	// TokenEndpointAuthMethod is client_secret_basic (default) or client_secret_post.
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`

	// RedirectURL defaults to base_url + /auth/callback.
	RedirectURL string `yaml:"redirect_url"`
	// PostLogoutRedirectURL defaults to base_url + /login?signed_out=1.
	PostLogoutRedirectURL string `yaml:"post_logout_redirect_url"`
	// Scopes default to openid profile email.
	Scopes []string `yaml:"scopes"`
	// AuthParams are extra authorization request parameters (prompt, acr_values, domain_hint).
	AuthParams map[string]string `yaml:"auth_params"`
	// EmailDomains are the email domains this provider serves and is authoritative for.
	EmailDomains []string `yaml:"email_domains"`
	// Link is the policy for attaching an SSO identity to an existing local
	// account with the same email: password (default), verified_email or never.
	Link accounts.LinkPolicy `yaml:"link"`
	// AutoCreate creates a local account on first SSO sign-in when none has the email.
	AutoCreate bool `yaml:"auto_create"`
	// RefreshInterval, when set, re-checks the IdP session with prompt=none this often.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// Timeout bounds every call to this provider.
	Timeout time.Duration `yaml:"timeout"`
}

// Metadata is static provider metadata (OpenID Connect Discovery 1.0 §3 names).
type Metadata struct {
	Issuer                string   `yaml:"issuer"`
	AuthorizationEndpoint string   `yaml:"authorization_endpoint"`
	TokenEndpoint         string   `yaml:"token_endpoint"`
	UserinfoEndpoint      string   `yaml:"userinfo_endpoint"`
	JWKSURI               string   `yaml:"jwks_uri"`
	EndSessionEndpoint    string   `yaml:"end_session_endpoint"`
	RegistrationEndpoint  string   `yaml:"registration_endpoint"`
	IDTokenSigningAlgs    []string `yaml:"id_token_signing_alg_values_supported"`
	ISSParameterSupported bool     `yaml:"authorization_response_iss_parameter_supported"`
}

// Registration configures RFC 7591 dynamic client registration.
type Registration struct {
	// Endpoint defaults to the provider metadata's registration_endpoint.
	Endpoint string `yaml:"endpoint"`
	// InitialAccessToken is sent as a Bearer token when the IdP requires one.
	InitialAccessToken string `yaml:"initial_access_token"`
}

// finishProviders adds the provider named by the seed guide's SSOJET_*
// variables, fills defaults and validates every provider.
func (c *Config) finishProviders(env lookupFunc) error {
	if issuer, ok := env("SSOJET_ISSUER_URL"); ok && issuer != "" && !slices.ContainsFunc(c.Providers, func(p Provider) bool { return p.ID == "sso" }) {
		id, _ := env("SSOJET_CLIENT_ID")
		secret, _ := env("SSOJET_CLIENT_SECRET")
		redirect, _ := env("SSOJET_REDIRECT_URI")
		c.Providers = append(c.Providers, Provider{ID: "sso", Name: "SSO", Issuer: issuer, ClientID: id, ClientSecret: secret, RedirectURL: redirect})
	}
	seen := map[string]bool{}
	for i := range c.Providers {
		p := &c.Providers[i]
		if err := p.finish(c.BaseURL); err != nil {
			return fmt.Errorf("providers[%d] (%s).%w", i, oneLine(p.ID), err)
		}
		if seen[p.ID] {
			return fmt.Errorf("providers[%d] (%s).id: duplicate provider id", i, p.ID)
		}
		seen[p.ID] = true
	}
	return nil
}

func (p *Provider) finish(baseURL string) error {
	if p.ID == "" || strings.Trim(p.ID, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return fmt.Errorf("id: %q must be lower-case letters, digits, - or _", p.ID)
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if (p.Issuer == "") == (p.Metadata == nil) {
		return fmt.Errorf("issuer: set exactly one of issuer (discovery) or metadata (static)")
	}
	if p.Issuer != "" {
		if err := checkURL(p.Issuer); err != nil {
			return fmt.Errorf("issuer: %w", err)
		}
	}
	if m := p.Metadata; m != nil {
		for key, v := range map[string]string{"metadata.issuer": m.Issuer, "metadata.authorization_endpoint": m.AuthorizationEndpoint, "metadata.token_endpoint": m.TokenEndpoint, "metadata.jwks_uri": m.JWKSURI} {
			if err := checkURL(v); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if (p.ClientID == "") == (p.Registration == nil) {
		return fmt.Errorf("client_id: set exactly one of client_id (static client) or registration (dynamic)")
	}
	if p.ClientID != "" && p.ClientSecret == "" {
		return fmt.Errorf("client_secret: required with client_id")
	}
	if p.Registration != nil && p.Registration.Endpoint == "" && p.Metadata != nil && p.Metadata.RegistrationEndpoint == "" {
		return fmt.Errorf("registration.endpoint: required when the static metadata has no registration_endpoint")
	}
	switch p.TokenEndpointAuthMethod {
	case "":
		p.TokenEndpointAuthMethod = "client_secret_basic"
	case "client_secret_basic", "client_secret_post":
	default:
		return fmt.Errorf("token_endpoint_auth_method: %q must be client_secret_basic or client_secret_post", p.TokenEndpointAuthMethod)
	}
	if p.RedirectURL == "" {
		p.RedirectURL = baseURL + "/auth/callback"
	}
	if p.PostLogoutRedirectURL == "" {
		p.PostLogoutRedirectURL = baseURL + "/auth/logged-out"
	}
	if len(p.Scopes) == 0 {
		p.Scopes = []string{"openid", "profile", "email"}
	}
	if !slices.Contains(p.Scopes, "openid") {
		return fmt.Errorf("scopes: must include openid")
	}
	for k := range p.AuthParams {
		switch k {
		case "client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method":
			return fmt.Errorf("auth_params.%s: protocol parameters cannot be overridden", k)
		}
	}
	for j, d := range p.EmailDomains {
		p.EmailDomains[j] = strings.ToLower(strings.TrimSpace(d))
		if p.EmailDomains[j] == "" || strings.ContainsAny(p.EmailDomains[j], "@/ ") {
			return fmt.Errorf("email_domains[%d]: %q is not a domain", j, d)
		}
	}
	switch {
	case p.Link == "":
		p.Link = accounts.LinkPassword
	case !p.Link.Valid():
		return fmt.Errorf("link: %q must be password, verified_email or never", p.Link)
	}
	if p.Timeout == 0 {
		p.Timeout = 10 * time.Second
	}
	if p.Timeout < 0 || p.RefreshInterval < 0 {
		return fmt.Errorf("timeout: durations must be positive")
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http(s) URL", s)
	}
	return nil
}
