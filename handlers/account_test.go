package handlers_test

// Account page tests (/account): the real handler stack over a temporary
// SQLite file, two in-repo test OpenID Providers (testop) on loopback for the
// link and re-authentication flows, and browsers (browser_test.go) with
// their own cookie jar and no automatic redirects. Every identifier
// here starts with acct so the file stands beside the other handler tests.

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testop"
)

const (
	acctAlice    = "alice@example.com" // password account
	acctBob      = "bob@example.com"   // password account
	acctSam      = "sam@example.com"   // SSO-only account, linked to alpha
	acctPW       = "correct horse battery staple"
	acctNewPW    = "a different long passphrase"
	acctSecret   = "acct-client-secret-0123456789abcdef"
	acctFirefox  = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	acctIPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

// Provider IDs and names by OP index; users the OPs can sign in.
var (
	acctProviderIDs   = []string{"alpha", "beta"}
	acctProviderNames = []string{"Alpha SSO", "Beta SSO"}

	acctSamAtAlpha   = testop.User{Subject: "sub-sam", Email: acctSam, Name: "Sam", EmailVerified: true}
	acctAliceAtAlpha = testop.User{Subject: "sub-alice-alpha", Email: acctAlice, Name: "Alice", EmailVerified: true}
	acctAliceAtBeta  = testop.User{Subject: "sub-alice-beta", Email: acctAlice, Name: "Alice", EmailVerified: true}
	acctBobAtBeta    = testop.User{Subject: "sub-bob-beta", Email: acctBob, Name: "Bob", EmailVerified: true}
)

// acctEnv is a running gatehouse with two OPs and three accounts.
type acctEnv struct {
	*server
	t     *testing.T
	ops   []*testop.Provider
	users map[string]*models.User
}

func newAcctEnv(t *testing.T) *acctEnv {
	t.Helper()
	e := &acctEnv{t: t, users: map[string]*models.User{}}
	clock := testkit.NewClock(time.Now().Truncate(time.Second))
	e.server = newServer(t, serverOpts{clock: clock, providers: func(base string) []config.Provider {
		var ps []config.Provider
		for i, id := range acctProviderIDs {
			op, err := testop.Start(testop.Options{
				Now: clock.Now,
				Clients: []testop.Client{{
					ID: "gatehouse-" + id, Secret: acctSecret, Name: "gatehouse",
					RedirectURIs:           []string{base + "/auth/callback"},
					PostLogoutRedirectURIs: []string{base + "/auth/logged-out"},
				}},
				Users: []testop.User{acctSamAtAlpha, acctAliceAtAlpha, acctAliceAtBeta, acctBobAtBeta},
			})
			if err != nil {
				t.Fatalf("start test OP: %v", err)
			}
			t.Cleanup(func() { op.Close() })
			e.ops = append(e.ops, op)
			ps = append(ps, config.Provider{
				ProviderConfig: sso.ProviderConfig{
					ID: id, Name: acctProviderNames[i], Issuer: op.Issuer(),
					ClientID: "gatehouse-" + id, ClientSecret: acctSecret,
				},
				Link: accounts.LinkPassword,
			})
		}
		return ps
	}})

	pw := acctPW
	svc := e.app.Accounts
	for _, n := range []accounts.NewUser{
		{Email: acctAlice, Name: "Alice", Password: &pw},
		{Email: acctBob, Name: "Bob", Password: &pw},
		{Email: acctSam, Name: "Sam"}, // SSO-only
	} {
		u, err := svc.CreateUser(context.Background(), n)
		if err != nil {
			t.Fatalf("create %s: %v", n.Email, err)
		}
		e.users[n.Email] = u
	}
	e.linkDirect(acctSam, 0, acctSamAtAlpha)

	t.Cleanup(func() {
		logs := e.logs.String()
		for _, bad := range []string{"level=ERROR", "panic", "SQLITE_BUSY", "database is locked"} {
			if strings.Contains(logs, bad) {
				t.Errorf("server log contains %q", bad)
			}
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return e
}

// linkDirect links an OP user to a local account in the database.
func (e *acctEnv) linkDirect(email string, op int, u testop.User) *models.Identity {
	e.t.Helper()
	id := &models.Identity{UserID: e.users[email].ID, ProviderID: acctProviderIDs[op], Issuer: e.ops[op].Issuer(), Subject: u.Subject, Email: u.Email}
	if err := e.db.CreateIdentity(context.Background(), id); err != nil {
		e.t.Fatalf("link %s: %v", email, err)
	}
	return id
}

func (e *acctEnv) user(email string) *models.User {
	e.t.Helper()
	u, err := e.db.UserByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *acctEnv) identities(email string) []models.Identity {
	e.t.Helper()
	ids, err := e.db.UserIdentities(context.Background(), e.users[email].ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// events returns the audit events of a kind, oldest first.
func (e *acctEnv) events(kind models.EventKind) []models.Event {
	e.t.Helper()
	all, err := e.db.Events(context.Background(), 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []models.Event
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Kind == kind {
			out = append(out, all[i])
		}
	}
	return out
}

// wantEvent checks the newest event of kind was done by (and to) email.
func (e *acctEnv) wantEvent(kind models.EventKind, email string, n int) models.Event {
	e.t.Helper()
	evs := e.events(kind)
	if len(evs) != n {
		e.t.Fatalf("%d %s events, want %d: %+v", len(evs), kind, n, evs)
	}
	ev := evs[len(evs)-1]
	id := e.users[email].ID
	if ev.ActorID == nil || *ev.ActorID != id || ev.UserID == nil || *ev.UserID != id {
		e.t.Fatalf("%s event: actor %v user %v, want both %d (%s): %+v", kind, ev.ActorID, ev.UserID, id, email, ev)
	}
	return ev
}

// acctBrowser is one browser (browser_test.go) of an account test: its
// own cookie jar (shared by gatehouse and the OPs), no automatic
// redirects, a User-Agent when given, and a 5xx fails the test unless it
// is a 503 and unavailableOK is set.
type acctBrowser struct {
	*browser
	e *acctEnv
}

func (e *acctEnv) browser(ua string) *acctBrowser {
	b := &acctBrowser{browser: e.newBrowser(), e: e}
	b.ua = ua
	return b
}

// login signs in with a password.
func (b *acctBrowser) login(t *testing.T, email, pw string) {
	t.Helper()
	r := b.post(t, "/auth/login", url.Values{"email": {email}, "password": {pw}, "next": {""}, "is_sso": {"false"}})
	if r.status != http.StatusSeeOther || r.loc != "/dashboard" {
		t.Fatalf("login %s: got %d Location %q, want 303 /dashboard:\n%s", email, r.status, r.loc, r.text())
	}
}

// throughOP follows a gatehouse redirect to OP op, which signs in as u, and
// returns gatehouse's answer to the callback.
func (b *acctBrowser) throughOP(t *testing.T, r *response, op int, u testop.User) *response {
	t.Helper()
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, b.e.ops[op].Issuer()+"/authorize?") {
		t.Fatalf("got %d Location %q, want 303 to %s/authorize:\n%s", r.status, r.loc, b.e.ops[op].Issuer(), r.text())
	}
	b.e.ops[op].SetLoginUser(&u)
	back := b.get(t, r.loc)
	if back.status != http.StatusFound || !strings.HasPrefix(back.loc, b.e.base+"/auth/callback?") {
		t.Fatalf("OP /authorize: got %d Location %q, want 302 to the callback", back.status, back.loc)
	}
	return b.get(t, back.loc)
}

// ssoLogin signs in through OP op as u.
func (b *acctBrowser) ssoLogin(t *testing.T, op int, u testop.User) {
	t.Helper()
	r := b.post(t, "/auth/login", url.Values{"email": {""}, "next": {""}, "provider": {acctProviderIDs[op]}})
	if r = b.throughOP(t, r, op, u); r.status != http.StatusSeeOther || r.loc != "/dashboard" {
		t.Fatalf("SSO sign-in as %s: got %d Location %q, want 303 /dashboard:\n%s", u.Subject, r.status, r.loc, r.text())
	}
}

// token is the browser's session cookie value ("" when none).
func (b *acctBrowser) token() string { return b.cookie(b.e.cfg.CookieName()) }

// sessionID is the row ID of the browser's session.
func (b *acctBrowser) sessionID(t *testing.T) int64 {
	t.Helper()
	row, err := b.e.db.SessionByHash(context.Background(), sessionstore.Hash(b.token()))
	if err != nil {
		t.Fatalf("session row: %v", err)
	}
	return row.ID
}

// account loads /account, which must show the page.
func (b *acctBrowser) account(t *testing.T) *response {
	t.Helper()
	r := b.get(t, "/account")
	if r.status != http.StatusOK {
		t.Fatalf("GET /account: got %d Location %q, want 200", r.status, r.loc)
	}
	return r
}

// wantSignedOut checks the browser's next page load goes to sign in.
func (b *acctBrowser) wantSignedOut(t *testing.T) {
	t.Helper()
	r := b.get(t, "/account")
	if r.status != http.StatusSeeOther || r.loc != "/login?next=%2Faccount" {
		t.Fatalf("GET /account: got %d Location %q, want 303 /login?next=%%2Faccount (signed out)", r.status, r.loc)
	}
}

// wantRedirect checks a 303 to exactly loc.
func acctWantRedirect(t *testing.T, what string, r *response, loc string) {
	t.Helper()
	if r.status != http.StatusSeeOther || r.loc != loc {
		t.Fatalf("%s: got %d Location %q, want 303 %s:\n%s", what, r.status, r.loc, loc, r.text())
	}
}

// acctAlert is the text of the error paragraph with that id ("" if none).
func acctAlert(r *response, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `">([^<]*)<`).FindStringSubmatch(r.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func acctWantPage(t *testing.T, what string, r *response, status int, texts ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %d Location %q, want %d:\n%s", what, r.status, r.loc, status, r.text())
	}
	for _, s := range texts {
		if !strings.Contains(r.text(), s) {
			t.Fatalf("%s: page does not say %q:\n%s", what, s, r.text())
		}
	}
}

func TestAccountRequiresSignIn(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	b := e.browser("")
	acctWantRedirect(t, "GET /account signed out", b.get(t, "/account"), "/login?next=%2Faccount")
	for _, p := range []string{"/account/profile", "/account/password", "/account/link", "/account/identities/1/unlink",
		"/account/sessions/1/revoke", "/account/sessions/revoke-others"} {
		acctWantRedirect(t, "POST "+p+" signed out", b.post(t, p, url.Values{"name": {"x"}}), "/login")
	}
	if n := len(e.events(models.EventSessionRevoked)) + len(e.events(models.EventProfileUpdated)); n != 0 {
		t.Fatalf("%d events from signed-out requests", n)
	}
}

func TestAccountProfile(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	b := e.browser(acctFirefox)
	b.login(t, acctAlice, acctPW)

	r := b.account(t)
	acctWantPage(t, "account page", r, http.StatusOK, acctAlice, "Password sign-in Yes", "Single sign-on None linked",
		"This device", "Firefox on Linux", "Link Alpha SSO", "Link Beta SSO", "Change password", "Current password")
	if !strings.Contains(r.body, `value="Alice"`) {
		t.Fatalf("name field does not hold the current name:\n%s", r.body)
	}

	// A name that is markup is stored as typed and shown as text, everywhere.
	evil := `<script>alert(1)</script>`
	acctWantRedirect(t, "save name", b.post(t, "/account/profile", url.Values{"name": {"  " + evil + " "}}), "/account?notice=profile_saved")
	if got := e.user(acctAlice).Name; got != evil {
		t.Fatalf("stored name %q, want %q (trimmed)", got, evil)
	}
	r = b.page(t, "/account?notice=profile_saved")
	acctWantPage(t, "after save", r, http.StatusOK, "Your profile was saved.")
	for _, page := range []*response{r, b.get(t, "/dashboard")} {
		if strings.Contains(page.body, evil) || !strings.Contains(page.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Fatalf("name not escaped:\n%s", page.body)
		}
	}
	ev := e.wantEvent(models.EventProfileUpdated, acctAlice, 1)
	if ev.Email != acctAlice {
		t.Fatalf("event email %q", ev.Email)
	}

	// Saving the same name again changes nothing and writes no event.
	acctWantRedirect(t, "save same name", b.post(t, "/account/profile", url.Values{"name": {evil}}), "/account?notice=profile_saved")
	e.wantEvent(models.EventProfileUpdated, acctAlice, 1)

	// 200 characters (not bytes) is the limit; what was typed stays in the form.
	ok := strings.Repeat("é", 200)
	acctWantRedirect(t, "200-character name", b.post(t, "/account/profile", url.Values{"name": {ok}}), "/account?notice=profile_saved")
	for _, bad := range []struct{ name, msg string }{
		{strings.Repeat("x", 201), "at most 200 characters"},
		{"two\nlines", "control characters"},
	} {
		r := b.post(t, "/account/profile", url.Values{"name": {bad.name}})
		acctWantPage(t, "bad name", r, http.StatusBadRequest)
		if got := acctAlert(r, "profile-error"); !strings.Contains(got, bad.msg) {
			t.Fatalf("profile error %q, want it to say %q", got, bad.msg)
		}
		if !strings.Contains(r.body, `value="`+html.EscapeString(bad.name[:3])) {
			t.Fatalf("typed name not kept in the form:\n%s", r.body)
		}
		if got := e.user(acctAlice).Name; got != ok {
			t.Fatalf("name changed to %q by a refused update", got)
		}
	}
	e.wantEvent(models.EventProfileUpdated, acctAlice, 2)

	// Notices come from a fixed table: query text is never shown.
	r = b.account(t)
	if strings.Contains(r.body, `role="status"`) {
		t.Fatal("notice shown without ?notice")
	}
	r = b.page(t, "/account?notice="+url.QueryEscape("<b>you have been hacked</b>"))
	if r.status != http.StatusOK || strings.Contains(r.text(), "hacked") || strings.Contains(r.body, `id="account-notice"`) {
		t.Fatalf("unknown notice code reflected:\n%s", r.text())
	}
	// The page works without JavaScript and carries no inline script or style.
	for _, bad := range []string{"<script", "style=", "<style", "onclick"} {
		if strings.Contains(strings.ToLower(r.body), bad) {
			t.Fatalf("account page contains %q", bad)
		}
	}
}

func TestAccountChangePassword(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	a, other := e.browser(acctFirefox), e.browser(acctIPhoneUA)
	a.login(t, acctAlice, acctPW)
	other.login(t, acctAlice, acctPW)
	bob := e.browser("")
	bob.login(t, acctBob, acctPW)
	before := *e.user(acctAlice).PasswordHash

	form := func(cur, next, confirm string) url.Values {
		return url.Values{"current_password": {cur}, "new_password": {next}, "confirm_password": {confirm}}
	}
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		msg    string
	}{
		{"wrong current", form("not my password at all", acctNewPW, acctNewPW), http.StatusUnauthorized, "current password is not right"},
		{"no current", form("", acctNewPW, acctNewPW), http.StatusBadRequest, "Enter your current password"},
		{"no new", form(acctPW, "", ""), http.StatusBadRequest, "Enter a new password"},
		{"mismatch", form(acctPW, acctNewPW, acctNewPW+"!"), http.StatusBadRequest, "do not match"},
		{"too short", form(acctPW, "short pw", "short pw"), http.StatusBadRequest, "at least 12 characters"},
		{"too long", form(acctPW, strings.Repeat("long ", 20), strings.Repeat("long ", 20)), http.StatusBadRequest, "at most 72 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := a.post(t, "/account/password", c.form)
			acctWantPage(t, c.name, r, c.status)
			if got := acctAlert(r, "password-error"); !strings.Contains(got, c.msg) {
				t.Fatalf("password error %q, want it to say %q", got, c.msg)
			}
			for _, pw := range []string{c.form.Get("current_password"), c.form.Get("new_password")} {
				if pw != "" && strings.Contains(r.body, pw) {
					t.Fatalf("a typed password is echoed in the page")
				}
			}
			if got := *e.user(acctAlice).PasswordHash; got != before {
				t.Fatal("password changed by a refused request")
			}
			other.account(t) // the other session lives on
		})
	}
	if evs := e.events(models.EventPasswordChangeFailure); len(evs) != 1 || evs[0].Detail != accounts.ReasonWrongPassword.String() {
		t.Fatalf("password change failures: %+v, want one wrong_password", evs)
	}
	if n := len(e.events(models.EventPasswordSet)); n != 0 {
		t.Fatalf("%d password_set events before any change", n)
	}

	r := a.post(t, "/account/password", form(acctPW, acctNewPW, acctNewPW))
	acctWantRedirect(t, "change password", r, "/account?notice=password_changed")
	acctWantPage(t, "after change", a.page(t, "/account?notice=password_changed"), http.StatusOK, "Your password was changed.")
	other.wantSignedOut(t)
	bob.account(t) // another user's session is untouched
	e.wantEvent(models.EventPasswordSet, acctAlice, 1)

	// The new password signs in; the old one no longer does.
	e.browser("").login(t, acctAlice, acctNewPW)
	r = e.browser("").post(t, "/auth/login", url.Values{"email": {acctAlice}, "password": {acctPW}, "is_sso": {"false"}})
	acctWantPage(t, "old password", r, http.StatusUnauthorized)
}

func TestAccountSetPasswordSSOOnly(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	b, other := e.browser(acctFirefox), e.browser("")
	b.ssoLogin(t, 0, acctSamAtAlpha)
	other.ssoLogin(t, 0, acctSamAtAlpha)

	r := b.account(t)
	acctWantPage(t, "SSO-only account", r, http.StatusOK, "Password sign-in No", "Single sign-on Alpha SSO", "Set a password", "SSO (Alpha SSO)")
	if strings.Contains(r.body, "current_password") {
		t.Fatal("an SSO-only account is asked for a current password")
	}
	if strings.Contains(r.body, `id="unlink-`) || !strings.Contains(r.text(), "This is your only way to sign in") {
		t.Fatal("the only sign-in of an SSO-only account offers Unlink")
	}

	// 11 minutes on, the sign-in is too old to add a password.
	e.clock.Advance(11 * time.Minute)
	acctWantPage(t, "stale sign-in", b.account(t), http.StatusOK, "first confirm it's you")
	set := url.Values{"new_password": {acctNewPW}, "confirm_password": {acctNewPW}}
	r = b.post(t, "/account/password", set)
	acctWantRedirect(t, "set password, stale", r, "/auth/reauth?next=%2Faccount&action=%2Faccount%2Fpassword")
	if e.user(acctSam).HasPassword() {
		t.Fatal("password set without a recent sign-in")
	}

	// Re-authenticate with the provider, then it works.
	page := b.get(t, "/auth/reauth?next=%2Faccount")
	acctWantPage(t, "reauth page", page, http.StatusOK, "Confirm with Alpha SSO")
	r = b.throughOP(t, b.post(t, "/auth/reauth", url.Values{"next": {"/account"}, "provider": {"alpha"}}), 0, acctSamAtAlpha)
	acctWantRedirect(t, "SSO re-auth", r, "/account")
	e.wantEvent(models.EventReauth, acctSam, 1)

	r = b.post(t, "/account/password", url.Values{"new_password": {acctNewPW}, "confirm_password": {acctNewPW + "x"}})
	acctWantPage(t, "mismatch", r, http.StatusBadRequest, "do not match")
	acctWantRedirect(t, "set password", b.post(t, "/account/password", set), "/account?notice=password_set")
	acctWantPage(t, "after set", b.page(t, "/account?notice=password_set"), http.StatusOK, "Your password was set.", "Password sign-in Yes", "Change password")
	if !e.user(acctSam).HasPassword() {
		t.Fatal("no password after set")
	}
	ev := e.wantEvent(models.EventPasswordSet, acctSam, 1)
	if !strings.Contains(ev.Detail, "first password") {
		t.Fatalf("event detail %q", ev.Detail)
	}
	other.wantSignedOut(t)
	e.browser("").login(t, acctSam, acctNewPW)
}

// TestAccountSSOReauthFreshness: re-authentication through a provider asks
// for a new sign-in (prompt=login, max_age=0) and grants sudo only for an ID
// token whose auth_time shows one since the re-authentication started; the
// re-authentication counts from that auth_time.
func TestAccountSSOReauthFreshness(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	alpha := e.ops[0]
	set := url.Values{"new_password": {acctNewPW}, "confirm_password": {acctNewPW}}
	start := func(t *testing.T, b *acctBrowser) *response {
		t.Helper()
		r := b.post(t, "/auth/reauth", url.Values{"next": {"/account"}, "provider": {"alpha"}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, alpha.Issuer()+"/authorize?") {
			t.Fatalf("reauth: %d %q", r.status, r.loc)
		}
		u, _ := url.Parse(r.loc)
		if q := u.Query(); q.Get("prompt") != "login" || q.Get("max_age") != "0" {
			t.Fatalf("reauth request prompt=%q max_age=%q, want login and 0", q.Get("prompt"), q.Get("max_age"))
		}
		return r
	}
	// stale signs Sam in and lets the sign-in age past the sudo window.
	stale := func(t *testing.T) *acctBrowser {
		t.Helper()
		b := e.browser("")
		b.ssoLogin(t, 0, acctSamAtAlpha)
		e.clock.Advance(11 * time.Minute)
		acctWantRedirect(t, "stale sign-in", b.post(t, "/account/password", set), "/auth/reauth?next=%2Faccount&action=%2Faccount%2Fpassword")
		return b
	}
	refused := func(t *testing.T, b *acctBrowser, r *response) {
		t.Helper()
		acctWantPage(t, "stale re-authentication", r, http.StatusForbidden, "Confirm it's you")
		if got := acctAlert(r, "form-error"); !strings.Contains(got, "Alpha SSO did not ask you to sign in again") {
			t.Fatalf("reauth error %q", got)
		}
		acctWantRedirect(t, "still no sudo", b.post(t, "/account/password", set), "/auth/reauth?next=%2Faccount&action=%2Faccount%2Fpassword")
		if n := len(e.events(models.EventReauth)); n != 0 {
			t.Fatalf("%d reauth events after a refused re-authentication", n)
		}
		if e.user(acctSam).HasPassword() {
			t.Fatal("password set without a fresh re-authentication")
		}
	}

	// The OP ignores prompt=login and max_age=0 and answers from the
	// session it started at the sign-in 11 minutes ago.
	t.Run("provider reuses its session", func(t *testing.T) {
		b := stale(t)
		alpha.SetBehavior(testop.Behavior{ReuseSession: true})
		defer alpha.SetBehavior(testop.Behavior{})
		refused(t, b, b.throughOP(t, start(t, b), 0, acctSamAtAlpha))
	})
	for _, tc := range []struct {
		name string
		edit func(c map[string]any)
	}{
		{"auth_time a day old", func(c map[string]any) { c["auth_time"] = e.clock.Now().Add(-24 * time.Hour).Unix() }},
		{"auth_time before the re-authentication began", func(c map[string]any) {
			c["auth_time"] = e.clock.Now().Add(-3 * time.Minute).Unix() // beyond the 2-minute skew
		}},
		{"no auth_time", func(c map[string]any) { delete(c, "auth_time") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := stale(t)
			alpha.SetBehavior(testop.Behavior{IDTokenClaims: tc.edit})
			defer alpha.SetBehavior(testop.Behavior{})
			refused(t, b, b.throughOP(t, start(t, b), 0, acctSamAtAlpha))
		})
	}
	t.Run("auth_time in the future", func(t *testing.T) {
		b := stale(t)
		alpha.SetBehavior(testop.Behavior{IDTokenClaims: func(c map[string]any) { c["auth_time"] = e.clock.Now().Add(365 * 24 * time.Hour).Unix() }})
		defer alpha.SetBehavior(testop.Behavior{})
		r := b.throughOP(t, start(t, b), 0, acctSamAtAlpha)
		acctWantPage(t, "future auth_time", r, http.StatusBadRequest, "Confirm it's you", "could not be verified")
		acctWantRedirect(t, "still no sudo", b.post(t, "/account/password", set), "/auth/reauth?next=%2Faccount&action=%2Faccount%2Fpassword")
	})

	// A new sign-in at the OP: sudo, counted from the OP's auth_time, which
	// lies a minute before the callback here.
	t.Run("fresh sign-in", func(t *testing.T) {
		b := stale(t)
		r := start(t, b)
		alpha.SetLoginUser(&acctSamAtAlpha)
		back := b.get(t, r.loc)
		authTime := e.clock.Now()
		e.clock.Advance(time.Minute)
		acctWantRedirect(t, "fresh re-authentication", b.get(t, back.loc), "/account")
		if n := len(e.events(models.EventReauth)); n != 1 {
			t.Fatalf("%d reauth events, want 1", n)
		}
		row, err := e.db.SessionByHash(context.Background(), sessionstore.Hash(b.token()))
		if err != nil {
			t.Fatal(err)
		}
		if row.ReauthAt == nil || !row.ReauthAt.Equal(authTime) {
			t.Fatalf("reauth_at %v, want the auth_time %v", row.ReauthAt, authTime)
		}
		e.clock.Advance(9*time.Minute + 30*time.Second) // 10.5 minutes after auth_time
		acctWantRedirect(t, "sudo ends 10 minutes after auth_time", b.post(t, "/account/password", set), "/auth/reauth?next=%2Faccount&action=%2Faccount%2Fpassword")
	})
}

func TestAccountLinkProvider(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	b := e.browser(acctFirefox)
	b.login(t, acctAlice, acctPW)

	acctWantPage(t, "unknown provider", b.post(t, "/account/link", url.Values{"provider": {"nope"}}), http.StatusBadRequest, "Choose one of the sign-in providers")

	r := b.throughOP(t, b.post(t, "/account/link", url.Values{"provider": {"alpha"}}), 0, acctAliceAtAlpha)
	acctWantRedirect(t, "link alpha", r, "/account?notice=identity_linked")
	ids := e.identities(acctAlice)
	if len(ids) != 1 || ids[0].ProviderID != "alpha" || ids[0].Subject != acctAliceAtAlpha.Subject || ids[0].Issuer != e.ops[0].Issuer() {
		t.Fatalf("alice's identities after linking: %+v", ids)
	}
	e.wantEvent(models.EventIdentityLinked, acctAlice, 1)
	r = b.page(t, "/account?notice=identity_linked")
	acctWantPage(t, "after link", r, http.StatusOK, "The sign-in was linked to your account.", "Single sign-on Alpha SSO", "Link Beta SSO")
	if strings.Contains(r.text(), "Link Alpha SSO") {
		t.Fatal("Link button still offered for a linked provider")
	}
	if !strings.Contains(r.body, `id="unlink-`+strconv.FormatInt(ids[0].ID, 10)+`"`) {
		t.Fatal("no Unlink button for an identity of an account with a password")
	}

	// The identity now signs in to alice's account.
	sso := e.browser("")
	sso.ssoLogin(t, 0, acctAliceAtAlpha)
	acctWantPage(t, "SSO sign-in after link", sso.account(t), http.StatusOK, acctAlice)

	// An identity linked to bob is not moved to alice.
	bobID := e.linkDirect(acctBob, 1, acctBobAtBeta)
	r = b.throughOP(t, b.post(t, "/account/link", url.Values{"provider": {"beta"}}), 1, acctBobAtBeta)
	acctWantPage(t, "link bob's identity", r, http.StatusConflict, "already linked to another account")
	if ids := e.identities(acctAlice); len(ids) != 1 {
		t.Fatalf("alice's identities after the conflict: %+v", ids)
	}
	if got := e.identities(acctBob); len(got) != 1 || got[0].ID != bobID.ID || got[0].UserID != e.users[acctBob].ID {
		t.Fatalf("bob's identity changed: %+v", got)
	}
	if evs := e.events(models.EventLinkFailure); len(evs) != 1 || *evs[0].ActorID != e.users[acctAlice].ID {
		t.Fatalf("link failures: %+v", evs)
	}

	// Linking again the identity alice already has says so, and adds nothing.
	r = b.throughOP(t, b.post(t, "/account/link", url.Values{"provider": {"alpha"}}), 0, acctAliceAtAlpha)
	acctWantPage(t, "relink", r, http.StatusConflict, "already linked to your account")
	if ids := e.identities(acctAlice); len(ids) != 1 {
		t.Fatalf("alice's identities after relinking: %+v", ids)
	}

	// Linking needs a recent sign-in: 11 minutes on it asks to confirm first.
	e.clock.Advance(11 * time.Minute)
	acctWantRedirect(t, "link, stale", b.post(t, "/account/link", url.Values{"provider": {"beta"}}), "/auth/reauth?next=%2Faccount&action=%2Faccount%2Flink")
	acctWantRedirect(t, "reauth", b.post(t, "/auth/reauth", url.Values{"next": {"/account"}, "password": {acctPW}}), "/account")
	r = b.throughOP(t, b.post(t, "/account/link", url.Values{"provider": {"beta"}}), 1, acctAliceAtBeta)
	acctWantRedirect(t, "link beta", r, "/account?notice=identity_linked")
	if ids := e.identities(acctAlice); len(ids) != 2 {
		t.Fatalf("alice's identities after linking beta: %+v", ids)
	}
	e.wantEvent(models.EventIdentityLinked, acctAlice, 2)
	if r := b.account(t); strings.Contains(r.body, `id="link-form"`) {
		t.Fatal("Link buttons offered with every provider linked")
	}
}

func TestAccountUnlink(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)

	t.Run("last way to sign in", func(t *testing.T) {
		b := e.browser("")
		b.ssoLogin(t, 0, acctSamAtAlpha)
		id := e.identities(acctSam)[0]
		r := b.post(t, "/account/identities/"+strconv.FormatInt(id.ID, 10)+"/unlink", nil)
		acctWantPage(t, "unlink the only identity", r, http.StatusConflict, "only way to sign in")
		if ids := e.identities(acctSam); len(ids) != 1 {
			t.Fatalf("identity removed: %+v", ids)
		}
		b.account(t)
		if n := len(e.events(models.EventIdentityUnlinked)); n != 0 {
			t.Fatalf("%d unlink events", n)
		}
	})

	t.Run("with a password", func(t *testing.T) {
		id := e.linkDirect(acctAlice, 0, acctAliceAtAlpha)
		bobID := e.linkDirect(acctBob, 1, acctBobAtBeta)
		a, viaSSO, bob := e.browser(""), e.browser(""), e.browser("")
		a.login(t, acctAlice, acctPW)
		viaSSO.ssoLogin(t, 0, acctAliceAtAlpha)
		bob.login(t, acctBob, acctPW)
		acctWantPage(t, "session list", a.account(t), http.StatusOK, "SSO (Alpha SSO)")

		// Someone else's identity: not found, nothing changes.
		r := a.post(t, "/account/identities/"+strconv.FormatInt(bobID.ID, 10)+"/unlink", nil)
		acctWantPage(t, "unlink bob's identity", r, http.StatusNotFound, "not found")
		acctWantPage(t, "unlink garbage", a.post(t, "/account/identities/x1/unlink", nil), http.StatusNotFound)
		if len(e.identities(acctBob)) != 1 {
			t.Fatal("bob's identity removed")
		}

		// Sudo mode: an 11-minute-old sign-in must confirm first.
		e.clock.Advance(11 * time.Minute)
		path := "/account/identities/" + strconv.FormatInt(id.ID, 10) + "/unlink"
		acctWantRedirect(t, "unlink, stale", a.post(t, path, nil), "/auth/reauth?next=%2Faccount&action="+url.QueryEscape(path))
		if len(e.identities(acctAlice)) != 1 {
			t.Fatal("unlinked without sudo mode")
		}
		acctWantRedirect(t, "reauth", a.post(t, "/auth/reauth", url.Values{"next": {"/account"}, "password": {acctPW}}), "/account")
		acctWantRedirect(t, "unlink", a.post(t, path, nil), "/account?notice=identity_unlinked")
		if ids := e.identities(acctAlice); len(ids) != 0 {
			t.Fatalf("identity still linked: %+v", ids)
		}
		acctWantPage(t, "after unlink", a.page(t, "/account?notice=identity_unlinked"), http.StatusOK, "The sign-in was unlinked.", "Link Alpha SSO")
		viaSSO.wantSignedOut(t) // its session came from the identity
		bob.account(t)
		ev := e.wantEvent(models.EventIdentityUnlinked, acctAlice, 1)
		if ev.ProviderID != "alpha" {
			t.Fatalf("unlink event provider %q", ev.ProviderID)
		}
		acctWantPage(t, "unlink again", a.post(t, path, nil), http.StatusNotFound)
	})

	t.Run("the identity of this session", func(t *testing.T) {
		e.linkDirect(acctAlice, 1, acctAliceAtBeta)
		b := e.browser("")
		b.ssoLogin(t, 1, acctAliceAtBeta)
		acctWantPage(t, "account", b.account(t), http.StatusOK, "Used for this session")
		id := e.identities(acctAlice)[0]
		r := b.post(t, "/account/identities/"+strconv.FormatInt(id.ID, 10)+"/unlink", nil)
		acctWantRedirect(t, "unlink own identity", r, "/login?notice=signed_out")
		b.wantSignedOut(t)
	})
}

func TestAccountSessions(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	a, b, c := e.browser(acctFirefox), e.browser(acctIPhoneUA), e.browser("")
	for _, br := range []*acctBrowser{a, b, c} {
		br.login(t, acctAlice, acctPW)
	}
	bob := e.browser("")
	bob.login(t, acctBob, acctPW)
	aID, bID, bobID := a.sessionID(t), b.sessionID(t), bob.sessionID(t)

	r := a.account(t)
	if n := strings.Count(r.body, "This device"); n != 1 {
		t.Fatalf(`"This device" appears %d times, want 1`, n)
	}
	mark := regexp.MustCompile(`(?s)id="session-` + strconv.FormatInt(aID, 10) + `".*?</li>`).FindString(r.body)
	if !strings.Contains(mark, "This device") || strings.Contains(mark, "revoke-") {
		t.Fatalf("this device's entry is not marked, or offers revoke:\n%s", mark)
	}
	acctWantPage(t, "sessions", r, http.StatusOK, "Firefox on Linux", "Safari on iPhone", "127.0.0.1", "Password", "Sign out everywhere else")
	if n := strings.Count(r.body, `action="/account/sessions/`) - 1; n != 2 {
		t.Fatalf("%d revoke buttons, want 2", n)
	}
	if strings.Contains(r.body, "session-"+strconv.FormatInt(bobID, 10)+`"`) {
		t.Fatal("another user's session is listed")
	}

	// Revoke b: its cookie stops working, the others carry on.
	acctWantRedirect(t, "revoke b", a.post(t, "/account/sessions/"+strconv.FormatInt(bID, 10)+"/revoke", nil), "/account?notice=session_revoked")
	b.wantSignedOut(t)
	acctWantPage(t, "after revoke", a.page(t, "/account?notice=session_revoked"), http.StatusOK, "That session was signed out.")
	c.account(t)
	ev := e.wantEvent(models.EventSessionRevoked, acctAlice, 1)
	if !strings.Contains(ev.Detail, strconv.FormatInt(bID, 10)) {
		t.Fatalf("revoke event detail %q", ev.Detail)
	}

	// Another user's session ID, an unknown one, garbage, and this session's
	// own ID change nothing and answer with a page, not a 5xx.
	for _, bad := range []struct {
		id     string
		status int
	}{{strconv.FormatInt(bobID, 10), http.StatusNotFound}, {strconv.FormatInt(bID, 10), http.StatusNotFound},
		{"999999", http.StatusNotFound}, {"-1", http.StatusNotFound}, {"abc", http.StatusNotFound},
		{strconv.FormatInt(aID, 10), http.StatusBadRequest}} {
		r := a.post(t, "/account/sessions/"+bad.id+"/revoke", nil)
		acctWantPage(t, "revoke "+bad.id, r, bad.status)
	}
	bob.account(t)
	a.account(t)
	e.wantEvent(models.EventSessionRevoked, acctAlice, 1)

	// Sign out everywhere else: c ends; a and bob's session stay.
	acctWantRedirect(t, "revoke others", a.post(t, "/account/sessions/revoke-others", nil), "/account?notice=sessions_revoked")
	c.wantSignedOut(t)
	r = a.page(t, "/account?notice=sessions_revoked")
	acctWantPage(t, "after revoke-others", r, http.StatusOK, "All your other sessions were signed out.", "You are not signed in anywhere else.")
	bob.account(t)
	if ev := e.wantEvent(models.EventSessionRevoked, acctAlice, 2); !strings.Contains(ev.Detail, "(1)") {
		t.Fatalf("revoke-others event detail %q", ev.Detail)
	}
	if _, err := e.db.SessionByHash(context.Background(), sessionstore.Hash(a.token())); err != nil {
		t.Fatalf("this session's row: %v", err)
	}
	if _, err := e.db.SessionByHash(context.Background(), sessionstore.Hash(c.token())); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("revoked session row: %v", err)
	}
}

// TestAccountUnlinkConcurrent unlinks both identities of an SSO-only account
// at once: one may go, the other must stay (the last-login check and the
// delete are one transaction).
func TestAccountUnlinkConcurrent(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	e.linkDirect(acctSam, 1, testop.User{Subject: "sub-sam-beta", Email: acctSam})
	b := e.browser("")
	b.ssoLogin(t, 0, acctSamAtAlpha)
	for round := range 5 {
		ids := e.identities(acctSam)
		if len(ids) != 2 {
			t.Fatalf("round %d: %d identities, want 2", round, len(ids))
		}
		statuses := make([]int, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodPost, e.base+"/account/identities/"+strconv.FormatInt(id.ID, 10)+"/unlink", nil)
				if r, err := b.exchange(req); err == nil {
					statuses[i] = r.status
				}
			})
		}
		wg.Wait()
		left := e.identities(acctSam)
		if len(left) != 1 {
			t.Fatalf("round %d: %d identities left after concurrent unlinks (statuses %v), want 1", round, len(left), statuses)
		}
		// Put the removed one back for the next round (unless it was the
		// one this session came from, which signed it out).
		if left[0].ProviderID == "alpha" {
			e.linkDirect(acctSam, 1, testop.User{Subject: "sub-sam-beta", Email: acctSam})
		} else {
			e.linkDirect(acctSam, 0, acctSamAtAlpha)
			b = e.browser("")
			b.ssoLogin(t, 0, acctSamAtAlpha)
		}
	}
}

// TestAccountProviderDown: a provider that does not answer while someone
// links it from the account page, or re-authenticates through it, is
// reported on that page (503), and they stay signed in; nothing is linked.
func TestAccountProviderDown(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	alpha, beta := e.ops[0], e.ops[1]

	t.Run("link, down before the redirect", func(t *testing.T) {
		b := e.browser("")
		b.unavailableOK = true
		b.login(t, acctAlice, acctPW)
		beta.SetBehavior(testop.Behavior{Down: true})
		defer beta.SetBehavior(testop.Behavior{})
		r := b.post(t, "/account/link", url.Values{"provider": {"beta"}})
		acctWantPage(t, "link with beta down", r, http.StatusServiceUnavailable, "Your account")
		if got := acctAlert(r, "identity-error"); !strings.Contains(got, "Beta SSO is not answering right now") {
			t.Fatalf("identity error %q", got)
		}
		acctWantPage(t, "still signed in", b.account(t), http.StatusOK, acctAlice)
	})

	t.Run("link, down at the callback", func(t *testing.T) {
		e.clock.Advance(time.Minute) // past the discovery retry delay of the outage before
		b := e.browser("")
		b.unavailableOK = true
		b.login(t, acctAlice, acctPW)
		r := b.post(t, "/account/link", url.Values{"provider": {"beta"}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, beta.Issuer()+"/authorize?") {
			t.Fatalf("link: %d %q", r.status, r.loc)
		}
		beta.SetLoginUser(&acctAliceAtBeta)
		back := b.get(t, r.loc)
		beta.SetBehavior(testop.Behavior{Down: true})
		defer beta.SetBehavior(testop.Behavior{})
		r = b.get(t, back.loc)
		acctWantPage(t, "callback with beta down", r, http.StatusServiceUnavailable, "Your account")
		if got := acctAlert(r, "identity-error"); !strings.Contains(got, "Beta SSO is not answering right now") {
			t.Fatalf("identity error %q", got)
		}
		if ids := e.identities(acctAlice); len(ids) != 0 {
			t.Fatalf("identities linked while the provider was down: %+v", ids)
		}
		acctWantPage(t, "still signed in", b.account(t), http.StatusOK, acctAlice)
	})

	t.Run("re-authentication", func(t *testing.T) {
		b := e.browser("")
		b.unavailableOK = true
		b.ssoLogin(t, 0, acctSamAtAlpha)
		alpha.SetBehavior(testop.Behavior{Down: true})
		defer alpha.SetBehavior(testop.Behavior{})
		// Discovery is cached from the sign-in: the redirect works and the
		// code exchange meets the outage.
		r := b.post(t, "/auth/reauth", url.Values{"next": {"/account"}, "provider": {"alpha"}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, alpha.Issuer()+"/authorize?") {
			t.Fatalf("reauth: %d %q", r.status, r.loc)
		}
		alpha.SetBehavior(testop.Behavior{})
		alpha.SetLoginUser(&acctSamAtAlpha)
		back := b.get(t, r.loc)
		alpha.SetBehavior(testop.Behavior{Down: true})
		r = b.get(t, back.loc)
		acctWantPage(t, "reauth callback with alpha down", r, http.StatusServiceUnavailable, "Confirm")
		if got := acctAlert(r, "form-error"); !strings.Contains(got, "Alpha SSO is not answering right now") {
			t.Fatalf("reauth error %q", got)
		}
		acctWantPage(t, "still signed in", b.account(t), http.StatusOK, acctSam)
	})
}

// A failed password change is answered at /account/password, so a reload or
// a GET of that address (history, address bar) goes back to the account page
// rather than to "Method not allowed"; so do the other account forms.
func TestAccountFormAddressGETRedirects(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	a := e.browser(acctFirefox)
	a.login(t, acctAlice, acctPW)
	r := a.post(t, "/account/password", url.Values{"current_password": {"not my password at all"},
		"new_password": {acctNewPW}, "confirm_password": {acctNewPW}})
	acctWantPage(t, "wrong current", r, http.StatusUnauthorized)
	for _, p := range []string{"/account/password", "/account/profile", "/account/link", "/account/identities/1/unlink",
		"/account/sessions/1/revoke", "/account/sessions/revoke-others"} {
		acctWantRedirect(t, "GET "+p, a.get(t, p), "/account")
	}
	acctWantPage(t, "account page", a.get(t, "/account"), http.StatusOK)
	// Signed out, the account page sends on to sign in as before.
	acctWantRedirect(t, "GET /account/password signed out", e.browser("").get(t, "/account/password"), "/account")
	// Addresses outside the account and admin forms keep their 405.
	if r := a.get(t, "/auth/login"); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /auth/login: %d, want 405", r.status)
	}
}

// A notice in the address is shown once. Changing the password lands on
// /account?notice=password_changed, which redirects to /account and shows
// the notice there; that clean address is what the history keeps, so going
// Back to it later, after signing out and in again, shows no stale notice.
// Pages with a notice are never stored (Cache-Control: no-store).
func TestAccountNoticeShownOnce(t *testing.T) {
	t.Parallel()
	e := newAcctEnv(t)
	a := e.browser(acctFirefox)
	a.login(t, acctAlice, acctPW)
	r := a.post(t, "/account/password", url.Values{"current_password": {acctPW}, "new_password": {acctNewPW}, "confirm_password": {acctNewPW}})
	acctWantRedirect(t, "change password", r, "/account?notice=password_changed")
	r = a.get(t, r.loc)
	acctWantRedirect(t, "notice address", r, "/account")
	r = a.get(t, "/account")
	acctWantPage(t, "after change", r, http.StatusOK, "Your password was changed.")
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("page with a notice: Cache-Control %q, want no-store", cc)
	}
	if strings.Contains(a.account(t).text(), "Your password was changed.") {
		t.Fatal("the notice shows again on the next visit")
	}

	// Sign out, sign in, then Back through the history: the login page's
	// signed-out notice and the account page's both stay gone.
	acctWantRedirect(t, "sign out", a.post(t, "/auth/logout", nil), "/login?notice=signed_out")
	acctWantRedirect(t, "signed-out notice", a.get(t, "/login?notice=signed_out"), "/login")
	acctWantPage(t, "login page", a.get(t, "/login"), http.StatusOK, "You have been signed out.")
	a.login(t, acctAlice, acctNewPW)
	if strings.Contains(a.get(t, "/login").text(), "You have been signed out.") {
		t.Error("Back to the login page shows the signed-out notice again")
	}
	if strings.Contains(a.account(t).text(), "Your password was changed.") {
		t.Error("Back to the account page shows the password notice again")
	}

	// A notice is for the page it was sent to, and only a known code shows.
	a.get(t, "/account?notice=profile_saved")
	if strings.Contains(a.get(t, "/login").text(), "Your profile was saved.") {
		t.Error("a notice for /account showed on /login")
	}
	if strings.Contains(a.account(t).text(), "Your profile was saved.") {
		t.Error("a notice survived a visit to another page")
	}
	acctWantRedirect(t, "other parameters kept", a.get(t, "/login?next=%2Faccount&error=%3Cb%3E"), "/login?next=%2Faccount")
}
