package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testop"
)

// offlineEvery is the test provider's offline_check: well inside the
// sessions' idle timeout.
const offlineEvery = 2 * time.Minute

// offlineEnv is an SSO test whose provider is checked offline.
func offlineEnv(t *testing.T) *ssoEnv {
	return newSSOEnv(t, ssoEnvOpts{providers: func(e *ssoEnv, ps []config.Provider) {
		ps[0].OfflineCheck = offlineEvery
	}})
}

// checkRound runs one round of the offline check once the next is due.
func (e *ssoEnv) checkRound(t *testing.T) {
	t.Helper()
	e.clock.Advance(offlineEvery + time.Second)
	e.app.CheckProviders(context.Background())
}

// TestOfflineCheck: the sign-in asks for offline_access and keeps the
// refresh token sealed; each round asks the provider server side. An
// outage keeps the sessions; revoking the person at the provider ends
// them at the next round, marks the identity revoked and audits it; a new
// sign-in clears the mark.
func TestOfflineCheck(t *testing.T) {
	t.Parallel()
	e := offlineEnv(t)
	e.op.SetLoginUser(&ssoCarol)
	b := e.browser()
	b.signIn(t, ssoCarol.Email)
	if scope := e.op.LastAuthorize().Get("scope"); !strings.Contains(scope, "offline_access") {
		t.Fatalf("scope %q, want offline_access", scope)
	}
	id := e.identity(ssoCarol.Subject)
	if len(id.RefreshToken) == 0 || id.CheckAt == nil || e.op.RefreshTokens(ssoCarol.Subject) != 1 {
		t.Fatalf("identity after sign-in: token %d bytes, check at %v; provider has %d refresh tokens", len(id.RefreshToken), id.CheckAt, e.op.RefreshTokens(ssoCarol.Subject))
	}
	if raw := e.rawColumn(t, id.ID); strings.Contains(raw, "refresh") || len(raw) < 40 {
		t.Errorf("stored refresh token %q does not look sealed", raw)
	}

	// Nothing is due yet.
	e.op.ResetCounts()
	e.app.CheckProviders(context.Background())
	if n := e.op.Counts()[testop.EndpointToken]; n != 0 {
		t.Fatalf("%d token requests before the check was due", n)
	}

	// Confirmed: the rotated token is kept, the session lives on.
	e.checkRound(t)
	if n := e.op.Counts()[testop.EndpointToken]; n != 1 {
		t.Fatalf("%d token requests in a round, want 1", n)
	}
	id = e.identity(ssoCarol.Subject)
	if id.ConfirmedAt == nil || !id.ConfirmedAt.Equal(e.clock.Now()) || id.RevokedAt != nil {
		t.Fatalf("after a good check: confirmed %v, revoked %v", id.ConfirmedAt, id.RevokedAt)
	}
	b.wantDashboard(t, ssoCarol.Email, "Single sign-on (Acme SSO)")

	// The provider down: nobody is signed out.
	e.op.SetBehavior(testop.Behavior{Down: true})
	e.checkRound(t)
	e.op.SetBehavior(testop.Behavior{})
	b.wantDashboard(t, ssoCarol.Email, "Single sign-on (Acme SSO)")
	if id := e.identity(ssoCarol.Subject); id.RevokedAt != nil {
		t.Fatal("an outage revoked the identity")
	}

	// Revoked at the provider: the sessions end within the interval.
	e.op.RevokeUser(ssoCarol.Subject)
	e.checkRound(t)
	b.wantSignedOut(t)
	id = e.identity(ssoCarol.Subject)
	if id.RevokedAt == nil || id.RefreshToken != nil || id.CheckAt != nil {
		t.Fatalf("after revocation: revoked %v, token %d bytes, check %v", id.RevokedAt, len(id.RefreshToken), id.CheckAt)
	}
	if n := e.count("sessions", "subject = ?", ssoCarol.Subject); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	evs := e.events(models.EventIdentityRevoked)
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "invalid_grant") || !strings.Contains(evs[0].Detail, "1 sessions ended") {
		t.Fatalf("identity.revoked events: %+v", evs)
	}
	admin := e.adminBrowser(t, "root@example.com")
	u := e.userByEmail(t, ssoCarol.Email)
	admin.get(t, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"/identities/"+strconv.FormatInt(id.ID, 10)).want(t, http.StatusOK, "").
		has(t, `id="identity-revoked"`, "Revoked at the provider", `id="identity-confirmed"`)

	// Signing in again clears the mark and checks resume.
	b2 := e.browser()
	b2.signIn(t, ssoCarol.Email)
	if id := e.identity(ssoCarol.Subject); id.RevokedAt != nil || id.CheckAt == nil || len(id.RefreshToken) == 0 {
		t.Fatalf("after a new sign-in: revoked %v, check %v", id.RevokedAt, id.CheckAt)
	}
}

// TestOfflineCheckPasswordLink: a sign-in linked to an existing account
// by its password keeps the refresh token it brought, so the account's
// SSO sessions are checked from the first.
func TestOfflineCheckPasswordLink(t *testing.T) {
	t.Parallel()
	e := offlineEnv(t)
	e.createUser(ssoCarol.Email, false)
	e.op.SetLoginUser(&ssoCarol)
	b := e.browser()
	r := b.get(t, b.toCallback(t, ssoCarol.Email))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/auth/link?t=") {
		t.Fatalf("callback: %d %q, want the password link page", r.status, r.loc)
	}
	b.post(t, "/auth/link", url.Values{"t": {strings.TrimPrefix(r.loc, "/auth/link?t=")}, "password": {ssoPassword}}).want(t, http.StatusSeeOther, "/dashboard")
	id := e.identity(ssoCarol.Subject)
	if len(id.RefreshToken) == 0 || id.CheckAt == nil {
		t.Fatalf("linked identity: token %d bytes, check %v", len(id.RefreshToken), id.CheckAt)
	}
	e.op.RevokeUser(ssoCarol.Subject)
	e.checkRound(t)
	b.wantSignedOut(t)
}

// TestOfflineCheckIdleAndReplicas: an identity without sessions is not
// checked (and no longer scheduled); rounds running at once on two
// replicas check each identity once (a second check with the spent,
// rotated token would be refused and sign the person out).
func TestOfflineCheckIdleAndReplicas(t *testing.T) {
	t.Parallel()
	e := offlineEnv(t)
	users := []testop.User{ssoBob, ssoAlice, ssoCarol}
	browsers := map[string]*ssoBrowser{}
	for _, u := range users {
		e.op.SetLoginUser(&u)
		b := e.browser()
		b.signIn(t, u.Email)
		browsers[u.Email] = b
	}
	// Alice signs out: her identity has nothing to end.
	browsers[ssoAlice.Email].post(t, "/auth/logout", nil)
	e.clock.Advance(offlineEvery + time.Second)
	e.op.ResetCounts()
	second := e.restartReplica(t)
	var wg sync.WaitGroup
	for _, a := range []interface{ CheckProviders(context.Context) }{e.app, second} {
		wg.Go(func() { a.CheckProviders(context.Background()) })
	}
	wg.Wait()
	if n := e.op.Counts()[testop.EndpointToken]; n != 2 {
		t.Errorf("%d refresh requests for two identities with sessions, want 2", n)
	}
	for _, u := range []testop.User{ssoBob, ssoCarol} {
		browsers[u.Email].wantDashboard(t, u.Email, "Single sign-on (Acme SSO)")
		if id := e.identity(u.Subject); id.RevokedAt != nil || id.ConfirmedAt == nil {
			t.Errorf("%s: revoked %v confirmed %v", u.Email, id.RevokedAt, id.ConfirmedAt)
		}
	}
	if id := e.identity(ssoAlice.Subject); id.CheckAt != nil {
		t.Errorf("an identity without sessions is still scheduled: %v", id.CheckAt)
	}
}

// rawColumn is identity id's stored refresh_token, as text.
func (e *ssoEnv) rawColumn(t *testing.T, id int64) string {
	t.Helper()
	db, err := models.OpenSQL(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw []byte
	if err := db.QueryRowContext(t.Context(), "SELECT refresh_token FROM identities WHERE id = $1", id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// restartReplica builds a second application over the same database: a
// replica beside e.app.
func (e *ssoEnv) restartReplica(t *testing.T) *app.App {
	t.Helper()
	a, err := app.New(context.Background(), e.cfg, app.Options{Logger: e.log, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
