package sso

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestVerifyLogoutToken covers Back-Channel Logout 1.0 §2.4 and §2.6.
func TestVerifyLogoutToken(t *testing.T) {
	t.Parallel()
	_, foreignKey := testKeys()
	tests := []struct {
		name   string
		mutate func(c map[string]any, now time.Time)
		sign   jwtOptions
		want   error // reason wrapped by ErrInvalidToken; nil means valid
	}{
		{name: "valid"},
		{name: "typ logout+jwt", sign: jwtOptions{typ: "logout+jwt"}},
		{name: "typ application/logout+jwt mixed case", sign: jwtOptions{typ: "application/Logout+JWT"}},
		{name: "typ JWT", sign: jwtOptions{typ: "JWT"}, want: errTyp},
		{name: "sub only", mutate: func(c map[string]any, _ time.Time) { delete(c, "sid") }},
		{name: "sid only", mutate: func(c map[string]any, _ time.Time) { delete(c, "sub") }},
		{name: "neither sub nor sid", mutate: func(c map[string]any, _ time.Time) { delete(c, "sub"); delete(c, "sid") }, want: errSubOrSID},
		{name: "sid with NUL", mutate: func(c map[string]any, _ time.Time) { c["sid"] = "s\x00" }, want: errIdentifierText},
		{name: "jti with a control character", mutate: func(c map[string]any, _ time.Time) { c["jti"] = "j\x07" }, want: errIdentifierText},
		{name: "iss wrong", mutate: func(c map[string]any, _ time.Time) { c["iss"] = "https://evil.example.com" }, want: errIssuer},
		{name: "aud wrong", mutate: func(c map[string]any, _ time.Time) { c["aud"] = "client-other" }, want: errAudience},
		{name: "iat missing", mutate: func(c map[string]any, _ time.Time) { delete(c, "iat") }, want: errIATMissing},
		{name: "iat in the future", mutate: func(c map[string]any, now time.Time) { c["iat"] = now.Add(time.Hour).Unix() }, want: errIATFuture},
		{name: "exp missing", mutate: func(c map[string]any, _ time.Time) { delete(c, "exp") }, want: errExpMissing},
		{name: "exp past", mutate: func(c map[string]any, now time.Time) { c["exp"] = now.Add(-5 * time.Minute).Unix() }, want: errExpired},
		{name: "events missing", mutate: func(c map[string]any, _ time.Time) { delete(c, "events") }, want: errEvents},
		{name: "events without logout member", mutate: func(c map[string]any, _ time.Time) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}, want: errEvents},
		{name: "logout event is a string", mutate: func(c map[string]any, _ time.Time) {
			c["events"] = map[string]any{backchannelLogoutEvent: "yes"}
		}, want: errEvents},
		{name: "logout event is null", mutate: func(c map[string]any, _ time.Time) {
			c["events"] = map[string]any{backchannelLogoutEvent: nil}
		}, want: errEvents},
		{name: "events is an array", mutate: func(c map[string]any, _ time.Time) { c["events"] = []string{backchannelLogoutEvent} }, want: errMalformed},
		{name: "nonce present", mutate: func(c map[string]any, _ time.Time) { c["nonce"] = testNonce }, want: errNoncePresent},
		{name: "nonce null", mutate: func(c map[string]any, _ time.Time) { c["nonce"] = nil }, want: errNoncePresent},
		{name: "jti missing", mutate: func(c map[string]any, _ time.Time) { delete(c, "jti") }, want: errJTIMissing},
		{name: "alg none", sign: jwtOptions{alg: "none"}, want: errAlg},
		{name: "HS256 keyed with client secret", sign: jwtOptions{alg: jose.HS256, key: []byte(testClientSecret)}, want: errAlg},
		{name: "foreign key", sign: jwtOptions{key: foreignKey}, want: errSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			p := newTestProvider(t, op)
			claims := op.logoutClaims()
			if tt.mutate != nil {
				tt.mutate(claims, op.clock.Now())
			}
			got, err := p.VerifyLogoutToken(context.Background(), signJWT(t, claims, tt.sign))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyLogoutToken: %v", err)
				}
				want := LogoutClaims{Issuer: op.issuer(), JTI: "jti-1", ExpiresAt: op.clock.Now().Add(2 * time.Minute)}
				want.Subject, _ = claims["sub"].(string)
				want.SID, _ = claims["sid"].(string)
				if *got != want {
					t.Errorf("claims = %+v, want %+v", *got, want)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.want) {
				t.Fatalf("VerifyLogoutToken error = %v, want ErrInvalidToken wrapping %q", err, tt.want)
			}
		})
	}
}

func TestVerifyLogoutTokenIDTokenIsNotALogoutToken(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op)
	if _, err := p.VerifyLogoutToken(context.Background(), op.sign(op.claims())); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("ID token accepted as logout token: %v", err)
	}
}

func TestVerifyLogoutTokenReplay(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	replays := newMemReplays()
	p := newTestProvider(t, op, func(_ *ProviderConfig, o *Options) { o.Replays = replays })
	ctx := context.Background()
	raw := op.sign(op.logoutClaims())
	if _, err := p.VerifyLogoutToken(ctx, raw); err != nil {
		t.Fatal(err)
	}
	_, err := p.VerifyLogoutToken(ctx, raw)
	if !errors.Is(err, ErrReplay) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("replayed token: %v, want ErrReplay", err)
	}
	// A different token with the same jti is a replay too.
	claims := op.logoutClaims()
	claims["sid"] = "session-2"
	if _, err := p.VerifyLogoutToken(ctx, op.sign(claims)); !errors.Is(err, ErrReplay) {
		t.Fatalf("same jti, other token: %v, want ErrReplay", err)
	}
	// The jti is remembered for as long as the token could be accepted.
	wantUntil := op.clock.Now().Add(2*time.Minute + DefaultClockSkew)
	replays.mu.Lock()
	until := replays.seen[op.issuer()+"\x00jti-1"]
	replays.mu.Unlock()
	if !until.Equal(wantUntil) {
		t.Errorf("jti remembered until %v, want %v", until, wantUntil)
	}
}

func TestVerifyLogoutTokenNeedsReplayStore(t *testing.T) {
	t.Parallel()
	op := newTestOP(t, newFakeClock())
	p := newTestProvider(t, op, func(_ *ProviderConfig, o *Options) { o.Replays = nil })
	if _, err := p.VerifyLogoutToken(context.Background(), op.sign(op.logoutClaims())); !errors.Is(err, ErrConfig) {
		t.Fatalf("error = %v, want ErrConfig", err)
	}
}

// hintExpiring is an ID token (as kept for logout) whose exp is d after
// the fake clock's start.
func hintExpiring(d time.Duration) string {
	payload := fmt.Sprintf(`{"iss":"x","exp":%d}`, newFakeClock().Now().Add(d).Unix())
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestEndSessionURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endpoint string // "" removes it; "<iss>" is replaced by the issuer
		hint     string
		state    string
		postURL  string
		wantOK   bool
		want     url.Values
	}{
		{
			name: "all parameters", endpoint: "<iss>/logout", hint: "id.token.hint", state: "st-1",
			postURL: "https://app.example.com/signed-out", wantOK: true,
			want: url.Values{
				"id_token_hint":            {"id.token.hint"},
				"client_id":                {testClientID},
				"post_logout_redirect_uri": {"https://app.example.com/signed-out"},
				"state":                    {"st-1"},
			},
		},
		{
			name: "minimal", endpoint: "<iss>/logout", wantOK: true,
			want: url.Values{"client_id": {testClientID}},
		},
		{
			name: "endpoint query kept", endpoint: "<iss>/logout?tenant=t1", hint: "h", wantOK: true,
			want: url.Values{"tenant": {"t1"}, "id_token_hint": {"h"}, "client_id": {testClientID}},
		},
		{name: "no end_session_endpoint", wantOK: false},
		{
			name: "expired hint left out", endpoint: "<iss>/logout", hint: hintExpiring(-time.Second), wantOK: true,
			want: url.Values{"client_id": {testClientID}},
		},
		{
			name: "live hint kept", endpoint: "<iss>/logout", hint: hintExpiring(time.Minute), wantOK: true,
			want: url.Values{"id_token_hint": {hintExpiring(time.Minute)}, "client_id": {testClientID}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newTestOP(t, newFakeClock())
			op.set(func(op *testOP) {
				if tt.endpoint == "" {
					delete(op.discovery, "end_session_endpoint")
				} else {
					op.discovery["end_session_endpoint"] = strings.ReplaceAll(tt.endpoint, "<iss>", op.issuer())
				}
			})
			p := newTestProvider(t, op, func(c *ProviderConfig, _ *Options) { c.PostLogoutRedirectURL = tt.postURL })
			raw, ok, err := p.EndSessionURL(context.Background(), tt.hint, tt.state)
			if err != nil || ok != tt.wantOK {
				t.Fatalf("EndSessionURL = %q, %v, %v; want ok=%v", raw, ok, err, tt.wantOK)
			}
			if !ok {
				if raw != "" {
					t.Errorf("URL %q without an endpoint", raw)
				}
				return
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Scheme + "://" + u.Host + u.Path; got != op.issuer()+"/logout" {
				t.Errorf("endpoint = %q", got)
			}
			if got := u.Query(); got.Encode() != tt.want.Encode() {
				t.Errorf("query = %v, want %v", got, tt.want)
			}
		})
	}
}
