package sso

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
)

// idTokenClaims are the ID token claims that validation looks at
// (OIDC Core §2). Pointers distinguish "absent" from "zero".
type idTokenClaims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  audience     `json:"aud"`
	AZP       *string      `json:"azp"`
	Expiry    *numericDate `json:"exp"`
	IssuedAt  *numericDate `json:"iat"`
	NotBefore *numericDate `json:"nbf"`
	AuthTime  *numericDate `json:"auth_time"`
	Nonce     *string      `json:"nonce"`
	SID       string       `json:"sid"`
	// AMR and ACR (OIDC Core §2) say how the person authenticated; kept
	// raw, as a provider's odd value must not fail the token: only the
	// forms MultiFactor reads count.
	AMR json.RawMessage `json:"amr"`
	ACR json.RawMessage `json:"acr"`
}

// idTokenRules is what a valid ID token must match.
type idTokenRules struct {
	timeRules
	issuer, clientID string
	nonce            string // from the pending authorization request
	maxAge           time.Duration
	hasMaxAge        bool // max_age was sent in the authorization request
	// authNotBefore is when a re-authentication request was made; zero
	// for other requests.
	authNotBefore time.Time
}

// validate applies OIDC Core §3.1.3.7 to signature-verified claims. (Steps
// 1 and 6-8, decryption and signature, happen before; step 12, acr, is
// policy left to the caller through Identity.Claims.)
func (c *idTokenClaims) validate(r idTokenRules) error {
	// Step 2: iss exactly the issuer.
	if err := checkIssuer(c.Issuer, r.issuer); err != nil {
		return err
	}
	// Step 3: aud contains our client_id.
	if err := checkAudience(c.Audience, r.clientID); err != nil {
		return err
	}
	// Step 4: with several audiences, azp must be present.
	if len(c.Audience) > 1 && c.AZP == nil {
		return invalidf(errAZPMissing, "aud %q", []string(c.Audience))
	}
	// Step 5: azp, when present, is our client_id.
	if c.AZP != nil && *c.AZP != r.clientID {
		return invalidf(errAZP, "azp %q", *c.AZP)
	}
	// Step 9: exp present and not passed.
	if err := r.checkExp(c.Expiry); err != nil {
		return err
	}
	// Step 10: iat present, not in the future, not too old.
	if err := r.checkIAT(c.IssuedAt); err != nil {
		return err
	}
	if err := r.checkNBF(c.NotBefore); err != nil {
		return err
	}
	// Step 11: nonce present and equal to the one we sent. Constant time:
	// the nonce is a secret bound to the browser's pending request.
	if c.Nonce == nil {
		return invalid(errNonceMissing)
	}
	if subtle.ConstantTimeCompare([]byte(*c.Nonce), []byte(r.nonce)) != 1 {
		return invalid(errNonce)
	}
	// auth_time, when present, is not in the future beyond the skew: no one
	// authenticates after the token is issued, and a future auth_time would
	// make the sign-in look recent for as long as it is ahead.
	if c.AuthTime != nil && c.AuthTime.After(r.now.Add(r.skew)) {
		return invalidf(errAuthTimeAhead, "auth_time %s, now %s", c.AuthTime.UTC().Format(time.RFC3339), r.now.UTC().Format(time.RFC3339))
	}
	// Step 13: max_age requested means auth_time is required and recent.
	if r.hasMaxAge {
		if c.AuthTime == nil || r.now.After(c.AuthTime.Add(r.maxAge+r.skew)) {
			return invalid(errAuthTime)
		}
	}
	// The same rule for a re-authentication (max_age=0): auth_time is
	// required and no earlier than the request, so the user signed in at
	// the OP after we asked. Measured from the request rather than from
	// now, as the user may take minutes at the OP's login page.
	if !r.authNotBefore.IsZero() {
		if c.AuthTime == nil {
			return notReauthenticated("no auth_time")
		}
		if c.AuthTime.Before(r.authNotBefore.Add(-r.skew)) {
			return notReauthenticated("auth_time %s, re-authentication requested at %s",
				c.AuthTime.UTC().Format(time.RFC3339), r.authNotBefore.UTC().Format(time.RFC3339))
		}
	}
	// §2: sub is REQUIRED, at most 255 ASCII characters; it is the only
	// stable identifier of the user at this issuer.
	if c.Subject == "" || len(c.Subject) > 255 {
		return invalid(errSubject)
	}
	if !identifier(c.Subject) || !identifier(c.SID) {
		return invalid(errIdentifierText)
	}
	return nil
}

// identifier reports whether an identifier claim (sub, sid, jti) is text
// gatehouse can store and compare: valid UTF-8 without control characters
// (NUL among them, which PostgreSQL refuses). The specifications make them
// ASCII strings; no provider sends anything else on purpose.
// It is at most 1,024 bytes too: each is stored in an indexed column, and
// PostgreSQL refuses index entries of more than about 2.7 kB.
func identifier(s string) bool {
	return len(s) <= 1024 && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// verifyIDToken validates a raw ID token from the token endpoint and
// returns its claims and its payload.
//
// Our own checks run first on the verified payload so that each failure
// has a precise, testable reason. go-oidc's Verify then runs as defence in
// depth (signature, alg, iss, aud, exp, nbf again) and gives us
// IDToken.VerifyAccessToken for at_hash.
func (p *Provider) verifyIDToken(ctx context.Context, rt *resolved, raw string, pending Pending, accessToken string) (*idTokenClaims, []byte, error) {
	// The ID token is the token endpoint's answer to our client-
	// authenticated request: an unknown kid is a key rotation.
	ctx = withKeySource(ctx, fromProvider)
	_, payload, err := verifySignature(ctx, rt, raw, fromProvider)
	if err != nil {
		return nil, nil, err
	}
	var c idTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, nil, invalidf(errMalformed, "claims: %v", err)
	}
	issuer, err := p.expectedIssuer(rt, payload)
	if err != nil {
		return nil, nil, err
	}
	rules := idTokenRules{
		timeRules:     timeRules{now: p.now(), skew: p.skew},
		issuer:        issuer,
		clientID:      rt.client.id,
		nonce:         pending.Nonce,
		maxAge:        p.maxAge,
		hasMaxAge:     p.hasMaxAge,
		authNotBefore: pending.AuthTimeNotBefore,
	}
	if err := c.validate(rules); err != nil {
		return nil, nil, err
	}
	tok, err := rt.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, nil, invalid(errExpired)
		}
		return nil, nil, invalidf(errSignature, "go-oidc: %v", err)
	}
	// OIDC Core §3.1.3.8: at_hash, when present, must match the access token.
	if tok.AccessTokenHash != "" {
		if err := tok.VerifyAccessToken(accessToken); err != nil {
			return nil, nil, invalid(errAtHash)
		}
	}
	return &c, payload, nil
}

// expectedIssuer is the iss an ID token must have: the configured issuer,
// or for a multi-tenant Entra ID app its tenant's, filled into the
// metadata's template from the token's tid, which must be an allowed
// tenant.
func (p *Provider) expectedIssuer(rt *resolved, payload []byte) (string, error) {
	if !p.cfg.MultiTenant() {
		return p.cfg.Issuer, nil
	}
	var t struct {
		TID string `json:"tid"`
	}
	_ = json.Unmarshal(payload, &t)
	iss := p.cfg.TenantIssuer(rt.meta.Issuer, t.TID)
	if t.TID == "" || iss == "" {
		return "", invalidf(errIssuer, "entra: tid %q is not one of allowed_tenants", t.TID)
	}
	return iss, nil
}
