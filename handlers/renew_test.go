package handlers_test

// Session renewal at privilege changes: a token copied before a promotion,
// a re-authentication, a password change or a newly linked provider must
// not carry what comes after it. Each test keeps the token the browser had,
// makes the change, and checks the browser got a new token, the copy is
// dead, and the session kept its sign-in facts.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
)

// renewCopyWorks reports whether a copy of the session token still signs
// in: GET /account with it alone, through a client without a jar.
func renewCopyWorks(t *testing.T, s *server, token string) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.srv.URL+"/account", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: s.cfg.CookieName(), Value: token})
	hc := s.srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc.Timeout = 30 * time.Second
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// renewRow is the session row of token, or nil when there is none.
func renewRow(t *testing.T, s *server, token string) *models.Session {
	t.Helper()
	row, err := s.db.SessionByHash(context.Background(), sessionstore.Hash(token))
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// wantRenewed checks the session of old was renewed as new: another token,
// the old one dead, and the same account, method, sign-in time, creation
// and absolute expiry.
func wantRenewed(t *testing.T, s *server, what string, before *models.Session, old, new string) {
	t.Helper()
	if new == "" || new == old {
		t.Fatalf("%s: the session token did not change", what)
	}
	if renewRow(t, s, old) != nil || renewCopyWorks(t, s, old) {
		t.Fatalf("%s: a copy of the token from before still signs in", what)
	}
	after := renewRow(t, s, new)
	if after == nil {
		t.Fatalf("%s: no session row for the new token", what)
	}
	if *after.UserID != *before.UserID || after.AuthMethod != before.AuthMethod || !after.AuthTime.Equal(*before.AuthTime) ||
		!after.CreatedAt.Equal(before.CreatedAt) || !after.ExpiresAt.Equal(before.ExpiresAt) || after.ProviderID != before.ProviderID ||
		after.Subject != before.Subject || after.IP != before.IP || after.UserAgent != before.UserAgent {
		t.Fatalf("%s: the renewed session lost its sign-in facts:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// TestPromotionRenewsSessions: an account's sessions get new tokens at
// their first request after a promotion (and after a demotion), so a token
// copied while the account was not an administrator never opens the admin
// console.
func TestPromotionRenewsSessions(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	root := e.asRoot(t)
	ann := e.client()
	ann.login(t, admAnn, admPW)
	ann.get(t, "/admin/users").want(t, http.StatusForbidden, "")
	old := admToken(t, ann)
	before := renewRow(t, e.server, old)

	e.clock.Advance(time.Minute)
	root.post(t, userPath(e.ann.ID, ""), url.Values{"name": {"Ann Example"}, "email": {admAnn}, "admin": {"1"}}).
		want(t, http.StatusSeeOther, done(e.ann.ID, "updated"))
	ann.get(t, "/admin/users").want(t, http.StatusOK, "")
	promoted := admToken(t, ann)
	wantRenewed(t, e.server, "promotion", before, old, promoted)
	if r := renewRow(t, e.server, promoted); r.LastSeenAt.Equal(before.LastSeenAt) {
		t.Errorf("renewed row last seen %v, want the renewal's time", r.LastSeenAt)
	}
	// Later requests keep the token: one renewal per change.
	ann.get(t, "/admin/users").want(t, http.StatusOK, "")
	if admToken(t, ann) != promoted {
		t.Fatal("the token changed again without a privilege change")
	}

	root.post(t, userPath(e.ann.ID, ""), url.Values{"name": {"Ann Example"}, "email": {admAnn}}).
		want(t, http.StatusSeeOther, done(e.ann.ID, "updated"))
	ann.get(t, "/admin/users").want(t, http.StatusForbidden, "")
	wantRenewed(t, e.server, "demotion", before, promoted, admToken(t, ann))
	e.noServerErrors(t)
}

// admToken is the session token in the client's jar.
func admToken(t *testing.T, c *admClient) string {
	t.Helper()
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == c.e.cfg.CookieName() {
			return ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// TestAccountChangesRenewSession: re-authenticating, changing the password
// and linking a provider from the account page give the current session a
// new token, keeping how and when it signed in.
func TestAccountChangesRenewSession(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	b := e.browser(acctFirefox)
	b.login(t, acctAlice, acctPW)
	first := renewRow(t, e.server, b.token())

	step := func(what string, act func()) {
		t.Helper()
		old := b.token()
		e.clock.Advance(time.Minute)
		act()
		wantRenewed(t, e.server, what, first, old, b.token())
		b.account(t)
	}
	step("re-authentication", func() {
		acctWantRedirect(t, "reauth", b.post(t, "/auth/reauth", url.Values{"next": {"/account"}, "password": {acctPW}}), "/account")
	})
	step("password change", func() {
		r := b.post(t, "/account/password", url.Values{"current_password": {acctPW}, "new_password": {acctNewPW}, "confirm_password": {acctNewPW}})
		acctWantRedirect(t, "change password", r, "/account?notice=password_changed")
	})
	step("linking a provider", func() {
		r := b.throughOP(t, b.post(t, "/account/link", url.Values{"provider": {"alpha"}}), 0, acctAliceAtAlpha)
		acctWantRedirect(t, "link alpha", r, "/account?notice=identity_linked")
	})
	if !strings.Contains(b.account(t).text(), "Alpha SSO") {
		t.Fatal("the link did not happen")
	}
	// A profile edit is no privilege change: the token stays.
	old := b.token()
	acctWantRedirect(t, "profile", b.post(t, "/account/profile", url.Values{"name": {"Alice Renamed"}}), "/account?notice=profile_saved")
	if b.token() != old {
		t.Fatal("a profile edit renewed the token")
	}
}
