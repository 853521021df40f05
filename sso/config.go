package sso

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Token endpoint client authentication methods supported by this package
// (OIDC Core §9). private_key_jwt is not supported; "none" is refused because
// gatehouse is a confidential client.
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
)

// Defaults applied by NewProvider to zero-valued settings.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultClockSkew        = 2 * time.Minute
)

// ProviderConfig is one configured OpenID Provider. The config package
// validates and defaults it; NewProvider validates it again because a
// Provider must never run with a configuration that cannot be secure.
type ProviderConfig struct {
	// ID is the stable identifier used in URLs, storage keys and logs.
	ID string
	// Name is shown on the "Sign in with ..." button.
	Name string

	// Issuer selects discovery mode: the discovery document is fetched from
	// Issuer + "/.well-known/openid-configuration" and its issuer must equal
	// Issuer exactly (OIDC Discovery §4.3).
	Issuer string
	// Metadata selects static mode: no discovery request is ever made. If
	// Issuer is also set it must equal Metadata.Issuer.
	Metadata *Metadata

	// ClientID and ClientSecret identify a statically registered client.
	ClientID, ClientSecret string
	// Registration registers the client dynamically (RFC 7591) instead of
	// using ClientID; exactly one of the two must be set.
	Registration *RegistrationConfig

	// TokenEndpointAuthMethod is AuthMethodBasic (default) or
	// AuthMethodPost. It is never auto-detected: trying both would send the
	// secret to the OP in a way it did not ask for.
	TokenEndpointAuthMethod string

	// RedirectURL is the registered redirect_uri of the callback handler.
	RedirectURL string
	// PostLogoutRedirectURL, when set, is sent as post_logout_redirect_uri
	// (RP-Initiated Logout 1.0 §2) and registered dynamically.
	PostLogoutRedirectURL string
	// BackchannelLogoutURL, when set, is registered dynamically as the
	// backchannel_logout_uri (Back-Channel Logout 1.0 §2.2).
	BackchannelLogoutURL string

	// Scopes requested; default "openid profile email". Must contain openid.
	Scopes []string
	// AuthParams are extra authorization request parameters (prompt,
	// acr_values, domain_hint, max_age...). They must not name a protocol
	// parameter this package sets itself (see AuthCodeURL).
	AuthParams map[string]string

	// EmailDomains are the lower-case email domains this provider serves
	// and is authoritative for; Set.ForEmail routes on them.
	EmailDomains []string

	// Timeout bounds every outbound call; default DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes caps every response body read from the OP; default
	// DefaultMaxResponseBytes. Larger bodies are an error, never truncated.
	MaxResponseBytes int64
}

// Metadata is the subset of OP metadata (OIDC Discovery §3, RFC 8414,
// RP-Initiated Logout §2.1, RFC 9207 §3) this package uses. The JSON tags
// let a discovery document decode straight into it.
type Metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`
	RegistrationEndpoint  string `json:"registration_endpoint"`
	// IDTokenSigningAlgs is id_token_signing_alg_values_supported; only
	// asymmetric algorithms in it are accepted (RS256 when empty).
	IDTokenSigningAlgs []string `json:"id_token_signing_alg_values_supported"`
	// AuthorizationResponseISSParameterSupported (RFC 9207 §3): when true
	// an authorization response without iss is rejected.
	AuthorizationResponseISSParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// RegistrationConfig enables dynamic client registration (RFC 7591).
type RegistrationConfig struct {
	// Endpoint defaults to the metadata's registration_endpoint.
	Endpoint string
	// InitialAccessToken, when set, is sent as a Bearer token (RFC 7591 §3).
	InitialAccessToken string
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

// normalize validates c and returns a copy with defaults applied. The copy
// shares nothing mutable with c.
func (c ProviderConfig) normalize() (ProviderConfig, error) {
	if c.ID == "" {
		return c, configErr("id is required")
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if err := c.normalizeIssuer(); err != nil {
		return c, err
	}
	if err := c.normalizeClient(); err != nil {
		return c, err
	}
	if err := c.normalizeURLs(); err != nil {
		return c, err
	}
	if err := c.normalizeRequest(); err != nil {
		return c, err
	}
	domains := make([]string, 0, len(c.EmailDomains))
	for _, d := range c.EmailDomains {
		d = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), "@")
		if d == "" || strings.Contains(d, "@") {
			return c, configErr("invalid email domain %q", d)
		}
		domains = append(domains, d)
	}
	c.EmailDomains = domains
	if c.Timeout < 0 || c.MaxResponseBytes < 0 {
		return c, configErr("timeout and max response bytes must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return c, nil
}

// normalizeIssuer checks that exactly one of discovery and static metadata
// is configured and that the issuer is a valid Issuer Identifier.
func (c *ProviderConfig) normalizeIssuer() error {
	if c.Metadata == nil {
		if c.Issuer == "" {
			return configErr("issuer or static metadata is required")
		}
		return checkIssuerURL(c.Issuer)
	}
	m := *c.Metadata
	m.IDTokenSigningAlgs = slices.Clone(m.IDTokenSigningAlgs)
	c.Metadata = &m
	if c.Issuer == "" {
		c.Issuer = m.Issuer
	}
	if err := checkIssuerURL(c.Issuer); err != nil {
		return err
	}
	if err := m.validate(c.Issuer); err != nil {
		return fmt.Errorf("%w: static metadata: %w", ErrConfig, err)
	}
	return nil
}

// normalizeClient checks the client credentials and auth method.
func (c *ProviderConfig) normalizeClient() error {
	switch {
	case c.Registration != nil && c.ClientID != "":
		return configErr("client_id and dynamic registration are mutually exclusive")
	case c.Registration == nil && c.ClientID == "":
		return configErr("client_id or dynamic registration is required")
	case c.Registration == nil && c.ClientSecret == "":
		return configErr("client_secret is required for a confidential client")
	}
	if c.Registration != nil {
		r := *c.Registration
		c.Registration = &r
		if r.Endpoint != "" {
			if err := checkEndpoint("registration endpoint", r.Endpoint, c.Issuer); err != nil {
				return fmt.Errorf("%w: %w", ErrConfig, err)
			}
		}
	}
	switch c.TokenEndpointAuthMethod {
	case "":
		c.TokenEndpointAuthMethod = AuthMethodBasic
	case AuthMethodBasic, AuthMethodPost:
	default:
		return configErr("unsupported token endpoint auth method %q", c.TokenEndpointAuthMethod)
	}
	return nil
}

// normalizeURLs checks the RP's own URLs.
func (c *ProviderConfig) normalizeURLs() error {
	if c.RedirectURL == "" {
		return configErr("redirect URL is required")
	}
	for _, u := range []struct{ name, value string }{
		{"redirect URL", c.RedirectURL},
		{"post-logout redirect URL", c.PostLogoutRedirectURL},
		{"back-channel logout URL", c.BackchannelLogoutURL},
	} {
		if u.value == "" {
			continue
		}
		if err := checkURL(u.name, u.value); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return nil
}

// normalizeRequest checks scopes and extra authorization parameters.
func (c *ProviderConfig) normalizeRequest() error {
	if len(c.Scopes) == 0 {
		c.Scopes = defaultScopes()
	} else {
		c.Scopes = slices.Clone(c.Scopes)
	}
	// OIDC Core §3.1.2.1: "OpenID Connect requests MUST contain the openid
	// scope value."
	if !slices.Contains(c.Scopes, "openid") {
		return configErr("scopes must include openid")
	}
	params := make(map[string]string, len(c.AuthParams))
	for k, v := range c.AuthParams {
		if isProtocolParam(k) {
			return configErr("auth param %q is set by the protocol and cannot be configured", k)
		}
		params[k] = v
	}
	c.AuthParams = params
	return nil
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
	params := make(map[string]string, len(c.AuthParams))
	for k, v := range c.AuthParams {
		params[k] = v
	}
	c.AuthParams = params
	return c
}

// validate checks OP metadata against the expected issuer: the issuer must
// match exactly (OIDC Discovery §4.3) and the endpoints this package calls
// must be present and use https when the issuer does.
func (m *Metadata) validate(issuer string) error {
	if m.Issuer != issuer {
		return fmt.Errorf("%w: metadata issuer %q, configured %q", ErrIssuerMismatch, m.Issuer, issuer)
	}
	required := []struct{ name, value string }{
		{"authorization_endpoint", m.AuthorizationEndpoint},
		{"token_endpoint", m.TokenEndpoint},
		{"jwks_uri", m.JWKSURI},
	}
	for _, e := range required {
		if e.value == "" {
			return fmt.Errorf("metadata lacks %s", e.name)
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
			return err
		}
	}
	if _, err := allowedAlgs(m.IDTokenSigningAlgs); err != nil {
		return err
	}
	return nil
}

// checkIssuerURL enforces OIDC Discovery §3: the issuer is a URL using the
// https scheme with no query or fragment. Plain http is tolerated only for
// loopback hosts so development and tests work without TLS.
func checkIssuerURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return configErr("issuer %q is not an absolute URL", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return configErr("issuer %q must not have a query, fragment or userinfo", issuer)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return configErr("issuer %q must use https", issuer)
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
