package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// CallbackParams are the authorization response parameters from the
// redirect back to RedirectURL (OIDC Core §3.1.2.5/§3.1.2.6, RFC 9207).
// The handler checks state itself, by looking up the Pending request.
type CallbackParams struct {
	Code string
	// Iss is the "iss" parameter (RFC 9207), empty when absent.
	Iss string
	// Error and ErrorDescription are set on an error response.
	Error, ErrorDescription string
}

// Pending is the part of an AuthRequest that the handler persisted
// server-side and hands back to Exchange. Each Pending must be used once.
type Pending struct {
	Nonce        string
	CodeVerifier string
	// AuthTimeNotBefore, when set, is when a Reauthenticate request was
	// made: the ID token must then carry an auth_time no earlier than this,
	// less the clock skew, or Exchange fails with ErrNotReauthenticated.
	// Zero (any other request) skips the check.
	AuthTimeNotBefore time.Time
	// Evidence, when set, is filled with what Exchange saw on the way, up
	// to where it stopped: the provider test page's trace. UserInfo is
	// then consulted even when the ID token has every claim needed.
	Evidence *Evidence
}

// Evidence is what Exchange saw on the way to an Identity: the key that
// signed the ID token and the validated claims of the ID token and of
// UserInfo, side by side. It holds no token. It is for the administrator
// testing a provider, never stored or logged.
type Evidence struct {
	KeyID, Algorithm string
	// IDToken is the ID token's claims, once its signature was verified.
	IDToken json.RawMessage
	// Userinfo is UserInfo's claims, nil when it was not consulted or
	// failed (UserinfoNote says which); UserinfoUsed reports whether they
	// completed the identity's claims.
	Userinfo     json.RawMessage
	UserinfoNote string
	UserinfoUsed bool
}

// noteUserinfo records a UserInfo answer (or failure) in e; nil e records
// nothing.
func (e *Evidence) noteUserinfo(info map[string]json.RawMessage, err error, used bool) {
	if e == nil {
		return
	}
	if err != nil {
		e.UserinfoNote = err.Error()
		return
	}
	e.Userinfo, _ = json.Marshal(info)
	e.UserinfoUsed = used
	if !used {
		e.UserinfoNote = "consulted for this test only: the ID token had every claim the sign-in needs"
	}
}

// Identity is a verified end-user identity from an OP.
type Identity struct {
	ProviderID string
	Issuer     string
	// Subject with Issuer is the stable key of the user (OIDC Core §5.7);
	// email addresses can change and be reassigned.
	Subject string
	// Email is trimmed and lower-cased (NormalizeEmail); it is empty when
	// the claim is missing, not a string, or has Invisible characters.
	Email string
	// EmailExact reports whether the claim was Email but for the case of
	// ASCII letters (EmailExact): false for a look-alike that only
	// normalises to Email, and for no email. Only an exact email may link
	// an account by itself.
	EmailExact bool
	// EmailVerified is true only for a JSON boolean true.
	EmailVerified bool
	Name          string
	// SID is the OP session id, used to match back-channel logouts.
	SID string
	// AuthTime is when the user authenticated at the OP; zero if unknown.
	AuthTime time.Time
	// IDToken is the raw ID token, kept server-side as id_token_hint for
	// RP-initiated logout. It is a credential: never send it to browsers.
	IDToken string
	// Claims is a snapshot of the ID token claims, plus UserInfo claims the
	// ID token did not have.
	Claims json.RawMessage
	// AMR and ACR are the ID token's amr (when an array of strings) and acr
	// (when a string): how the person authenticated at the provider.
	AMR []string
	ACR string
	// Groups are the person's groups (ProviderConfig.GroupsClaim), from
	// the ID token or, when it has none, UserInfo; HasGroups reports
	// whether the claim was there at all.
	Groups    []string
	HasGroups bool
	// RefreshToken is the token endpoint's refresh token, if it gave one:
	// the offline check's credential (CheckRefresh). Store it sealed.
	RefreshToken string
}

// Exchange completes the authorization code flow: it checks the
// authorization response, redeems the code with the PKCE verifier, validates
// the ID token (OIDC Core §3.1.3.7), consults UserInfo when the ID token
// lacks email or name, and returns the identity.
func (p *Provider) Exchange(ctx context.Context, cb CallbackParams, pending Pending) (*Identity, error) {
	rt, err := p.ready(ctx)
	if err != nil {
		return nil, err
	}
	// RFC 9207 §2.4 applies to error responses too, so check iss first.
	if err := p.checkResponseIssuer(rt, cb.Iss); err != nil {
		return nil, err
	}
	if cb.Error != "" {
		return nil, &AuthorizationError{Code: truncate(cb.Error, 100), Description: truncate(cb.ErrorDescription, 200)}
	}
	if cb.Code == "" {
		return nil, fmt.Errorf("%w: no code", ErrInvalidCallback)
	}
	if pending.Nonce == "" || pending.CodeVerifier == "" {
		return nil, fmt.Errorf("%w: pending request lacks nonce or code verifier", ErrInvalidCallback)
	}
	ctx = oidc.ClientContext(ctx, p.http)
	tok, err := rt.oauth.Exchange(ctx, cb.Code, oauth2.VerifierOption(pending.CodeVerifier))
	if err != nil {
		return nil, tokenError(err)
	}
	// OIDC Core §3.1.3.3: token_type must be Bearer (case-insensitive).
	if !strings.EqualFold(tok.Type(), "Bearer") {
		return nil, invalid(errTokenType)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, invalid(errNoIDToken)
	}
	if ev := pending.Evidence; ev != nil {
		h, _ := parseHeader(rawID)
		ev.KeyID, ev.Algorithm = h.Kid, h.Alg
	}
	claims, payload, err := p.verifyIDToken(ctx, rt, rawID, pending, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	if pending.Evidence != nil {
		pending.Evidence.IDToken = append(json.RawMessage(nil), payload...)
	}
	merged, err := p.mergedClaims(ctx, rt, claims.Subject, payload, tok.AccessToken, pending.Evidence)
	if err != nil {
		return nil, err
	}
	if err := p.cfg.checkKind(merged); err != nil {
		return nil, err
	}
	if err := p.cfg.checkGroups(merged); err != nil {
		return nil, err
	}
	id, err := newIdentity(p.cfg, claims, rawID, merged)
	if id != nil {
		id.RefreshToken = tok.RefreshToken
	}
	return id, err
}

// checkResponseIssuer implements RFC 9207 §2.4: an iss parameter must equal
// the issuer exactly, and must be present if the OP advertises
// authorization_response_iss_parameter_supported. This defeats mix-up
// attacks (RFC 9700 §4.4) when several OPs are configured.
func (p *Provider) checkResponseIssuer(rt *resolved, iss string) error {
	if p.cfg.MultiTenant() && iss != "" {
		// A tenant's issuer: the template filled with an allowed tenant.
		for _, tid := range p.cfg.AllowedTenants {
			if iss == p.cfg.TenantIssuer(rt.meta.Issuer, tid) {
				return nil
			}
		}
		return fmt.Errorf("%w: authorization response iss %q is no allowed tenant's", ErrIssuerMismatch, iss)
	}
	switch {
	case iss != "" && iss != rt.meta.Issuer:
		return fmt.Errorf("%w: authorization response iss %q, expected %q", ErrIssuerMismatch, iss, rt.meta.Issuer)
	case iss == "" && rt.meta.AuthorizationResponseISSParameterSupported:
		return fmt.Errorf("%w: authorization response lacks iss, which the provider promises (RFC 9207)", ErrIssuerMismatch)
	}
	return nil
}

// tokenError classifies a code exchange failure. The message carries the
// OAuth error code and description but never the response body, code or
// verifier.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return unavailable("token endpoint", err)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	switch {
	case status >= 500 || status == http.StatusTooManyRequests:
		return unavailable("token endpoint", fmt.Errorf("HTTP %d", status))
	case re.ErrorCode != "":
		return fmt.Errorf("%w: HTTP %d: %s", ErrCodeRejected, status, describeOAuthError(re.ErrorCode, re.ErrorDescription))
	default:
		return unavailable("token endpoint", fmt.Errorf("HTTP %d without an OAuth error response", status))
	}
}

// mergedClaims returns the ID token claims, completed from UserInfo when
// email, name or (for a provider that decides groups) the groups claim is
// missing and the OP has a userinfo endpoint (Okta's org server puts
// groups only there). Claims the ID token has are never overridden. A
// UserInfo failure is fatal only when email or the groups the sign-in
// needs are missing; a subject mismatch always is. With ev (a provider
// test), UserInfo is consulted anyway and what it said is recorded in ev.
func (p *Provider) mergedClaims(ctx context.Context, rt *resolved, sub string, payload []byte, accessToken string, ev *Evidence) (map[string]json.RawMessage, error) {
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, invalidf(errMalformed, "claims: %v", err)
	}
	_, hasEmail := claimAt(claims, or(p.cfg.EmailClaim, "email"))
	_, hasName := claimAt(claims, or(p.cfg.NameClaim, "name"))
	_, hasGroups := groupsOf(claims, p.cfg.GroupsClaim)
	needGroups := p.cfg.DecidesGroups() && !hasGroups
	if rt.meta.UserinfoEndpoint == "" {
		if ev != nil {
			ev.UserinfoNote = "the provider has no userinfo_endpoint"
		}
		return claims, nil
	}
	need := !hasEmail || !hasName || needGroups
	if !need && ev == nil {
		return claims, nil
	}
	info, err := p.userinfo(ctx, rt, accessToken)
	if err == nil {
		err = checkUserinfoSubject(info, sub)
	}
	ev.noteUserinfo(info, err, need)
	if !need {
		return claims, nil // asked for the test page only
	}
	if err != nil {
		if hasEmail && !needGroups && !errors.Is(err, ErrUserinfoSubject) {
			p.log.Warn("sso: userinfo failed; continuing with ID token claims", "err", err)
			return claims, nil
		}
		return nil, err
	}
	mergeUserinfo(claims, info)
	return claims, nil
}

// checkUserinfoSubject enforces OIDC Core §5.3.2: "The sub Claim in the
// UserInfo Response MUST be verified to exactly match the sub Claim in the
// ID Token; if they do not match, the UserInfo Response values MUST NOT be
// used."
func checkUserinfoSubject(info map[string]json.RawMessage, sub string) error {
	var got string
	if raw, ok := info["sub"]; !ok || json.Unmarshal(raw, &got) != nil || got != sub {
		return fmt.Errorf("%w: userinfo sub %q", ErrUserinfoSubject, got)
	}
	return nil
}

// mergeUserinfo adds UserInfo claims that the ID token lacks.
// email_verified belongs to an address: it is taken from UserInfo only
// together with its email, or when UserInfo's email is the ID token's.
func mergeUserinfo(claims, info map[string]json.RawMessage) {
	idEmail, idHasEmail := claims["email"]
	for k, v := range info {
		if _, ok := claims[k]; ok {
			continue
		}
		if k == "email_verified" && idHasEmail && NormalizeEmail(stringClaim(idEmail)) != NormalizeEmail(stringClaim(info["email"])) {
			continue
		}
		claims[k] = v
	}
}

// userinfo calls the UserInfo endpoint (OIDC Core §5.3) with the access
// token as a Bearer token and returns its claims. Signed responses
// (application/jwt) are verified with the provider's keys.
func (p *Provider) userinfo(ctx context.Context, rt *resolved, accessToken string) (map[string]json.RawMessage, error) {
	req, err := http.NewRequest(http.MethodGet, rt.meta.UserinfoEndpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUserinfo, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json, application/jwt")
	r, err := do(ctx, p.http, req, "userinfo")
	if err != nil {
		return nil, err
	}
	if r.status == http.StatusUnauthorized {
		return nil, fmt.Errorf("%w: %w", ErrUserinfo, errUnauthorized)
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("%w: %w", ErrUserinfo, statusError("userinfo", r))
	}
	body := r.body
	if r.contentType == "application/jwt" {
		if body, err = p.verifySignedUserinfo(ctx, rt, string(body)); err != nil {
			return nil, err
		}
	}
	var info map[string]json.RawMessage
	if err := json.Unmarshal(body, &info); err != nil || info == nil {
		return nil, unavailable("userinfo", errors.New("response is not a JSON object"))
	}
	return info, nil
}

// verifySignedUserinfo checks a signed UserInfo response (OIDC Core
// §5.3.2): signature by the OP's keys with an allowed alg, and iss and aud
// when present.
func (p *Provider) verifySignedUserinfo(ctx context.Context, rt *resolved, raw string) ([]byte, error) {
	_, payload, err := verifySignature(ctx, rt, strings.TrimSpace(raw), fromProvider)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUserinfo, err)
	}
	var c struct {
		Issuer   *string  `json:"iss"`
		Audience audience `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: signed response claims: %w", ErrUserinfo, err)
	}
	if c.Issuer != nil {
		if err := checkIssuer(*c.Issuer, p.cfg.Issuer); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUserinfo, err)
		}
	}
	if c.Audience != nil {
		if err := checkAudience(c.Audience, rt.client.id); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUserinfo, err)
		}
	}
	return payload, nil
}

// newIdentity builds the Identity from validated claims.
func newIdentity(cfg ProviderConfig, c *idTokenClaims, rawID string, merged map[string]json.RawMessage) (*Identity, error) {
	snapshot, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("sso: encoding claims: %w", err)
	}
	subject, err := mappedSubject(cfg, c, merged)
	if err != nil {
		return nil, err
	}
	emailClaim := or(cfg.EmailClaim, "email")
	email, _ := claimAt(merged, emailClaim)
	name, _ := claimAt(merged, or(cfg.NameClaim, "name"))
	id := &Identity{
		ProviderID: cfg.ID,
		Issuer:     c.Issuer,
		Subject:    subject,
		// email_verified speaks of the email claim only: an address mapped
		// from another claim is never verified.
		EmailVerified: emailClaim == "email" && cfg.emailVerified(merged),
		Name:          strings.TrimSpace(strings.ReplaceAll(stringClaim(name), "\x00", "")),
		SID:           c.SID,
		IDToken:       rawID,
		Claims:        snapshot,
	}
	if c.AuthTime != nil {
		id.AuthTime = c.AuthTime.Time
	}
	id.ACR = stringClaim(c.ACR)
	if c.AMR != nil && json.Unmarshal(c.AMR, &id.AMR) != nil {
		id.AMR = nil // not an array of strings: says nothing
	}
	id.Groups, id.HasGroups = groupsOf(merged, cfg.GroupsClaim)
	if email := strings.TrimSpace(stringClaim(email)); !HasInvisible(email) {
		id.Email = NormalizeEmail(email)
		id.EmailExact = id.Email != "" && EmailExact(email)
	}
	return id, nil
}

// mappedSubject is the identity's stable key: the ID token's sub, or the
// claim subject_claim names (Entra ID's oid, stable across app
// registrations), which must then be a non-empty string of at most 255
// characters.
func mappedSubject(cfg ProviderConfig, c *idTokenClaims, merged map[string]json.RawMessage) (string, error) {
	if cfg.SubjectClaim == "" || cfg.SubjectClaim == "sub" {
		return c.Subject, nil
	}
	raw, _ := claimAt(merged, cfg.SubjectClaim)
	s := stringClaim(raw)
	if s == "" || len(s) > 255 || HasInvisible(s) {
		return "", invalidf(errSubject, "subject_claim %q", cfg.SubjectClaim)
	}
	return s, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// stringClaim returns a claim that is a JSON string, or "".
func stringClaim(raw json.RawMessage) string {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// trueClaim reports whether a claim is the JSON boolean true. The string
// "true" is not: OIDC Core §5.1 defines email_verified as a boolean, and
// accepting look-alikes widens what a sloppy OP can assert.
func trueClaim(raw json.RawMessage) bool {
	var b bool
	return raw != nil && json.Unmarshal(raw, &b) == nil && b
}

// NormalizeEmail is the one form emails are compared and stored in:
// trimmed and lower-cased. Lower-casing is Unicode's, which folds a few
// non-ASCII letters onto ASCII ones (U+212A KELVIN SIGN to k, U+0130 to i);
// EmailExact tells such an address from one written as it is stored.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// EmailExact reports whether NormalizeEmail changes nothing in email but
// the case of ASCII letters and the space around it. An address that
// normalises onto an account's by folding a look-alike ("\u212Aim@" to
// "kim@") matches that account without being its address, so it must never
// be the sole reason to link an SSO identity to it.
func EmailExact(email string) bool {
	email = strings.TrimSpace(email)
	norm := NormalizeEmail(email)
	if len(norm) != len(email) {
		return false
	}
	for i := range len(email) {
		if asciiLower(email[i]) != norm[i] {
			return false
		}
	}
	return true
}

func asciiLower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// Invisible reports whether r shows as nothing, or changes how the text
// around it is shown, so that two strings that look the same can differ:
// control characters (Cc); format characters (Cf), among them the
// zero-width space and joiners, the bidi embeddings, overrides and isolates
// (U+202A-U+202E, U+2066-U+2069), the byte-order mark and the soft hyphen;
// line and paragraph separators; variation selectors; and the other
// default-ignorable code points, such as the Hangul fillers. Emails with one
// are refused everywhere; a name with one is refused when typed and
// stripped of it (RemoveInvisible) when it comes from a provider.
func Invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// HasInvisible reports whether s contains an Invisible character.
func HasInvisible(s string) bool { return strings.ContainsFunc(s, Invisible) }

// RemoveInvisible returns s without its Invisible characters, for text from
// elsewhere (a provider's display name) that is kept rather than refused.
func RemoveInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		if Invisible(r) {
			return -1
		}
		return r
	}, s)
}
