package sso

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// metadata returns the static metadata or discovers it.
func (p *Provider) metadata(ctx context.Context) (*Metadata, error) {
	if p.cfg.Metadata != nil {
		m := *p.cfg.Metadata
		return &m, nil
	}
	return p.discover(ctx)
}

// discover fetches the OP's configuration (OIDC Discovery §4) and checks
// that its issuer is exactly the configured one (§4.3): otherwise anyone
// able to serve that document could issue tokens we accept. A
// multi-tenant Entra ID app's document names a template instead
// ({tenantid} in place of the tenant, on the same host), which each
// token's issuer then fills with an allowed tenant.
func (p *Provider) discover(ctx context.Context) (*Metadata, error) {
	m, err := fetchMetadata(ctx, p.http, p.cfg.Issuer, p.cfg.MultiTenant())
	if err != nil {
		return nil, err
	}
	p.log.Info("sso: discovered provider metadata", "issuer", m.Issuer)
	return m, nil
}

// WellKnownPath is where an issuer publishes its discovery document
// (OIDC Discovery §4).
const WellKnownPath = "/.well-known/openid-configuration"

// Discover runs OpenID Connect discovery for an issuer that is not
// configured yet, so an administrator can check it before writing the
// configuration. The issuer must pass the rules a configured one does
// (https, or plain http on loopback; a *ConfigError with key "issuer"
// otherwise), and the call has the limits of a provider's: base supplies
// the transport and redirect policy, DefaultTimeout bounds it and
// DefaultMaxResponseBytes caps the document. The document's issuer must
// be exactly the given one (ErrIssuerMismatch).
func Discover(ctx context.Context, base *http.Client, issuer string) (Metadata, error) {
	if err := checkIssuerURL("issuer", issuer); err != nil {
		return Metadata{}, err
	}
	m, err := fetchMetadata(ctx, newHTTPClient(base, DefaultTimeout, DefaultMaxResponseBytes), issuer, false)
	if err != nil {
		return Metadata{}, err
	}
	return *m, nil
}

// fetchMetadata fetches and checks issuer's discovery document; with
// template, a tenant template of issuer is accepted as its issuer.
func fetchMetadata(ctx context.Context, client *http.Client, issuer string, template bool) (*Metadata, error) {
	wellKnown := strings.TrimSuffix(issuer, "/") + WellKnownPath
	req, err := http.NewRequest(http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	r, err := do(ctx, client, req, "discovery")
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, unavailable("discovery", fmt.Errorf("unexpected HTTP status %d", r.status))
	}
	var m Metadata
	if err := json.Unmarshal(r.body, &m); err != nil {
		return nil, unavailable("discovery", fmt.Errorf("document is not JSON metadata: %w", err))
	}
	if m.Issuer != issuer && !(template && issuerTemplate(issuer, m.Issuer)) {
		return nil, fmt.Errorf("discovery: %w: document says %q, configured %q", ErrIssuerMismatch, m.Issuer, issuer)
	}
	if err := m.validate(m.Issuer); err != nil {
		return nil, unavailable("discovery", err)
	}
	return &m, nil
}

// SuggestID proposes a provider id and display name for issuer, from its
// host: the organisation's label, without a leading login, auth, sso...
// label or the top-level domain ("https://login.acme.com/x" gives "acme"
// and "Acme"). The id always passes Normalize; "sso" when nothing better
// is found.
func SuggestID(issuer string) (id, name string) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "sso", "SSO"
	}
	host := strings.ToLower(u.Hostname())
	labels := strings.Split(host, ".")
	candidate := ""
	if net.ParseIP(host) == nil && host != "localhost" && len(labels) >= 2 {
		labels = labels[:len(labels)-1] // the top-level domain
		if n := len(labels); n >= 2 && isSecondLevel(labels[n-1]) {
			labels = labels[:n-1] // co.uk, com.au...
		}
		candidate = labels[len(labels)-1]
	} else if segs := strings.Split(strings.Trim(u.Path, "/"), "/"); segs[len(segs)-1] != "" {
		candidate = strings.ToLower(segs[len(segs)-1]) // a local OP: http://127.0.0.1:5556/dex
	}
	var b strings.Builder
	for _, r := range candidate {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	id = strings.Trim(b.String(), "-_")
	if id == "" {
		return "sso", "SSO"
	}
	return id, strings.ToUpper(id[:1]) + id[1:]
}

// isSecondLevel reports whether label is a common second-level domain
// under a country code (example.co.uk).
func isSecondLevel(label string) bool {
	switch label {
	case "co", "com", "ac", "org", "net", "gov", "edu":
		return true
	}
	return false
}
