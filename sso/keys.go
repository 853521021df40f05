package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// minKeyRefetchInterval is the shortest time between two fetches of a
// provider's jwks_uri caused by back-channel tokens. The back-channel
// logout endpoint accepts tokens from anyone, so without this limit a
// stream of garbage tokens with made-up kids would turn into a stream of
// requests to the OP. Tokens from the OP's own responses are not limited
// (see keySource).
const minKeyRefetchInterval = 10 * time.Second

// keySource is where a token came from. It decides whether a kid we do
// not know may make us fetch the provider's keys again.
type keySource int

const (
	// fromBackChannel is a token anyone can send us (a back-channel logout
	// token): refetches are limited to one per minKeyRefetchInterval.
	fromBackChannel keySource = iota
	// fromProvider is a token in the OP's answer to our own request (the
	// ID token from the client-authenticated token endpoint, a signed
	// UserInfo response). Nobody else chooses its kid, and an OP publishes
	// a key before signing with it (OIDC Core §10.1.1), so an unknown kid
	// means a rotation and always refetches, however recent the last
	// fetch. Concurrent refetches still share one request.
	fromProvider
)

// keySet is a provider's signing keys fetched from its jwks_uri: cached,
// refetched on a kid we do not know, with concurrent refetches coalesced
// into one request. It also serves go-oidc's verifier (see keySetVerifier).
type keySet struct {
	uri    string
	client *http.Client
	now    func() time.Time
	min    time.Duration

	mu    sync.Mutex
	keys  []jose.JSONWebKey // from the last successful fetch
	fetch *keyFetch         // the latest fetch started, finished or not; nil before the first
}

// keyFetch is one request to the jwks_uri, shared by everyone waiting for
// it. Fetches are numbered in the order they start and run one at a time.
// finished, keys and err are set under keySet.mu before done is closed.
type keyFetch struct {
	seq      uint64
	start    time.Time
	done     chan struct{}
	finished bool
	keys     []jose.JSONWebKey
	err      error
}

// newKeySet builds the key set for jwksURI. client is the provider's
// size-capped client; its timeout bounds each fetch. No request is made
// until a signature is verified.
func newKeySet(jwksURI string, client *http.Client, now func() time.Time) *keySet {
	return &keySet{uri: jwksURI, client: client, now: now, min: minKeyRefetchInterval}
}

// verify checks the signature of the compact JWS raw, whose alg must be
// one of algs, and returns its payload. A kid that no cached key matches
// refetches the keys as src allows. A failure to obtain keys matches
// ErrUnavailable; a refetch refused by the rate limit is errKeysThrottled;
// anything else is a signature failure.
func (k *keySet) verify(ctx context.Context, raw string, algs []string, src keySource) ([]byte, error) {
	sigAlgs := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		sigAlgs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(raw, sigAlgs)
	if err != nil {
		return nil, fmt.Errorf("parsing JWS: %w", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, have, held := k.cached()
	if payload, ok := verifyWith(jws, kid, keys); ok {
		return payload, nil
	}
	for {
		f, err := k.refetch(ctx, src, have)
		if err != nil {
			return nil, err
		}
		if f.err != nil {
			return nil, f.err
		}
		if payload, ok := verifyWith(jws, kid, f.keys); ok {
			return payload, nil
		}
		// A token from the provider deserves a fetch that started after
		// we held the token, which sees every key the OP published before
		// signing it; the fetch under way when we read the cache (number
		// held) may predate the key. As one fetch runs at a time, held is
		// at most have+1 and this loop runs at most twice.
		if src == fromBackChannel || f.seq > held {
			return nil, errors.New("no published key verifies the signature")
		}
		have = f.seq
	}
}

// cached returns the cached keys, the number of the last finished fetch
// (whose answer the cache reflects) and that of the last started one, read
// together so that verify can tell which fetches may predate its token.
func (k *keySet) cached() (keys []jose.JSONWebKey, have, held uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f := k.fetch; f != nil {
		held, have = f.seq, f.seq
		if !f.finished {
			have--
		}
	}
	return k.keys, have, held
}

// refetch returns a fetch newer than number have, waiting for it: the one
// under way or just finished if it is, else a new one. A back-channel token
// may start one only when the last started at least min ago; refused, it
// learns the last fetch's failure, so an OP that is down is still reported
// as unavailable.
func (k *keySet) refetch(ctx context.Context, src keySource, have uint64) (*keyFetch, error) {
	k.mu.Lock()
	f := k.fetch
	now := k.now()
	switch {
	case f != nil && f.seq > have:
		// Shared: started after the caller's last look at the keys.
	case src == fromBackChannel && f != nil && now.Sub(f.start) < k.min:
		err := f.err
		k.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("%w (refetch rate-limited)", err)
		}
		return nil, errKeysThrottled
	default:
		var seq uint64
		if f != nil {
			seq = f.seq
		}
		f = &keyFetch{seq: seq + 1, start: now, done: make(chan struct{})}
		k.fetch = f
		// The fetch is shared: a caller that gives up must not cancel it
		// for the others, so it runs without the caller's cancellation,
		// bounded by the client's timeout.
		go k.run(context.WithoutCancel(ctx), f)
	}
	k.mu.Unlock()
	select {
	case <-f.done:
		return f, nil
	case <-ctx.Done():
		return nil, unavailable("waiting for jwks", ctx.Err())
	}
}

// run performs fetch f and publishes its outcome: the cache and f's result
// change together, under the lock, so nobody sees one without the other.
func (k *keySet) run(ctx context.Context, f *keyFetch) {
	keys, err := k.download(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil {
		k.keys = keys
	}
	f.finished, f.keys, f.err = true, keys, err
	close(f.done)
}

// download fetches the JWK Set and insists on a 200 response holding a
// JSON object with a "keys" array; everything else is ErrUnavailable.
// Keys we cannot use are skipped, as RFC 7517 §5 asks.
func (k *keySet) download(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequest(http.MethodGet, k.uri, nil)
	if err != nil {
		return nil, unavailable("fetching jwks", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	r, err := do(ctx, k.client, req, "fetching jwks")
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, unavailable("fetching jwks", fmt.Errorf("unexpected HTTP status %d", r.status))
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil || set.Keys == nil {
		return nil, unavailable("fetching jwks", errors.New("response is not a JSON Web Key Set"))
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || !key.Valid() {
			continue // unknown kty or curve, missing members (RFC 7517 §5)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// verifyWith tries the keys whose kid is kid (all of them when the token
// names none), as go-oidc does.
func verifyWith(jws *jose.JSONWebSignature, kid string, keys []jose.JSONWebKey) ([]byte, bool) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(&keys[i]); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// keySetVerifier is the key set as go-oidc's verifier sees it, an
// oidc.KeySet. go-oidc verifies after our own checks, with the same cache,
// so it rarely needs a refetch; when it does, the token's source comes
// through the context (withKeySource), and is the back channel if unsaid.
type keySetVerifier struct {
	keys *keySet
	algs []string
}

// VerifySignature implements oidc.KeySet. go-oidc has checked the alg
// against the allow-list already.
func (v keySetVerifier) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	src, _ := ctx.Value(keySourceKey{}).(keySource)
	return v.keys.verify(ctx, jwt, v.algs, src)
}

// keySourceKey is the context key of the token source for go-oidc's calls.
type keySourceKey struct{}

// withKeySource tells keySetVerifier where the token it is asked about
// came from.
func withKeySource(ctx context.Context, src keySource) context.Context {
	return context.WithValue(ctx, keySourceKey{}, src)
}
