package testop

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// handleAuthorize implements the authorization endpoint (OIDC Core §3.1.2).
// GET carries the request in the query; POST (allowed by §3.1.2.1) is what
// the demo page submits, with the chosen user in "subject".
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, http.StatusBadRequest, "Malformed request: "+err.Error())
		return
	}
	q := r.Form
	p.record(&p.lastAuthorize, q)
	client, ok := p.client(q.Get("client_id"))
	if !ok {
		p.errorPage(w, http.StatusBadRequest, "Unknown client_id.")
		return
	}
	// §3.1.2.1: exact match against a registered URI. RFC 6749 §4.1.2.1:
	// never redirect to an unverified URI, show an error instead.
	if !slices.Contains(client.RedirectURIs, q.Get("redirect_uri")) {
		p.errorPage(w, http.StatusBadRequest, "redirect_uri is not registered for this client.")
		return
	}
	b := p.currentBehavior()
	if b.AuthorizeError != "" {
		p.redirectError(w, r, q, b, b.AuthorizeError, b.AuthorizeErrorDescription)
		return
	}
	if code, desc := validateAuthRequest(q); code != "" {
		p.redirectError(w, r, q, b, code, desc)
		return
	}
	if sess, ok := p.authenticate(w, r, q, b, client); ok {
		p.issueCode(w, r, q, b, sess)
	}
}

// validateAuthRequest returns an OAuth error code and description when q is
// not an acceptable authorization request.
func validateAuthRequest(q url.Values) (code, desc string) {
	for k, vs := range q {
		if len(vs) > 1 { // RFC 6749 §3.1
			return "invalid_request", "parameter " + k + " repeated"
		}
	}
	prompt := strings.Fields(q.Get("prompt"))
	switch {
	case q.Get("response_type") != "code":
		return "unsupported_response_type", "only response_type=code is supported"
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"): // OIDC Core §3.1.2.1
		return "invalid_scope", "scope must contain openid"
	case q.Get("state") == "":
		return "invalid_request", "state is required"
	case q.Get("code_challenge") == "": // RFC 7636 §4.4.1
		return "invalid_request", "code challenge required"
	case q.Get("code_challenge_method") != "S256": // RFC 7636 §4.4.1: plain is not offered
		return "invalid_request", "transform algorithm not supported"
	case len(q.Get("code_challenge")) != 43: // RFC 7636 §4.2: base64url of a SHA-256 hash
		return "invalid_request", "malformed code_challenge"
	case slices.Contains(prompt, "none") && len(prompt) > 1: // OIDC Core §3.1.2.1
		return "invalid_request", "prompt=none cannot be combined with other values"
	}
	return "", ""
}

// authenticate decides who is signing in: the user picked on the demo page
// (or nobody, when Deny was pressed),
// the existing IdP session for prompt=none (or for any request under
// Behavior.ReuseSession), or the SetLoginUser user. When
// nobody is, it answers the request itself (picker page or login_required)
// and returns false.
func (p *Provider) authenticate(w http.ResponseWriter, r *http.Request, q url.Values, b Behavior, client Client) (idpSession, bool) {
	if r.Method == http.MethodPost && q.Has("deny") {
		// The picker's Deny button: the user refused (RFC 6749 §4.1.2.1).
		p.redirectError(w, r, q, b, "access_denied", "the user denied the request")
		return idpSession{}, false
	}
	if r.Method == http.MethodPost && q.Has("subject") {
		u, ok := p.user(q.Get("subject"))
		if !ok {
			p.errorPage(w, http.StatusBadRequest, "Unknown user.")
			return idpSession{}, false
		}
		return p.login(w, r, u), true
	}
	if q.Get("prompt") == "none" {
		if s, ok := p.session(r); ok {
			return s, true
		}
		// OIDC Core §3.1.2.6: the OP must not show UI for prompt=none.
		p.redirectError(w, r, q, b, "login_required", "no session at the identity provider")
		return idpSession{}, false
	}
	if b.ReuseSession {
		if s, ok := p.session(r); ok {
			return s, true
		}
	}
	p.mu.Lock()
	lu := p.loginUser
	p.mu.Unlock()
	if lu != nil {
		return p.login(w, r, *lu), true
	}
	p.renderPicker(w, r, q, client)
	return idpSession{}, false
}

// login starts a new IdP session for u in this browser, replacing any
// previous one, and sets the session cookie.
func (p *Provider) login(w http.ResponseWriter, r *http.Request, u User) idpSession {
	s := idpSession{sid: randomToken(), user: u, authTime: p.now()}
	p.mu.Lock()
	if c, err := r.Cookie(p.cookieName); err == nil {
		delete(p.sessions, c.Value)
	}
	p.sessions[s.sid] = s
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: p.cookieName, Value: s.sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return s
}

// session returns the IdP session named by the request's cookie.
func (p *Provider) session(r *http.Request) (idpSession, bool) {
	c, err := r.Cookie(p.cookieName)
	if err != nil {
		return idpSession{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[c.Value]
	return s, ok
}

// issueCode stores a single-use code bound to the client, redirect URI, PKCE
// challenge and nonce, and sends the browser back (OIDC Core §3.1.2.5).
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, q url.Values, b Behavior, s idpSession) {
	code := randomToken()
	p.mu.Lock()
	p.codes[code] = authCode{
		clientID:    q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		nonce:       q.Get("nonce"),
		scope:       q.Get("scope"),
		session:     s,
		expires:     p.now().Add(CodeTTL),
	}
	p.mu.Unlock()
	p.redirectBack(w, r, q, b, url.Values{"code": {code}})
}

// redirectError sends an error response to the client (OIDC Core §3.1.2.6,
// RFC 6749 §4.1.2.1).
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, q url.Values, b Behavior, code, desc string) {
	p.log.Debug("testop: authorize error", "error", code, "description", desc)
	params := url.Values{"error": {code}}
	if desc != "" {
		params.Set("error_description", desc)
	}
	p.redirectBack(w, r, q, b, params)
}

// redirectBack redirects to the request's (already validated) redirect_uri
// with params, the state, and the RFC 9207 §2 iss parameter, keeping any
// query the registered URI has (RFC 6749 §3.1.2).
func (p *Provider) redirectBack(w http.ResponseWriter, r *http.Request, q url.Values, b Behavior, params url.Values) {
	u, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		p.errorPage(w, http.StatusBadRequest, "Unparsable redirect_uri.")
		return
	}
	query := u.Query()
	for k, vs := range params {
		query[k] = vs
	}
	if s := q.Get("state"); s != "" {
		query.Set("state", s)
	}
	if !b.OmitIssParam && !p.tenantIssuers { // Entra ID's multi-tenant endpoint sends none
		query.Set("iss", cmp.Or(b.IssParam, p.issuer))
	}
	u.RawQuery = query.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}
