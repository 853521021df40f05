package sso

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// ClientRegistration is the result of dynamic client registration
// (RFC 7591 §3.2.1) as persisted by a RegistrationStore. ClientSecret and
// RegistrationAccessToken are credentials: store them as such.
type ClientRegistration struct {
	ProviderID, Issuer     string
	ClientID, ClientSecret string
	// RegistrationAccessToken and RegistrationClientURI allow managing the
	// registration later (RFC 7592).
	RegistrationAccessToken string
	RegistrationClientURI   string
	// Raw is the full JSON registration response; the token endpoint auth
	// method the OP actually granted is read from it.
	Raw       []byte
	CreatedAt time.Time
}

// RegistrationStore persists dynamic registrations so there is ONE
// registration per provider+issuer across restarts and replicas.
type RegistrationStore interface {
	// Registration returns the stored registration, or nil, nil when none.
	Registration(ctx context.Context, providerID, issuer string) (*ClientRegistration, error)
	// SaveRegistration stores reg unless one already exists for
	// (providerID, issuer); it returns the stored one (the winner of a race).
	SaveRegistration(ctx context.Context, reg *ClientRegistration) (*ClientRegistration, error)
}

// RegistrationLocker is a RegistrationStore shared by several processes
// that can keep them from registering at once. Insert-if-absent alone
// keeps one stored registration, but every replica that found none on its
// first use has registered a client of its own at the OP by then, and the
// losers' clients stay there unless the OP supports deleting them (RFC
// 7592). WithRegistrationLock runs fn while no other process runs it for
// the same provider and issuer, handing it the store to use inside the
// lock, so the first registers and the others find its registration.
type RegistrationLocker interface {
	WithRegistrationLock(ctx context.Context, providerID, issuer string, fn func(ctx context.Context, store RegistrationStore) error) error
}

// registrationRequest is the client metadata we register (RFC 7591 §2,
// OIDC Dynamic Registration §2, RP-Initiated Logout §3.1,
// Back-Channel Logout §2.2).
type registrationRequest struct {
	RedirectURIs                     []string `json:"redirect_uris"`
	PostLogoutRedirectURIs           []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI             string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool     `json:"backchannel_logout_session_required"`
	TokenEndpointAuthMethod          string   `json:"token_endpoint_auth_method"`
	GrantTypes                       []string `json:"grant_types"`
	ResponseTypes                    []string `json:"response_types"`
	ClientName                       string   `json:"client_name,omitempty"`
	ApplicationType                  string   `json:"application_type"`
}

// registrationResponse is the part of RFC 7591 §3.2.1 we read.
type registrationResponse struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
}

// clientCredentials is what the token endpoint needs to authenticate us.
type clientCredentials struct {
	id, secret, authMethod string
}

// credentials returns the static client, or the dynamic registration for
// this provider and issuer: the stored one if any, otherwise a new one,
// keeping whichever registration won a race to the store.
func (p *Provider) credentials(ctx context.Context, meta *Metadata) (clientCredentials, error) {
	if p.cfg.Registration == nil {
		return clientCredentials{p.cfg.ClientID, p.cfg.ClientSecret, p.cfg.TokenEndpointAuthMethod}, nil
	}
	reg, err := p.registrations.Registration(ctx, p.cfg.ID, p.cfg.Issuer)
	if err != nil {
		return clientCredentials{}, fmt.Errorf("%w: loading stored registration: %w", ErrRegistration, err)
	}
	if reg == nil {
		if reg, err = p.registerOnce(ctx, meta); err != nil {
			return clientCredentials{}, err
		}
	}
	return p.credentialsFrom(reg)
}

// registerOnce is registerAndSave under the store's lock when it has one,
// looking again for a registration another process stored while this one
// waited; Provider's setup already keeps one process to one registration.
func (p *Provider) registerOnce(ctx context.Context, meta *Metadata) (*ClientRegistration, error) {
	l, ok := p.registrations.(RegistrationLocker)
	if !ok {
		return p.registerAndSave(ctx, p.registrations, meta)
	}
	var reg *ClientRegistration
	err := l.WithRegistrationLock(ctx, p.cfg.ID, p.cfg.Issuer, func(ctx context.Context, store RegistrationStore) error {
		var err error
		if reg, err = store.Registration(ctx, p.cfg.ID, p.cfg.Issuer); err != nil {
			return fmt.Errorf("%w: loading stored registration: %w", ErrRegistration, err)
		}
		if reg == nil {
			reg, err = p.registerAndSave(ctx, store, meta)
		}
		return err
	})
	if err != nil && !errors.Is(err, ErrRegistration) {
		err = fmt.Errorf("%w: %w", ErrRegistration, err)
	}
	return reg, err
}

// registerAndSave registers a new client and stores it. If another
// instance stored one first, ours is deleted at the OP (best effort) and
// theirs is used, so every replica shares one client_id.
func (p *Provider) registerAndSave(ctx context.Context, store RegistrationStore, meta *Metadata) (*ClientRegistration, error) {
	mine, err := p.register(ctx, meta)
	if err != nil {
		return nil, err
	}
	winner, err := store.SaveRegistration(ctx, mine)
	if err != nil {
		p.deregister(ctx, mine)
		return nil, fmt.Errorf("%w: saving registration: %w", ErrRegistration, err)
	}
	if winner == nil {
		return nil, fmt.Errorf("%w: store returned no registration", ErrRegistration)
	}
	if winner.ClientID != mine.ClientID {
		p.log.Info("sso: another instance registered first; using its client", "client_id", winner.ClientID)
		p.deregister(ctx, mine)
	} else {
		p.log.Info("sso: registered client dynamically", "client_id", mine.ClientID)
	}
	return winner, nil
}

// register performs RFC 7591 §3.1: POST the client metadata as JSON,
// authenticated with the initial access token when one is configured.
func (p *Provider) register(ctx context.Context, meta *Metadata) (*ClientRegistration, error) {
	endpoint := p.cfg.Registration.Endpoint
	if endpoint == "" {
		endpoint = meta.RegistrationEndpoint
	}
	if endpoint == "" {
		return nil, fmt.Errorf("%w: %w: no registration endpoint configured or advertised", ErrRegistration, ErrConfig)
	}
	body, err := json.Marshal(p.registrationRequest())
	if err != nil {
		return nil, fmt.Errorf("%w: encoding request: %w", ErrRegistration, err)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistration, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if tok := p.cfg.Registration.InitialAccessToken; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	r, err := do(ctx, p.http, req, "registration endpoint")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistration, err)
	}
	// RFC 7591 §3.2.1 says 201 Created; some servers answer 200.
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		return nil, fmt.Errorf("%w: %w", ErrRegistration, oauthStatusError("registration endpoint", r))
	}
	var resp registrationResponse
	if err := json.Unmarshal(r.body, &resp); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistration, unavailable("registration endpoint", errors.New("response is not JSON client metadata")))
	}
	reg := &ClientRegistration{
		ProviderID:              p.cfg.ID,
		Issuer:                  p.cfg.Issuer,
		ClientID:                resp.ClientID,
		ClientSecret:            resp.ClientSecret,
		RegistrationAccessToken: resp.RegistrationAccessToken,
		RegistrationClientURI:   resp.RegistrationClientURI,
		Raw:                     r.body,
		CreatedAt:               p.now(),
	}
	if _, err := p.credentialsFrom(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// registrationRequest builds the client metadata from the configuration.
func (p *Provider) registrationRequest() registrationRequest {
	req := registrationRequest{
		RedirectURIs:            []string{p.cfg.RedirectURL},
		BackchannelLogoutURI:    p.cfg.BackchannelLogoutURL,
		TokenEndpointAuthMethod: p.cfg.TokenEndpointAuthMethod,
		GrantTypes:              []string{"authorization_code"},
		ResponseTypes:           []string{"code"},
		ClientName:              p.cfg.Name,
		ApplicationType:         "web",
	}
	if p.cfg.PostLogoutRedirectURL != "" {
		req.PostLogoutRedirectURIs = []string{p.cfg.PostLogoutRedirectURL}
	}
	return req
}

// credentialsFrom returns the credentials of a registration. The token
// endpoint auth method is read from the raw response, since the OP may
// grant another method than the one requested (RFC 7591 §3.2.1); without a
// raw response the requested method is assumed.
func (p *Provider) credentialsFrom(reg *ClientRegistration) (clientCredentials, error) {
	if reg.ClientID == "" || reg.ClientSecret == "" {
		return clientCredentials{}, fmt.Errorf("%w: registration lacks client_id or client_secret", ErrRegistration)
	}
	method := p.cfg.TokenEndpointAuthMethod
	if len(reg.Raw) > 0 {
		var granted struct {
			Method string `json:"token_endpoint_auth_method"`
		}
		if err := json.Unmarshal(reg.Raw, &granted); err != nil {
			return clientCredentials{}, fmt.Errorf("%w: registration response is not JSON: %w", ErrRegistration, err)
		}
		// RFC 7591 §2: "If unspecified or omitted, the default is
		// client_secret_basic".
		method = cmp.Or(granted.Method, AuthMethodBasic)
	}
	if method != AuthMethodBasic && method != AuthMethodPost {
		return clientCredentials{}, fmt.Errorf("%w: OP granted unsupported token_endpoint_auth_method %q", ErrRegistration, method)
	}
	return clientCredentials{id: reg.ClientID, secret: reg.ClientSecret, authMethod: method}, nil
}

// deregister deletes a registration we will not use (RFC 7592 §2.3). It is
// best effort: failure leaves an unused client at the OP, which is logged.
func (p *Provider) deregister(ctx context.Context, reg *ClientRegistration) {
	if reg.RegistrationClientURI == "" || reg.RegistrationAccessToken == "" {
		return
	}
	if err := checkURL("registration_client_uri", reg.RegistrationClientURI); err != nil {
		p.log.Warn("sso: cannot delete unused client registration", "client_id", reg.ClientID, "err", err)
		return
	}
	req, err := http.NewRequest(http.MethodDelete, reg.RegistrationClientURI, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+reg.RegistrationAccessToken)
	r, err := do(ctx, p.http, req, "client configuration endpoint")
	if err == nil && r.status != http.StatusNoContent && r.status != http.StatusOK {
		err = fmt.Errorf("unexpected HTTP status %d", r.status)
	}
	if err != nil {
		p.log.Warn("sso: could not delete unused client registration", "client_id", reg.ClientID, "err", err)
	}
}

// oauthError is an OAuth error response body (RFC 6749 §5.2,
// RFC 7591 §3.2.2).
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// oauthStatusError describes a non-success response, including the OAuth
// error code when the body carries one. Server errors are ErrUnavailable.
func oauthStatusError(what string, r *response) error {
	var e oauthError
	if json.Unmarshal(r.body, &e) == nil && e.Code != "" && r.status < 500 {
		return fmt.Errorf("%s: HTTP %d: %s", what, r.status, describeOAuthError(e.Code, e.Description))
	}
	return statusError(what, r)
}

// describeOAuthError formats an OAuth error code and description for an
// error message, bounding the OP-supplied text.
func describeOAuthError(code, description string) string {
	if description == "" {
		return fmt.Sprintf("%q", truncate(code, 100))
	}
	return fmt.Sprintf("%q (%q)", truncate(code, 100), truncate(description, 200))
}

// truncate shortens OP-supplied text before it goes into an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
