package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testop"
)

// TestClaimMapping: subject_claim keys identities on another claim (Entra
// ID's oid), so a new sub (a new app registration) finds the same account,
// and a token without it is refused; an email from email_claim is never
// verified, even with email_verified true.
func TestClaimMapping(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) {
		ps[0].SubjectClaim, ps[0].EmailClaim = "oid", "upn"
	}})
	user := func(sub string, extra map[string]any) *testop.User {
		return &testop.User{Subject: sub, Name: "Bob", Email: "not-this@example.com", EmailVerified: true, Extra: extra}
	}
	e.op.SetLoginUser(user("pairwise-1", map[string]any{"oid": "oid-bob", "upn": ssoBob.Email}))
	e.browser().signIn(t, ssoBob.Email)
	bob := e.userByEmail(t, ssoBob.Email)
	if bob.EmailVerified() {
		t.Fatal("an address from upn counted as verified")
	}
	if e.identity("oid-bob") == nil || e.identity("pairwise-1") != nil {
		t.Fatal("the identity is not keyed on oid")
	}

	e.op.SetLoginUser(user("pairwise-2", map[string]any{"oid": "oid-bob", "upn": ssoBob.Email}))
	e.browser().signIn(t, ssoBob.Email)
	if n := e.count("users", ""); n != 1 {
		t.Fatalf("%d accounts after a new sub with the same oid, want 1", n)
	}

	e.op.SetLoginUser(user("pairwise-3", map[string]any{"upn": ssoBob.Email}))
	b := e.browser()
	r := b.get(t, b.toCallback(t, ssoBob.Email))
	if r.status != http.StatusBadRequest || b.session(t) != nil {
		t.Fatalf("a token without oid: %d", r.status)
	}
}

// TestNameFollowsProvider: the display name follows the provider's at
// each sign-in, until the person sets one in gatehouse.
func TestNameFollowsProvider(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{})
	named := func(name string) *testop.User {
		u := ssoBob
		u.Name = name
		return &u
	}
	e.op.SetLoginUser(named("Bob Builder"))
	e.browser().signIn(t, ssoBob.Email)
	e.op.SetLoginUser(named("Robert Builder"))
	b := e.browser()
	b.signIn(t, ssoBob.Email)
	if got := e.userByEmail(t, ssoBob.Email).Name; got != "Robert Builder" {
		t.Fatalf("name %q, want the provider's new one", got)
	}
	b.post(t, "/account/profile", url.Values{"name": {"Bobby"}}).want(t, http.StatusSeeOther, "/account?notice=profile_saved")
	e.op.SetLoginUser(named("Rob"))
	e.browser().signIn(t, ssoBob.Email)
	if got := e.userByEmail(t, ssoBob.Email).Name; got != "Bobby" {
		t.Fatalf("name %q, want the one set in gatehouse", got)
	}
}

// TestBackchannelSubjectClaim: with subject_claim set, sessions hold the
// mapped subject, so a logout token's sid ends them (its sub, the
// provider's own, names nothing here).
func TestBackchannelSubjectClaim(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) { ps[0].SubjectClaim = "oid" }})
	u := ssoBob
	u.Extra = map[string]any{"oid": "oid-bob"}
	e.op.SetLoginUser(&u)
	b := e.browser()
	row := b.signIn(t, ssoBob.Email)
	if row.Subject != "oid-bob" || row.SID == "" {
		t.Fatalf("session subject %q sid %q", row.Subject, row.SID)
	}
	if status, err := e.op.SendBackchannelLogout(t.Context(), ssoClientID(0), ssoBob.Subject, row.SID, nil); err != nil || status != http.StatusOK {
		t.Fatalf("back-channel logout: %d %v", status, err)
	}
	if b.session(t) != nil {
		t.Fatal("the session outlived a back-channel logout naming its sid")
	}
}

// TestMigrationWindow: during a provider's migration window a first
// sign-in whose subject is exactly an old provider's identity's signs in
// to that account (linked, audited); after the window it does not.
func TestMigrationWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		until time.Duration
		moved bool
	}{{"open", 24 * time.Hour, true}, {"closed", -48 * time.Hour, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newSSOEnv(t, ssoEnvOpts{ops: 2, providers: func(e *ssoEnv, ps []config.Provider) {
				ps[1].MigrateFrom, ps[1].MigrateUntil = "acme", time.Now().Add(tc.until).UTC().Format(time.DateOnly)
			}})
			e.browser().signIn(t, ssoBob.Email) // through acme
			e.ops[1].SetLoginUser(&ssoBob)
			b := e.browser()
			authz := b.start(t, url.Values{"email": {""}, "is_sso": {"true"}, "provider": {"globex"}})
			r := b.get(t, authz.String())
			r = b.get(t, r.loc)
			migrated := false
			for _, ev := range e.events(models.EventIdentityLinked) {
				migrated = migrated || ev.Detail == "migration from acme"
			}
			if migrated != tc.moved || (r.loc == "/dashboard") != tc.moved {
				t.Fatalf("migration window %s: linked %v, callback %d %q", tc.name, migrated, r.status, r.loc)
			}
			if n := e.count("users", ""); n != 1 {
				t.Fatalf("%d accounts, want bob's alone", n)
			}
		})
	}
}
