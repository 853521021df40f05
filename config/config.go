// Package config loads gatehouse's configuration: built-in defaults, then an
// optional YAML file decoded strictly, then environment overrides.
//
// Loading is a pure function of its inputs (file system paths and an
// environment lookup) so tests never touch the process environment.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/secrets"
	"github.com/gatehouse/gatehouse/throttle"
	"github.com/joho/godotenv"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of one gatehouse process.
type Config struct {
	// Listen is the TCP address the HTTP server binds.
	Listen string `yaml:"listen"`
	// BaseURL is the public origin users reach gatehouse at; it decides
	// cookie security, the CSRF-trusted origin and OIDC redirect URLs.
	BaseURL string `yaml:"base_url"`
	// Database is the path of the SQLite file, or a postgres:// (or
	// postgresql://) URL of the PostgreSQL database several replicas share.
	Database string `yaml:"database"`
	// DatabaseMaxConns is the connection pool size of this process on
	// PostgreSQL (replicas x this must stay under the server's
	// max_connections); SQLite ignores it.
	DatabaseMaxConns int `yaml:"database_max_conns"`
	// TrustedProxies lists proxy addresses or CIDRs whose X-Forwarded-For
	// is believed; empty means the peer address is the client address.
	TrustedProxies []string `yaml:"trusted_proxies"`

	Log      Log      `yaml:"log"`
	Server   Server   `yaml:"server"`
	Session  Session  `yaml:"session"`
	Password Password `yaml:"password"`
	Admin    Admin    `yaml:"admin"`
	Audit    Audit    `yaml:"audit"`
	// Throttle limits password guessing (login, link-by-password, re-auth)
	// and "Forgot password?" requests.
	Throttle  throttle.Rules `yaml:"throttle"`
	Metrics   Metrics        `yaml:"metrics"`
	Branding  Branding       `yaml:"branding"`
	Providers []Provider     `yaml:"providers"`
	// Mail is how messages are sent; nil (no mail block) is mail off.
	Mail *mail.Config `yaml:"mail"`
	// Secrets holds the key second factors' secrets are sealed with.
	Secrets secrets.Config `yaml:"secrets"`
	// MFA says who must sign in with a second factor.
	MFA accounts.MFAConfig `yaml:"mfa"`
	// Login configures the sign-in page (login.mode).
	Login Login `yaml:"login"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the address of a separate listener that serves /metrics;
	// empty (the default) turns metrics off.
	Listen string `yaml:"listen"`
}

// Log configures the slog handler.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Server holds the http.Server timeouts.
type Server struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
}

// Session configures database-backed sessions.
type Session struct {
	// CookieName is the cookie's base name; "__Host-" is prepended under https.
	CookieName string `yaml:"cookie_name"`
	// IdleTimeout ends a session not used for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Lifetime ends a session this long after sign-in, however active.
	Lifetime time.Duration `yaml:"lifetime"`
	// Permanent makes the cookie outlive the browser (Max-Age = Lifetime);
	// false gives a browser-session cookie.
	Permanent bool `yaml:"permanent"`
}

// Password configures local password hashing and policy.
type Password struct {
	BcryptCost int `yaml:"bcrypt_cost"`
	MinLength  int `yaml:"min_length"`
}

// Admin configures the admin console.
type Admin struct {
	// SudoWindow is how recent a sign-in must be for destructive actions
	// (disable, delete, reset password, unlink, promote, demote); older, and
	// the administrator re-enters their password or re-does SSO first.
	SudoWindow time.Duration `yaml:"sudo_window"`
}

// Audit configures the audit log.
type Audit struct {
	// Retention is how long audit events are kept; older ones are deleted
	// in batches by the background sweep, so the table cannot grow without
	// bound.
	Retention time.Duration `yaml:"retention"`
	// Webhook sends every event, signed, to the operator's receiver; nil
	// (no webhook block) is off. The log record of each event is written
	// either way.
	Webhook *audit.WebhookConfig `yaml:"webhook"`
}

// DefaultAuditRetention keeps audit events 400 days: a year and a margin.
const DefaultAuditRetention = 400 * 24 * time.Hour

// Default returns the built-in configuration: enough to run `gatehouse serve`
// with no file at all.
func Default() Config {
	return Config{
		Listen:           "127.0.0.1:8080",
		Database:         filepath.Join("data", "gatehouse.db"),
		DatabaseMaxConns: models.DefaultMaxConns,
		Log:              Log{Level: "info", Format: "text"},
		Server: Server{
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
		},
		Session: Session{
			CookieName:  "gatehouse_session",
			IdleTimeout: 30 * time.Minute,
			Lifetime:    12 * time.Hour,
		},
		Password: Password{BcryptCost: 12, MinLength: 12},
		Admin:    Admin{SudoWindow: 10 * time.Minute},
		Audit:    Audit{Retention: DefaultAuditRetention},
		Throttle: throttle.DefaultRules(),
		MFA:      accounts.MFAConfig{RequiredFor: accounts.MFAForNone},
		Login:    Login{Mode: LoginPassword},
		Branding: Branding{Name: DefaultBrandName},
	}
}

// Source says where configuration comes from.
type Source struct {
	// Path is the --config flag; empty falls back to GATEHOUSE_CONFIG, then
	// ./config.yaml when it exists, then defaults alone.
	Path string
	// Getenv looks up environment variables; nil means os.LookupEnv.
	Getenv func(string) (string, bool)
	// DotEnv is the .env file read before anything else; empty means ".env".
	// Its values are seen by Getenv lookups but never override the real
	// environment, and the process environment is not modified.
	DotEnv string
}

// Load builds the configuration from src. The returned error is one line
// that names the offending key, fit to print before exiting with status 2.
func Load(src Source) (Config, error) {
	env, err := src.environment()
	if err != nil {
		return Config{}, err
	}
	cfg := Default()
	path, explicit := src.Path, src.Path != ""
	if path == "" {
		path, _ = env("GATEHOUSE_CONFIG")
		explicit = path != "" // set but empty counts as unset, like the other overrides
	}
	if path == "" {
		path = "config.yaml"
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decode(data, env, &cfg); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	case explicit || !errors.Is(err, os.ErrNotExist):
		return Config{}, fmt.Errorf("config: %w", err)
	}
	applyOverrides(&cfg, env)
	if err := cfg.finish(env); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// environment returns a lookup over the real environment, then .env.
func (src Source) environment() (func(string) (string, bool), error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	name := src.DotEnv
	if name == "" {
		name = ".env"
	}
	dot, err := godotenv.Read(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return func(k string) (string, bool) {
		if v, ok := getenv(k); ok {
			return v, true
		}
		v, ok := dot[k]
		return v, ok
	}, nil
}

// lookupFunc is the shape of environment lookups threaded through loading.
type lookupFunc = func(string) (string, bool)

// decode parses YAML, expands ${VAR} in scalar values, rejects unknown keys
// and decodes into cfg (whose defaults survive for absent keys).
func decode(data []byte, env lookupFunc, cfg *Config) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, errEOF) {
			return nil // an empty file means defaults
		}
		return fmt.Errorf("invalid YAML: %w", err)
	}
	if len(root.Content) == 0 {
		return nil
	}
	if doc := root.Content[0]; doc.Kind != yaml.MappingNode && doc.ShortTag() != "!!null" {
		return fmt.Errorf("top level (line %d): must be a mapping of keys such as listen and base_url", doc.Line)
	}
	// Unknown keys first: a misspelt key is the error to report, not an
	// unset variable in its value.
	if err := checkKeys(root.Content[0], typeOfConfig, ""); err != nil {
		return err
	}
	if err := expand(&root, env, ""); err != nil {
		return err
	}
	if err := root.Decode(cfg); err != nil {
		if terr := checkTypes(root.Content[0], typeOfConfig, ""); terr != nil {
			return terr
		}
		return typeError(&root, err)
	}
	return nil
}

// applyOverrides lets the environment win over the file for the settings an
// operator most often changes per host.
func applyOverrides(cfg *Config, env lookupFunc) {
	for name, dst := range map[string]*string{
		"GATEHOUSE_LISTEN":   &cfg.Listen,
		"GATEHOUSE_BASE_URL": &cfg.BaseURL,
		"GATEHOUSE_DATABASE": &cfg.Database,
	} {
		if v, ok := env(name); ok && v != "" {
			*dst = v
		}
	}
}

// Finish re-applies defaults and validation after a program changed the
// configuration in code (as `gatehouse demo` does).
func (c *Config) Finish() error {
	return c.finish(func(string) (string, bool) { return "", false })
}

// finish fills derived defaults and validates.
func (c *Config) finish(env lookupFunc) error {
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Listen
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if err := c.validate(); err != nil {
		return err
	}
	// Canonical origin: url.Parse lower-cases the scheme, so without this
	// "HTTPS://host" would validate yet leave Secure() false; browsers also
	// send the Origin header lower-cased, and a stray "?" or "#" would
	// otherwise end up inside every URL built on base_url.
	u, _ := url.Parse(c.BaseURL) // validated above
	c.BaseURL = u.Scheme + "://" + strings.ToLower(u.Host)
	if err := c.Branding.finish(); err != nil {
		return err
	}
	if err := c.finishProviders(env); err != nil {
		return err
	}
	return c.Login.validate(len(c.Providers))
}

func (c *Config) validate() error {
	throttleErr := c.Throttle.Validate() // its message starts with the rule's key
	dbErr := models.ParseDatabase(c.Database)
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base_url: %q must be an absolute http or https URL", c.BaseURL)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("base_url: %q must be an origin with no path, query or credentials", c.BaseURL)
	}
	checks := []struct {
		ok  bool
		msg string
	}{
		{c.Listen != "", "listen: must not be empty"},
		{c.Database != "", "database: must not be empty"},
		{dbErr == nil, fmt.Sprintf("database: %v", dbErr)},
		{c.DatabaseMaxConns >= 1 && c.DatabaseMaxConns <= 1000, "database_max_conns: must be between 1 and 1000"},
		{c.Log.Level == "debug" || c.Log.Level == "info" || c.Log.Level == "warn" || c.Log.Level == "error", "log.level: must be debug, info, warn or error"},
		{c.Log.Format == "text" || c.Log.Format == "json", "log.format: must be text or json"},
		{isToken(c.Session.CookieName), "session.cookie_name: must be a non-empty cookie token"},
		{c.Session.IdleTimeout >= time.Minute, "session.idle_timeout: must be at least 1m"},
		{c.Session.Lifetime >= c.Session.IdleTimeout, "session.lifetime: must be at least session.idle_timeout"},
		{c.Password.BcryptCost >= 10 && c.Password.BcryptCost <= 31, "password.bcrypt_cost: must be between 10 and 31"},
		{c.Admin.SudoWindow >= time.Minute, "admin.sudo_window: must be at least 1m"},
		{c.Audit.Retention >= 24*time.Hour, "audit.retention: must be at least 24h"},
		{throttleErr == nil, fmt.Sprintf("throttle.%v", throttleErr)},
		{c.Password.MinLength >= 8 && c.Password.MinLength <= 72, "password.min_length: must be between 8 and 72"},
		{c.Server.ReadHeaderTimeout > 0 && c.Server.ReadTimeout > 0 && c.Server.WriteTimeout > 0 && c.Server.IdleTimeout > 0, "server: timeouts must be positive"},
		{c.Metrics.Listen == "" || validAddr(c.Metrics.Listen) && c.Metrics.Listen != c.Listen, "metrics.listen: must be empty (off) or a host:port other than listen"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return errors.New(ch.msg)
		}
	}
	if err := c.Secrets.Validate(); err != nil { // its messages start with secrets.
		return err
	}
	if err := c.MFA.Validate(); err != nil { // its messages start with mfa.
		return err
	}
	if c.Audit.Webhook != nil {
		if err := c.Audit.Webhook.Validate(); err != nil { // its messages start with audit.webhook.
			return err
		}
	}
	if c.Mail != nil {
		return c.Mail.Validate() // its messages start with mail.
	}
	return nil
}

// validAddr reports whether s is a host:port listen address.
func validAddr(s string) bool {
	_, port, err := net.SplitHostPort(s)
	return err == nil && port != ""
}

// isToken reports whether s is an RFC 7230 token, the only cookie names
// net/http sets (it silently drops a cookie with any other name).
func isToken(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r)
	})
}

// Secure reports whether gatehouse is served over https, which switches on
// Secure cookies, the __Host- prefix and HSTS.
func (c Config) Secure() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// CookieName is the session cookie's full name.
func (c Config) CookieName() string {
	if c.Secure() {
		return "__Host-" + c.Session.CookieName
	}
	return c.Session.CookieName
}
