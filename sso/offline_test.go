package sso

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
)

// TestCheckRefresh: each answer of the provider to an offline check, and
// what it means: only invalid_grant and a UserInfo 401 are ErrRevoked; an
// outage is ErrUnavailable; other failures are neither.
func TestCheckRefresh(t *testing.T) {
	t.Parallel()
	ok := func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != "rt-1" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": testAccessToken, "token_type": "Bearer", "refresh_token": "rt-2"})
	}
	oauthErr := func(status int, code string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, map[string]any{"error": code}) }
	}
	status := func(s int) http.HandlerFunc { return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(s) } }
	cases := []struct {
		name            string
		token, userinfo http.HandlerFunc
		want            error // nil: confirmed
		keep            string
		warm            bool // UserInfo accepted a refreshed token before
	}{
		{"confirmed, rotated", ok, nil, nil, "rt-2", false},
		{"invalid_grant", oauthErr(http.StatusBadRequest, "invalid_grant"), nil, ErrRevoked, "", false},
		{"userinfo 401 once it worked", ok, status(http.StatusUnauthorized), ErrRevoked, "rt-2", true},
		{"userinfo 401 that never worked is configuration", ok, status(http.StatusUnauthorized), errAny, "rt-2", false},
		{"token endpoint down", status(http.StatusServiceUnavailable), nil, ErrUnavailable, "", false},
		{"token endpoint 429", oauthErr(http.StatusTooManyRequests, "slow_down"), nil, ErrUnavailable, "", false},
		{"invalid_client is ours, not the person's", oauthErr(http.StatusUnauthorized, "invalid_client"), nil, errAny, "", false},
		{"userinfo down", ok, status(http.StatusBadGateway), ErrUnavailable, "rt-2", false},
		{"userinfo another person", ok, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"sub": "someone-else"})
		}, ErrUserinfoSubject, "rt-2", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			op := newTestOP(t, newFakeClock())
			p := newTestProvider(t, op)
			if c.warm {
				op.handle("/token", ok)
				if _, err := p.CheckRefresh(context.Background(), testSubject, "rt-1"); err != nil {
					t.Fatalf("warm-up: %v", err)
				}
			}
			op.handle("/token", c.token)
			if c.userinfo != nil {
				op.handle("/userinfo", c.userinfo)
			}
			keep, err := p.CheckRefresh(context.Background(), testSubject, "rt-1")
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("err %v, want confirmed", err)
			case c.want == errAny && (err == nil || errors.Is(err, ErrRevoked) || errors.Is(err, ErrUnavailable)):
				t.Fatalf("err %v, want a failure that neither revokes nor is an outage", err)
			case c.want != nil && c.want != errAny && !errors.Is(err, c.want):
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if c.want != ErrRevoked && errors.Is(err, ErrRevoked) {
				t.Fatalf("%v revokes", err)
			}
			if err == nil && keep != c.keep {
				t.Errorf("keep %q, want %q", keep, c.keep)
			}
		})
	}
	op := newTestOP(t, newFakeClock())
	if _, err := newTestProvider(t, op).CheckRefresh(context.Background(), testSubject, ""); err == nil || errors.Is(err, ErrRevoked) {
		t.Errorf("no token: %v", err)
	}
}

// errAny stands for "some error, neither ErrRevoked nor ErrUnavailable".
var errAny = errors.New("any")

// TestOfflineScope: offline_access is asked for only by a provider that
// is checked offline and advertises it; Google gets access_type=offline.
func TestOfflineScope(t *testing.T) {
	t.Parallel()
	meta := &Metadata{ScopesSupported: []string{"openid", "offline_access"}}
	for _, c := range []struct {
		cfg  ProviderConfig
		meta *Metadata
		want bool
	}{
		{ProviderConfig{Scopes: []string{"openid"}, Offline: true}, meta, true},
		{ProviderConfig{Scopes: []string{"openid"}}, meta, false},
		{ProviderConfig{Scopes: []string{"openid"}, Offline: true}, &Metadata{}, false},
		{ProviderConfig{Scopes: []string{"openid"}, Offline: true, Kind: KindGoogle}, meta, false},
		{ProviderConfig{Scopes: []string{"openid", "offline_access"}, Offline: true}, meta, true},
	} {
		got := c.cfg.scopes(c.meta)
		if slices.Contains(got, offlineScope) != c.want || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("%+v: scopes %v", c.cfg, got)
		}
	}
}

// TestExchangeEvidence: with Evidence, Exchange records the signing key
// and both sets of claims, consulting UserInfo even when the ID token had
// every claim; without, UserInfo is not asked.
func TestExchangeEvidence(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	op.issue(op.claims())
	p := newTestProvider(t, op)
	ev := &Evidence{}
	if _, err := p.Exchange(context.Background(), CallbackParams{Code: testCode}, Pending{Nonce: testNonce, CodeVerifier: testVerifier, Evidence: ev}); err != nil {
		t.Fatal(err)
	}
	var idt, info map[string]any
	if ev.KeyID != testKID || ev.Algorithm != "RS256" || json.Unmarshal(ev.IDToken, &idt) != nil || json.Unmarshal(ev.Userinfo, &info) != nil {
		t.Fatalf("evidence %+v", ev)
	}
	if idt["sub"] != testSubject || info["name"] != "From Userinfo" || ev.UserinfoUsed {
		t.Errorf("claims: ID token %v, userinfo %v, used %v", idt, info, ev.UserinfoUsed)
	}
	hits := op.hitCount("/userinfo")
	op.issue(op.claims())
	if _, err := exchange(p); err != nil {
		t.Fatal(err)
	}
	if op.hitCount("/userinfo") != hits {
		t.Error("a sign-in without evidence asked UserInfo for claims it had")
	}
}
