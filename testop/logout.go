package testop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// logoutEvent is the event member of a logout token (Back-Channel Logout 1.0
// §2.4).
const logoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutTokenTTL is the lifetime of logout tokens; Back-Channel Logout 1.0
// §2.4 recommends about two minutes.
const LogoutTokenTTL = 2 * time.Minute

// handleEndSession implements RP-Initiated Logout 1.0 §2: it ends the IdP
// session and redirects to a registered post_logout_redirect_uri, or shows a
// "signed out" page when none is given. Invalid requests get an error page
// and do not sign out.
func (p *Provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, http.StatusBadRequest, "Malformed request: "+err.Error())
		return
	}
	q := r.Form
	p.record(&p.lastEndSession, q)
	clientID, sid, err := p.checkIDTokenHint(q.Get("id_token_hint"), q.Get("client_id"))
	if err != nil {
		p.errorPage(w, http.StatusBadRequest, err.Error())
		return
	}
	target, err := p.postLogoutRedirect(clientID, q.Get("post_logout_redirect_uri"), q.Get("state"))
	if err != nil {
		p.errorPage(w, http.StatusBadRequest, err.Error())
		return
	}
	p.endSession(w, r, sid)
	if target == "" {
		p.message(w, http.StatusOK, "Signed out", "You are signed out of the demo identity provider.")
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// checkIDTokenHint verifies the optional id_token_hint was issued by us
// (expired is fine, §2) and returns the client it identifies and its sid.
func (p *Provider) checkIDTokenHint(hint, clientID string) (string, string, error) {
	if hint == "" {
		return clientID, "", nil
	}
	claims, err := p.verifyOwnJWT(hint)
	if err != nil {
		return "", "", fmt.Errorf("invalid id_token_hint: %w", err)
	}
	aud := audiences(claims)
	if clientID != "" && !slices.Contains(aud, clientID) { // §2: must match when both are sent
		return "", "", errors.New("client_id does not match id_token_hint")
	}
	if clientID == "" && len(aud) > 0 {
		clientID = aud[0]
	}
	sid, _ := claims["sid"].(string)
	return clientID, sid, nil
}

// postLogoutRedirect returns where to send the browser: uri with state
// appended, if it is registered for the client (§2, §3.1), or "" when no uri
// was requested.
func (p *Provider) postLogoutRedirect(clientID, uri, state string) (string, error) {
	if clientID == "" {
		if uri != "" {
			return "", errors.New("post_logout_redirect_uri requires client_id or id_token_hint")
		}
		return "", nil
	}
	c, ok := p.client(clientID)
	switch {
	case !ok:
		return "", errors.New("unknown client_id")
	case uri == "":
		return "", nil
	case !slices.Contains(c.PostLogoutRedirectURIs, uri):
		return "", errors.New("post_logout_redirect_uri is not registered for this client")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("unparsable post_logout_redirect_uri: %w", err)
	}
	if state != "" {
		query := u.Query()
		query.Set("state", state)
		u.RawQuery = query.Encode()
	}
	return u.String(), nil
}

// endSession forgets the browser's IdP session and the one named by sid, and
// expires the session cookie.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request, sid string) {
	p.mu.Lock()
	if c, err := r.Cookie(p.cookieName); err == nil {
		delete(p.sessions, c.Value)
	}
	delete(p.sessions, sid)
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: p.cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// LogoutToken returns a signed logout token for clientID (Back-Channel Logout
// 1.0 §2.4): typ "logout+jwt", claims iss, aud, iat, exp, jti, events and sub
// and/or sid, and never a nonce. mutate, if not nil, may edit the claims
// before signing to forge invalid tokens.
func (p *Provider) LogoutToken(clientID, sub, sid string, mutate func(claims map[string]any)) (string, error) {
	if sub == "" && sid == "" {
		return "", errors.New("testop: logout token needs sub or sid")
	}
	now := p.now()
	claims := map[string]any{
		"iss":    p.issuer,
		"aud":    clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(LogoutTokenTTL).Unix(),
		"jti":    randomToken(),
		"events": map[string]any{logoutEvent: map[string]any{}},
	}
	if sub != "" {
		claims["sub"] = sub
	}
	if sid != "" {
		claims["sid"] = sid
	}
	if mutate != nil {
		mutate(claims)
	}
	return p.SignJWT(map[string]any{"typ": "logout+jwt"}, claims)
}

// SendBackchannelLogout POSTs a logout token as the form parameter
// logout_token to the client's BackchannelLogoutURI (Back-Channel Logout 1.0
// §2.5) and returns the response status; a non-2xx status is not an error.
func (p *Provider) SendBackchannelLogout(ctx context.Context, clientID, sub, sid string, mutate func(claims map[string]any)) (int, error) {
	c, ok := p.client(clientID)
	if !ok {
		return 0, fmt.Errorf("testop: back-channel logout: unknown client %q", clientID)
	}
	if c.BackchannelLogoutURI == "" {
		return 0, fmt.Errorf("testop: back-channel logout: client %q has no backchannel_logout_uri", clientID)
	}
	tok, err := p.LogoutToken(clientID, sub, sid, mutate)
	if err != nil {
		return 0, err
	}
	body := strings.NewReader(url.Values{"logout_token": {tok}}.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, body)
	if err != nil {
		return 0, fmt.Errorf("testop: back-channel logout: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("testop: back-channel logout to %s: %w", c.BackchannelLogoutURI, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}
