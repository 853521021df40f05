// Package testop is a small but real OpenID Provider served over loopback
// HTTP.
//
// It exists so gatehouse can run end-to-end OIDC tests against a provider it
// fully controls, including one that misbehaves on purpose (see Behavior), and
// so `gatehouse demo` can offer a sign-in page without a third-party IdP.
//
// It implements the authorization code flow with mandatory PKCE (OIDC Core 1.0
// §3.1, RFC 7636), discovery (OIDC Discovery 1.0 §3), dynamic client
// registration (RFC 7591), RP-Initiated Logout 1.0, Back-Channel Logout 1.0 and
// the authorization response "iss" parameter (RFC 9207). It is not meant for
// production: all state lives in memory and there is no TLS.
package testop

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Endpoint names, used as keys of Provider.Counts and to target per-endpoint
// misbehaviour in Behavior.
const (
	EndpointDiscovery    = "discovery"
	EndpointAuthorize    = "authorize"
	EndpointToken        = "token"
	EndpointUserinfo     = "userinfo"
	EndpointJWKS         = "jwks"
	EndpointRegistration = "registration"
	EndpointEndSession   = "end_session"
)

// Client authentication methods at the token endpoint (OIDC Core §9).
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
)

// CodeTTL is how long an authorization code stays redeemable. OIDC Core and
// RFC 6749 §4.1.2 recommend a short lifetime (at most 10 minutes).
const CodeTTL = 60 * time.Second

// Options configures a Provider. The zero value is usable: it listens on a
// random loopback port and knows no clients or users.
type Options struct {
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
	// Clients are pre-registered (static) clients.
	Clients []Client
	// Users are the accounts the provider can sign in; the demo page lists them.
	Users []User
	// Now returns the current time; default time.Now. Injectable so tests can
	// issue tokens that are already expired or not yet valid.
	Now func() time.Time
	// Logger receives debug logs about requests and rejections; default discards.
	Logger *slog.Logger
	// TokenTTL is the lifetime of access and ID tokens; default one hour.
	TokenTTL time.Duration
	// InitialAccessToken, when set, must be presented as a Bearer token to the
	// registration endpoint (RFC 7591 §3).
	InitialAccessToken string
	// TenantIssuers makes the provider multi-tenant as Entra ID's
	// "organizations" endpoint is: its discovery document names the
	// issuer Issuer()+"/{tenantid}/v2.0", and each ID token's iss is that
	// with the user's tid claim (User.Extra["tid"]) in place.
	TenantIssuers bool
}

// Client is an OAuth 2.0 client (relying party) known to the provider.
type Client struct {
	// ID and Secret are the client credentials (RFC 6749 §2.2, §2.3.1).
	ID, Secret string
	// Name is the human-readable client_name shown on the demo page.
	Name string
	// RedirectURIs must match the authorization request's redirect_uri
	// exactly (OIDC Core §3.1.2.1).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the allowed targets after RP-Initiated
	// Logout (RP-Initiated Logout 1.0 §3.1).
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives logout tokens (Back-Channel Logout 1.0 §2.2).
	BackchannelLogoutURI string
	// TokenEndpointAuthMethod is AuthMethodBasic (default) or AuthMethodPost.
	TokenEndpointAuthMethod string
}

// authMethod returns the effective token endpoint auth method; RFC 7591 §2
// makes client_secret_basic the default.
func (c Client) authMethod() string {
	if c.TokenEndpointAuthMethod == "" {
		return AuthMethodBasic
	}
	return c.TokenEndpointAuthMethod
}

// clone deep-copies c so callers cannot race with the provider.
func (c Client) clone() Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	return c
}

// User is an end-user account whose claims end up in ID tokens and userinfo.
type User struct {
	// Subject is the stable "sub" claim; Email and Name become the claims of
	// the same name and are omitted when empty (OIDC Core §5.1).
	Subject, Email, Name string
	// EmailVerified is copied verbatim into the email_verified claim: nil omits
	// the claim, and a non-bool (e.g. the string "true") lets negative tests
	// check that the relying party insists on a JSON boolean.
	EmailVerified any
	// Extra claims are merged into the ID token and userinfo response.
	Extra map[string]any
	// UserinfoOnly claims are in the userinfo response alone (as Okta's
	// org server puts groups), IDTokenOnly in the ID token alone (as
	// Entra ID's overage names a Graph source in _claim_names).
	UserinfoOnly, IDTokenOnly map[string]any
	// Password is unused; accepted so demo configuration can carry one.
	Password string
}

// Provider is a running OpenID Provider. All methods are safe for concurrent
// use.
type Provider struct {
	issuer             string
	cookieName         string
	now                func() time.Time
	log                *slog.Logger
	tokenTTL           time.Duration
	initialAccessToken string
	tenantIssuers      bool
	users              []User
	handler            http.Handler
	httpClient         *http.Client
	srv                *http.Server
	closed             chan struct{} // closed by Close; releases hung handlers
	serveDone          chan struct{}
	closeOnce          sync.Once

	mu             sync.Mutex
	clients        []Client
	loginUser      *User
	behavior       Behavior
	counts         map[string]int
	codes          map[string]authCode
	tokens         map[string]accessToken
	refresh        map[string]refreshGrant // refresh tokens, by value
	sessions       map[string]idpSession   // by sid, which is also the cookie value
	key            signingKey
	foreignKey     *rsa.PrivateKey
	pubKeys        map[string]*rsa.PublicKey // every key ever used, by kid
	lastAuthorize  url.Values
	lastToken      url.Values
	lastEndSession url.Values
}

// authCode is an issued, not yet redeemed authorization code.
type authCode struct {
	clientID, redirectURI string
	challenge, nonce      string
	scope                 string
	session               idpSession
	expires               time.Time
}

// accessToken is what the provider remembers about an issued access token.
type accessToken struct {
	user    User
	expires time.Time
}

// refreshGrant is what the provider remembers about an issued refresh
// token (RFC 6749 §6).
type refreshGrant struct {
	clientID string
	user     User
}

// idpSession is the provider's own login session for one browser.
type idpSession struct {
	sid      string
	user     User
	authTime time.Time
}

// Start validates opts, listens on opts.Addr and serves in a goroutine until
// Close is called.
func Start(opts Options) (*Provider, error) {
	p, err := newProvider(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cmp.Or(opts.Addr, "127.0.0.1:0"))
	if err != nil {
		return nil, fmt.Errorf("testop: listen: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p.issuer = "http://" + ln.Addr().String()
	// Cookies ignore ports, so the name carries it to keep several providers
	// (and the relying party) on 127.0.0.1 apart.
	p.cookieName = "testop_session_" + port
	p.srv = &http.Server{
		Handler:           p.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(p.serveDone)
		if err := p.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("testop: serve", "err", err)
		}
	}()
	p.log.Debug("testop: started", "issuer", p.issuer)
	return p, nil
}

// newProvider builds a Provider without listening.
func newProvider(opts Options) (*Provider, error) {
	p := &Provider{
		now:                opts.Now,
		log:                opts.Logger,
		tokenTTL:           opts.TokenTTL,
		initialAccessToken: opts.InitialAccessToken,
		tenantIssuers:      opts.TenantIssuers,
		closed:             make(chan struct{}),
		serveDone:          make(chan struct{}),
		counts:             map[string]int{},
		codes:              map[string]authCode{},
		tokens:             map[string]accessToken{},
		refresh:            map[string]refreshGrant{},
		sessions:           map[string]idpSession{},
		pubKeys:            map[string]*rsa.PublicKey{},
		httpClient: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.tokenTTL <= 0 {
		p.tokenTTL = time.Hour
	}
	for _, u := range opts.Users {
		if u.Subject == "" {
			return nil, errors.New("testop: user without subject")
		}
		p.users = append(p.users, u)
	}
	for _, c := range opts.Clients {
		if err := p.addClient(c.clone()); err != nil {
			return nil, fmt.Errorf("testop: client %q: %w", c.ID, err)
		}
	}
	if err := p.RotateKey(); err != nil {
		return nil, err
	}
	p.handler = p.routes()
	return p, nil
}

// addClient validates and stores a client.
func (p *Provider) addClient(c Client) error {
	if c.ID == "" {
		return errors.New("empty client ID")
	}
	if m := c.authMethod(); m != AuthMethodBasic && m != AuthMethodPost {
		return fmt.Errorf("unsupported token_endpoint_auth_method %q", m)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.ContainsFunc(p.clients, func(o Client) bool { return o.ID == c.ID }) {
		return errors.New("duplicate client ID")
	}
	p.clients = append(p.clients, c)
	return nil
}

// routes wires every endpoint through the counting/misbehaviour wrapper.
func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, p.endpoint(name, h))
	}
	mux.HandleFunc("GET /{$}", p.handleHome)
	handle("GET /.well-known/openid-configuration", EndpointDiscovery, p.handleDiscovery)
	handle("GET /authorize", EndpointAuthorize, p.handleAuthorize)
	handle("POST /authorize", EndpointAuthorize, p.handleAuthorize)
	handle("POST /token", EndpointToken, p.handleToken)
	handle("GET /userinfo", EndpointUserinfo, p.handleUserinfo)
	handle("POST /userinfo", EndpointUserinfo, p.handleUserinfo)
	handle("GET /jwks", EndpointJWKS, p.handleJWKS)
	handle("POST /register", EndpointRegistration, p.handleRegister)
	handle("GET /end_session", EndpointEndSession, p.handleEndSession)
	handle("POST /end_session", EndpointEndSession, p.handleEndSession)
	return mux
}

// Issuer returns the issuer identifier, e.g. "http://127.0.0.1:41234" (no
// trailing slash), which is also the base URL of every endpoint.
func (p *Provider) Issuer() string { return p.issuer }

// Handler returns the provider's HTTP handler, e.g. to mount it elsewhere.
// Issued URLs still point at Issuer.
func (p *Provider) Handler() http.Handler { return p.handler }

// Close stops the server, closing open connections and releasing hung
// handlers. It is idempotent.
func (p *Provider) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.closed)
		if p.srv == nil {
			return
		}
		if err = p.srv.Close(); err != nil {
			err = fmt.Errorf("testop: close: %w", err)
		}
		<-p.serveDone
	})
	return err
}

// SetLoginUser makes /authorize approve immediately as u (a 302 back to the
// client with a code, also starting an IdP session); nil restores the demo
// picker page.
func (p *Provider) SetLoginUser(u *User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u == nil {
		p.loginUser = nil
		return
	}
	cp := *u
	p.loginUser = &cp
}

// Counts returns how many requests each endpoint served, keyed by the
// Endpoint* constants. Requests rejected by Behavior are counted too.
func (p *Provider) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// ResetCounts zeroes Counts, e.g. between phases of a test.
func (p *Provider) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.counts)
}

// RegisteredClients returns static clients followed by dynamically registered
// ones, in registration order.
func (p *Provider) RegisteredClients() []Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Client, len(p.clients))
	for i, c := range p.clients {
		out[i] = c.clone()
	}
	return out
}

// LastAuthorize returns the parameters of the most recent /authorize request
// (query or form), so tests can assert what the relying party sent.
func (p *Provider) LastAuthorize() url.Values { return p.last(&p.lastAuthorize) }

// LastTokenRequest returns the form of the most recent /token request
// (including any client_secret).
func (p *Provider) LastTokenRequest() url.Values { return p.last(&p.lastToken) }

// LastEndSession returns the parameters of the most recent /end_session
// request (RP-Initiated Logout 1.0 §2).
func (p *Provider) LastEndSession() url.Values { return p.last(&p.lastEndSession) }

// last returns a copy of *v under the lock.
func (p *Provider) last(v *url.Values) url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cloneValues(*v)
}

// record stores a copy of v in *dst under the lock.
func (p *Provider) record(dst *url.Values, v url.Values) {
	v = cloneValues(v)
	p.mu.Lock()
	defer p.mu.Unlock()
	*dst = v
}

// client looks up a client by ID.
func (p *Provider) client(id string) (Client, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		if c.ID == id {
			return c.clone(), true
		}
	}
	return Client{}, false
}

// user looks up a configured user by subject.
func (p *Provider) user(sub string) (User, bool) {
	i := slices.IndexFunc(p.users, func(u User) bool { return u.Subject == sub })
	if i < 0 {
		return User{}, false
	}
	return p.users[i], true
}

// cloneValues deep-copies url.Values (nil stays nil).
func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// randomToken returns an unguessable token for codes, secrets and IDs.
func randomToken() string { return rand.Text() }
