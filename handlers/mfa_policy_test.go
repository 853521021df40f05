package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testop"
)

// TestMFAPolicyPassword runs mfa.required_for (none, admins, all) against
// password sign-ins of an administrator and of a user, each with and
// without an authenticator app: a sign-in the policy covers gives a second
// factor, or (with none set up) reaches nothing but setting one up.
func TestMFAPolicyPassword(t *testing.T) {
	t.Parallel()
	for _, policy := range []accounts.MFARequirement{accounts.MFAForNone, accounts.MFAForAdmins, accounts.MFAForAll} {
		for _, admin := range []bool{false, true} {
			for _, enrolled := range []bool{false, true} {
				name := fmt.Sprintf("%s/admin=%v/enrolled=%v", policy, admin, enrolled)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					e := newMailEnv(t, mailEnvOpts{mfaFor: policy})
					const who = "pat@example.com"
					e.server.createUser(t, who, "Pat", goodPW, admin)
					var secret string
					if enrolled {
						secret, _ = e.enrolTOTP(t, e.signedIn(t, who, goodPW))
						e.clock.Advance(30 * time.Second)
					}
					required := policy == accounts.MFAForAll || policy == accounts.MFAForAdmins && admin
					b := e.newBrowser()
					r := b.post(t, "/auth/login", loginForm(who, goodPW))
					switch {
					case enrolled:
						// An app set up is always asked for, policy or not.
						r.want(t, http.StatusSeeOther, "/auth/mfa")
						b.post(t, "/auth/mfa", url.Values{"code": {e.totp(t, secret)}}).want(t, http.StatusSeeOther, "/dashboard")
						b.get(t, "/dashboard").want(t, http.StatusOK, "").has(t, "authenticator app")
					case required:
						r.want(t, http.StatusSeeOther, "/dashboard")
						b.get(t, "/dashboard").want(t, http.StatusSeeOther, "/account/mfa/required")
						b.get(t, "/account").want(t, http.StatusSeeOther, "/account/mfa/required")
						b.post(t, "/account/profile", url.Values{"name": {"x"}}).want(t, http.StatusForbidden, "")
						if admin {
							b.get(t, "/admin/users").want(t, http.StatusSeeOther, "/account/mfa/required")
						}
						b.get(t, "/account/mfa/required").want(t, http.StatusOK, "").has(t, "has none yet", `id="totp-begin"`)
						// Setting one up settles it, with a new session token.
						before := b.cookie(e.cfg.CookieName())
						s, _ := e.enrolTOTP(t, b)
						if s == "" || b.cookie(e.cfg.CookieName()) == before {
							t.Fatal("the session kept its token through setting up a second factor")
						}
						b.get(t, "/dashboard").want(t, http.StatusOK, "")
					default:
						r.want(t, http.StatusSeeOther, "/dashboard")
						b.get(t, "/dashboard").want(t, http.StatusOK, "").has(t, `id="auth-factor">none<`)
					}
				})
			}
		}
	}
}

// TestMFAPolicySSO: under mfa.required_for: all, an SSO sign-in whose ID
// token shows a configured multi-factor amr is enough; one without it asks
// for the account's own second factor, or is refused (naming the
// provider) when the account has none.
func TestMFAPolicySSO(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{
		providers: func(e *ssoEnv, ps []config.Provider) { ps[0].MFAAMR = []string{"mfa", "hwk"} },
		configure: func(c *config.Config) { c.MFA.RequiredFor = accounts.MFAForAll },
	})
	withAMR := func(u testop.User, amr ...any) *testop.User {
		u.Extra = map[string]any{"amr": amr}
		return &u
	}

	// Multi-factor at the provider: signed in, the session says so.
	e.op.SetLoginUser(withAMR(ssoBob, "pwd", "hwk"))
	b := e.browser()
	row := b.signIn(t, ssoBob.Email)
	if row.MFA != models.FactorSSO {
		t.Fatalf("session factor %q, want sso", row.MFA)
	}
	b.get(t, "/dashboard").want(t, http.StatusOK, "")

	// A string amr, or values not configured, count for nothing: refused,
	// naming the provider (bob has no factor of his own).
	for _, u := range []*testop.User{withAMR(ssoBob, "pwd"), {Subject: ssoBob.Subject, Email: ssoBob.Email, EmailVerified: true, Extra: map[string]any{"amr": "mfa"}}} {
		e.op.SetLoginUser(u)
		c := e.browser()
		r := c.get(t, c.toCallback(t, ssoBob.Email))
		if r.status != http.StatusForbidden || !strings.Contains(r.text(), "Acme SSO did not say this sign-in used one") {
			t.Fatalf("sign-in without multi-factor: %d\n%s", r.status, r.text())
		}
		if c.session(t) != nil {
			t.Fatal("a session after the refusal")
		}
	}

	// An account with its own app: signed in, but owes its code.
	e.op.SetLoginUser(withAMR(ssoAlice, "mfa"))
	a := e.browser()
	a.signIn(t, ssoAlice.Email)
	ab := &browser{}
	*ab = *a.browser
	secret := enrolWith(t, e.server, ab)
	e.clock.Advance(30 * time.Second)
	e.op.SetLoginUser(withAMR(ssoAlice, "pwd"))
	s := e.browser()
	if row := s.signIn(t, ssoAlice.Email); row.MFA != models.FactorNone {
		t.Fatalf("session factor %q, want none", row.MFA)
	}
	s.get(t, "/dashboard").want(t, http.StatusSeeOther, "/account/mfa/required")
	s.get(t, "/account/mfa/required").want(t, http.StatusOK, "").has(t, `id="stepup-form"`)
	// Owing its code, the session cannot drop, replace or renew the
	// account's factor.
	for _, path := range []string{"/account/mfa/remove", "/account/mfa/recovery", "/account/mfa/totp", "/account/mfa/totp/confirm"} {
		s.post(t, path, url.Values{"code": {"000000"}}).want(t, http.StatusForbidden, "")
	}
	s.get(t, "/account/mfa/totp").want(t, http.StatusSeeOther, "/account/mfa/required")
	s.post(t, "/account/mfa/required", url.Values{"code": {"000000"}}).want(t, http.StatusBadRequest, "")
	code, _ := mfa.Code(secret, mfa.Step(e.clock.Now()))
	s.post(t, "/account/mfa/required", url.Values{"code": {code}}).want(t, http.StatusSeeOther, "/dashboard")
	s.get(t, "/dashboard").want(t, http.StatusOK, "")
	if row := s.session(t); row.MFA != models.FactorTOTP {
		t.Fatalf("session factor %q after the code", row.MFA)
	}
}

// enrolWith sets up an authenticator app for the account b is signed in
// to and returns its secret.
func enrolWith(t *testing.T, s *server, b *browser) string {
	t.Helper()
	e := &env{server: s, client: s.newClient()}
	secret, _ := e.enrolTOTP(t, b)
	return secret
}

// TestMFAReauthAdmin: an administrator with a second factor confirms sudo
// mode with password and code; the password alone is refused.
func TestMFAReauthAdmin(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{})
	admin := e.signedIn(t, rootAdmin, goodPW)
	secret, _ := e.enrolTOTP(t, admin)
	e.clock.Advance(11 * time.Minute)
	admin.get(t, "/auth/reauth?next=/admin/users").want(t, http.StatusOK, "").has(t, `name="code"`)
	admin.post(t, "/auth/reauth", url.Values{"password": {goodPW}, "next": {"/admin/users"}}).want(t, http.StatusBadRequest, "").has(t, "not right")
	admin.post(t, "/auth/reauth", url.Values{"password": {goodPW}, "next": {"/admin/users"}, "code": {e.totp(t, secret)}}).want(t, http.StatusSeeOther, "/admin/users")
	// Not for a user: the code is an administrator's extra.
	b := e.signedIn(t, alice, goodPW)
	e.enrolTOTP(t, b)
	e.clock.Advance(11 * time.Minute)
	b.get(t, "/auth/reauth?next=/account").want(t, http.StatusOK, "").lacks(t, `name="code"`)
}

// TestMFAReauthAdminSSO: an administrator with a second factor who
// confirms sudo mode through a provider gives the code with the provider's
// button, unless the provider says its sign-in was multi-factor; without
// either, the round trip is refused and no sudo mode follows.
func TestMFAReauthAdminSSO(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{
		providers: func(e *ssoEnv, ps []config.Provider) { ps[0].MFAAMR = []string{"mfa"} },
	})
	plain := ssoAlice
	e.op.SetLoginUser(&plain)
	e.browser().signIn(t, ssoAlice.Email)
	u, err := e.db.UserByID(t.Context(), e.identity(ssoAlice.Subject).UserID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.server.app.Accounts.UpdateUser(t.Context(), u.ID, u.Name, u.Email, true); err != nil {
		t.Fatal(err)
	}
	a := e.browser()
	a.signIn(t, ssoAlice.Email)
	ab := &browser{}
	*ab = *a.browser
	secret := enrolWith(t, e.server, ab)
	provider := ssoProviderIDs[0]

	// reauth posts the re-authentication form with the provider's button
	// (and code, when not empty), passes through the provider and returns
	// the callback's answer; a refused code never leaves gatehouse.
	reauth := func(code string) *response {
		t.Helper()
		e.clock.Advance(11 * time.Minute) // past the sudo window
		form := url.Values{"next": {"/account"}, "provider": {provider}}
		if code != "" {
			form.Set("code", code)
		}
		r := a.post(t, "/auth/reauth", form)
		if r.status != http.StatusSeeOther {
			return r
		}
		r = a.get(t, r.loc)
		if r.status != http.StatusFound || !strings.HasPrefix(r.loc, e.base+"/auth/callback?") {
			t.Fatalf("provider: %d %q", r.status, r.loc)
		}
		return a.get(t, r.loc)
	}
	sudo := func() bool {
		t.Helper()
		r := a.post(t, "/account/mfa/recovery", url.Values{"code": {"nothing"}})
		return !strings.HasPrefix(r.loc, "/auth/reauth")
	}

	a.get(t, "/auth/reauth?next=/account").want(t, http.StatusOK, "").has(t, `id="sso-code"`)
	reauth("").want(t, http.StatusForbidden, "").has(t, "did not say this sign-in used a second factor")
	if sudo() {
		t.Fatal("sudo mode from a provider sign-in without a second factor")
	}
	reauth("000000").want(t, http.StatusBadRequest, "")
	if sudo() {
		t.Fatal("sudo mode after a wrong code")
	}
	code, _ := mfa.Code(secret, mfa.Step(e.clock.Now().Add(11*time.Minute)))
	reauth(code).want(t, http.StatusSeeOther, "/account")
	if !sudo() {
		t.Fatal("no sudo mode after code and provider")
	}
	e.op.SetLoginUser(&testop.User{Subject: ssoAlice.Subject, Email: ssoAlice.Email, EmailVerified: true, Extra: map[string]any{"amr": []any{"mfa"}}})
	reauth("").want(t, http.StatusSeeOther, "/account")
	if !sudo() {
		t.Fatal("no sudo mode after a multi-factor provider sign-in")
	}
}
