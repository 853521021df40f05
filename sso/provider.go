package sso

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Options are the dependencies of a Provider. Every field is optional
// except the stores, which are required by the features that use them.
type Options struct {
	// HTTPClient supplies the transport and redirect policy for outbound
	// calls; its Timeout is replaced by ProviderConfig.Timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand is the source of state, nonce and PKCE verifiers; default
	// crypto/rand.Reader. It must be safe for concurrent use.
	Rand io.Reader
	// Logger receives operational events; default discards them. Tokens,
	// codes and secrets are never logged.
	Logger *slog.Logger
	// Registrations is required when ProviderConfig.Registration is set.
	Registrations RegistrationStore
	// Replays is required by VerifyLogoutToken.
	Replays ReplayStore
	// ClockSkew tolerated between us and the OP; default DefaultClockSkew.
	ClockSkew time.Duration
}

// Retry schedule for failed discovery or registration: the first retry is
// allowed after backoffBase and each failure doubles the wait up to
// backoffMax, so a dead OP costs at most one request per backoffMax.
const (
	backoffBase = time.Second
	backoffMax  = 30 * time.Second
)

// Provider is one OpenID Provider as seen by the relying party. It is safe
// for concurrent use. Creating it makes no network call; discovery and
// dynamic registration happen on first use and are cached.
type Provider struct {
	cfg           ProviderConfig
	maxAge        time.Duration // from AuthParams["max_age"]; valid if hasMaxAge
	hasMaxAge     bool
	http          *http.Client
	now           func() time.Time
	rand          io.Reader
	log           *slog.Logger
	registrations RegistrationStore
	replays       ReplayStore
	skew          time.Duration

	// rt is set once setup succeeded; it is the lock-free fast path.
	rt atomic.Pointer[resolved]
	// userinfoWorks is set once UserInfo accepted a refreshed access
	// token (CheckRefresh): from then on its 401 is a revocation.
	userinfoWorks atomic.Bool

	// setup is a one-slot semaphore held while setting up. It guards the
	// fields below and makes concurrent first uses share one discovery.
	setup    chan struct{}
	meta     *Metadata
	keys     *keySet
	failures int
	retryAt  time.Time
	lastErr  error
}

// resolved is everything learned during setup. It is immutable.
type resolved struct {
	meta     Metadata
	algs     []string
	client   clientCredentials
	oauth    *oauth2.Config
	keys     *keySet
	verifier *oidc.IDTokenVerifier
}

// NewProvider validates cfg and returns a Provider. It makes no network
// call, so the application starts while the OP is down. cfg is normalized
// with no base URL: the redirect URL must be set (Normalize with the base
// URL fills it).
func NewProvider(cfg ProviderConfig, opts Options) (*Provider, error) {
	cfg, err := cfg.Normalize("")
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", cfg.ID, err)
	}
	cfg.Issuer = cfg.issuer() // the rest of the package reads the issuer in force from Issuer
	if cfg.Registration != nil && opts.Registrations == nil {
		return nil, fmt.Errorf("provider %q: %w: dynamic registration needs a RegistrationStore", cfg.ID, ErrConfig)
	}
	if opts.ClockSkew < 0 {
		return nil, fmt.Errorf("provider %q: %w: negative clock skew", cfg.ID, ErrConfig)
	}
	p := &Provider{
		cfg:           cfg,
		http:          newHTTPClient(opts.HTTPClient, cfg.Timeout, cfg.MaxResponseBytes),
		now:           opts.Now,
		rand:          opts.Rand,
		log:           opts.Logger,
		registrations: opts.Registrations,
		replays:       opts.Replays,
		skew:          opts.ClockSkew,
		setup:         make(chan struct{}, 1),
	}
	if p.maxAge, p.hasMaxAge, err = maxAge(cfg.AuthParams); err != nil {
		return nil, fmt.Errorf("provider %q: %w", cfg.ID, err)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("provider", cfg.ID)
	if p.skew == 0 {
		p.skew = DefaultClockSkew
	}
	return p, nil
}

// ID returns the provider's configured identifier.
func (p *Provider) ID() string { return p.cfg.ID }

// Name returns the provider's display name.
func (p *Provider) Name() string { return p.cfg.Name }

// IssuedBy reports whether iss names this provider: its issuer exactly,
// or for a multi-tenant Entra ID app an allowed tenant's issuer (which
// needs the discovered template; false while the provider is down).
func (p *Provider) IssuedBy(ctx context.Context, iss string) bool {
	if iss == "" {
		return false
	}
	if iss == p.cfg.Issuer {
		return true
	}
	if !p.cfg.MultiTenant() {
		return false
	}
	rt, err := p.ready(ctx)
	if err != nil {
		return false
	}
	for _, tid := range p.cfg.AllowedTenants {
		if iss == p.cfg.TenantIssuer(rt.meta.Issuer, tid) {
			return true
		}
	}
	return false
}

// GroupsClaim is where the provider's tokens carry groups.
func (p *Provider) GroupsClaim() string { return p.cfg.GroupsClaim }

// Issuer returns the configured issuer identifier; tokens must carry
// exactly this value. It needs no network call.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Config returns a copy of the provider's configuration with defaults
// applied, fit to be given to NewProvider again.
func (p *Provider) Config() ProviderConfig {
	c := p.cfg.clone()
	if c.Metadata != nil {
		c.Issuer = "" // static mode: the issuer is Metadata.Issuer
	}
	return c
}

// ClientID returns the client_id in use, registering dynamically first if
// needed.
func (p *Provider) ClientID(ctx context.Context) (string, error) {
	rt, err := p.ready(ctx)
	if err != nil {
		return "", err
	}
	return rt.client.id, nil
}

// Metadata returns the OP metadata in use, discovering it first if needed.
func (p *Provider) Metadata(ctx context.Context) (Metadata, error) {
	rt, err := p.ready(ctx)
	if err != nil {
		return Metadata{}, err
	}
	m := rt.meta
	m.IDTokenSigningAlgs = append([]string(nil), m.IDTokenSigningAlgs...)
	m.ScopesSupported = append([]string(nil), m.ScopesSupported...)
	return m, nil
}

// Authoritative reports whether email's domain is one of EmailDomains,
// i.e. whether this provider may speak for that address.
func (p *Provider) Authoritative(email string) bool {
	d := EmailDomain(email)
	for _, want := range p.cfg.EmailDomains {
		if d != "" && d == want {
			return true
		}
	}
	return false
}

// ready returns the resolved provider, setting it up on first use. After
// a failure it refuses to retry (returning the last error, without a
// network call) until the backoff has elapsed, so an unreachable OP is not
// hammered by every page view.
func (p *Provider) ready(ctx context.Context) (*resolved, error) {
	if rt := p.rt.Load(); rt != nil {
		return rt, nil
	}
	select {
	case p.setup <- struct{}{}:
	case <-ctx.Done():
		return nil, unavailable("waiting for provider setup", ctx.Err())
	}
	defer func() { <-p.setup }()
	if rt := p.rt.Load(); rt != nil {
		return rt, nil
	}
	now := p.now()
	if now.Before(p.retryAt) {
		return nil, fmt.Errorf("provider %q: not retrying before %s: %w",
			p.cfg.ID, p.retryAt.UTC().Format(time.RFC3339), p.lastErr)
	}
	rt, err := p.build(ctx)
	if err != nil {
		// A caller that gave up is not evidence against the OP.
		if ctx.Err() == nil {
			p.failures++
			p.retryAt = now.Add(backoff(p.failures))
			p.lastErr = err
			p.log.Warn("sso: provider setup failed", "err", err, "retry_at", p.retryAt)
		}
		return nil, fmt.Errorf("provider %q: %w", p.cfg.ID, err)
	}
	p.failures, p.retryAt, p.lastErr = 0, time.Time{}, nil
	p.rt.Store(rt)
	return rt, nil
}

// backoff is the wait after the n-th consecutive failure (n >= 1).
func backoff(n int) time.Duration {
	d := backoffBase << min(n-1, 16)
	return min(d, backoffMax)
}

// build runs discovery (once, cached even if registration then fails) and
// client setup, and assembles the resolved provider. Called with p.setup
// held.
func (p *Provider) build(ctx context.Context) (*resolved, error) {
	if p.meta == nil {
		meta, err := p.metadata(ctx)
		if err != nil {
			return nil, err
		}
		p.meta = meta
		p.keys = newKeySet(meta.JWKSURI, p.http, p.now)
	}
	client, err := p.credentials(ctx, p.meta)
	if err != nil {
		return nil, err
	}
	algs, err := allowedAlgs(p.meta.IDTokenSigningAlgs)
	if err != nil {
		return nil, err // unreachable: validated with the metadata
	}
	style := oauth2.AuthStyleInHeader
	if client.authMethod == AuthMethodPost {
		style = oauth2.AuthStyleInParams
	}
	rt := &resolved{
		meta:   *p.meta,
		algs:   algs,
		client: client,
		keys:   p.keys,
		oauth: &oauth2.Config{
			ClientID:     client.id,
			ClientSecret: client.secret,
			RedirectURL:  p.cfg.RedirectURL,
			Scopes:       p.cfg.Scopes,
			Endpoint: oauth2.Endpoint{
				AuthURL:   p.meta.AuthorizationEndpoint,
				TokenURL:  p.meta.TokenEndpoint,
				AuthStyle: style,
			},
		},
	}
	rt.verifier = oidc.NewVerifier(p.cfg.Issuer, keySetVerifier{keys: p.keys, algs: algs}, &oidc.Config{
		ClientID:             client.id,
		SupportedSigningAlgs: algs,
		// A multi-tenant app's tokens each have their tenant's issuer,
		// which idTokenClaims.validate checks (expectedIssuer).
		SkipIssuerCheck: p.cfg.MultiTenant(),
		// go-oidc has no leeway on exp; shifting its clock back by the
		// skew gives it the same tolerance as our own checks.
		Now: func() time.Time { return p.now().Add(-p.skew) },
	})
	return rt, nil
}
