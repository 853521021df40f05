package sso

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// rotate makes the OP publish its key under kid only and sign the ID token
// of the next code exchange with it, as an OP that rotated its keys does.
func (op *testOP) rotate(t *testing.T, kid string) {
	t.Helper()
	tok := signJWT(t, op.claims(), jwtOptions{kid: kid})
	op.set(func(op *testOP) {
		op.jwks = jwksJSON(t, jwkOf(op.key, kid))
		op.idToken = tok
	})
}

// TestKeyRotationBetweenSignIns: an ID token from the token endpoint with a
// kid we do not know refetches the keys at once, however recent the last
// fetch (the OpenID Foundation's RP certification rotates keys between two
// back-to-back sign-ins).
func TestKeyRotationBetweenSignIns(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	op.issue(op.claims())
	p := newTestProvider(t, op)
	if _, err := exchange(p); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		op.rotate(t, "key-rotated-"+strconv.Itoa(i))
		if _, err := exchange(p); err != nil {
			t.Fatalf("sign-in after rotation %d: %v", i+1, err)
		}
		if n := op.hitCount("/jwks"); n != 2+i {
			t.Fatalf("after rotation %d: %d JWKS fetches, want %d", i+1, n, 2+i)
		}
	}
	// The keys are cached again: a sign-in with the known kid fetches
	// nothing.
	if _, err := exchange(p); err != nil || op.hitCount("/jwks") != 4 {
		t.Fatalf("sign-in with a known kid: %v, %d JWKS fetches, want 4", err, op.hitCount("/jwks"))
	}
}

// TestKeyRotationConcurrentSignIns: sign-ins arriving together right after
// a rotation share one refetch.
func TestKeyRotationConcurrentSignIns(t *testing.T) {
	t.Parallel()
	const n = 20
	op := newTestOP(t, newFakeClock())
	op.issue(op.claims())
	p := newTestProvider(t, op)
	if _, err := exchange(p); err != nil {
		t.Fatal(err)
	}
	op.rotate(t, "key-2")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = exchange(p) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("sign-in %d: %v", i, err)
		}
	}
	if got := op.hitCount("/jwks"); got != 2 {
		t.Errorf("%d concurrent sign-ins after a rotation: %d JWKS fetches, want 2 (the first sign-in's and one refetch)", n, got)
	}
}

// TestKeyRefetchStaleFetch: a sign-in whose kid is unknown may find a fetch
// already under way that started before the OP published the new key; it
// does not settle for that fetch's answer but refetches.
func TestKeyRefetchStaleFetch(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	op.issue(op.claims())
	p := newTestProvider(t, op)
	if _, err := exchange(p); err != nil {
		t.Fatal(err)
	}
	op.clock.Advance(minKeyRefetchInterval)

	// The next JWKS request reads the key set, then waits before answering.
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	op.handle("/jwks", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		body := op.jwks
		op.mu.Unlock()
		once.Do(func() {
			close(entered)
			<-release
		})
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	_, foreign := testKeys()
	logout := make(chan error, 1)
	go func() {
		_, err := p.VerifyLogoutToken(context.Background(), signJWT(t, op.logoutClaims(), jwtOptions{key: foreign, kid: "kid-forged"}))
		logout <- err
	}()
	<-entered // the old key set is on its way
	op.rotate(t, "key-2")
	tokenServed := make(chan struct{})
	op.handle("/token", func(w http.ResponseWriter, r *http.Request) {
		op.serveToken(w, r)
		close(tokenServed)
	})
	signIn := make(chan error, 1)
	go func() {
		_, err := exchange(p)
		signIn <- err
	}()
	// Whether the sign-in joins the held fetch or comes after it, it must
	// end with a fetch of its own.
	<-tokenServed
	close(release)
	if err := <-signIn; err != nil {
		t.Fatalf("sign-in with the new key: %v", err)
	}
	if err := <-logout; !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("forged logout token: %v, want ErrInvalidToken", err)
	}
	if n := op.hitCount("/jwks"); n != 3 {
		t.Errorf("%d JWKS fetches, want 3", n)
	}
}

// TestKeyRefetchBackChannelStaysLimited: logout tokens (anyone can post
// them) with unknown kids cause at most one fetch per interval, even when
// they arrive together, and a sign-in's refetch does not open the gate.
func TestKeyRefetchBackChannelStaysLimited(t *testing.T) {
	t.Parallel()
	const n = 20
	op := newTestOP(t, newFakeClock())
	op.issue(op.claims())
	p := newTestProvider(t, op)
	if _, err := exchange(p); err != nil {
		t.Fatal(err)
	}
	_, foreign := testKeys()
	forged := func(i int) error {
		claims := op.logoutClaims()
		claims["jti"] = "jti-forged-" + strconv.Itoa(i)
		_, err := p.VerifyLogoutToken(context.Background(), signJWT(t, claims, jwtOptions{key: foreign, kid: "kid-forged-" + strconv.Itoa(i)}))
		return err
	}
	flood := func(what string, want int) {
		t.Helper()
		before := op.hitCount("/jwks")
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = forged(i) })
		}
		wg.Wait()
		for _, err := range errs {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%s: forged logout token: %v, want ErrInvalidToken", what, err)
			}
		}
		if got := op.hitCount("/jwks") - before; got > want {
			t.Errorf("%s: %d logout tokens with unknown kids made %d JWKS fetches, want at most %d", what, n, got, want)
		}
	}
	flood("right after the sign-in's fetch", 0)
	op.clock.Advance(minKeyRefetchInterval)
	flood("after the interval", 1)
	op.clock.Advance(minKeyRefetchInterval)
	op.rotate(t, "key-2")
	if _, err := exchange(p); err != nil {
		t.Fatalf("sign-in after rotation: %v", err)
	}
	flood("right after a sign-in's refetch", 0)
}
