package accounts_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
)

// TestSSORecentEmailChange runs every link policy against every kind of
// account whose email was changed to the provider's address, at times
// around EmailChangeCooldown, trusted and not. Within the cooldown no
// identity is linked automatically: an account with a password asks for
// it, an SSO-only one is refused with its own reason; past it, the
// ordinary policy applies (TestSSOResolveMatrix).
func TestSSORecentEmailChange(t *testing.T) {
	t.Parallel()
	const (
		tUser         = "user with password"
		tAdmin        = "admin with password"
		tSSOOnly      = "SSO-only pre-provisioned"
		tSSOOnlyAdmin = "SSO-only pre-provisioned admin"
		tLinkedElse   = "SSO-only linked to another provider"
	)
	kinds := map[string]ssoUserKind{
		tUser: ssoWithPassword, tAdmin: ssoAdminWithPassword, tSSOOnly: ssoOnly, tSSOOnlyAdmin: ssoOnlyAdmin, tLinkedElse: ssoOnlyLinked,
	}
	changed := ssoRefused(accounts.ReasonEmailChanged)
	notProvisioned := ssoRefused(accounts.ReasonNotProvisioned)
	adminNoProof := ssoRefused(accounts.ReasonAdminNoProof)
	never := ssoRefused(accounts.ReasonLinkNever)
	// untrusted is the answer whenever the provider does not vouch for the
	// email; trusted and trustedRecent when it does, past and within the
	// cooldown.
	expect := []struct {
		policy                            accounts.LinkPolicy
		target                            string
		untrusted, trusted, trustedRecent ssoWant
	}{
		{accounts.LinkPassword, tUser, ssoNeedPassword, ssoNeedPassword, ssoNeedPassword},
		{accounts.LinkPassword, tAdmin, ssoNeedPassword, ssoNeedPassword, ssoNeedPassword},
		{accounts.LinkPassword, tSSOOnly, notProvisioned, ssoLinks, changed},
		{accounts.LinkPassword, tSSOOnlyAdmin, adminNoProof, adminNoProof, adminNoProof},
		{accounts.LinkPassword, tLinkedElse, ssoUseLab, ssoUseLab, ssoUseLab},
		{accounts.LinkVerifiedEmail, tUser, ssoNeedPassword, ssoLinks, ssoNeedPassword},
		{accounts.LinkVerifiedEmail, tAdmin, ssoNeedPassword, ssoNeedPassword, ssoNeedPassword},
		{accounts.LinkVerifiedEmail, tSSOOnly, notProvisioned, ssoLinks, changed},
		{accounts.LinkVerifiedEmail, tSSOOnlyAdmin, adminNoProof, adminNoProof, adminNoProof},
		{accounts.LinkVerifiedEmail, tLinkedElse, ssoUseLab, ssoLinks, ssoUseLab},
		{accounts.LinkNever, tUser, never, never, never},
		{accounts.LinkNever, tSSOOnly, never, never, never},
	}
	// How long before the sign-in the email changed; nil: never.
	ago := func(d time.Duration) *time.Duration { return &d }
	changes := []struct {
		name   string
		ago    *time.Duration
		recent bool
	}{
		{"never changed", nil, false},
		{"changed a minute ago", ago(time.Minute), true},
		{"changed just under a day ago", ago(accounts.EmailChangeCooldown - time.Second), true},
		{"changed a day ago", ago(accounts.EmailChangeCooldown), false},
		{"changed two days ago", ago(2 * accounts.EmailChangeCooldown), false},
		{"changed an hour ahead of the clock", ago(-time.Hour), true},
	}
	trust := []struct {
		name     string
		verified bool
	}{{"trusted", true}, {"unverified", false}}
	cases := 0
	for _, ex := range expect {
		for _, ch := range changes {
			for _, tr := range trust {
				want := ex.untrusted
				if tr.verified {
					want = ex.trusted
					if ch.recent {
						want = ex.trustedRecent
					}
				}
				// An administrator's change leaves the address unverified:
				// an account with a password then proves it with the
				// password, however long ago the change was.
				if ch.ago != nil && ex.target == tUser && want.equal(ssoLinks) {
					want = ssoNeedPassword
				}
				cases++
				t.Run(fmt.Sprintf("%s/%s/%s/%s", ex.policy, ex.target, ch.name, tr.name), func(t *testing.T) {
					e := newSSOEnv(t)
					ctx := t.Context()
					e.user(t, ssoBystander, ssoWithPassword)
					signIn := e.now.Add(3 * accounts.EmailChangeCooldown)
					var target *models.User
					if ch.ago == nil {
						target = e.user(t, ssoEmail, kinds[ex.target])
					} else {
						old := e.user(t, "previous@example.org", kinds[ex.target])
						e.now = signIn.Add(-*ch.ago)
						var err error
						target, err = e.svc.UpdateUser(ctx, old.ID, old.Name, ssoEmail, old.IsAdmin)
						if err != nil {
							t.Fatalf("change the email: %v", err)
						}
						if target.EmailChangedAt == nil || !target.EmailChangedAt.Equal(e.now) {
							t.Fatalf("email_changed_at = %v, want %v", target.EmailChangedAt, e.now)
						}
					}
					e.now = signIn
					usersBefore, idsBefore := e.users(t), e.identities(t)
					targetIDs := len(e.userIdentities(t, target.ID))
					p := accounts.SSOPolicy{Link: ex.policy, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}
					res, err := e.resolve(ctx, p, ssoNewIdentity(ssoIdPEmail, tr.verified))
					e.checkNew(t, res, err, want, target, usersBefore, idsBefore, targetIDs)
				})
			}
		}
	}
	if want := 12 * 6 * 2; cases != want {
		t.Fatalf("ran %d cases, want %d", cases, want)
	}
}

// TestSSORecentEmailChangePasswordProof: within the cooldown the person
// can still link by proving the account's password.
func TestSSORecentEmailChangePasswordProof(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	ctx := t.Context()
	old := e.user(t, "previous@example.org", ssoWithPassword)
	if _, err := e.svc.UpdateUser(ctx, old.ID, old.Name, ssoEmail, false); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	p := accounts.SSOPolicy{Link: accounts.LinkVerifiedEmail, Authoritative: ssoAuthoritative(t, []string{"example.com"})}
	res, err := e.resolve(ctx, p, ssoNewIdentity(ssoEmail, true))
	if err != nil || res.Outcome != accounts.OutcomeNeedPassword {
		t.Fatalf("ResolveSSO = %+v, %v; want need_password", res, err)
	}
	authTime := e.now
	l := &models.PendingLink{
		TokenHash: "tok", BrowserHash: "br", UserID: old.ID, ProviderID: ssoProvider, Issuer: ssoIssuer,
		Subject: ssoSubject, Email: ssoEmail, Claims: `{"sub":"x"}`, AuthTime: &authTime,
	}
	if err := e.db.CreatePendingLink(ctx, l, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if u, err := e.svc.LinkWithPassword(ctx, l, ssoPassword); err != nil || u.ID != old.ID {
		t.Fatalf("LinkWithPassword = %+v, %v; want the account linked", u, err)
	}
}
