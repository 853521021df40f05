package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestInitiateLogin: third-party-initiated login (OIDC Core §4) starts a
// normal sign-in with the provider of exactly that issuer, passing the
// login hint, and follows target_link_uri only to a page of this site;
// an unknown issuer is refused.
func TestInitiateLogin(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	for _, tc := range []struct {
		target, next string
	}{
		{"", "/dashboard"},
		{e.base + "/account?tab=1", "/account?tab=1"},
		{"/account", "/account"},
		{"https://evil.example/account", "/dashboard"},
		{"//evil.example/account", "/dashboard"},
	} {
		b := e.browser()
		q := url.Values{"iss": {e.op.Issuer()}, "login_hint": {ssoBob.Email}, "target_link_uri": {tc.target}}
		r := b.get(t, "/auth/initiate?"+q.Encode())
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, e.op.Issuer()+"/authorize?") {
			t.Fatalf("initiate: %d %q", r.status, r.loc)
		}
		authz, _ := url.Parse(r.loc)
		if aq := authz.Query(); aq.Get("login_hint") != ssoBob.Email || aq.Get("code_challenge") == "" || aq.Get("nonce") == "" || aq.Get("state") == "" {
			t.Fatalf("authorization request: %v", aq)
		}
		r = b.get(t, r.loc)
		r = b.get(t, r.loc)
		if r.status != http.StatusSeeOther || r.loc != tc.next {
			t.Fatalf("target %q: callback %d %q, want %q", tc.target, r.status, r.loc, tc.next)
		}
	}
	b := e.browser()
	b.get(t, "/auth/initiate?iss="+url.QueryEscape(e.op.Issuer()+"/")).want(t, http.StatusBadRequest, "")
	b.get(t, "/auth/initiate").want(t, http.StatusBadRequest, "")
}
