package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testkit"
)

// TestLoginSSOFirst: with one provider, the sign-in page sends the browser
// to it at once; a page with something to say, or asked for a password,
// stays, and offers "Use a password instead"; passwords still work.
func TestLoginSSOFirst(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{login: config.LoginSSOFirst, providers: []config.Provider{staticProvider("acme", "Acme", "")}})
	b := e.newBrowser()
	r := b.get(t, "/login?next=%2Faccount")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "http://127.0.0.1:9/acme/authorize?") {
		t.Fatalf("sso_first: %d %q", r.status, r.loc)
	}
	b.page(t, "/login?notice=signed_out").want(t, http.StatusOK, "").has(t, `id="use-password"`, "Continue with Acme")
	b.get(t, "/login?local=1").want(t, http.StatusOK, "").has(t, `name="password"`).lacks(t, `id="use-password"`)
	b.post(t, "/auth/login", url.Values{"email": {alice}, "password": {goodPW}}).want(t, http.StatusSeeOther, "/dashboard")
}

// TestLoginSSOOnly: no password form but on the break-glass page, which
// only administrators complete (the same answer for a wrong password and
// a user's right one), with a warning in the log, an audit event and a
// notice to every administrator.
func TestLoginSSOOnly(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{mail: true, login: config.LoginSSOOnly, providers: []config.Provider{staticProvider("acme", "Acme", "")}})
	b := e.newBrowser()
	b.get(t, "/login").want(t, http.StatusOK, "").lacks(t, `name="password"`, `id="forgot"`).has(t, "Continue with Acme")
	// A password posted without the break-glass page is refused.
	b.post(t, "/auth/login", url.Values{"email": {alice}, "password": {goodPW}}).want(t, http.StatusBadRequest, "").has(t, "Password sign-in is off")
	b.get(t, "/login?local=1").want(t, http.StatusOK, "").has(t, `name="password"`, `id="break-glass"`, `name="local"`)

	local := func(email, pw string) *response {
		return b.post(t, "/auth/login", url.Values{"email": {email}, "password": {pw}, "local": {"1"}})
	}
	for _, tc := range []struct{ email, pw string }{{alice, goodPW}, {alice, "wrong password!!"}, {rootAdmin, "wrong password!!"}} {
		r := local(tc.email, tc.pw).want(t, http.StatusUnauthorized, "")
		r.has(t, "only administrators sign in with a password here")
	}
	if e.sessionOf(t, b) != nil {
		t.Fatal("a session after a refused break-glass sign-in")
	}
	e.wantEvents(t, models.EventBreakGlass, 0)
	local(rootAdmin, goodPW).want(t, http.StatusSeeOther, "/dashboard")
	e.wantEvents(t, models.EventBreakGlass, 1)
	if !strings.Contains(e.logs.String(), "break-glass password sign-in") {
		t.Error("no warning in the log")
	}
	var told bool
	for _, m := range e.outbox(t) {
		if m.to == rootAdmin && strings.Contains(m.subject, "Break-glass") {
			told = true
		}
	}
	if !told {
		t.Errorf("no break-glass notice to the administrator: %+v", e.outbox(t))
	}
}

// TestPromptAfterSignOut: after an explicit sign-out, the browser's next
// SSO start asks the provider for a new sign-in (prompt=login), once.
func TestPromptAfterSignOut(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{providers: []config.Provider{staticProvider("acme", "Acme", "")}})
	b := e.signedIn(t, alice, goodPW)
	b.post(t, "/auth/logout", nil).want(t, http.StatusSeeOther, "/login?notice=signed_out")
	prompt := func() string {
		r := b.post(t, "/auth/login", url.Values{"email": {""}, "is_sso": {"true"}, "provider": {"acme"}})
		u, err := url.Parse(r.loc)
		if r.status != http.StatusSeeOther || err != nil {
			t.Fatalf("SSO start: %d %q", r.status, r.loc)
		}
		return u.Query().Get("prompt")
	}
	if p := prompt(); p != "login" {
		t.Fatalf("first start after sign-out: prompt %q, want login", p)
	}
	if p := prompt(); p != "" {
		t.Fatalf("second start: prompt %q, want none", p)
	}
}

// TestLoginSSOFirstRemembers: with several providers, sso_first shows the
// page until the browser has signed in through one, then goes to that one.
func TestLoginSSOFirstRemembers(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{ops: 2, configure: func(c *config.Config) { c.Login.Mode = config.LoginSSOFirst }})
	b := e.browser()
	b.get(t, "/login").want(t, http.StatusOK, "").has(t, `id="use-password"`)
	b.signIn(t, ssoBob.Email) // example.com: acme
	b.post(t, "/auth/logout", nil)
	r := b.get(t, "/login")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, e.ops[0].Issuer()+"/authorize?") {
		t.Fatalf("sso_first after a sign-in through acme: %d %q", r.status, r.loc)
	}
	if u, _ := url.Parse(r.loc); u.Query().Get("prompt") != "login" {
		t.Errorf("after a sign-out the provider is not asked for a new sign-in: %q", r.loc)
	}
}

// TestSSOOnlyPasskey: under sso_only a passkey alone is a way around the
// provider too: a user's is refused, an administrator's is break-glass
// (audited).
func TestSSOOnlyPasskey(t *testing.T) {
	t.Parallel()
	e := newPasskeyEnv(t, mailEnvOpts{login: config.LoginSSOOnly, providers: []config.Provider{staticProvider("acme", "Acme", "")}})
	// Registered through accounts: nobody here signs in with a password
	// to reach the account page.
	register := func(email string) *testkit.Passkey {
		pk := e.newPasskey(t)
		svc, u := e.app.Accounts, e.user(t, email)
		opts, err := svc.BeginPasskeyRegistration(t.Context(), u, "browser-of-"+email, "key")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(opts)
		if _, err := svc.FinishPasskeyRegistration(t.Context(), u, "browser-of-"+email, pk.Create(t, raw, testkit.Tamper{})); err != nil {
			t.Fatal(err)
		}
		return pk
	}
	user, admin := register(alice), register(rootAdmin)
	e.newBrowser().get(t, "/login").want(t, http.StatusOK, "").lacks(t, `id="passkey-signin"`)
	b, r := e.passkeySignIn(t, user, testkit.Tamper{}, "")
	r.want(t, http.StatusForbidden, "").has(t, "for administrators only")
	if e.sessionOf(t, b) != nil {
		t.Fatal("a user signed in with a passkey under sso_only")
	}
	e.wantEvents(t, models.EventBreakGlass, 0)
	_, r = e.passkeySignIn(t, admin, testkit.Tamper{}, "")
	r.want(t, http.StatusSeeOther, "/dashboard")
	e.wantEvents(t, models.EventBreakGlass, 1)
}

// TestBreakGlassThrottle: a user's right password on the break-glass page
// counts as a failure, so the throttle does not tell it from a wrong one.
func TestBreakGlassThrottle(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, mailEnvOpts{throttle: true, login: config.LoginSSOOnly, providers: []config.Provider{staticProvider("acme", "Acme", "")}})
	b := e.newBrowser()
	statuses := func(pw string, n int) []int {
		var out []int
		for range n {
			out = append(out, b.post(t, "/auth/login", url.Values{"email": {alice}, "password": {pw}, "local": {"1"}}).status)
		}
		return out
	}
	wrong := statuses("wrong password!!", 5)
	right := statuses(goodPW, 1)
	after := statuses("wrong password!!", 1)
	if right[0] != http.StatusUnauthorized || after[0] != http.StatusTooManyRequests {
		t.Fatalf("wrong %v, then the right password %v, then wrong %v: the right one reset the counters", wrong, right, after)
	}
}
