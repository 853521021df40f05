package sso

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// ErrRevoked reports the provider's definite answer that a person's grant
// is gone: the refresh token is invalid_grant (revoked, expired, the user
// disabled or deleted), or UserInfo refuses the fresh access token with
// 401. Only this error may end sessions; an outage (ErrUnavailable) or
// any other failure says nothing about the person.
var ErrRevoked = errors.New("sso: the provider revoked the sign-in")

// errUnauthorized is a UserInfo 401: the access token was refused.
var errUnauthorized = errors.New("access token refused (HTTP 401)")

// offlineScope asks for a refresh token (OIDC Core §11).
const offlineScope = "offline_access"

// scopes are the scopes a sign-in asks for (AuthOptions.Offline): the
// configured ones, and offline_access when the provider is checked
// offline (Offline) and advertises it. Google asks for access_type=offline instead
// (authParams); a provider that advertises neither may still give a
// refresh token, which is used as it comes.
func (c ProviderConfig) scopes(meta *Metadata) []string {
	s := slices.Clone(c.Scopes)
	if c.Offline && c.Kind != KindGoogle && slices.Contains(meta.ScopesSupported, offlineScope) && !slices.Contains(s, offlineScope) {
		s = append(s, offlineScope)
	}
	return s
}

// CheckRefresh asks the provider, server side and without a browser,
// whether the person it signed in as subject may still sign in: it redeems
// the refresh token (RFC 6749 §6) and reads UserInfo with the new access
// token, whose sub (or subject_claim) must be subject. A UserInfo 401
// counts as a no only once UserInfo has accepted a refreshed token for
// this provider: until then it says more about the configuration than
// about the person. It returns the
// refresh token to keep: the provider's new one when it rotates them,
// else the same.
//
// A definite no is ErrRevoked. Anything else, the provider down, slow, or
// answering garbage or 5xx, is ErrUnavailable or another error, and must
// not sign anyone out.
func (p *Provider) CheckRefresh(ctx context.Context, subject, refreshToken string) (string, error) {
	if refreshToken == "" {
		return "", errors.New("sso: no refresh token to check with")
	}
	rt, err := p.ready(ctx)
	if err != nil {
		return "", err
	}
	src := rt.oauth.TokenSource(oidc.ClientContext(ctx, p.http), &oauth2.Token{RefreshToken: refreshToken})
	tok, err := src.Token()
	if err != nil {
		return "", refreshError(err)
	}
	next := refreshToken
	if tok.RefreshToken != "" {
		next = tok.RefreshToken
	}
	if rt.meta.UserinfoEndpoint == "" || tok.AccessToken == "" {
		return next, nil // the refresh itself was the answer
	}
	info, err := p.userinfo(ctx, rt, tok.AccessToken)
	switch {
	case errors.Is(err, errUnauthorized) && p.userinfoWorks.Load():
		return next, fmt.Errorf("%w: userinfo: %w", ErrRevoked, err)
	case errors.Is(err, errUnauthorized):
		// UserInfo has refused every refreshed token so far: a token for
		// another audience (say, an Entra API scope) or a gateway, not a
		// person gone. Nobody is signed out for it.
		return next, fmt.Errorf("sso: userinfo refused a refreshed access token, and has accepted none since gatehouse started: check the provider's configuration: %w", err)
	case err != nil:
		return next, err
	}
	p.userinfoWorks.Store(true)
	key := or(p.cfg.SubjectClaim, "sub")
	if raw, ok := claimAt(info, key); ok && stringClaim(raw) != subject {
		return next, fmt.Errorf("%w: userinfo %s is another person's", ErrUserinfoSubject, key)
	}
	return next, nil
}

// refreshError classifies a failed refresh as tokenError does a failed
// code exchange, but for invalid_grant, which is the provider's no (RFC
// 6749 §5.2): the grant is revoked, expired, or its person gone. An
// outage stays ErrUnavailable; another OAuth error (invalid_client: our
// configuration) is neither, and keeps sessions too.
func refreshError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" && (re.Response == nil || re.Response.StatusCode < 500) {
		return fmt.Errorf("%w: refresh: %s", ErrRevoked, describeOAuthError(re.ErrorCode, re.ErrorDescription))
	}
	return tokenError(err)
}
