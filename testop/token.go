package testop

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// handleDiscovery serves the provider metadata (OIDC Discovery 1.0 §3, §4.2).
func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	b := p.currentBehavior()
	doc := map[string]any{
		"issuer":                                p.docIssuer(),
		"authorization_endpoint":                p.issuer + "/authorize",
		"token_endpoint":                        p.issuer + "/token",
		"userinfo_endpoint":                     p.issuer + "/userinfo",
		"jwks_uri":                              p.issuer + "/jwks",
		"registration_endpoint":                 p.issuer + "/register",
		"end_session_endpoint":                  p.issuer + "/end_session",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{AuthMethodBasic, AuthMethodPost},
		"scopes_supported":                      []string{"openid", "email", "profile", "offline_access"},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid",
			"at_hash", "email", "email_verified", "name"},
		"prompt_values_supported":                        []string{"none", "login"},
		"backchannel_logout_supported":                   true, // Back-Channel Logout 1.0 §2.1
		"backchannel_logout_session_supported":           true,
		"authorization_response_iss_parameter_supported": !p.tenantIssuers, // RFC 9207 §3; Entra ID's multi-tenant endpoint sends none
	}
	if b.DiscoveryIssuer != "" {
		doc["issuer"] = b.DiscoveryIssuer
	}
	if b.Discovery != nil {
		b.Discovery(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

// handleJWKS publishes the current public key (RFC 7517 §5) plus any extra
// keys the behaviour asks for.
func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	keys := []any{p.currentKey().jwk()}
	for _, k := range p.currentBehavior().JWKSExtraKeys {
		keys = append(keys, k)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// handleToken implements the token endpoint for the authorization code grant
// (OIDC Core §3.1.3, RFC 6749 §4.1.3).
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	// RFC 6749 §5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if err := r.ParseForm(); err != nil {
		p.oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form: "+err.Error())
		return
	}
	p.record(&p.lastToken, r.PostForm)
	client, err := p.authenticateClient(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="testop"`) // RFC 6749 §5.2
		p.oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	b := p.currentBehavior()
	if b.TokenError != "" {
		p.oauthError(w, http.StatusBadRequest, b.TokenError, b.TokenErrorDescription)
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
	case "refresh_token":
		p.handleRefresh(w, client, r.PostForm.Get("refresh_token"))
		return
	default:
		p.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type "+gt)
		return
	}
	code, err := p.redeemCode(client, r.PostForm)
	if err != nil {
		p.oauthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	resp, err := p.issueTokens(client, code, b)
	if err != nil {
		p.log.Error("testop: issue tokens", "err", err)
		p.oauthError(w, http.StatusInternalServerError, "server_error", "could not issue tokens")
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// authenticateClient checks the client credentials with the method the
// client registered (OIDC Core §9, RFC 6749 §2.3.1).
func (p *Provider) authenticateClient(r *http.Request) (Client, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: credentials are form-encoded before Basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if r.PostForm.Has("client_secret") {
			return Client{}, errors.New("more than one client authentication method") // RFC 6749 §2.3
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, ok := p.client(id)
	switch {
	case !ok:
		return Client{}, fmt.Errorf("unknown client %q", id)
	case basic && c.authMethod() != AuthMethodBasic:
		return Client{}, fmt.Errorf("client must authenticate with %s", c.authMethod())
	case !basic && c.authMethod() != AuthMethodPost:
		return Client{}, fmt.Errorf("client must authenticate with %s", c.authMethod())
	case subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1:
		return Client{}, errors.New("wrong client secret")
	}
	return c, nil
}

// verifierRE is the code_verifier syntax of RFC 7636 §4.1.
var verifierRE = regexp.MustCompile(`^[A-Za-z0-9\-._~]{43,128}$`)

// redeemCode consumes the code in form and checks it was issued to client
// for the same redirect URI and PKCE challenge.
func (p *Provider) redeemCode(client Client, form url.Values) (authCode, error) {
	p.mu.Lock()
	c, ok := p.codes[form.Get("code")]
	delete(p.codes, form.Get("code")) // single use, even when the checks below fail
	p.mu.Unlock()
	verifier := form.Get("code_verifier")
	switch {
	case !ok:
		return c, errors.New("unknown or already used code")
	case p.now().After(c.expires):
		return c, errors.New("code expired")
	case c.clientID != client.ID:
		return c, errors.New("code was issued to another client")
	case form.Get("redirect_uri") != c.redirectURI: // RFC 6749 §4.1.3
		return c, errors.New("redirect_uri does not match the authorization request")
	case !verifierRE.MatchString(verifier):
		return c, errors.New("missing or malformed code_verifier")
	case subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(c.challenge)) != 1: // RFC 7636 §4.6
		return c, errors.New("PKCE verification failed")
	}
	return c, nil
}

// issueTokens mints an access token and ID token for a redeemed code (OIDC
// Core §3.1.3.3, §3.1.3.6).
func (p *Provider) issueTokens(client Client, code authCode, b Behavior) (map[string]any, error) {
	now := p.now()
	at := randomToken()
	p.mu.Lock()
	p.tokens[at] = accessToken{user: code.session.user, expires: now.Add(p.tokenTTL)}
	p.mu.Unlock()
	resp := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int(p.tokenTTL.Seconds()),
	}
	if slices.Contains(strings.Fields(code.scope), "offline_access") {
		resp["refresh_token"] = p.newRefreshToken(client.ID, code.session.user)
	}
	if b.OmitIDToken {
		return resp, nil
	}
	claims := userClaims(code.session.user)
	maps.Copy(claims, code.session.user.IDTokenOnly)
	maps.Copy(claims, map[string]any{
		"iss":       p.tokenIssuer(code.session.user),
		"aud":       client.ID,
		"exp":       now.Add(p.tokenTTL).Unix(),
		"iat":       now.Unix(),
		"auth_time": code.session.authTime.Unix(),
		"sid":       code.session.sid,
		"at_hash":   halfHash(at),
	})
	if code.nonce != "" {
		claims["nonce"] = code.nonce
	}
	idt, err := p.signIDToken(client, claims, b)
	if err != nil {
		return nil, err
	}
	resp["id_token"] = idt
	return resp, nil
}

// newRefreshToken issues a refresh token to clientID for u.
func (p *Provider) newRefreshToken(clientID string, u User) string {
	rt := randomToken()
	p.mu.Lock()
	p.refresh[rt] = refreshGrant{clientID: clientID, user: u}
	p.mu.Unlock()
	return rt
}

// handleRefresh redeems a refresh token (RFC 6749 §6): a new access token
// and, rotating, a new refresh token; the old one is spent (RFC 9700
// §4.14.2). A token revoked (RevokeUser), spent or another client's is
// invalid_grant.
func (p *Provider) handleRefresh(w http.ResponseWriter, client Client, token string) {
	p.mu.Lock()
	g, ok := p.refresh[token]
	if ok && g.clientID == client.ID {
		delete(p.refresh, token)
	}
	p.mu.Unlock()
	if !ok || g.clientID != client.ID {
		p.oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown, revoked or spent refresh token")
		return
	}
	at := randomToken()
	p.mu.Lock()
	p.tokens[at] = accessToken{user: g.user, expires: p.now().Add(p.tokenTTL)}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  at,
		"token_type":    "Bearer",
		"expires_in":    int(p.tokenTTL.Seconds()),
		"refresh_token": p.newRefreshToken(client.ID, g.user),
	})
}

// RevokeUser revokes every refresh and access token issued for subject,
// as an administrator disabling the person at the provider does: the next
// refresh is invalid_grant and UserInfo answers 401.
func (p *Provider) RevokeUser(subject string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, g := range p.refresh {
		if g.user.Subject == subject {
			delete(p.refresh, k)
		}
	}
	for k, t := range p.tokens {
		if t.user.Subject == subject {
			delete(p.tokens, k)
		}
	}
}

// RefreshTokens counts the live refresh tokens issued for subject.
func (p *Provider) RefreshTokens(subject string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, g := range p.refresh {
		if g.user.Subject == subject {
			n++
		}
	}
	return n
}

// handleUserinfo returns the user's claims for a Bearer access token (OIDC
// Core §5.3, RFC 6750 §2.1).
func (p *Provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	p.mu.Lock()
	at, ok := p.tokens[tok]
	p.mu.Unlock()
	if !strings.EqualFold(scheme, "Bearer") || !ok || p.now().After(at.expires) {
		// RFC 6750 §3: challenge with the error.
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		p.oauthError(w, http.StatusUnauthorized, "invalid_token", "missing, unknown or expired access token")
		return
	}
	claims := userClaims(at.user)
	maps.Copy(claims, at.user.UserinfoOnly)
	if f := p.currentBehavior().UserinfoClaims; f != nil {
		f(claims)
	}
	writeJSON(w, http.StatusOK, claims)
}

// userClaims returns the standard claims (OIDC Core §5.1) plus Extra for u.
func userClaims(u User) map[string]any {
	claims := map[string]any{}
	maps.Copy(claims, u.Extra)
	claims["sub"] = u.Subject
	if u.Email != "" {
		claims["email"] = u.Email
	}
	if u.EmailVerified != nil {
		claims["email_verified"] = u.EmailVerified
	}
	if u.Name != "" {
		claims["name"] = u.Name
	}
	return claims
}

// oauthError writes an OAuth error response (RFC 6749 §5.2).
func (p *Provider) oauthError(w http.ResponseWriter, status int, code, desc string) {
	p.log.Debug("testop: oauth error", "status", status, "error", code, "description", desc)
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	writeJSON(w, status, body)
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// docIssuer is the issuer the discovery document names: Issuer(), or with
// TenantIssuers the per-tenant template.
func (p *Provider) docIssuer() string {
	if p.tenantIssuers {
		return p.issuer + "/{tenantid}/v2.0"
	}
	return p.issuer
}

// tokenIssuer is the iss of u's ID token: Issuer(), or with TenantIssuers
// the template with u's tid claim in place.
func (p *Provider) tokenIssuer(u User) string {
	if !p.tenantIssuers {
		return p.issuer
	}
	tid, _ := u.Extra["tid"].(string)
	return p.issuer + "/" + tid + "/v2.0"
}
