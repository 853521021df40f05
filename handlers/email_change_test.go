package handlers_test

// Changing an account's email is a sensitive action: the email decides
// which SSO sign-ins may link to the account.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
)

// TestAdminEmailChangeTakeover: an administrator's session past its sudo
// window sets an account's email to an address the attacker has at a
// provider trusted for its domain (link: verified_email), then signs in
// through it. The change needs a re-authentication, and even once made no
// SSO sign-in is linked to the account by it for a day.
func TestAdminEmailChangeTakeover(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{})
	sam := e.mkUser(t, "sam@example.com", "Sam SSO-only", "", false) // pre-provisioned for SSO, no identity yet
	root := e.asRoot(t)
	e.clock.Advance(11 * time.Minute) // older than the 10-minute sudo window
	const mallory, mallory2 = "mallory@example.com", "mallory2@example.com"

	// Outside sudo mode the change is sent to re-authenticate and changes nothing.
	before := e.snapshot(t)
	for _, tc := range []struct {
		id    int64
		email string
	}{{e.ann.ID, mallory}, {e.ann.ID, " MALLORY@Example.com "}, {sam.ID, mallory2}} {
		r := root.post(t, userPath(tc.id, ""), url.Values{"name": {"Unchanged"}, "email": {tc.email}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/auth/reauth?next=") {
			t.Fatalf("email change to %q outside sudo mode: %d %q, want 303 to /auth/reauth", tc.email, r.status, r.loc)
		}
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("an email change outside sudo mode changed something:\n%s\n%s", before, after)
	}
	// So the attacker's provider account signs in as nobody.
	m := e.client()
	m.ssoLogin(t, "mallory-sub", mallory)
	if got := m.signedInAs(t); got != "" {
		t.Fatalf("the attacker is signed in as %q", got)
	}

	// After re-authenticating the change goes through, audited with the
	// old and the new address.
	root.post(t, "/auth/reauth", url.Values{"password": {admPW}, "next": {userPath(e.ann.ID, "")}}).want(t, http.StatusSeeOther, userPath(e.ann.ID, ""))
	root.post(t, userPath(e.ann.ID, ""), url.Values{"name": {"Ann Example"}, "email": {mallory}}).want(t, http.StatusSeeOther, done(e.ann.ID, "updated"))
	e.wantEvent(t, models.EventUserUpdated, e.root.ID, e.ann.ID, "email "+admAnn+" → "+mallory)
	root.post(t, userPath(sam.ID, ""), url.Values{"name": {"Sam SSO-only"}, "email": {mallory2}}).want(t, http.StatusSeeOther, done(sam.ID, "updated"))
	e.wantEvent(t, models.EventUserUpdated, e.root.ID, sam.ID, "email sam@example.com → "+mallory2)
	if u := e.user(t, e.ann.ID); u.Email != mallory || u.EmailChangedAt == nil || !u.EmailChangedAt.Equal(e.clock.Now()) {
		t.Fatalf("after the change: %+v", u)
	}

	// For a day the new address links nothing by itself: the account with
	// a password asks for it, the SSO-only one is refused.
	e.clock.Advance(accounts.EmailChangeCooldown - time.Minute)
	m = e.client()
	r := m.ssoLogin(t, "mallory-sub", mallory)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/auth/link?t=") {
		t.Fatalf("SSO as the new address of an account with a password: %d %q, want the password proof", r.status, r.loc)
	}
	m.wantSignedOut(t)
	m2 := e.client()
	m2.ssoLogin(t, "mallory2-sub", mallory2).want(t, http.StatusForbidden, "").has(t, "was changed recently")
	m2.wantSignedOut(t)
	if n := e.count(t, "identities", ""); n != 0 {
		t.Fatalf("%d identities linked during the cooldown", n)
	}
	if ev := e.events(t, models.EventLoginFailure); len(ev) == 0 || ev[len(ev)-1].Detail != accounts.ReasonEmailChanged.String() {
		t.Fatalf("login.failure events %+v", ev)
	}

	// Past it, the provider's ordinary policy applies again.
	e.clock.Advance(2 * time.Minute)
	m2 = e.client()
	m2.ssoLogin(t, "mallory2-sub", mallory2).want(t, http.StatusSeeOther, "/dashboard")
	m2.wantSignedIn(t, mallory2)
	e.noServerErrors(t)
}

// TestAdminEnableNeedsSudo: enabling a disabled account lets it sign in
// again, so it needs a recent sign-in like disabling does.
func TestAdminEnableNeedsSudo(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{noOP: true})
	if err := e.db.SetDisabled(context.Background(), e.ann.ID, true); err != nil {
		t.Fatal(err)
	}
	root := e.asRoot(t)
	e.clock.Advance(11 * time.Minute)
	r := root.post(t, userPath(e.ann.ID, "/enable"), nil)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/auth/reauth?next=") {
		t.Fatalf("enable outside sudo mode: %d %q, want 303 to /auth/reauth", r.status, r.loc)
	}
	if !e.user(t, e.ann.ID).Disabled() {
		t.Fatal("enabled outside sudo mode")
	}
	e.client().loginFails(t, admAnn, admPW)
	root.post(t, "/auth/reauth", url.Values{"password": {admPW}, "next": {userPath(e.ann.ID, "")}}).want(t, http.StatusSeeOther, "")
	root.post(t, userPath(e.ann.ID, "/enable"), nil).want(t, http.StatusSeeOther, done(e.ann.ID, "enabled"))
	e.client().login(t, admAnn, admPW)
	e.noServerErrors(t)
}

// TestAccountPageKeepsEmail: the account page has no email change; an
// email posted with the profile form is ignored.
func TestAccountPageKeepsEmail(t *testing.T) {
	t.Parallel()
	e := newAdmEnv(t, admOpts{noOP: true})
	ann := e.client()
	ann.login(t, admAnn, admPW)
	ann.post(t, "/account/profile", url.Values{"name": {"Ann Renamed"}, "email": {"mallory@example.com"}}).want(t, http.StatusSeeOther, "")
	if u := e.user(t, e.ann.ID); u.Email != admAnn || u.EmailChangedAt != nil || u.Name != "Ann Renamed" {
		t.Fatalf("after the profile form: %+v", u)
	}
}
