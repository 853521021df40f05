package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/images"
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
	// MigrateFrom and MigrateUntil open a migration window: until the
	// date (YYYY-MM-DD, UTC, the day included), a first sign-in through
	// this provider whose subject is exactly an identity's of provider
	// MigrateFrom is linked to that identity's account.
	MigrateFrom  string `yaml:"migrate_from"`
	MigrateUntil string `yaml:"migrate_until"`
	// MigrateEnd is the end of the window, from MigrateUntil.
	MigrateEnd time.Time `yaml:"-"`

	// OfflineCheck, when set, asks the provider this often, server side
	// and without a browser, whether each identity with live sessions may
	// still sign in (its refresh token, then UserInfo); a definite no ends
	// the identity's sessions. At least 1m.
	OfflineCheck time.Duration `yaml:"offline_check"`
	// DisableAfter ("30d", or a duration such as 720h) disables an
	// SSO-only, non-admin account the provider has not confirmed (by a
	// sign-in or a check) for that long; DisableAfterPeriod is its value.
	DisableAfter       string        `yaml:"disable_after"`
	DisableAfterPeriod time.Duration `yaml:"-"`

	// IconImage is the icon file read at load; nil without icon.
	IconImage *images.Image `yaml:"-"`
}

// finishProviders adds the provider named by the seed guide's SSOJET_*
// variables, fills defaults and validates every provider.
func (c *Config) finishProviders(env lookupFunc) error {
	fromEnv := -1
	if issuer, ok := env("SSOJET_ISSUER_URL"); ok && issuer != "" && !slices.ContainsFunc(c.Providers, func(p Provider) bool { return p.ID == "sso" }) {
		p, err := envProvider(issuer, env)
		if err != nil {
			return err
		}
		fromEnv = len(c.Providers)
		c.Providers = append(c.Providers, p)
	}
	seen := map[string]bool{}
	for i := range c.Providers {
		p := &c.Providers[i]
		if err := p.finish(c.BaseURL); err != nil {
			if i == fromEnv {
				err = fromVariable(err)
			}
			return fmt.Errorf("providers[%d] (%s).%w", i, oneLine(p.ID), err)
		}
		if seen[p.ID] {
			return fmt.Errorf("providers[%d] (%s).id: duplicate provider id", i, p.ID)
		}
		seen[p.ID] = true
	}
	for i := range c.Providers {
		if err := c.Providers[i].finishMigration(seen); err != nil {
			return fmt.Errorf("providers[%d] (%s).%w", i, oneLine(c.Providers[i].ID), err)
		}
	}
	return nil
}

// finishMigration checks the migration window: both keys or neither, a
// provider other than this one that is configured, a date.
func (p *Provider) finishMigration(ids map[string]bool) error {
	switch {
	case p.MigrateFrom == "" && p.MigrateUntil == "":
		return nil
	case p.MigrateFrom == "" || p.MigrateUntil == "":
		return errors.New("migrate_from: migrate_from and migrate_until go together")
	case p.MigrateFrom == p.ID || !ids[p.MigrateFrom]:
		return fmt.Errorf("migrate_from: %q must be another configured provider's id", p.MigrateFrom)
	}
	d, err := time.Parse(time.DateOnly, p.MigrateUntil)
	if err != nil {
		return fmt.Errorf("migrate_until: %q must be a date, YYYY-MM-DD", p.MigrateUntil)
	}
	p.MigrateEnd = d.AddDate(0, 0, 1) // the whole day, UTC
	return nil
}

// envProvider builds provider sso from the SSOJET_* variables. An app
// configured by its environment alone must still be able to say which
// domains the provider speaks for, whether it creates accounts and how it
// links them, so those keys have variables too, checked here so that the
// message names the variable to fix rather than a YAML key nobody wrote.
func envProvider(issuer string, env lookupFunc) (Provider, error) {
	id, _ := env("SSOJET_CLIENT_ID")
	secret, _ := env("SSOJET_CLIENT_SECRET")
	redirect, _ := env("SSOJET_REDIRECT_URI")
	p := Provider{ProviderConfig: sso.ProviderConfig{
		ID: "sso", Name: "SSO", Issuer: issuer, ClientID: id, ClientSecret: secret, RedirectURL: redirect,
	}}
	if v, _ := env("SSOJET_EMAIL_DOMAINS"); strings.TrimSpace(v) != "" {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSpace(d)
			if d == "" {
				return Provider{}, fmt.Errorf("SSOJET_EMAIL_DOMAINS: %q has an empty domain", v)
			}
			p.EmailDomains = append(p.EmailDomains, d)
		}
	}
	if v, ok := env("SSOJET_AUTO_CREATE"); ok && v != "" {
		switch strings.ToLower(v) {
		case "true":
			p.AutoCreate = true
		case "false":
		default:
			return Provider{}, fmt.Errorf("SSOJET_AUTO_CREATE: %q must be true or false", v)
		}
	}
	if v, ok := env("SSOJET_LINK"); ok && v != "" {
		p.Link = accounts.LinkPolicy(v)
		if !p.Link.Valid() {
			return Provider{}, fmt.Errorf("SSOJET_LINK: %q must be password, verified_email or never", v)
		}
	}
	return p, nil
}

// envKeys maps the keys of provider sso to the variables that set them.
var envKeys = map[string]string{
	"issuer":        "SSOJET_ISSUER_URL",
	"client_id":     "SSOJET_CLIENT_ID",
	"client_secret": "SSOJET_CLIENT_SECRET",
	"redirect_url":  "SSOJET_REDIRECT_URI",
	"email_domains": "SSOJET_EMAIL_DOMAINS",
}

// fromVariable adds the variable that set the offending key of provider
// sso to its error, since that provider has no file lines to point at.
func fromVariable(err error) error {
	var ce *sso.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	key, _, _ := strings.Cut(ce.Key, "[")
	if v, ok := envKeys[key]; ok {
		return fmt.Errorf("%w (set by %s)", err, v)
	}
	return err
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
	if p.OfflineCheck != 0 && p.OfflineCheck < time.Minute {
		return errors.New("offline_check: must be at least 1m (or left out: off)")
	}
	p.Offline = p.OfflineCheck > 0
	if p.DisableAfterPeriod, err = days(p.DisableAfter); err != nil {
		return fmt.Errorf("disable_after: %w", err)
	}
	if p.DisableAfter != "" && p.DisableAfterPeriod < 24*time.Hour {
		return errors.New("disable_after: must be at least 1d")
	}
	p.IconImage = nil
	if p.Icon != "" {
		img, err := images.Load(p.Icon)
		if err != nil {
			return fmt.Errorf("icon: %s", oneLine(err.Error()))
		}
		p.IconImage = img
	}
	return nil
}

// days reads a period written as whole days ("30d") or as a Go duration
// ("720h"); "" is 0.
func days(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var d int
		if _, err := fmt.Sscanf(n, "%d", &d); err != nil || d <= 0 || d > 3650 || fmt.Sprint(d) != n {
			return 0, fmt.Errorf("%q must be a number of days such as 30d, or a duration such as 720h", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q must be a number of days such as 30d, or a duration such as 720h", s)
	}
	return d, nil
}

// ProviderSnippet is the providers entry an administrator pastes into
// config.yaml for a newly discovered issuer: the id and name to show, the
// issuer, and placeholders for the client credentials the provider issues
// (the secret read from an environment variable, never written in the
// file). The web UI only shows it; nothing writes the configuration.
func ProviderSnippet(id, name, issuer string) string {
	secretVar := strings.ToUpper(strings.ReplaceAll(id, "-", "_")) + "_CLIENT_SECRET"
	return fmt.Sprintf(`providers:
  - id: %s
    name: %s
    issuer: %s
    # The client the provider registered for gatehouse:
    client_id: %s
    # Set %s in the environment or in .env.
    client_secret: "${%s}"
    # Optional: email_domains: [example.com], auto_create: true,
    # link: password, icon: /etc/gatehouse/%s.svg
`, quoteYAML(id), quoteYAML(name), quoteYAML(issuer), quoteYAML("REPLACE-WITH-CLIENT-ID"), secretVar, secretVar, id)
}

// quoteYAML is s as a YAML double-quoted scalar (JSON string syntax, which
// YAML reads the same way).
func quoteYAML(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
