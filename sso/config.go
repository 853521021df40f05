package sso

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/images"
)

// Token endpoint client authentication methods supported by this package
// (OIDC Core §9). private_key_jwt is not supported; "none" is refused because
// gatehouse is a confidential client.
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
)

// Defaults applied by Normalize (and so by NewProvider) to zero-valued
// settings.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultClockSkew        = 2 * time.Minute
)

// Paths of the relying party's own endpoints, joined to the base URL given
// to Normalize when the corresponding URL is not configured.
const (
	CallbackPath          = "/auth/callback"
	LoggedOutPath         = "/auth/logged-out"
	BackchannelLogoutPath = "/auth/backchannel-logout"
)

// ProviderConfig is one configured OpenID Provider. The yaml tags are the
// keys of one entry of the configuration file's providers list, so the
// config package decodes straight into it. Normalize validates it and
// applies defaults; NewProvider normalizes it again because a Provider must
// never run with a configuration that cannot be secure.
type ProviderConfig struct {
	// Kind is the provider's kind (generic, entra, google, okta,
	// keycloak): the defaults and checks it needs beyond the standard.
	Kind Kind `yaml:"kind"`
	// Tenant is an Entra ID directory's ID (kind: entra), or
	// "organizations" (or "common") for a multi-tenant app, which then
	// signs in people of AllowedTenants only.
	Tenant         string   `yaml:"tenant"`
	AllowedTenants []string `yaml:"allowed_tenants"`

	// ID is the stable identifier used in URLs, storage keys and logs:
	// lower-case letters, digits, - and _.
	ID string `yaml:"id"`
	// Name is shown on the "Continue with ..." button; default ID.
	Name string `yaml:"name"`
	// Icon is the path of a small PNG, SVG or WebP file shown on that
	// button; empty shows none. Normalize checks its name; the application
	// reads the file at start.
	Icon string `yaml:"icon"`

	// Issuer selects discovery mode: the discovery document is fetched from
	// Issuer + "/.well-known/openid-configuration" and its issuer must equal
	// Issuer exactly (OIDC Discovery §4.3).
	Issuer string `yaml:"issuer"`
	// Metadata selects static mode instead: no discovery request is ever
	// made and Metadata.Issuer is the issuer. Exactly one of Issuer and
	// Metadata is set.
	Metadata *Metadata `yaml:"metadata"`

	// ClientID and ClientSecret identify a statically registered client.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Registration registers the client dynamically (RFC 7591) instead of
	// using ClientID; exactly one of the two must be set.
	Registration *RegistrationConfig `yaml:"registration"`

	// TokenEndpointAuthMethod is AuthMethodBasic (default) or
	// AuthMethodPost. It is never auto-detected: trying both would send the
	// secret to the OP in a way it did not ask for.
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`

	// RedirectURL is the registered redirect_uri of the callback handler;
	// default base URL + CallbackPath.
	RedirectURL string `yaml:"redirect_url"`
	// PostLogoutRedirectURL, when set, is sent as post_logout_redirect_uri
	// (RP-Initiated Logout 1.0 §2) and registered dynamically; default
	// base URL + LoggedOutPath.
	PostLogoutRedirectURL string `yaml:"post_logout_redirect_url"`
	// BackchannelLogoutURL, when set, is registered dynamically as the
	// backchannel_logout_uri (Back-Channel Logout 1.0 §2.2); default base
	// URL + BackchannelLogoutPath. It is where gatehouse serves the
	// endpoint, so it is not a configuration key.
	BackchannelLogoutURL string `yaml:"-"`

	// Scopes requested; default "openid profile email". Must contain openid.
	Scopes []string `yaml:"scopes"`
	// AuthParams are extra authorization request parameters (prompt,
	// acr_values, domain_hint, max_age...). They must not name a protocol
	// parameter this package sets itself (see AuthCodeURL).
	AuthParams map[string]string `yaml:"auth_params"`

	// EmailDomains are the email domains this provider serves and is
	// authoritative for, lower-cased by Normalize; Set.ForEmail routes on
	// them.
	EmailDomains []string `yaml:"email_domains"`

	// MFAAMR and MFAACR are the ID token amr values (any one) and acr
	// values that show the person signed in with more than one factor
	// (e.g. mfa, otp, hwk, swk; an acr your provider documents): such a
	// sign-in satisfies mfa.required_for. Empty: none does.
	MFAAMR []string `yaml:"mfa_amr"`
	MFAACR []string `yaml:"mfa_acr"`

	// SubjectClaim, EmailClaim and NameClaim say which claims (dotted
	// paths, like GroupsClaim) hold the identity's stable key, its email
	// and its display name; defaults sub, email and name. Only the email
	// claim itself can be vouched for by email_verified: an address
	// mapped from any other claim never counts as verified.
	SubjectClaim string `yaml:"subject_claim"`
	EmailClaim   string `yaml:"email_claim"`
	NameClaim    string `yaml:"name_claim"`

	// GroupsClaim is where the person's groups are in the claims: a dotted
	// path into nested objects ("groups", "realm_access.roles"), whose
	// value is a list of strings or one string of names separated by
	// spaces or commas; default DefaultGroupsClaim.
	GroupsClaim string `yaml:"groups_claim"`
	// AdminGroups: members of any are administrators, non-members are not,
	// synced at every sign-in through this provider. Empty: the provider
	// does not decide who is an administrator.
	AdminGroups []string `yaml:"admin_groups"`
	// AllowedGroups: only members of one may sign in through this
	// provider. Empty: everyone the provider signs in may.
	AllowedGroups []string `yaml:"allowed_groups"`

	// Offline asks for a refresh token at sign-in (offline_access, or
	// Google's access_type=offline), for the offline check
	// (CheckRefresh); gatehouse sets it from offline_check.
	Offline bool `yaml:"-"`

	// Timeout bounds every outbound call; default DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// MaxResponseBytes caps every response body read from the OP; default
	// DefaultMaxResponseBytes. Larger bodies are an error, never truncated.
	MaxResponseBytes int64 `yaml:"-"`
}

// Metadata is the subset of OP metadata (OIDC Discovery §3, RFC 8414,
// RP-Initiated Logout §2.1, RFC 9207 §3) this package uses. The JSON tags
// let a discovery document decode straight into it; the yaml tags, which
// are the same names, let the configuration file give it statically.
type Metadata struct {
	Issuer                string `json:"issuer" yaml:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint" yaml:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint" yaml:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint" yaml:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri" yaml:"jwks_uri"`
	// ScopesSupported is scopes_supported: offline_access is asked for
	// only when listed.
	ScopesSupported      []string `json:"scopes_supported" yaml:"scopes_supported"`
	EndSessionEndpoint   string   `json:"end_session_endpoint" yaml:"end_session_endpoint"`
	RegistrationEndpoint string   `json:"registration_endpoint" yaml:"registration_endpoint"`
	// IDTokenSigningAlgs is id_token_signing_alg_values_supported; only
	// asymmetric algorithms in it are accepted (RS256 when empty).
	IDTokenSigningAlgs []string `json:"id_token_signing_alg_values_supported" yaml:"id_token_signing_alg_values_supported"`
	// AuthorizationResponseISSParameterSupported (RFC 9207 §3): when true
	// an authorization response without iss is rejected.
	AuthorizationResponseISSParameterSupported bool `json:"authorization_response_iss_parameter_supported" yaml:"authorization_response_iss_parameter_supported"`
}

// RegistrationConfig enables dynamic client registration (RFC 7591).
type RegistrationConfig struct {
	// Endpoint defaults to the metadata's registration_endpoint.
	Endpoint string `yaml:"endpoint"`
	// InitialAccessToken, when set, is sent as a Bearer token (RFC 7591 §3).
	InitialAccessToken string `yaml:"initial_access_token"`
}

// ConfigError is a provider setting that cannot work. Key is the setting's
// configuration file key relative to the provider ("issuer",
// "auth_params.state", "email_domains[0]"), so the message can point the
// operator at the line to fix. It matches ErrConfig with errors.Is.
type ConfigError struct {
	Key string
	Msg string
}

// Error returns "key: reason".
func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

// Is makes every *ConfigError match ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// badKey builds a *ConfigError with a formatted reason.
func badKey(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// defaultScopes returns a fresh copy of the default scopes.
func defaultScopes() []string { return []string{"openid", "profile", "email"} }

// isProtocolParam reports whether an authorization request parameter is set
// by this package and so must not be overridden by configuration or callers:
// doing so could disable CSRF, replay or code-injection protection
// (RFC 9700 §2.1, RFC 7636 §4.3) or redirect the code elsewhere.
func isProtocolParam(name string) bool {
	switch name {
	case "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
		"code_challenge", "code_challenge_method", "response_mode",
		"request", "request_uri", "client_secret", "code_verifier":
		return true
	}
	return false
}

// Normalize validates c and returns a copy with defaults applied that
// shares nothing mutable with c. baseURL is the relying party's public
// origin: it supplies the default redirect, post-logout redirect and
// back-channel logout URLs. With an empty baseURL those URLs are left as
// given, and RedirectURL is then required.
//
// Normalizing a normalized configuration returns an equal one, so a program
// may edit a loaded configuration and normalize it again. Every error is a
// *ConfigError naming the offending key.
func (c ProviderConfig) Normalize(baseURL string) (ProviderConfig, error) {
	c = c.clone()
	if c.ID == "" {
		return c, badKey("id", "required")
	}
	if strings.Trim(c.ID, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return c, badKey("id", "%q must be lower-case letters, digits, - or _", c.ID)
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if c.Icon != "" && images.TypeOf(c.Icon) == "" {
		return c, badKey("icon", "%q must be a %s file", c.Icon, images.Extensions)
	}
	if err := c.normalizeKind(); err != nil {
		return c, err
	}
	if err := c.normalizeIssuer(); err != nil {
		return c, err
	}
	if err := c.normalizeClient(); err != nil {
		return c, err
	}
	if err := c.normalizeURLs(baseURL); err != nil {
		return c, err
	}
	if err := c.normalizeRequest(); err != nil {
		return c, err
	}
	if err := c.normalizeDomains(); err != nil {
		return c, err
	}
	if err := c.normalizeGroups(); err != nil {
		return c, err
	}
	if c.Timeout < 0 {
		return c, badKey("timeout", "must not be negative")
	}
	if c.MaxResponseBytes < 0 {
		return c, badKey("max_response_bytes", "must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return c, nil
}

// issuer returns the issuer identifier in force: Issuer in discovery mode,
// the static metadata's issuer in static mode.
func (c *ProviderConfig) issuer() string {
	if c.Metadata != nil {
		return c.Metadata.Issuer
	}
	return c.Issuer
}

// normalizeIssuer checks that exactly one of discovery and static metadata
// is configured, that the issuer is a valid Issuer Identifier and that
// static metadata is complete.
func (c *ProviderConfig) normalizeIssuer() error {
	if (c.Issuer == "") == (c.Metadata == nil) {
		return badKey("issuer", "set exactly one of issuer (discovery) or metadata (static)")
	}
	if c.Metadata == nil {
		return checkIssuerURL("issuer", c.Issuer)
	}
	if err := checkIssuerURL("metadata.issuer", c.Metadata.Issuer); err != nil {
		return err
	}
	if key, err := c.Metadata.check(c.Metadata.Issuer); err != nil {
		return &ConfigError{Key: "metadata." + key, Msg: err.Error()}
	}
	return nil
}

// normalizeClient checks the client credentials and auth method.
func (c *ProviderConfig) normalizeClient() error {
	switch {
	case (c.ClientID == "") == (c.Registration == nil):
		return badKey("client_id", "set exactly one of client_id (static client) or registration (dynamic)")
	case c.ClientID != "" && c.ClientSecret == "":
		return badKey("client_secret", "required with client_id: gatehouse is a confidential client")
	}
	if r := c.Registration; r != nil {
		switch {
		case r.Endpoint != "":
			if err := checkEndpoint("registration endpoint", r.Endpoint, c.issuer()); err != nil {
				return &ConfigError{Key: "registration.endpoint", Msg: err.Error()}
			}
		case c.Metadata != nil && c.Metadata.RegistrationEndpoint == "":
			return badKey("registration.endpoint", "required when the static metadata has no registration_endpoint")
		}
	}
	switch c.TokenEndpointAuthMethod {
	case "":
		c.TokenEndpointAuthMethod = AuthMethodBasic
	case AuthMethodBasic, AuthMethodPost:
	default:
		return badKey("token_endpoint_auth_method", "%q must be %s or %s", c.TokenEndpointAuthMethod, AuthMethodBasic, AuthMethodPost)
	}
	return nil
}

// normalizeURLs defaults and checks the RP's own URLs.
func (c *ProviderConfig) normalizeURLs(baseURL string) error {
	urls := []struct {
		key, name string
		value     *string
		path      string
	}{
		{"redirect_url", "redirect URL", &c.RedirectURL, CallbackPath},
		{"post_logout_redirect_url", "post-logout redirect URL", &c.PostLogoutRedirectURL, LoggedOutPath},
		{"backchannel_logout_url", "back-channel logout URL", &c.BackchannelLogoutURL, BackchannelLogoutPath},
	}
	for _, u := range urls {
		if *u.value == "" && baseURL != "" {
			*u.value = baseURL + u.path
		}
		if *u.value == "" {
			continue
		}
		if err := checkURL(u.name, *u.value); err != nil {
			return &ConfigError{Key: u.key, Msg: err.Error()}
		}
	}
	if c.RedirectURL == "" {
		return badKey("redirect_url", "required")
	}
	return nil
}

// normalizeRequest checks scopes and extra authorization parameters.
func (c *ProviderConfig) normalizeRequest() error {
	if len(c.Scopes) == 0 {
		c.Scopes = defaultScopes()
	}
	// OIDC Core §3.1.2.1: "OpenID Connect requests MUST contain the openid
	// scope value."
	if !slices.Contains(c.Scopes, "openid") {
		return badKey("scopes", "must include openid")
	}
	for _, k := range slices.Sorted(maps.Keys(c.AuthParams)) {
		if isProtocolParam(k) {
			return badKey("auth_params."+k, "protocol parameters cannot be overridden")
		}
	}
	if _, _, err := maxAge(c.AuthParams); err != nil {
		return err
	}
	return nil
}

// normalizeDomains lower-cases the email domains and checks that each is a
// bare domain, since Set.ForEmail compares them with the part of an
// address after its "@".
func (c *ProviderConfig) normalizeDomains() error {
	for i, d := range c.EmailDomains {
		norm := strings.ToLower(strings.TrimSpace(d))
		if norm == "" || strings.ContainsAny(norm, "@/ ") {
			return badKey(fmt.Sprintf("email_domains[%d]", i), "%q is not a domain", d)
		}
		c.EmailDomains[i] = norm
	}
	return nil
}

// maxAge returns the max_age authorization parameter (OIDC Core §3.1.2.1)
// as a duration, if it is set.
func maxAge(params map[string]string) (time.Duration, bool, error) {
	v, ok := params["max_age"]
	if !ok {
		return 0, false, nil
	}
	secs, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return 0, false, badKey("auth_params.max_age", "%q is not a number of seconds", v)
	}
	return time.Duration(secs) * time.Second, true, nil
}

// clone returns a deep copy so callers cannot mutate a Provider's config.
func (c ProviderConfig) clone() ProviderConfig {
	if c.Metadata != nil {
		m := *c.Metadata
		m.IDTokenSigningAlgs = slices.Clone(m.IDTokenSigningAlgs)
		c.Metadata = &m
	}
	if c.Registration != nil {
		r := *c.Registration
		c.Registration = &r
	}
	c.Scopes = slices.Clone(c.Scopes)
	c.EmailDomains = slices.Clone(c.EmailDomains)
	c.AuthParams = maps.Clone(c.AuthParams)
	c.MFAAMR, c.MFAACR = slices.Clone(c.MFAAMR), slices.Clone(c.MFAACR)
	c.AdminGroups, c.AllowedGroups = slices.Clone(c.AdminGroups), slices.Clone(c.AllowedGroups)
	c.AllowedTenants = slices.Clone(c.AllowedTenants)
	return c
}

// validate checks OP metadata against the expected issuer: the issuer must
// match exactly (OIDC Discovery §4.3) and the endpoints this package calls
// must be present and use https when the issuer does.
func (m *Metadata) validate(issuer string) error {
	_, err := m.check(issuer)
	return err
}

// check is validate that also returns the metadata key at fault, which
// names the setting in the configuration file when the metadata is static.
func (m *Metadata) check(issuer string) (key string, err error) {
	if m.Issuer != issuer {
		return "issuer", fmt.Errorf("%w: metadata issuer %q, configured %q", ErrIssuerMismatch, m.Issuer, issuer)
	}
	required := []struct{ name, value string }{
		{"authorization_endpoint", m.AuthorizationEndpoint},
		{"token_endpoint", m.TokenEndpoint},
		{"jwks_uri", m.JWKSURI},
	}
	for _, e := range required {
		if e.value == "" {
			return e.name, fmt.Errorf("metadata lacks %s", e.name)
		}
	}
	optional := []struct{ name, value string }{
		{"userinfo_endpoint", m.UserinfoEndpoint},
		{"end_session_endpoint", m.EndSessionEndpoint},
		{"registration_endpoint", m.RegistrationEndpoint},
	}
	for _, e := range append(required, optional...) {
		if e.value == "" {
			continue
		}
		if err := checkEndpoint(e.name, e.value, issuer); err != nil {
			return e.name, err
		}
	}
	if _, err := allowedAlgs(m.IDTokenSigningAlgs); err != nil {
		return "id_token_signing_alg_values_supported", err
	}
	return "", nil
}

// checkIssuerURL enforces OIDC Discovery §3 on the issuer configured under
// key: a URL using the https scheme with no query or fragment. Plain http
// is tolerated only for loopback hosts so development and tests work
// without TLS.
func checkIssuerURL(key, issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return badKey(key, "%q is not an absolute URL", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return badKey(key, "%q must not have a query, fragment or userinfo", issuer)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return badKey(key, "%q must use https (plain http only on loopback)", issuer)
	}
	return nil
}

// checkEndpoint checks an OP endpoint URL. Endpoints of an https issuer
// must be https too: a downgrade would expose codes and tokens (OIDC Core
// §16.17).
func checkEndpoint(name, raw, issuer string) error {
	if err := checkURL(name, raw); err != nil {
		return err
	}
	if strings.HasPrefix(issuer, "https:") && !strings.HasPrefix(raw, "https:") {
		return fmt.Errorf("%s %q must use https", name, raw)
	}
	return nil
}

// checkURL checks that raw is an absolute http(s) URL without a fragment.
func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("%s %q must be an absolute http(s) URL without fragment", name, raw)
	}
	return nil
}

// isLoopback reports whether host names the local machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// configErr builds an ErrConfig with a formatted reason.
func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// asymmetricAlg reports whether alg is a JWS algorithm accepted for ID and
// logout tokens. Symmetric (HS*) algorithms are refused because the key
// would be the client secret, which the OP is not the only holder of, and
// "none" is refused because it is unsigned (OIDC Core §3.1.3.7 steps 6-8).
func asymmetricAlg(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
		"ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

// allowedAlgs is advertised ∩ asymmetric algorithms; RS256 when the OP
// advertises nothing (OIDC Core §3.1.3.7 step 7: "the default RS256").
func allowedAlgs(advertised []string) ([]string, error) {
	if len(advertised) == 0 {
		return []string{"RS256"}, nil
	}
	var algs []string
	for _, a := range advertised {
		if asymmetricAlg(a) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		return nil, errors.New("OP advertises no supported asymmetric ID token signing algorithm")
	}
	return algs, nil
}
