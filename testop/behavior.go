package testop

import (
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Garbage selects a broken response body that replaces an endpoint's real
// answer, so tests can check the relying party rejects it gracefully.
type Garbage int

// Garbage kinds. All are sent with status 200 so that only the body is wrong.
const (
	GarbageNone        Garbage = iota
	GarbageHTML                // an HTML error page, as from a misconfigured proxy
	GarbageInvalidJSON         // Content-Type application/json, truncated JSON
	GarbageHuge                // a JSON-looking body of Behavior.HugeBodyBytes bytes
)

// DefaultHugeBodyBytes is the size of a GarbageHuge body when
// Behavior.HugeBodyBytes is zero.
const DefaultHugeBodyBytes = 32 << 20

// Behavior switches the provider into misbehaving, so every failure mode the
// relying party must handle can be exercised by a test. The zero value is a
// correct provider. Fields are consulted per request, so a switch can be
// flipped at any time with SetBehavior.
type Behavior struct {
	// Down makes every endpoint answer 503.
	Down bool
	// Hang makes every endpoint block until the request context is done or
	// the provider is closed; HangEndpoints does so only for the named
	// endpoints (Endpoint* constants).
	Hang          bool
	HangEndpoints []string
	// Garbage replaces the body of the named endpoints (Endpoint* constants).
	Garbage map[string]Garbage
	// HugeBodyBytes is the size of GarbageHuge bodies; default
	// DefaultHugeBodyBytes.
	HugeBodyBytes int

	// DiscoveryIssuer makes the discovery document claim another issuer
	// (OIDC Discovery 1.0 §4.3 requires the RP to reject it).
	DiscoveryIssuer string
	// Discovery, when set, may edit the discovery document before it is sent.
	Discovery func(doc map[string]any)
	// JWKSExtraKeys are raw JWKs published beside the real key, e.g.
	// UnknownKeyTypeJWK().
	JWKSExtraKeys []map[string]any

	// AuthorizeError makes /authorize redirect back with this error code
	// (OIDC Core §3.1.2.6), plus state and iss, once client and redirect_uri
	// are validated.
	AuthorizeError            string
	AuthorizeErrorDescription string
	// ReuseSession makes /authorize answer from the browser's IdP session
	// when it has one, even when prompt=login or max_age=0 ask for a new
	// authentication (OIDC Core §3.1.2.1): an OP that ignores them. The ID
	// token then carries the session's original auth_time.
	ReuseSession bool
	// OmitIssParam drops the RFC 9207 iss parameter from authorization
	// responses; IssParam replaces its value.
	OmitIssParam bool
	IssParam     string

	// TokenError makes /token answer 400 with this OAuth error code (RFC 6749
	// §5.2) after client authentication, without consuming the code.
	TokenError            string
	TokenErrorDescription string
	// OmitIDToken leaves id_token out of the token response.
	OmitIDToken bool
	// IDTokenClaims and IDTokenHeader may edit the ID token before signing;
	// setting a claim to nil keeps it as JSON null, delete it to drop it.
	IDTokenClaims func(claims map[string]any)
	IDTokenHeader func(header map[string]any)
	// SignAlg signs ID tokens with "none" (no signature) or "HS256" (HMAC with
	// the client secret, OIDC Core §10.1) instead of RS256.
	SignAlg string
	// SignWithForeignKey signs ID tokens with a valid RS256 signature by a key
	// that is not in the JWKS (the header still names the current kid).
	SignWithForeignKey bool
	// UserinfoClaims may edit the userinfo response, e.g. change sub.
	UserinfoClaims func(claims map[string]any)
}

// UnknownKeyTypeJWK returns a JWK of a key type nobody supports. RFC 7517 §5
// says such keys in a JWK Set must be ignored, so a relying party has to keep
// working when it is published beside the real key.
func UnknownKeyTypeJWK() map[string]any {
	return map[string]any{"kty": "XYZ", "kid": "unknown-kty", "use": "sig", "crv": "XYZ-1", "x": "AQAB"}
}

// SetBehavior replaces the current behaviour (it does not merge). The slices
// and maps in b are copied; the funcs are called from handler goroutines.
func (p *Provider) SetBehavior(b Behavior) {
	b.HangEndpoints = slices.Clone(b.HangEndpoints)
	b.Garbage = maps.Clone(b.Garbage)
	b.JWKSExtraKeys = slices.Clone(b.JWKSExtraKeys)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.behavior = b
}

// currentBehavior returns a snapshot of the behaviour.
func (p *Provider) currentBehavior() Behavior {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.behavior
}

// endpoint wraps h with request counting and the endpoint-agnostic
// misbehaviours (Down, Hang, Garbage).
func (p *Provider) endpoint(name string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.counts[name]++
		b := p.behavior
		p.mu.Unlock()
		p.log.Debug("testop: request", "endpoint", name, "method", r.Method, "url", r.URL.String())
		switch {
		case b.Down:
			http.Error(w, "testop: provider is down", http.StatusServiceUnavailable)
		case b.Hang || slices.Contains(b.HangEndpoints, name):
			p.hang(r)
		case b.Garbage[name] != GarbageNone:
			writeGarbage(r.Context(), w, b.Garbage[name], b.HugeBodyBytes)
		default:
			h(w, r)
		}
	})
}

// hang blocks until the request is abandoned or the provider closes, so
// Close never waits on a hung handler, then aborts the response so the client
// never sees a success.
func (p *Provider) hang(r *http.Request) {
	// net/http notices a client going away (and cancels the context) only
	// once the request body has been read: without this, a hung POST (token,
	// registration) would outlive the client until Close.
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-p.closed:
	}
	panic(http.ErrAbortHandler) // net/http drops the connection quietly
}

// writeGarbage writes the broken body selected by g.
func writeGarbage(ctx context.Context, w http.ResponseWriter, g Garbage, huge int) {
	switch g {
	case GarbageHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><html><head><title>502 Bad Gateway</title></head>"+
			"<body><h1>Bad Gateway</h1><p>The upstream server is unavailable.</p></body></html>\n")
	case GarbageInvalidJSON:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"issuer": "http://127.0.0.1", "keys": [ {"kty": "RSA",,`)
	case GarbageHuge:
		writeHuge(ctx, w, huge)
	}
}

// writeHuge streams a JSON-looking body of n bytes (never terminated, so a
// relying party that reads it all still fails), stopping early when the
// client goes away.
func writeHuge(ctx context.Context, w http.ResponseWriter, n int) {
	if n <= 0 {
		n = DefaultHugeBodyBytes
	}
	w.Header().Set("Content-Type", "application/json")
	prefix := `{"padding":"`
	io.WriteString(w, prefix[:min(n, len(prefix))])
	n -= len(prefix)
	chunk := []byte(strings.Repeat("a", 32<<10))
	for n > 0 && ctx.Err() == nil {
		c := chunk[:min(n, len(chunk))]
		if _, err := w.Write(c); err != nil {
			return
		}
		n -= len(c)
	}
}
