package sso

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// AuthOptions are per-request additions to the authorization request.
type AuthOptions struct {
	// LoginHint pre-fills the OP's login form (OIDC Core §3.1.2.1).
	LoginHint string
	// Prompt overrides a configured prompt (none, login, consent,
	// select_account).
	Prompt string
	// Extra parameters, applied over ProviderConfig.AuthParams. Protocol
	// parameters and max_age (configure it in AuthParams so that auth_time
	// can be checked) are refused.
	Extra map[string]string
	// Reauthenticate asks the OP to authenticate the user anew, whatever
	// session it has: prompt=login and max_age=0 (OIDC Core §3.1.2.1). An
	// OP may ignore both, so the request's AuthTimeNotBefore must come back
	// in Pending: Exchange then accepts only an ID token whose auth_time
	// shows an authentication after the request. Prompt, if set, must be
	// "login".
	Reauthenticate bool
	// Offline asks for a refresh token, when the provider is checked
	// offline (ProviderConfig.Offline): a sign-in, or linking a provider
	// to an account. Session checks, re-authentications and tests do not
	// ask, so they leave no refresh token (and no offline session at the
	// provider) behind.
	Offline bool
}

// AuthRequest is a prepared authorization request. Redirect the browser to
// URL; persist HashState(State), Nonce, CodeVerifier and the provider ID
// server-side until the callback (see Pending). State goes to the browser
// only via URL; Nonce and CodeVerifier must never reach the browser.
type AuthRequest struct {
	URL          string
	State        string
	Nonce        string
	CodeVerifier string
	// AuthTimeNotBefore is set for a Reauthenticate request: the time the
	// request was made. Persist it (or the time the request was stored)
	// with the rest and pass it back in Pending.
	AuthTimeNotBefore time.Time
}

// Pending returns what Exchange needs back from the persisted request.
func (r *AuthRequest) Pending() Pending {
	return Pending{Nonce: r.Nonce, CodeVerifier: r.CodeVerifier, AuthTimeNotBefore: r.AuthTimeNotBefore}
}

// randomBytes is the entropy of state, nonce and PKCE verifier: 256 bits,
// well above RFC 7636 §7.1 and RFC 9700 §4.7.1 recommendations.
const randomBytes = 32

// AuthCodeURL builds an authorization code request (OIDC Core §3.1.2.1)
// with fresh state (CSRF, RFC 9700 §4.7.1), nonce (ID token replay, OIDC
// Core §15.5.2) and PKCE S256 challenge (code injection, RFC 7636 §4.2,
// RFC 9700 §2.1.1). It needs the OP metadata, so it may trigger discovery.
func (p *Provider) AuthCodeURL(ctx context.Context, o AuthOptions) (*AuthRequest, error) {
	for k := range o.Extra {
		if isProtocolParam(k) || k == "max_age" {
			return nil, configErr("extra auth param %q is not allowed", k)
		}
	}
	if o.Reauthenticate && o.Prompt != "" && o.Prompt != "login" {
		return nil, configErr("prompt %q contradicts a re-authentication", o.Prompt)
	}
	rt, err := p.ready(ctx)
	if err != nil {
		return nil, err
	}
	var req AuthRequest
	for _, dst := range []*string{&req.State, &req.Nonce, &req.CodeVerifier} {
		if *dst, err = randomString(p.rand); err != nil {
			return nil, err
		}
	}
	params := make(map[string]string, len(p.cfg.AuthParams)+len(o.Extra)+2)
	for k, v := range p.cfg.AuthParams {
		params[k] = v
	}
	for k, v := range o.Extra {
		params[k] = v
	}
	scope := ""
	if o.Offline && p.cfg.Offline {
		if p.cfg.Kind == KindGoogle {
			params["access_type"] = "offline" // Google's way to ask for a refresh token
		} else if s := p.cfg.scopes(&rt.meta); len(s) != len(p.cfg.Scopes) {
			scope = strings.Join(s, " ")
		}
	}
	if o.LoginHint != "" {
		params["login_hint"] = o.LoginHint
	}
	if o.Prompt != "" {
		params["prompt"] = o.Prompt
	}
	if o.Reauthenticate {
		// max_age=0 as well as prompt=login: an OP that honours only one
		// of them still authenticates the user again, and max_age makes
		// auth_time REQUIRED in the ID token (OIDC Core §2).
		params["prompt"], params["max_age"] = "login", "0"
		req.AuthTimeNotBefore = p.now()
	}
	opts := make([]oauth2.AuthCodeOption, 0, len(params)+2)
	for k, v := range params {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	// Protocol parameters last so nothing above can replace them.
	opts = append(opts,
		oauth2.SetAuthURLParam("nonce", req.Nonce),
		oauth2.S256ChallengeOption(req.CodeVerifier),
	)
	if scope != "" {
		opts = append(opts, oauth2.SetAuthURLParam("scope", scope))
	}
	// oauth2 adds response_type=code, client_id, redirect_uri, scope, state.
	req.URL = rt.oauth.AuthCodeURL(req.State, opts...)
	return &req, nil
}

// HashState returns the hex SHA-256 of a state value. Store this, not the
// state, so a leaked table cannot be used to forge callbacks; look the
// pending request up by HashState of the callback's state parameter.
func HashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// randomString returns randomBytes from r, base64url-encoded without
// padding (43 characters, valid as a PKCE code_verifier, RFC 7636 §4.1).
func randomString(r io.Reader) (string, error) {
	b := make([]byte, randomBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("sso: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
