package sso

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
// able to serve that document could issue tokens we accept.
func (p *Provider) discover(ctx context.Context) (*Metadata, error) {
	wellKnown := strings.TrimSuffix(p.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequest(http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	r, err := do(ctx, p.http, req, "discovery")
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
	if m.Issuer != p.cfg.Issuer {
		return nil, fmt.Errorf("discovery: %w: document says %q, configured %q", ErrIssuerMismatch, m.Issuer, p.cfg.Issuer)
	}
	if err := m.validate(p.cfg.Issuer); err != nil {
		return nil, unavailable("discovery", err)
	}
	p.log.Info("sso: discovered provider metadata", "issuer", m.Issuer)
	return &m, nil
}
