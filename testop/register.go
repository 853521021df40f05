package testop

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// clientMetadata is the subset of RFC 7591 §2 client metadata (plus
// RP-Initiated Logout 1.0 §3.1 and Back-Channel Logout 1.0 §2.2) that testop
// understands; other fields are ignored as RFC 7591 §2 requires.
type clientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI    string   `json:"backchannel_logout_uri,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	ClientName              string   `json:"client_name,omitempty"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
}

// registrationResponse is the client information response (RFC 7591 §3.2.1).
type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt int64  `json:"client_secret_expires_at"`
	clientMetadata
}

// handleRegister implements dynamic client registration (RFC 7591 §3).
func (p *Provider) handleRegister(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // RFC 7591 §3.2.1
	if !p.registrationAuthorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		p.oauthError(w, http.StatusUnauthorized, "invalid_token", "a valid initial access token is required")
		return
	}
	var md clientMetadata
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&md); err != nil {
		p.oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "malformed JSON: "+err.Error())
		return
	}
	if code, desc := normalizeMetadata(&md); code != "" {
		p.oauthError(w, http.StatusBadRequest, code, desc) // RFC 7591 §3.2.2
		return
	}
	resp := registrationResponse{
		ClientID:         randomToken(),
		ClientSecret:     randomToken(),
		ClientIDIssuedAt: p.now().Unix(),
		clientMetadata:   md,
	}
	err := p.addClient(Client{
		ID:                      resp.ClientID,
		Secret:                  resp.ClientSecret,
		Name:                    md.ClientName,
		RedirectURIs:            md.RedirectURIs,
		PostLogoutRedirectURIs:  md.PostLogoutRedirectURIs,
		BackchannelLogoutURI:    md.BackchannelLogoutURI,
		TokenEndpointAuthMethod: md.TokenEndpointAuthMethod,
	})
	if err != nil {
		p.log.Error("testop: register client", "err", err)
		p.oauthError(w, http.StatusInternalServerError, "server_error", "could not register client")
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

// registrationAuthorized checks the initial access token when one is
// configured (RFC 7591 §3, sent as a Bearer token per RFC 6750 §2.1).
func (p *Provider) registrationAuthorized(r *http.Request) bool {
	if p.initialAccessToken == "" {
		return true
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Bearer") &&
		subtle.ConstantTimeCompare([]byte(tok), []byte(p.initialAccessToken)) == 1
}

// normalizeMetadata fills defaults (RFC 7591 §2) and returns an error code
// and description when md is unacceptable.
func normalizeMetadata(md *clientMetadata) (code, desc string) {
	if len(md.RedirectURIs) == 0 {
		return "invalid_redirect_uri", "redirect_uris is required"
	}
	for _, u := range md.RedirectURIs {
		if !validURI(u) {
			return "invalid_redirect_uri", "invalid redirect URI " + u
		}
	}
	for _, u := range md.PostLogoutRedirectURIs {
		if !validURI(u) {
			return "invalid_client_metadata", "invalid post_logout_redirect_uri " + u
		}
	}
	if md.BackchannelLogoutURI != "" && !validURI(md.BackchannelLogoutURI) {
		return "invalid_client_metadata", "invalid backchannel_logout_uri"
	}
	md.TokenEndpointAuthMethod = cmp.Or(md.TokenEndpointAuthMethod, AuthMethodBasic)
	if m := md.TokenEndpointAuthMethod; m != AuthMethodBasic && m != AuthMethodPost {
		return "invalid_client_metadata", "unsupported token_endpoint_auth_method " + m
	}
	if len(md.GrantTypes) == 0 {
		md.GrantTypes = []string{"authorization_code"}
	}
	for _, g := range md.GrantTypes {
		if g != "authorization_code" {
			return "invalid_client_metadata", "unsupported grant type " + g
		}
	}
	if len(md.ResponseTypes) == 0 {
		md.ResponseTypes = []string{"code"}
	}
	for _, t := range md.ResponseTypes {
		if t != "code" {
			return "invalid_client_metadata", "unsupported response type " + t
		}
	}
	return "", ""
}

// validURI accepts absolute http(s) URIs without a fragment (RFC 6749
// §3.1.2, Back-Channel Logout 1.0 §2.2).
func validURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.Contains(s, "#")
}
