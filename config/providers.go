package config

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/sso"
)

// Provider configures one OpenID Provider for "Sign in with SSO": the
// OpenID Connect settings, which the sso package declares and validates,
// beside gatehouse's own policy for the accounts signing in through it.
type Provider struct {
	sso.ProviderConfig `yaml:",inline"`

	// Link is the policy for attaching an SSO identity to an existing local
	// account with the same email: password (default), verified_email or never.
	Link accounts.LinkPolicy `yaml:"link"`
	// AutoCreate creates a local account on first SSO sign-in when none has the email.
	AutoCreate bool `yaml:"auto_create"`
	// RefreshInterval, when set, re-checks the IdP session with prompt=none this often.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
}

// finishProviders adds the provider named by the seed guide's SSOJET_*
// variables, fills defaults and validates every provider.
func (c *Config) finishProviders(env lookupFunc) error {
	if issuer, ok := env("SSOJET_ISSUER_URL"); ok && issuer != "" && !slices.ContainsFunc(c.Providers, func(p Provider) bool { return p.ID == "sso" }) {
		id, _ := env("SSOJET_CLIENT_ID")
		secret, _ := env("SSOJET_CLIENT_SECRET")
		redirect, _ := env("SSOJET_REDIRECT_URI")
		c.Providers = append(c.Providers, Provider{ProviderConfig: sso.ProviderConfig{
			ID: "sso", Name: "SSO", Issuer: issuer, ClientID: id, ClientSecret: secret, RedirectURL: redirect,
		}})
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

// finish normalizes the OpenID Connect settings with sso's rules, the only
// ones, and validates the account policy. Every error starts with the
// offending key, relative to the provider.
func (p *Provider) finish(baseURL string) error {
	oidc, err := p.ProviderConfig.Normalize(baseURL)
	if err != nil {
		return err // a *sso.ConfigError: "key: reason"
	}
	p.ProviderConfig = oidc
	switch {
	case p.Link == "":
		p.Link = accounts.LinkPassword
	case !p.Link.Valid():
		return fmt.Errorf("link: %q must be password, verified_email or never", p.Link)
	}
	if p.RefreshInterval < 0 {
		return errors.New("refresh_interval: must not be negative")
	}
	return nil
}
