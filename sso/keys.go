package sso

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// minKeyRefetchInterval is the shortest time between two fetches of a
// provider's jwks_uri. go-oidc's RemoteKeySet coalesces concurrent fetches
// but refetches on every token whose kid it does not know; the back-channel
// logout endpoint accepts tokens from anyone, so without this limit a stream
// of garbage tokens would turn into a stream of requests to the OP. Key
// rotation still works: OPs publish new keys before signing with them, and
// the first token with a new kid after the interval triggers a fetch.
const minKeyRefetchInterval = 10 * time.Second

// keySet is a provider's signing keys: go-oidc's RemoteKeySet (caching,
// refetch on unknown kid, coalescing of concurrent refetches) fed through a
// fetchGate that rate-limits refetches and turns unusable JWKS responses
// into ErrUnavailable.
type keySet struct {
	remote *oidc.RemoteKeySet
}

// newKeySet builds the key set for jwksURI. client is the provider's
// size-capped client; its timeout bounds each fetch. No request is made
// until a signature is verified.
func newKeySet(jwksURI string, client *http.Client, now func() time.Time) *keySet {
	gated := *client
	gated.Transport = &fetchGate{next: client.Transport, now: now, min: minKeyRefetchInterval}
	// RemoteKeySet fetches in a background goroutine with the context it
	// was created with; ClientContext is how it learns about our client.
	ctx := oidc.ClientContext(context.Background(), &gated)
	return &keySet{remote: oidc.NewRemoteKeySet(ctx, jwksURI)}
}

// VerifySignature implements oidc.KeySet. Callers must have checked the alg
// header against the allow-list first. A failure to obtain keys matches
// ErrUnavailable; anything else is a signature failure.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if err != nil {
		// When the client's Timeout cuts a fetch short, http.Client reports
		// an error that no longer wraps fetchGate's, so a JWKS endpoint that
		// does not answer would look like a bad signature.
		if !errors.Is(err, ErrUnavailable) && errors.Is(err, context.DeadlineExceeded) {
			return nil, unavailable("fetching jwks", err)
		}
		return nil, fmt.Errorf("verifying signature: %w", err)
	}
	return payload, nil
}

// fetchGate is the transport under the RemoteKeySet. It allows one fetch
// per min interval, remembering the last failure so that callers refused
// by the limit still learn that the OP is unavailable.
type fetchGate struct {
	next http.RoundTripper
	now  func() time.Time
	min  time.Duration

	mu      sync.Mutex
	last    time.Time // start of the last fetch; zero before the first
	lastErr error     // outcome of the last fetch
}

// RoundTrip implements http.RoundTripper.
func (g *fetchGate) RoundTrip(req *http.Request) (*http.Response, error) {
	// req.Response is set when following a redirect of an admitted fetch.
	if req.Response == nil {
		if err := g.admit(); err != nil {
			return nil, err
		}
	}
	resp, err := g.fetch(req)
	g.mu.Lock()
	g.lastErr = err
	g.mu.Unlock()
	return resp, err
}

// admit lets a fetch start if the previous one started at least min ago.
// A refused caller gets the last fetch's error when it failed, so an OP
// that is down is still reported as unavailable.
func (g *fetchGate) admit() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.last.IsZero() && now.Sub(g.last) < g.min {
		if g.lastErr != nil {
			return fmt.Errorf("%w (refetch rate-limited)", g.lastErr)
		}
		return errKeysThrottled
	}
	g.last = now
	return nil
}

// fetch performs the request and insists on a 200 response holding a JSON
// object with a "keys" array; everything else is ErrUnavailable. (Keys of
// unknown type inside the array are skipped by go-oidc, RFC 7517 §5.)
func (g *fetchGate) fetch(req *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, unavailable("fetching jwks", err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "" {
		return resp, nil // for the client to follow
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, unavailable("reading jwks", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, unavailable("fetching jwks", fmt.Errorf("unexpected HTTP status %d", resp.StatusCode))
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || set.Keys == nil {
		return nil, unavailable("fetching jwks", fmt.Errorf("response is not a JSON Web Key Set"))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
