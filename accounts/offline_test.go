package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

// offlinePolicy checks every hour and disables after 30 days.
var offlinePolicy = accounts.SSOPolicy{AutoCreate: true, OfflineCheck: time.Hour, DisableAfter: 30 * 24 * time.Hour}

// checked gives the env's service a secrets key and the provider policy p.
func (e *ssoEnv) checked(t *testing.T, p accounts.SSOPolicy) {
	t.Helper()
	e.withSecrets(t, 7)
	e.svc.Providers = map[string]accounts.SSOPolicy{ssoProvider: p}
}

// signInWithRefresh resolves a sign-in of subject that brought a refresh
// token, and gives the identity a live session.
func (e *ssoEnv) signInWithRefresh(t *testing.T, subject, email, token string) *models.Identity {
	t.Helper()
	id := ssoNewIdentity(email, true)
	id.Subject, id.RefreshToken = subject, token
	res, err := e.svc.ResolveSSO(t.Context(), ssoProvider, id)
	if err != nil || res.Outcome != accounts.OutcomeSignIn {
		t.Fatalf("sign-in: %+v, %v", res, err)
	}
	if err := e.db.CreateSession(t.Context(), &models.Session{UserID: &res.User.ID, TokenHash: fmt.Sprintf("h-%s-%d", subject, e.now.UnixNano()), Issuer: ssoIssuer, Subject: subject, ProviderID: ssoProvider,
		IdleExpiresAt: e.now.Add(24 * time.Hour), ExpiresAt: e.now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	row, err := e.db.IdentityBySubject(t.Context(), ssoIssuer, subject)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// TestCheckProvider: the round's outcomes for each answer of the provider:
// confirmed (rotated token kept sealed), revoked (sessions ended, audited),
// no answer (kept; three in a row end the round).
func TestCheckProvider(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	e.checked(t, offlinePolicy)
	rows := map[string]*models.Identity{}
	for i := range 6 {
		sub := fmt.Sprintf("s%d", i)
		rows[sub] = e.signInWithRefresh(t, sub, fmt.Sprintf("u%d@example.com", i), "rt-"+sub)
		if rows[sub].CheckAt == nil || string(rows[sub].RefreshToken) == "rt-"+sub {
			t.Fatalf("identity %s: check %v, token stored as %q", sub, rows[sub].CheckAt, rows[sub].RefreshToken)
		}
	}
	var asked []string
	tokens := map[string]string{}
	// s2's provider rotates the token, then fails (UserInfo down): the
	// rotated token must be kept all the same.
	answers := map[string]error{"s1": fmt.Errorf("%w: invalid_grant", sso.ErrRevoked), "s2": sso.ErrUnavailable}
	check := func(_ context.Context, subject, token string) (string, error) {
		asked = append(asked, subject)
		tokens[subject] = token
		if token != "rt-"+subject && token != "rotated-"+subject {
			return "", fmt.Errorf("token %q for %s", token, subject)
		}
		return "rotated-" + subject, answers[subject]
	}
	rep, err := e.svc.CheckProvider(t.Context(), ssoProvider, check)
	if err != nil || len(asked) != 0 {
		t.Fatalf("before due: %+v, %v, asked %v", rep, err, asked)
	}
	e.now = e.now.Add(time.Hour)
	rep, err = e.svc.CheckProvider(t.Context(), ssoProvider, check)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 6 || rep.Confirmed != 4 || rep.Revoked != 1 || rep.Unavailable != 1 || rep.SessionsEnded != 1 {
		t.Fatalf("report %+v", rep)
	}
	if n, _ := e.db.IdentitySessions(t.Context(), ssoIssuer, "s1"); n != 0 {
		t.Error("the revoked identity kept its session")
	}
	if n, _ := e.db.IdentitySessions(t.Context(), ssoIssuer, "s2"); n != 1 {
		t.Error("an outage ended a session")
	}
	r1, _ := e.db.IdentityBySubject(t.Context(), ssoIssuer, "s1")
	if r1.RevokedAt == nil || r1.RefreshToken != nil {
		t.Errorf("revoked identity: %+v", r1)
	}
	// The rotated token is the one used next.
	answers = map[string]error{}
	asked = nil
	e.now = e.now.Add(time.Hour)
	if _, err := e.svc.CheckProvider(t.Context(), ssoProvider, check); err != nil || len(asked) != 5 {
		t.Fatalf("second round asked %v, %v", asked, err)
	}
	for _, sub := range []string{"s0", "s2"} {
		if tokens[sub] != "rotated-"+sub {
			t.Errorf("%s: asked with %q, want the rotated token", sub, tokens[sub])
		}
	}
	// An outage streak ends the round early.
	asked = nil
	e.now = e.now.Add(time.Hour)
	down := func(_ context.Context, subject, _ string) (string, error) {
		asked = append(asked, subject)
		return "", sso.ErrUnavailable
	}
	rep, _ = e.svc.CheckProvider(t.Context(), ssoProvider, down)
	if len(asked) != 3 || rep.Unavailable != 3 {
		t.Fatalf("down: asked %v, %+v", asked, rep)
	}
	// A sealed token copied to another row does not open there.
	if _, err := e.raw.ExecContext(t.Context(), "UPDATE identities SET refresh_token = (SELECT refresh_token FROM identities WHERE subject = 's3') WHERE subject = 's4'"); err != nil {
		t.Fatal(err)
	}
	asked = nil
	e.now = e.now.Add(2 * time.Hour)
	if _, err := e.svc.CheckProvider(t.Context(), ssoProvider, check); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(asked, "s3") || slices.Contains(asked, "s4") {
		t.Errorf("asked %v: want s3, and never s4 with a token sealed for s3", asked)
	}
	if r4, _ := e.db.IdentityBySubject(t.Context(), ssoIssuer, "s4"); r4.CheckAt != nil {
		t.Errorf("s4 is still scheduled (%v) with a token it cannot open", r4.CheckAt)
	}
	// A sign-in that brings no refresh token (Google's after the first
	// consent) keeps the stored one and schedules the checks again.
	if err := e.db.StopChecks(t.Context(), rows["s5"].ID, *mustIdentity(t, e, "s5").CheckAt); err != nil {
		t.Fatal(err)
	}
	if r5 := e.signInWithRefresh(t, "s5", "u5@example.com", ""); r5.CheckAt == nil || len(r5.RefreshToken) == 0 {
		t.Errorf("after a sign-in without a token: check %v, token %d bytes", r5.CheckAt, len(r5.RefreshToken))
	}
}

func mustIdentity(t *testing.T, e *ssoEnv, subject string) *models.Identity {
	t.Helper()
	r, err := e.db.IdentityBySubject(t.Context(), ssoIssuer, subject)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDisableAfter: an SSO-only, non-admin account nobody confirmed for
// disable_after is disabled (audited); administrators, accounts with a
// password and recently confirmed ones are not.
func TestDisableAfter(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	e.checked(t, offlinePolicy)
	stale := e.user(t, "stale@example.com", ssoOnly)
	e.identity(t, stale.ID, ssoProvider, ssoIssuer, "stale")
	admin := e.user(t, "boss@example.com", ssoOnlyAdmin)
	e.identity(t, admin.ID, ssoProvider, ssoIssuer, "boss")
	pw := e.user(t, "pw@example.com", ssoWithPassword)
	e.identity(t, pw.ID, ssoProvider, ssoIssuer, "pw")
	other := e.user(t, "other@example.com", ssoOnly)
	e.identity(t, other.ID, "lab", ssoOtherIssuer, "other")
	fresh := e.user(t, "fresh@example.com", ssoOnly)
	e.identity(t, fresh.ID, ssoProvider, ssoIssuer, "fresh")
	// Someone using gatehouse right now is not stale, whatever the dates.
	active := e.user(t, "active@example.com", ssoOnly)
	e.identity(t, active.ID, ssoProvider, ssoIssuer, "active")
	if err := e.db.CreateSession(t.Context(), &models.Session{UserID: &active.ID, TokenHash: "h-active", IdleExpiresAt: e.now.Add(1000 * time.Hour), ExpiresAt: e.now.Add(1000 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	none := func(context.Context, string, string) (string, error) { return "", errors.New("not asked") }

	e.now = e.now.Add(29 * 24 * time.Hour)
	if rep, err := e.svc.CheckProvider(t.Context(), ssoProvider, none); err != nil || rep.Disabled != 0 {
		t.Fatalf("day 29: %+v, %v", rep, err)
	}
	// fresh signs in on day 29.
	if _, err := e.svc.ResolveSSO(t.Context(), ssoProvider, &sso.Identity{Issuer: ssoIssuer, Subject: "fresh", Email: "fresh@example.com", EmailExact: true}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * 24 * time.Hour)
	rep, err := e.svc.CheckProvider(t.Context(), ssoProvider, none)
	if err != nil || rep.Disabled != 1 {
		t.Fatalf("day 31: %+v, %v", rep, err)
	}
	for _, c := range []struct {
		u    *models.User
		want bool
	}{{stale, true}, {admin, false}, {pw, false}, {other, false}, {fresh, false}, {active, false}} {
		got, err := e.db.UserByID(t.Context(), c.u.ID)
		if err != nil || got.Disabled() != c.want {
			t.Errorf("%s: disabled %v, want %v (%v)", c.u.Email, got.Disabled(), c.want, err)
		}
	}
	evs, err := e.db.Events(t.Context(), 10)
	if err != nil || len(evs) == 0 || evs[0].Kind != models.EventUserDisabled || *evs[0].UserID != stale.ID || evs[0].Detail == "" {
		t.Fatalf("audit: %+v, %v", evs, err)
	}
	// Reversible: enabled again by an administrator, the account has
	// another disable_after before the rule looks at it again.
	if err := e.db.SetDisabled(t.Context(), stale.ID, false); err != nil {
		t.Fatal(err)
	}
	if rep, _ := e.svc.CheckProvider(t.Context(), ssoProvider, none); rep.Disabled != 0 {
		t.Fatalf("disabled again at once: %+v", rep)
	}
	e.now = e.now.Add(31 * 24 * time.Hour)
	if rep, _ := e.svc.CheckProvider(t.Context(), ssoProvider, none); rep.Disabled != 2 { // stale, and fresh by now
		t.Fatalf("a disable_after later: %+v", rep)
	}
}
