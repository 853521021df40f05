package handlers_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testop"
)

// adminBrowser signs in a local administrator with the password (which
// counts as a fresh sign-in: sudo) on a new browser.
func (e *ssoEnv) adminBrowser(t *testing.T, email string) *ssoBrowser {
	t.Helper()
	e.createUser(email, true)
	b := e.browser()
	b.post(t, "/auth/login", url.Values{"email": {email}, "password": {ssoPassword}, "next": {""}, "is_sso": {"false"}}).
		want(t, http.StatusSeeOther, "/dashboard")
	return b
}

// testSignIn runs the provider test for acme as the OP's login user and
// returns the result page.
func (b *ssoBrowser) testSignIn(t *testing.T) *response {
	t.Helper()
	r := b.post(t, "/admin/providers/acme/test", url.Values{})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, b.e.op.Issuer()+"/authorize?") {
		t.Fatalf("POST test: got %d %q, want 303 to the OP; page:\n%s", r.status, r.loc, r.text())
	}
	if q, _ := url.Parse(r.loc); q.Query().Get("prompt") != "login" || q.Query().Get("code_challenge") == "" || q.Query().Get("nonce") == "" {
		t.Errorf("test authorization request %s: want prompt=login, PKCE and a nonce", r.loc)
	}
	cb := b.get(t, r.loc)
	if cb.status != http.StatusFound || !strings.HasPrefix(cb.loc, b.e.base+"/auth/callback?") {
		t.Fatalf("OP: got %d %q", cb.status, cb.loc)
	}
	return b.get(t, cb.loc)
}

// TestProviderTestSignIn: an administrator's test sign-in runs a real
// code flow and shows the claims side by side and the decision trace of
// what the sign-in would do, and changes nothing: no session, account,
// identity or audit row, and no claim in the log.
func TestProviderTestSignIn(t *testing.T) {
	t.Parallel()
	e := groupsEnv(t, func(p *config.Provider) { p.AllowedGroups = []string{"staff"} })
	admin := e.adminBrowser(t, "root@example.com")
	admin.get(t, "/admin/providers").want(t, http.StatusOK, "").has(t, `id="test-acme"`, "Acme SSO")

	carol := testop.User{Subject: "sub-carol-7731", Email: "carol.q@example.com", Name: "Carol Quartermaine", EmailVerified: true,
		Extra: map[string]any{"groups": []string{"staff", "gatehouse-admins"}}, UserinfoOnly: map[string]any{"department": "Ops-Zeta-42"}}
	e.op.SetLoginUser(&carol)
	logBefore := len(e.logs.String())
	m := e.mark()
	sessions := e.count("sessions", "")
	r := admin.testSignIn(t).want(t, http.StatusOK, "")
	r.has(t, `id="test-outcome"`, "Creates and signs in to a new account", "made an administrator (acme: gatehouse-admins)",
		`id="test-trace"`, `data-rule="claims"`, `data-rule="routing"`, `data-rule="allowed_groups"`, `data-rule="auto_create"`, `data-rule="admin_groups"`, `data-rule="mfa"`,
		`id="test-decisive"`, `data-claim="sub"`, `data-claim="department"`, "Ops-Zeta-42", `id="test-key"`, "RS256")
	if !strings.Contains(r.text(), "addresses at example.com are sent to Acme SSO") {
		t.Errorf("no routing verdict:\n%s", r.text())
	}
	if strings.Contains(r.body, "eyJ") {
		t.Error("the page shows a token")
	}
	for table, want := range map[string]int64{"sessions": sessions, "users": m.users, "identities": m.identities, "events": m.events} {
		if n := e.count(table, ""); n != want {
			t.Errorf("%s: %d rows after the test, want %d", table, n, want)
		}
	}
	logs := e.logs.String()[logBefore:]
	for _, v := range []string{carol.Subject, carol.Email, carol.Name, "Ops-Zeta-42", "gatehouse-admins"} {
		if strings.Contains(logs, v) {
			t.Errorf("the log holds the claim value %q:\n%s", v, logs)
		}
	}
	admin.wantDashboard(t, "root@example.com", "Password")

	// Outside allowed_groups: the decisive rule says so.
	e.op.SetLoginUser(inGroups(testop.User{Subject: "sub-dave", Email: "dave@example.com", EmailVerified: true}, []string{"guests"}))
	admin.testSignIn(t).want(t, http.StatusOK, "").has(t, "Refused", "not_in_allowed_groups", "in none of allowed_groups (staff)")

	// A token that fails validation: the failure, with its rule, is the
	// answer; still nothing changes.
	e.op.SetLoginUser(&carol)
	e.op.SetBehavior(testop.Behavior{IDTokenClaims: func(c map[string]any) { c["nonce"] = "forged" }})
	admin.testSignIn(t).want(t, http.StatusOK, "").has(t, `id="test-failure"`, "nonce")
	e.op.SetBehavior(testop.Behavior{})
	if n := e.count("users", ""); n != m.users {
		t.Errorf("users: %d rows after the failed test, want %d", n, m.users)
	}
}

// TestProviderTestGuards: only administrators test providers, only in
// sudo mode, and only the one who started a test sees its result.
func TestProviderTestGuards(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	e.createUser("plain@example.com", false)
	user := e.browser()
	user.post(t, "/auth/login", url.Values{"email": {"plain@example.com"}, "password": {ssoPassword}, "next": {""}, "is_sso": {"false"}}).
		want(t, http.StatusSeeOther, "/dashboard")
	user.get(t, "/admin/providers").want(t, http.StatusForbidden, "")
	user.post(t, "/admin/providers/acme/test", url.Values{}).want(t, http.StatusForbidden, "")

	admin := e.adminBrowser(t, "root@example.com")
	admin.post(t, "/admin/providers/nope/test", url.Values{}).want(t, http.StatusNotFound, "")
	// Out of sudo: confirm first.
	e.clock.Advance(e.cfg.Admin.SudoWindow + 1)
	if r := admin.post(t, "/admin/providers/acme/test", url.Values{}); r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/auth/reauth") {
		t.Fatalf("outside sudo: %d %q, want the re-authentication page", r.status, r.loc)
	}
}

// TestSignInTraceRecorded: a real SSO sign-in's audit event carries its
// decision trace, shown in the audit log and on the identity's page,
// with the last time the provider confirmed the person.
func TestSignInTraceRecorded(t *testing.T) {
	t.Parallel()
	e := groupsEnv(t, nil)
	e.op.SetLoginUser(inGroups(ssoCarol, []string{"staff"}))
	e.browser().signIn(t, ssoCarol.Email)
	evs := e.events(models.EventLoginSuccess)
	if len(evs) != 1 {
		t.Fatalf("login.success events: %+v", evs)
	}
	tr := accounts.ParseTrace(evs[0].Trace)
	step, ok := tr.Decisive()
	if tr == nil || !ok || step.Rule != accounts.RuleAutoCreate {
		t.Fatalf("trace %q, decisive %+v", evs[0].Trace, step)
	}
	var admin *accounts.Step
	for i, s := range tr.Steps {
		if s.Rule == accounts.RuleAdminGroups {
			admin = &tr.Steps[i]
		}
	}
	if admin == nil || admin.Verdict != accounts.VerdictKeep || !strings.Contains(admin.Detail, "in none of admin_groups (gatehouse-admins)") {
		t.Fatalf("admin_groups step: %+v", admin)
	}
	b := e.adminBrowser(t, "root@example.com")
	b.get(t, "/admin/audit").want(t, http.StatusOK, "").has(t, "in none of admin_groups (gatehouse-admins)")
	u := e.userByEmail(t, ssoCarol.Email)
	id := e.identity(ssoCarol.Subject)
	if id.ConfirmedAt == nil {
		t.Error("a sign-in did not mark the identity confirmed")
	}
	path := "/admin/users/" + strconv.FormatInt(u.ID, 10) + "/identities/" + strconv.FormatInt(id.ID, 10)
	b.get(t, "/admin/users/"+strconv.FormatInt(u.ID, 10)).want(t, http.StatusOK, "").has(t, `href="`+path+`"`)
	page := b.get(t, path).want(t, http.StatusOK, "").has(t, `id="identity-confirmed"`, "Decision trace", "in none of admin_groups (gatehouse-admins)", ssoCarol.Subject)
	if strings.Contains(page.body, `id="identity-revoked"`) {
		t.Error("an identity never revoked is shown revoked")
	}
	b.get(t, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"/identities/999999").want(t, http.StatusNotFound, "")
	b.get(t, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"/identities/x").want(t, http.StatusNotFound, "")
}

// TestProviderTestChangesNothing: a test sign-in of someone who has an
// account, whose groups would make them an administrator and whose name
// changed at the provider, shows all that and leaves every row as it was.
func TestProviderTestChangesNothing(t *testing.T) {
	t.Parallel()
	e := groupsEnv(t, nil)
	e.op.SetLoginUser(inGroups(ssoBob, []string{"staff"}))
	e.browser().signIn(t, ssoBob.Email)
	bobBefore := e.userByEmail(t, ssoBob.Email)
	idBefore := e.identity(ssoBob.Subject)
	admin := e.adminBrowser(t, "root@example.com")
	e.clock.Advance(time.Minute)
	renamed := *inGroups(ssoBob, []string{"staff", "gatehouse-admins"})
	renamed.Name = "Robert Builder"
	e.op.SetLoginUser(&renamed)
	admin.testSignIn(t).want(t, http.StatusOK, "").has(t, "Signs in to", "made an administrator (acme: gatehouse-admins)", `data-rule="identity"`)
	if bob := e.userByEmail(t, ssoBob.Email); !reflect.DeepEqual(bob, bobBefore) {
		t.Errorf("the test changed the account:\n%+v\nwas\n%+v", bob, bobBefore)
	}
	if id := e.identity(ssoBob.Subject); !reflect.DeepEqual(id, idBefore) {
		t.Errorf("the test changed the identity:\n%+v\nwas\n%+v", id, idBefore)
	}

	// Only the administrator who started the test sees it: another one
	// signing in on the same browser meanwhile gets a refusal.
	r := admin.post(t, "/admin/providers/acme/test", url.Values{})
	cb := admin.get(t, r.loc)
	admin.post(t, "/auth/logout", nil)
	e.createUser("other@example.com", true)
	admin.post(t, "/auth/login", url.Values{"email": {"other@example.com"}, "password": {ssoPassword}, "next": {""}, "is_sso": {"false"}}).
		want(t, http.StatusSeeOther, "/dashboard")
	admin.get(t, cb.loc).want(t, http.StatusForbidden, "").has(t, "Test sign-in refused")
}
