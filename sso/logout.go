package sso

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// ReplayStore remembers logout-token jti values until their exp
// (Back-Channel Logout 1.0 §2.6 replay).
type ReplayStore interface {
	// Remember records (issuer, jti) until expiresAt; it returns false when
	// it was already recorded.
	Remember(ctx context.Context, issuer, jti string, expiresAt time.Time) (bool, error)
}

// LogoutClaims identify the sessions a verified logout token ends: every
// session of (Issuer, Subject) when SID is empty, otherwise the session
// with that SID (Back-Channel Logout 1.0 §2.7).
type LogoutClaims struct {
	Issuer    string
	Subject   string
	SID       string
	JTI       string
	ExpiresAt time.Time
}

// backchannelLogoutEvent is the events member that makes a JWT a logout
// token (Back-Channel Logout 1.0 §2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// EndSessionURL builds the RP-Initiated Logout 1.0 §2 request to send the
// browser to after ending the local session. idTokenHint is the raw ID
// token from Identity.IDToken (RECOMMENDED by §2); state, if not empty, is
// echoed back to PostLogoutRedirectURL. It returns false when the OP has
// no end_session_endpoint, in which case only the local session ends.
func (p *Provider) EndSessionURL(ctx context.Context, idTokenHint, state string) (string, bool, error) {
	rt, err := p.ready(ctx)
	if err != nil {
		return "", false, err
	}
	if rt.meta.EndSessionEndpoint == "" {
		return "", false, nil
	}
	u, err := url.Parse(rt.meta.EndSessionEndpoint)
	if err != nil {
		return "", false, fmt.Errorf("sso: end_session_endpoint: %w", err)
	}
	// Keep any query the endpoint already has (OIDC Core §3.1.2.1 style).
	q := u.Query()
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	// An expired hint is left out: some providers refuse the whole
	// request for it. client_id then lets the OP check
	// post_logout_redirect_uri (§2).
	if !expiredHint(idTokenHint, p.now()) {
		set("id_token_hint", idTokenHint)
	}
	set("client_id", rt.client.id)
	set("post_logout_redirect_uri", p.cfg.PostLogoutRedirectURL)
	set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), true, nil
}

// expiredHint reports whether an ID token kept as a logout hint has
// expired by now: its exp, read from the payload gatehouse validated when
// it signed the person in. A hint that cannot be read is left to the
// provider to judge.
func expiredHint(hint string, now time.Time) bool {
	parts := strings.Split(hint, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Exp *numericDate `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == nil {
		return false
	}
	return !now.Before(c.Exp.Time)
}

// logoutTokenClaims are the claims of a logout token (Back-Channel Logout
// 1.0 §2.4). Pointers and RawMessages distinguish "absent" from "zero".
type logoutTokenClaims struct {
	Issuer   string                     `json:"iss"`
	Subject  string                     `json:"sub"`
	Audience audience                   `json:"aud"`
	IssuedAt *numericDate               `json:"iat"`
	Expiry   *numericDate               `json:"exp"`
	JTI      string                     `json:"jti"`
	SID      string                     `json:"sid"`
	Events   map[string]json.RawMessage `json:"events"`
	Nonce    json.RawMessage            `json:"nonce"`
}

// logoutTokenRules is what a valid logout token must match.
type logoutTokenRules struct {
	timeRules
	issuer, clientID string
}

// validate applies the claim rules of Back-Channel Logout 1.0 §2.6 to
// signature-verified claims.
func (c *logoutTokenClaims) validate(r logoutTokenRules) error {
	// iss, aud, iat and exp are validated as for ID tokens.
	if err := checkIssuer(c.Issuer, r.issuer); err != nil {
		return err
	}
	if err := checkAudience(c.Audience, r.clientID); err != nil {
		return err
	}
	if err := r.checkIAT(c.IssuedAt); err != nil {
		return err
	}
	if err := r.checkExp(c.Expiry); err != nil {
		return err
	}
	// A sub claim, a sid claim, or both.
	if c.Subject == "" && c.SID == "" {
		return invalid(errSubOrSID)
	}
	if !identifier(c.Subject) || !identifier(c.SID) || !identifier(c.JTI) {
		return invalid(errIdentifierText)
	}
	// events is a JSON object with the back-channel logout member, whose
	// value is a JSON object (§2.4).
	var event map[string]json.RawMessage
	if raw, ok := c.Events[backchannelLogoutEvent]; !ok || json.Unmarshal(raw, &event) != nil || event == nil {
		return invalid(errEvents)
	}
	// No nonce claim, so an ID token can never pass as a logout token.
	if c.Nonce != nil {
		return invalid(errNoncePresent)
	}
	// §2.4: jti is REQUIRED; replay is checked by the caller.
	if c.JTI == "" {
		return invalid(errJTIMissing)
	}
	return nil
}

// checkLogoutTyp: Back-Channel Logout 1.0 §2.4 recommends explicit typing
// with "logout+jwt"; a typ that says something else (such as "JWT" on an
// ID token) is refused. Media types are case-insensitive and may carry the
// "application/" prefix (RFC 7515 §4.1.9).
func checkLogoutTyp(typ string) error {
	if typ == "" {
		return nil
	}
	t := strings.TrimPrefix(strings.ToLower(typ), "application/")
	if t != "logout+jwt" {
		return invalidf(errTyp, "typ %q", typ)
	}
	return nil
}

// VerifyLogoutToken validates a back-channel logout token (Back-Channel
// Logout 1.0 §2.6) and records its jti so that it is accepted only once.
// Errors matching ErrInvalidToken (including ErrReplay) deserve a 400
// response (§2.8); ErrUnavailable means the OP's keys could not be fetched;
// other errors are our own failures (such as the ReplayStore).
func (p *Provider) VerifyLogoutToken(ctx context.Context, raw string) (*LogoutClaims, error) {
	if p.replays == nil {
		return nil, fmt.Errorf("%w: back-channel logout needs a ReplayStore", ErrConfig)
	}
	rt, err := p.ready(ctx)
	if err != nil {
		return nil, err
	}
	// §2.6: signature and alg validated as for ID tokens; never "none".
	h, payload, err := verifySignature(ctx, rt, raw, fromBackChannel)
	if err != nil {
		return nil, err
	}
	if err := checkLogoutTyp(h.Typ); err != nil {
		return nil, err
	}
	var c logoutTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalidf(errMalformed, "claims: %v", err)
	}
	rules := logoutTokenRules{timeRules: timeRules{now: p.now(), skew: p.skew}, issuer: p.cfg.Issuer, clientID: rt.client.id}
	if err := c.validate(rules); err != nil {
		return nil, err
	}
	// Defence in depth: go-oidc's own logout token verification.
	if _, err := rt.verifier.VerifyLogout(oidc.ClientContext(ctx, p.http), raw); err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, invalid(errExpired)
		}
		return nil, invalidf(errSignature, "go-oidc: %v", err)
	}
	// §2.6: refuse a jti seen before. Remember it until exp plus skew,
	// since that is how long the token would be accepted.
	fresh, err := p.replays.Remember(ctx, c.Issuer, c.JTI, c.Expiry.Add(p.skew))
	if err != nil {
		return nil, fmt.Errorf("sso: recording logout token jti: %w", err)
	}
	if !fresh {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrReplay)
	}
	return &LogoutClaims{Issuer: c.Issuer, Subject: c.Subject, SID: c.SID, JTI: c.JTI, ExpiresAt: c.Expiry.Time}, nil
}
