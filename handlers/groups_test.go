package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testop"
)

// inGroups is u with groups in the claims, as the provider sends them.
func inGroups(u testop.User, groups any) *testop.User {
	u.Extra = map[string]any{"groups": groups}
	return &u
}

// groupsEnv is an SSO test whose provider decides admins and entry by
// group.
func groupsEnv(t *testing.T, edit func(*config.Provider)) *ssoEnv {
	return newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) {
		ps[0].AdminGroups = []string{"gatehouse-admins"}
		if edit != nil {
			edit(&ps[0])
		}
	}})
}

func (e *ssoEnv) userByEmail(t *testing.T, email string) *models.User {
	t.Helper()
	u, err := e.db.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

// TestGroupsAdminSync: a member of admin_groups is an administrator from
// the first sign-in (reaching /admin), marked so in the console, which
// refuses to demote them by hand; leaving the group ends it at the next
// sign-in. Each change is audited with the provider and group.
func TestGroupsAdminSync(t *testing.T) {
	t.Parallel()
	e := groupsEnv(t, nil)
	e.op.SetLoginUser(inGroups(ssoBob, []string{"staff", "gatehouse-admins"}))
	b := e.browser()
	b.signIn(t, ssoBob.Email)
	b.get(t, "/admin/users").want(t, http.StatusOK, "")
	bob := e.userByEmail(t, ssoBob.Email)
	if !bob.IsAdmin || bob.AdminVia != "acme: gatehouse-admins" {
		t.Fatalf("after the first sign-in: admin %v via %q", bob.IsAdmin, bob.AdminVia)
	}
	if evs := e.events(models.EventAdminGranted); len(evs) != 1 || evs[0].Detail != "acme: gatehouse-admins" || evs[0].ProviderID != "acme" {
		t.Fatalf("admin.granted events: %+v", evs)
	}

	// Another administrator (by hand) cannot demote bob while the
	// provider grants it; the console says why.
	e.op.SetLoginUser(inGroups(ssoAlice, []string{"gatehouse-admins"}))
	a := e.browser()
	a.signIn(t, ssoAlice.Email)
	page := a.get(t, "/admin/users/"+strconv.FormatInt(bob.ID, 10)).want(t, http.StatusOK, "")
	page.has(t, "admin via acme: gatehouse-admins")
	r := a.post(t, "/admin/users/"+strconv.FormatInt(bob.ID, 10), url.Values{"name": {bob.Name}, "email": {bob.Email}})
	if r.status != http.StatusConflict || !strings.Contains(r.text(), "administrator through acme: gatehouse-admins") {
		t.Fatalf("demotion by hand: %d\n%s", r.status, r.text())
	}
	if !e.userByEmail(t, ssoBob.Email).IsAdmin {
		t.Fatal("demoted by hand while the provider grants it")
	}

	// Out of the group: no longer an administrator at the next sign-in.
	e.op.SetLoginUser(inGroups(ssoBob, "staff"))
	b = e.browser()
	b.signIn(t, ssoBob.Email)
	b.get(t, "/admin/users").want(t, http.StatusForbidden, "")
	if bob = e.userByEmail(t, ssoBob.Email); bob.IsAdmin || bob.AdminVia != "" {
		t.Fatalf("after leaving the group: admin %v via %q", bob.IsAdmin, bob.AdminVia)
	}
	if evs := e.events(models.EventAdminRevoked); len(evs) != 1 || evs[0].ProviderID != "acme" {
		t.Fatalf("admin.revoked events: %+v", evs)
	}
}

// TestGroupsLastAdmin: a sync never demotes the last administrator: the
// sign-in is refused (audited) and the account stays an administrator.
func TestGroupsLastAdmin(t *testing.T) {
	t.Parallel()
	e := groupsEnv(t, nil)
	e.op.SetLoginUser(inGroups(ssoBob, []string{"gatehouse-admins"}))
	e.browser().signIn(t, ssoBob.Email)
	e.op.SetLoginUser(inGroups(ssoBob, []string{}))
	b := e.browser()
	r := b.get(t, b.toCallback(t, ssoBob.Email))
	if r.status != http.StatusForbidden || !strings.Contains(r.text(), "you are the last administrator") {
		t.Fatalf("last admin leaving the group: %d\n%s", r.status, r.text())
	}
	if b.session(t) != nil || !e.userByEmail(t, ssoBob.Email).IsAdmin {
		t.Fatal("the last administrator was demoted, or signed in")
	}
	if evs := e.events(models.EventLoginFailure); len(evs) == 0 || evs[len(evs)-1].Detail != "last_admin_not_in_admin_groups" {
		t.Fatalf("login failures: %+v", evs)
	}
}

// TestGroupsClaimShapes: groups as a list, a space or comma separated
// string, under a dotted path, or only in UserInfo (Okta's org server) are
// read; a provider that decides groups refuses, naming itself and the
// claim, a sign-in without the claim (fail closed, nothing created) and
// an Entra ID overage token (with how to fix it).
func TestGroupsClaimShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		claim  string // groups_claim; "" the default
		user   testop.User
		admin  bool
		refuse string // text of the refusal page; "" signed in
	}{
		{name: "list", user: *inGroups(ssoBob, []string{"a", "gatehouse-admins"}), admin: true},
		{name: "spaced string", user: *inGroups(ssoBob, "a gatehouse-admins"), admin: true},
		{name: "comma string", user: *inGroups(ssoBob, "a,gatehouse-admins"), admin: true},
		{name: "not a member", user: *inGroups(ssoBob, []string{"gatehouse-admins-old"})},
		{name: "dotted path", claim: "realm_access.roles",
			user: testop.User{Subject: ssoBob.Subject, Email: ssoBob.Email, EmailVerified: true,
				Extra: map[string]any{"realm_access": map[string]any{"roles": []string{"gatehouse-admins"}}}}, admin: true},
		{name: "userinfo only", user: testop.User{Subject: ssoBob.Subject, Email: ssoBob.Email, EmailVerified: true,
			UserinfoOnly: map[string]any{"groups": []string{"gatehouse-admins"}}}, admin: true},
		{name: "missing", user: ssoBob, refuse: `Acme SSO did not send your groups (the "groups" claim)`},
		{name: "not strings", user: *inGroups(ssoBob, map[string]any{"a": 1}), refuse: "did not send your groups"},
		{name: "overage", user: testop.User{Subject: ssoBob.Subject, Email: ssoBob.Email, EmailVerified: true,
			IDTokenOnly: map[string]any{ // as Entra ID sends it; the source is never fetched
				"_claim_names":   map[string]any{"groups": "src1"},
				"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "http://127.0.0.1:9/graph/getMemberObjects"}},
			}}, refuse: "because you are in too many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := groupsEnv(t, func(p *config.Provider) { p.GroupsClaim = tc.claim })
			e.createUser("keeper@example.com", true) // so bob is never the last admin
			e.op.SetLoginUser(&tc.user)
			b := e.browser()
			r := b.get(t, b.toCallback(t, ssoBob.Email))
			if tc.refuse != "" {
				if r.status != http.StatusForbidden || !strings.Contains(r.text(), tc.refuse) {
					t.Fatalf("got %d, want 403 with %q:\n%s", r.status, tc.refuse, r.text())
				}
				if _, err := e.db.UserByEmail(t.Context(), ssoBob.Email); err == nil {
					t.Fatal("an account was made for a refused sign-in")
				}
				return
			}
			r.want(t, http.StatusSeeOther, "/dashboard")
			if got := e.userByEmail(t, ssoBob.Email).IsAdmin; got != tc.admin {
				t.Fatalf("admin %v, want %v", got, tc.admin)
			}
		})
	}
}

// TestGroupsAllowed: allowed_groups keeps non-members out with a clear
// page, and makes no account for them; members sign in.
func TestGroupsAllowed(t *testing.T) {
	t.Parallel()
	e := groupsEnv(t, func(p *config.Provider) { p.AdminGroups, p.AllowedGroups = nil, []string{"staff"} })
	e.op.SetLoginUser(inGroups(ssoBob, []string{"contractors"}))
	b := e.browser()
	r := b.get(t, b.toCallback(t, ssoBob.Email))
	if r.status != http.StatusForbidden || !strings.Contains(r.text(), "not in a group that may sign in through Acme SSO") {
		t.Fatalf("non-member: %d\n%s", r.status, r.text())
	}
	if _, err := e.db.UserByEmail(t.Context(), ssoBob.Email); err == nil {
		t.Fatal("an account was made for a non-member")
	}
	e.op.SetLoginUser(inGroups(ssoBob, []string{"staff"}))
	e.browser().signIn(t, ssoBob.Email)
	if e.userByEmail(t, ssoBob.Email).IsAdmin {
		t.Fatal("allowed_groups made an administrator")
	}
}

// TestGroupsPasswordLink: a sign-in that links an existing account by its
// password is synced too: a member of admin_groups is an administrator
// when the session starts.
func TestGroupsPasswordLink(t *testing.T) {
	t.Parallel()
	e := groupsEnv(t, nil)
	e.createUser(ssoAlice.Email, false)
	e.op.SetLoginUser(inGroups(ssoAlice, []string{"gatehouse-admins"}))
	b := e.browser()
	r := b.get(t, b.toCallback(t, ssoAlice.Email))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/auth/link?t=") {
		t.Fatalf("callback: %d %q", r.status, r.loc)
	}
	token := strings.TrimPrefix(r.loc, "/auth/link?t=")
	b.post(t, "/auth/link", url.Values{"t": {token}, "password": {ssoPassword}}).want(t, http.StatusSeeOther, "/dashboard")
	b.get(t, "/admin/users").want(t, http.StatusOK, "")
	if evs := e.events(models.EventAdminGranted); len(evs) != 1 {
		t.Fatalf("admin.granted events: %+v", evs)
	}
}

// TestGroupsAdminViaOutlived: an administrator a provider granted can be
// demoted by hand once that provider no longer decides administrators
// (admin_groups removed), and the demotion clears the mark.
func TestGroupsAdminViaOutlived(t *testing.T) {
	t.Parallel()
	e := groupsEnv(t, nil)
	e.op.SetLoginUser(inGroups(ssoBob, []string{"gatehouse-admins"}))
	e.browser().signIn(t, ssoBob.Email)
	e.createUser("keeper@example.com", true)
	bob := e.userByEmail(t, ssoBob.Email)
	svc := e.server.app.Accounts
	if _, err := svc.UpdateUser(t.Context(), bob.ID, bob.Name, bob.Email, false); err == nil {
		t.Fatal("demoted by hand while acme grants it")
	}
	p := svc.Providers["acme"]
	p.AdminGroups = nil // the operator took admin_groups out
	svc.Providers["acme"] = p
	if _, err := svc.UpdateUser(t.Context(), bob.ID, bob.Name, bob.Email, false); err != nil {
		t.Fatalf("demotion after admin_groups went: %v", err)
	}
	if bob = e.userByEmail(t, ssoBob.Email); bob.IsAdmin || bob.AdminVia != "" {
		t.Fatalf("after the demotion: admin %v via %q", bob.IsAdmin, bob.AdminVia)
	}
}

// TestInitiateNotFromImages: a sign-in start by GET is refused when the
// browser says it is not opening a page (an <img> on another site), and
// stores nothing.
func TestInitiateNotFromImages(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	b := e.browser()
	before := e.count("pending_logins", "")
	r, err := b.do("GET", "/auth/initiate?iss="+url.QueryEscape(e.op.Issuer()), nil, map[string]string{"Sec-Fetch-Dest": "image"})
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusBadRequest || e.count("pending_logins", "") != before {
		t.Fatalf("initiate from an image: %d, %d pending", r.status, e.count("pending_logins", ""))
	}
}
