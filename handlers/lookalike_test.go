package handlers_test

// Look-alike and invisible characters in emails and names, through the
// whole stack: SSO claims from a real provider, the console, the account
// page and the login form.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testop"
)

// TestSSOLookalikeEmails: a provider trusted for example.com (link:
// verified_email, auto_create) vouches for addresses that only normalise to
// a local account's, or that hide characters. None signs anyone in by
// itself.
func TestSSOLookalikeEmails(t *testing.T) {
	t.Parallel()
	verifiedEmail := func(e *ssoEnv, ps []config.Provider) { ps[0].Link = accounts.LinkVerifiedEmail }
	const kelvinKim = "\u212Aim@example.com" // U+212A KELVIN SIGN, lower-cased to k

	t.Run("Kelvin sign for an account with a password asks for the password", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		kim := e.createUser("kim@example.com", false)
		e.op.SetLoginUser(&testop.User{Subject: "sub-mallory", Email: kelvinKim, Name: "Mallory", EmailVerified: true})
		b := e.browser()
		m := e.mark()
		r := b.get(t, b.toCallback(t, "kim@example.com"))
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/auth/link?t=") {
			t.Fatalf("callback: got %d Location %q, want 303 to the password proof; page:\n%s", r.status, r.header.Get("Location"), r.text())
		}
		if e.identity("sub-mallory") != nil || e.count("sessions", "user_id = ?", kim.ID) != 0 || e.count("sessions", "") != m.sessions {
			t.Fatal("the look-alike address linked or signed in to kim@example.com")
		}
		b.wantSignedOut(t)
	})

	t.Run("Kelvin sign for an SSO-only account is refused", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		e.server.createUser(t, "kim@example.com", "Kim", "", false)
		e.op.SetLoginUser(&testop.User{Subject: "sub-mallory", Email: kelvinKim, Name: "Mallory", EmailVerified: true})
		b := e.browser()
		cb := b.toCallback(t, "kim@example.com")
		m := e.mark()
		e.wantRefused(t, b.get(t, cb), m, http.StatusForbidden, "Sign-in refused", "only look like those of kim@example.com")
		if ev := e.events(models.EventLoginFailure); len(ev) == 0 || ev[len(ev)-1].Detail != accounts.ReasonEmailLookalike.String() {
			t.Errorf("login.failure events %+v", ev)
		}
	})

	t.Run("a look-alike creates no account", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		e.op.SetLoginUser(&testop.User{Subject: "sub-mallory", Email: "\u0130nfo@example.com", Name: "Mallory", EmailVerified: true})
		b := e.browser()
		cb := b.toCallback(t, "info@example.com")
		m := e.mark()
		e.wantRefused(t, b.get(t, cb), m, http.StatusForbidden, "Sign-in refused", "only look like those of info@example.com")
	})

	for _, email := range []string{"kim\u200B@example.com", "kim@example.com\u202E", "\u2066kim@example.com\u2069"} {
		t.Run("invisible characters: "+strings.ToValidUTF8(email, ""), func(t *testing.T) {
			e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
			e.op.SetLoginUser(&testop.User{Subject: "sub-mallory", Email: email, Name: "Mallory", EmailVerified: true})
			b := e.browser()
			cb := b.toCallback(t, "kim@example.com")
			m := e.mark()
			e.wantRefused(t, b.get(t, cb), m, http.StatusForbidden, "Sign-in refused", "did not share a usable email address")
		})
	}

	t.Run("a provider's name is kept without invisible characters", func(t *testing.T) {
		e := newSSOEnv(t, ssoEnvOpts{providers: verifiedEmail})
		e.op.SetLoginUser(&testop.User{Subject: "sub-dan", Email: "dan@example.com", Name: "Dan \u202Enimda\u202C\u200B", EmailVerified: true})
		b := e.browser()
		b.signIn(t, "dan@example.com")
		u, err := e.db.UserByEmail(context.Background(), "dan@example.com")
		if err != nil || u.Name != "Dan nimda" {
			t.Fatalf("created account %+v, %v; want the name without its bidi and zero-width characters", u, err)
		}
	})
}

// TestLookalikeInput: emails and names with invisible characters typed into
// the console, the account page and the login form get a clear 4xx.
func TestLookalikeInput(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{noOP: true})
	root := e.asRoot(t)
	const invisible = "ki\u200Bm@example.com"

	ann := e.client()
	ann.login(t, admAnn, admPW)
	before := e.snapshot(t)
	root.post(t, "/admin/users/new", url.Values{"email": {invisible}, "name": {"Kim"}, "password_mode": {"none"}}).
		want(t, http.StatusBadRequest, "").has(t, "Enter a valid email address.")
	root.post(t, "/admin/users/new", url.Values{"email": {"kim@example.com"}, "name": {"Kim \u202Enimda"}, "password_mode": {"none"}}).
		want(t, http.StatusBadRequest, "").has(t, "Names cannot contain invisible characters")
	root.post(t, userPath(e.ann.ID, ""), url.Values{"name": {"Ann Example"}, "email": {"ann\u2066@example.com"}}).
		want(t, http.StatusBadRequest, "").has(t, "Enter a valid email address.")
	root.post(t, userPath(e.ann.ID, ""), url.Values{"name": {"Ann\u200D Example"}, "email": {admAnn}}).
		want(t, http.StatusBadRequest, "").has(t, "Names cannot contain invisible characters")
	ann.post(t, "/account/profile", url.Values{"name": {"\u202EAnn"}}).
		want(t, http.StatusBadRequest, "").has(t, "Names cannot contain invisible characters")
	if after := e.snapshot(t); after != before {
		t.Fatalf("refused input changed something:\n%s\n%s", before, after)
	}

	// An account an older version stored with such an address is unknown
	// to the login form, even with its password.
	if _, err := rawSQL(t, e.cfg.Database).Exec(`INSERT INTO users (email, name, password_hash, is_admin, created_at, updated_at)
		SELECT $1, 'Old', password_hash, FALSE, created_at, updated_at FROM users WHERE id = $2`, invisible, e.ann.ID); err != nil {
		t.Fatal(err)
	}
	e.client().loginFails(t, invisible, admPW)
	e.noServerErrors(t)
}
