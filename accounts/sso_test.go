package accounts_test

// Tests of the SSO account-linking policy (ResolveSSO, LinkWithPassword)
// against a real, migrated SQLite database. Helpers are prefixed sso so
// they do not collide with the other tests of the package.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/accounts"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sso"
	"github.com/gatehouse/gatehouse/testkit"
	"golang.org/x/crypto/bcrypt"
)

const (
	ssoIssuer    = "https://idp.example"
	ssoSubject   = "idp-subject-1"
	ssoProvider  = "corp"
	ssoPassword  = "correct horse battery"
	ssoEmail     = "alice@example.com"    // as stored
	ssoIdPEmail  = "  Alice@Example.COM " // as a provider may send it
	ssoBystander = "bob@example.com"

	// An identity of another provider, for SSO-only accounts already linked.
	ssoOtherProvider = "lab"
	ssoOtherIssuer   = "https://lab.example"
)

// ssoEnv is a fresh database with the account service over it.
type ssoEnv struct {
	svc  *accounts.Service
	db   *models.DB
	raw  *sql.DB   // the same file, for SQL below the models API
	hash string    // of ssoPassword
	now  time.Time // the database clock; change it only between calls
}

// ssoHashing is one hasher and one hash of ssoPassword for every test:
// bcrypt is slow under the race detector, and seeding needs no fresh salt.
var ssoHashing = sync.OnceValues(func() (*password.Hasher, error) {
	return password.New(bcrypt.MinCost, 12)
})

var ssoPasswordHash = sync.OnceValues(func() (string, error) {
	h, err := ssoHashing()
	if err != nil {
		return "", err
	}
	return h.Hash(ssoPassword)
})

func ssoHasher(t *testing.T) (*password.Hasher, string) {
	t.Helper()
	h, err := ssoHashing()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := ssoPasswordHash()
	if err != nil {
		t.Fatal(err)
	}
	return h, hash
}

// newSSOEnv opens a fresh migrated database of the test's own.
func newSSOEnv(t *testing.T) *ssoEnv {
	t.Helper()
	path := testkit.Database(t, "g.db")
	db, err := models.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if n, err := db.Migrate(t.Context()); err != nil || n != 0 {
		t.Fatalf("migrate: %d migrations ran on a migrated copy, %v", n, err)
	}
	h, hash := ssoHasher(t)
	e := &ssoEnv{hash: hash, db: db, raw: rawSQL(t, path), now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	db.Now = func() time.Time { return e.now }
	e.svc = &accounts.Service{DB: db, Hasher: h, Logger: slog.New(slog.DiscardHandler)}
	return e
}

// ssoUserKind is how a seeded account is set up.
type ssoUserKind int

const (
	ssoWithPassword ssoUserKind = iota
	ssoAdminWithPassword
	ssoOnly        // no password, no identity: pre-provisioned for SSO
	ssoOnlyAdmin   // the same, an administrator
	ssoOnlyLinked  // no password, one identity of ssoOtherProvider
	ssoDisabled    // has a password, disabled
	ssoDisabledSSO // no password, disabled
	ssoUnverified  // has a password, its address never verified
)

func (e *ssoEnv) user(t *testing.T, email string, kind ssoUserKind) *models.User {
	t.Helper()
	ctx := t.Context()
	u := &models.User{Email: email, Name: "Seeded " + email, EmailVerifiedAt: new(e.now)}
	switch kind {
	case ssoWithPassword, ssoDisabled:
		u.PasswordHash = new(e.hash)
	case ssoUnverified:
		u.PasswordHash, u.EmailVerifiedAt = new(e.hash), nil
	case ssoAdminWithPassword:
		u.PasswordHash, u.IsAdmin = new(e.hash), true
	case ssoOnlyAdmin:
		u.IsAdmin = true
	}
	if err := e.db.CreateUser(ctx, u); err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	switch kind {
	case ssoDisabled, ssoDisabledSSO:
		if err := e.db.SetDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		u.DisabledAt = new(e.now)
	case ssoOnlyLinked:
		e.identity(t, u.ID, ssoOtherProvider, ssoOtherIssuer, "lab-"+email)
	}
	return u
}

func (e *ssoEnv) identity(t *testing.T, userID int64, provider, issuer, subject string) *models.Identity {
	t.Helper()
	id := &models.Identity{UserID: userID, ProviderID: provider, Issuer: issuer, Subject: subject, Email: "old@example.net", Claims: `{"old":true}`}
	if err := e.db.CreateIdentity(t.Context(), id); err != nil {
		t.Fatalf("link %s/%s: %v", issuer, subject, err)
	}
	return id
}

func (e *ssoEnv) users(t *testing.T) int64 {
	t.Helper()
	n, err := e.db.CountUsers(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *ssoEnv) identities(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := e.raw.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM identities").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *ssoEnv) userIdentities(t *testing.T, userID int64) []models.Identity {
	t.Helper()
	ids, err := e.db.UserIdentities(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// seedTarget creates the account a matrix case is about (none when name is
// not in kinds) and returns it with the counts checkNew compares against.
func (e *ssoEnv) seedTarget(t *testing.T, kinds map[string]ssoUserKind, name string) (target *models.User, users, ids int64, targetIDs int) {
	t.Helper()
	if kind, ok := kinds[name]; ok {
		target = e.user(t, ssoEmail, kind)
	}
	users, ids = e.users(t), e.identities(t)
	if target != nil {
		targetIDs = len(e.userIdentities(t, target.ID))
	}
	return target, users, ids, targetIDs
}

// ssoWant is an expected Resolution.
type ssoWant struct {
	outcome         accounts.Outcome
	reason          accounts.Reason
	linked, created bool
	providers       []string
}

func (w ssoWant) String() string {
	return fmt.Sprintf("%s/%s linked=%v created=%v providers=%v", w.outcome, w.reason, w.linked, w.created, w.providers)
}

func ssoGot(r *accounts.Resolution) ssoWant {
	return ssoWant{outcome: r.Outcome, reason: r.Reason, linked: r.Linked, created: r.Created, providers: r.Providers}
}

func (w ssoWant) equal(g ssoWant) bool {
	return w.outcome == g.outcome && w.reason == g.reason && w.linked == g.linked && w.created == g.created && slices.Equal(w.providers, g.providers)
}

var (
	ssoNeedPassword = ssoWant{outcome: accounts.OutcomeNeedPassword}
	ssoLinks        = ssoWant{outcome: accounts.OutcomeSignIn, linked: true}
	ssoCreates      = ssoWant{outcome: accounts.OutcomeSignIn, linked: true, created: true}
	ssoSignsIn      = ssoWant{outcome: accounts.OutcomeSignIn}
	ssoUseLab       = ssoWant{outcome: accounts.OutcomeUseLinked, providers: []string{ssoOtherProvider}}
)

func ssoRefused(reason accounts.Reason) ssoWant {
	return ssoWant{outcome: accounts.OutcomeRefused, reason: reason}
}

// checkNew asserts the resolution of a sign-in of a NEW identity
// (ssoIssuer, ssoSubject) and the database afterwards. target is the account
// with the email (nil when none); before are the counts before the call.
func (e *ssoEnv) checkNew(t *testing.T, res *accounts.Resolution, err error, want ssoWant, target *models.User, usersBefore, idsBefore int64, targetIDsBefore int) {
	t.Helper()
	ctx := t.Context()
	if err != nil {
		t.Fatalf("ResolveSSO: %v", err)
	}
	if got := ssoGot(res); !want.equal(got) {
		t.Errorf("resolution = %v, want %v", got, want)
	}
	// Who it is about.
	switch {
	case target != nil && res.User == nil && want.outcome != accounts.OutcomeRefused:
		t.Errorf("no user in the %s resolution", res.Outcome)
	case target != nil && res.User != nil && res.User.ID != target.ID:
		t.Errorf("resolution is about user %d (%s), want %d (%s)", res.User.ID, res.User.Email, target.ID, target.Email)
	case target == nil && want.created:
		if res.User == nil {
			t.Fatal("no user in the resolution of a created account")
		}
		if res.User.Email != ssoEmail || res.User.Name != "Alice Example" || res.User.HasPassword() || res.User.IsAdmin || res.User.Disabled() {
			t.Errorf("created user = %+v, want %s, named, no password, not admin", res.User, ssoEmail)
		}
		stored, err := e.db.UserByEmail(ctx, ssoEmail)
		if err != nil || stored.ID != res.User.ID || stored.HasPassword() || stored.IsAdmin {
			t.Errorf("stored created user = %+v, %v", stored, err)
		}
	case target == nil && res.User != nil:
		t.Errorf("resolution names user %+v, want none", res.User)
	}
	// The database.
	wantUsers, wantIDs := usersBefore, idsBefore
	if want.created {
		wantUsers++
	}
	if want.linked {
		wantIDs++
	}
	if n := e.users(t); n != wantUsers {
		t.Errorf("%d users, want %d", n, wantUsers)
	}
	if n := e.identities(t); n != wantIDs {
		t.Errorf("%d identities, want %d", n, wantIDs)
	}
	if target != nil {
		wantTarget := targetIDsBefore
		if want.linked {
			wantTarget++
		}
		if n := len(e.userIdentities(t, target.ID)); n != wantTarget {
			t.Errorf("target has %d identities, want %d", n, wantTarget)
		}
	}
	id, err := e.db.IdentityBySubject(ctx, ssoIssuer, ssoSubject)
	if want.linked {
		if err != nil {
			t.Fatalf("identity not stored: %v", err)
		}
		if res.User == nil || id.UserID != res.User.ID || id.ProviderID != ssoProvider || id.Email != ssoEmail ||
			id.Claims != `{"sub":"`+ssoSubject+`"}` || id.LastLoginAt == nil || !id.LastLoginAt.Equal(e.now) {
			t.Errorf("stored identity = %+v", id)
		}
	} else if !errors.Is(err, models.ErrNotFound) {
		t.Errorf("identity stored without a link: %+v, %v", id, err)
	}
}

// ssoNewIdentity is a new identity whose email claim is email, as a
// provider may send it; EmailExact is what the sso package makes of it.
func ssoNewIdentity(email string, verified bool) *sso.Identity {
	return &sso.Identity{
		ProviderID: ssoProvider, Issuer: ssoIssuer, Subject: ssoSubject, Email: email, EmailVerified: verified,
		EmailExact: sso.NormalizeEmail(email) != "" && sso.EmailExact(email),
		Name:       "Alice Example", Claims: json.RawMessage(`{"sub":"` + ssoSubject + `"}`),
	}
}

// resolve is ResolveSSO for the test provider under policy p. It resolves
// through a copy of the service holding p, so concurrent calls share nothing
// but the database.
func (e *ssoEnv) resolve(ctx context.Context, p accounts.SSOPolicy, id *sso.Identity) (*accounts.Resolution, error) {
	svc := *e.svc
	svc.Providers = map[string]accounts.SSOPolicy{ssoProvider: p}
	return svc.ResolveSSO(ctx, ssoProvider, id)
}

// ssoAuthoritative is the Authoritative check of a real provider that
// serves domains.
func ssoAuthoritative(t *testing.T, domains []string) func(string) bool {
	t.Helper()
	p, err := sso.NewProvider(sso.ProviderConfig{
		ID: ssoProvider, ClientID: "gatehouse", ClientSecret: "secret", RedirectURL: "https://rp.example/auth/callback",
		Metadata: &sso.Metadata{
			Issuer: ssoIssuer, AuthorizationEndpoint: ssoIssuer + "/authorize", TokenEndpoint: ssoIssuer + "/token", JWKSURI: ssoIssuer + "/jwks",
		},
		EmailDomains: domains,
	}, sso.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Authoritative
}

// TestSSOResolveMatrix runs every link policy against every kind of account
// with the same email, for each state of email_verified and with the email's
// domain in or out of the provider's EmailDomains.
func TestSSOResolveMatrix(t *testing.T) {
	t.Parallel()
	const (
		tUser           = "user with password"
		tUnverified     = "user with password, address not verified"
		tAdmin          = "admin with password"
		tSSOOnly        = "SSO-only pre-provisioned"
		tSSOOnlyAdmin   = "SSO-only pre-provisioned admin"
		tLinkedElse     = "SSO-only linked to another provider"
		tDisabled       = "disabled user"
		tDisabledSSO    = "disabled SSO-only user"
		tNoneAutoCreate = "no account, auto-create"
		tNone           = "no account"
	)
	kinds := map[string]ssoUserKind{
		tUser: ssoWithPassword, tUnverified: ssoUnverified, tAdmin: ssoAdminWithPassword, tSSOOnly: ssoOnly, tSSOOnlyAdmin: ssoOnlyAdmin,
		tLinkedElse: ssoOnlyLinked, tDisabled: ssoDisabled, tDisabledSSO: ssoDisabledSSO,
	}
	pwPolicies := []accounts.LinkPolicy{"", accounts.LinkPassword} // "" is the default: password
	verified := []accounts.LinkPolicy{accounts.LinkVerifiedEmail}
	never := []accounts.LinkPolicy{accounts.LinkNever}
	// The provider is trusted for the email when it says it is verified and
	// the domain is one of its EmailDomains.
	expect := []struct {
		policies           []accounts.LinkPolicy
		target             string
		untrusted, trusted ssoWant
	}{
		{pwPolicies, tUser, ssoNeedPassword, ssoNeedPassword},
		{pwPolicies, tUnverified, ssoNeedPassword, ssoNeedPassword},
		{pwPolicies, tAdmin, ssoNeedPassword, ssoNeedPassword},
		{pwPolicies, tSSOOnly, ssoRefused(accounts.ReasonNotProvisioned), ssoLinks},
		{pwPolicies, tSSOOnlyAdmin, ssoRefused(accounts.ReasonAdminNoProof), ssoRefused(accounts.ReasonAdminNoProof)},
		{pwPolicies, tLinkedElse, ssoUseLab, ssoUseLab},
		{pwPolicies, tDisabled, ssoRefused(accounts.ReasonDisabled), ssoRefused(accounts.ReasonDisabled)},
		{pwPolicies, tDisabledSSO, ssoRefused(accounts.ReasonDisabled), ssoRefused(accounts.ReasonDisabled)},
		{pwPolicies, tNoneAutoCreate, ssoCreates, ssoCreates},
		{pwPolicies, tNone, ssoRefused(accounts.ReasonNoAccount), ssoRefused(accounts.ReasonNoAccount)},

		{verified, tUser, ssoNeedPassword, ssoLinks},
		{verified, tUnverified, ssoNeedPassword, ssoNeedPassword}, // its password proves it, not its address
		{verified, tAdmin, ssoNeedPassword, ssoNeedPassword},
		{verified, tSSOOnly, ssoRefused(accounts.ReasonNotProvisioned), ssoLinks},
		{verified, tSSOOnlyAdmin, ssoRefused(accounts.ReasonAdminNoProof), ssoRefused(accounts.ReasonAdminNoProof)},
		{verified, tLinkedElse, ssoUseLab, ssoLinks},
		{verified, tDisabled, ssoRefused(accounts.ReasonDisabled), ssoRefused(accounts.ReasonDisabled)},
		{verified, tDisabledSSO, ssoRefused(accounts.ReasonDisabled), ssoRefused(accounts.ReasonDisabled)},
		{verified, tNoneAutoCreate, ssoCreates, ssoCreates},
		{verified, tNone, ssoRefused(accounts.ReasonNoAccount), ssoRefused(accounts.ReasonNoAccount)},

		{never, tUser, ssoRefused(accounts.ReasonLinkNever), ssoRefused(accounts.ReasonLinkNever)},
		{never, tUnverified, ssoRefused(accounts.ReasonLinkNever), ssoRefused(accounts.ReasonLinkNever)},
		{never, tAdmin, ssoRefused(accounts.ReasonLinkNever), ssoRefused(accounts.ReasonLinkNever)},
		{never, tSSOOnly, ssoRefused(accounts.ReasonLinkNever), ssoRefused(accounts.ReasonLinkNever)},
		{never, tSSOOnlyAdmin, ssoRefused(accounts.ReasonLinkNever), ssoRefused(accounts.ReasonLinkNever)},
		{never, tLinkedElse, ssoRefused(accounts.ReasonLinkNever), ssoRefused(accounts.ReasonLinkNever)},
		{never, tDisabled, ssoRefused(accounts.ReasonDisabled), ssoRefused(accounts.ReasonDisabled)},
		{never, tDisabledSSO, ssoRefused(accounts.ReasonDisabled), ssoRefused(accounts.ReasonDisabled)},
		{never, tNoneAutoCreate, ssoCreates, ssoCreates},
		{never, tNone, ssoRefused(accounts.ReasonNoAccount), ssoRefused(accounts.ReasonNoAccount)},
	}
	// email_verified as the sso package hands it over: only a JSON true is
	// true, so a missing claim and the string "true" arrive as false.
	verifiedStates := []struct {
		name  string
		value bool
	}{
		{"verified", true},
		{"unverified", false},
		{"verified missing", false},
		{`verified "true" string`, false},
	}
	domains := []struct {
		name    string
		domains []string
	}{
		{"domain in", []string{"example.org", "example.com"}},
		{"domain out", []string{"example.org", "mail.example.com"}},
	}
	cases := 0
	for _, ex := range expect {
		for _, policy := range ex.policies {
			for _, v := range verifiedStates {
				for _, d := range domains {
					want := ex.untrusted
					if v.name == "verified" && d.name == "domain in" {
						want = ex.trusted
					}
					cases++
					name := fmt.Sprintf("%s/%s/%s/%s", ssoOr(policy.String(), "default"), ex.target, v.name, d.name)
					t.Run(name, func(t *testing.T) {
						e := newSSOEnv(t)
						e.user(t, ssoBystander, ssoWithPassword)
						target, usersBefore, idsBefore, targetIDs := e.seedTarget(t, kinds, ex.target)
						e.now = e.now.Add(time.Hour)
						p := accounts.SSOPolicy{
							Link: policy, Authoritative: ssoAuthoritative(t, d.domains),
							// Auto-create is on wherever an account exists: it must
							// never make a second one.
							AutoCreate: ex.target != tNone,
						}
						// The dry run of the provider test page decides the
						// same, with the same decisive rule, and keeps nothing.
						dry, err := e.trace(t.Context(), p, ssoNewIdentity(ssoIdPEmail, v.value))
						if err != nil {
							t.Fatalf("TraceSSO: %v", err)
						}
						if got := ssoGot(dry); !want.equal(got) {
							t.Errorf("dry run = %v, want %v", got, want)
						}
						ssoCheckDecisive(t, dry.Trace, ssoDecisiveRule(want))
						if n, m := e.users(t), e.identities(t); n != usersBefore || m != idsBefore {
							t.Errorf("the dry run left %d users and %d identities, want %d and %d", n, m, usersBefore, idsBefore)
						}
						res, err := e.resolve(t.Context(), p, ssoNewIdentity(ssoIdPEmail, v.value))
						e.checkNew(t, res, err, want, target, usersBefore, idsBefore, targetIDs)
						if err == nil {
							ssoCheckDecisive(t, res.Trace, ssoDecisiveRule(want))
						}
						if err == nil && want.outcome == accounts.OutcomeUseLinked {
							// The identity of the other provider is untouched.
							ids := e.userIdentities(t, target.ID)
							if len(ids) != 1 || ids[0].ProviderID != ssoOtherProvider || ids[0].Email != "old@example.net" {
								t.Errorf("identities of the SSO-only user = %+v", ids)
							}
						}
					})
				}
			}
		}
	}
	if want := 4 * 10 * 4 * 2; cases != want {
		t.Fatalf("ran %d cases, want %d", cases, want)
	}
}

// ssoDecisiveRule is the rule that decides a matrix outcome.
func ssoDecisiveRule(w ssoWant) accounts.Rule {
	switch {
	case w.created, w.reason == accounts.ReasonNoAccount:
		return accounts.RuleAutoCreate
	case w.reason == accounts.ReasonDisabled:
		return accounts.RuleDisabled
	}
	return accounts.RuleLink // need password, use linked, link, and the link refusals
}

// ssoCheckDecisive asserts that exactly one step of tr decided, by rule.
func ssoCheckDecisive(t *testing.T, tr *accounts.Trace, rule accounts.Rule) {
	t.Helper()
	if tr == nil {
		t.Fatal("no trace")
	}
	n := 0
	for _, s := range tr.Steps {
		if s.Decisive {
			n++
		}
	}
	step, ok := tr.Decisive()
	if n != 1 || !ok || step.Rule != rule || step.Detail == "" {
		t.Errorf("decisive step = %+v (%d decisive), want rule %s; trace %s", step, n, rule, tr)
	}
}

// trace is TraceSSO for the test provider under policy p.
func (e *ssoEnv) trace(ctx context.Context, p accounts.SSOPolicy, id *sso.Identity) (*accounts.Resolution, error) {
	svc := *e.svc
	svc.Providers = map[string]accounts.SSOPolicy{ssoProvider: p}
	return svc.TraceSSO(ctx, ssoProvider, id)
}

func ssoOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestSSOEmailCase: the provider's email is compared in its normalised
// form, so case and surrounding spaces never make a second account.
func TestSSOEmailCase(t *testing.T) {
	t.Parallel()
	variants := []string{"alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.Com", " alice@example.com\t", "\nAlIcE@eXaMpLe.CoM  "}
	tests := []struct {
		name   string
		stored string // how the account was created (normalised on creation)
		policy accounts.LinkPolicy
		want   ssoWant
	}{
		{"password policy asks for the password", "alice@example.com", accounts.LinkPassword, ssoNeedPassword},
		{"verified_email links", "alice@example.com", accounts.LinkVerifiedEmail, ssoLinks},
		{"never refuses", "alice@example.com", accounts.LinkNever, ssoRefused(accounts.ReasonLinkNever)},
		{"account created in upper case", "ALICE@Example.com", accounts.LinkVerifiedEmail, ssoLinks},
	}
	for _, tc := range tests {
		for _, v := range variants {
			t.Run(fmt.Sprintf("%s/%q", tc.name, v), func(t *testing.T) {
				e := newSSOEnv(t)
				target := e.user(t, tc.stored, ssoWithPassword)
				p := accounts.SSOPolicy{Link: tc.policy, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}
				res, err := e.resolve(t.Context(), p, ssoNewIdentity(v, true))
				e.checkNew(t, res, err, tc.want, target, 1, 0, 0)
			})
		}
	}
}

// TestSSOTrustedDomain: the domain must be one of EmailDomains exactly; no
// subdomain, parent or lookalike counts.
func TestSSOTrustedDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		email   string
		domains []string
		want    ssoWant
	}{
		{"exact", "alice@example.com", []string{"example.com"}, ssoLinks},
		{"one of several", "alice@example.com", []string{"a.example", "example.com", "b.example"}, ssoLinks},
		{"upper-case email domain", "alice@EXAMPLE.COM", []string{"example.com"}, ssoLinks},
		{"no domains configured", "alice@example.com", nil, ssoNeedPassword},
		{"subdomain of a trusted domain", "alice@mail.example.com", []string{"example.com"}, ssoNeedPassword},
		{"parent of a trusted domain", "alice@example.com", []string{"mail.example.com"}, ssoNeedPassword},
		{"lookalike suffix", "alice@evilexample.com", []string{"example.com"}, ssoNeedPassword},
		{"trusted domain as a prefix", "alice@example.com.evil.net", []string{"example.com"}, ssoNeedPassword},
		{"trusted domain in the local part", "example.com@evil.net", []string{"example.com"}, ssoNeedPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSOEnv(t)
			target := e.user(t, tc.email, ssoWithPassword)
			p := accounts.SSOPolicy{Link: accounts.LinkVerifiedEmail, Authoritative: ssoAuthoritative(t, tc.domains)}
			id := ssoNewIdentity(tc.email, true)
			res, err := e.resolve(t.Context(), p, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := ssoGot(res); !tc.want.equal(got) {
				t.Errorf("resolution = %v, want %v", got, tc.want)
			}
			if res.User == nil || res.User.ID != target.ID {
				t.Errorf("resolution user = %+v, want %d", res.User, target.ID)
			}
			wantIDs := 0
			if tc.want.linked {
				wantIDs = 1
			}
			if n := len(e.userIdentities(t, target.ID)); n != wantIDs {
				t.Errorf("%d identities, want %d", n, wantIDs)
			}
		})
	}
}

// TestSSONoEmail: without a usable email nothing can be found or created.
func TestSSONoEmail(t *testing.T) {
	t.Parallel()
	emails := []string{"", "   ", "alice", "alice@", "@example.com", "alice@@example.com", "a@b@example.com",
		"alice@.example.com", "alice@example.com.", "al ice@example.com", "alice@exa\x00mple.com", "alice@example.com\u2028x"}
	for _, policy := range []accounts.LinkPolicy{accounts.LinkPassword, accounts.LinkVerifiedEmail, accounts.LinkNever} {
		for _, email := range emails {
			t.Run(fmt.Sprintf("%s/%q", policy, email), func(t *testing.T) {
				e := newSSOEnv(t)
				e.user(t, ssoEmail, ssoOnly)
				p := accounts.SSOPolicy{Link: policy, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}
				res, err := e.resolve(t.Context(), p, ssoNewIdentity(email, true))
				e.checkNew(t, res, err, ssoRefused(accounts.ReasonNoEmail), nil, 1, 0, 0)
			})
		}
	}
}

// TestSSOKnownIdentity: a returning identity is its linked account, whatever
// the email says now and whatever the policy; the stored email, claims and
// last sign-in follow the provider.
func TestSSOKnownIdentity(t *testing.T) {
	t.Parallel()
	const carol = "carol@example.com"
	tests := []struct {
		name      string
		policy    accounts.LinkPolicy
		email     string // what the provider says now
		verified  bool
		disableA  bool
		wantEmail string // stored on the identity afterwards
		want      ssoWant
	}{
		{"same email", accounts.LinkPassword, ssoEmail, false, false, ssoEmail, ssoSignsIn},
		{"email now another user's", accounts.LinkVerifiedEmail, " Bob@Example.com", true, false, ssoBystander, ssoSignsIn},
		{"email now another user's, password policy", accounts.LinkPassword, ssoBystander, true, false, ssoBystander, ssoSignsIn},
		{"email now a new address with auto-create on", accounts.LinkVerifiedEmail, carol, true, false, carol, ssoSignsIn},
		{"email gone", accounts.LinkPassword, "", false, false, "", ssoSignsIn},
		{"policy never", accounts.LinkNever, ssoEmail, true, false, ssoEmail, ssoSignsIn},
		{"disabled", accounts.LinkVerifiedEmail, ssoEmail, true, true, "old@example.net", ssoRefused(accounts.ReasonDisabled)},
		{"disabled, email now another user's", accounts.LinkVerifiedEmail, ssoBystander, true, true, "old@example.net", ssoRefused(accounts.ReasonDisabled)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSOEnv(t)
			ctx := t.Context()
			a := e.user(t, ssoEmail, ssoWithPassword)
			b := e.user(t, ssoBystander, ssoOnly)
			known := e.identity(t, a.ID, ssoProvider, ssoIssuer, ssoSubject)
			linkedAt := e.now
			if tc.disableA {
				if err := e.db.SetDisabled(ctx, a.ID, true); err != nil {
					t.Fatal(err)
				}
			}
			e.now = e.now.Add(time.Hour)
			p := accounts.SSOPolicy{Link: tc.policy, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}
			id := ssoNewIdentity(tc.email, tc.verified)
			id.Claims = json.RawMessage(`{"new":true}`)
			res, err := e.resolve(ctx, p, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := ssoGot(res); !tc.want.equal(got) {
				t.Errorf("resolution = %v, want %v", got, tc.want)
			}
			if res.User == nil || res.User.ID != a.ID {
				t.Errorf("resolution user = %+v, want A (%d)", res.User, a.ID)
			}
			if n := e.users(t); n != 2 {
				t.Errorf("%d users, want 2", n)
			}
			if n := e.identities(t); n != 1 {
				t.Errorf("%d identities, want 1", n)
			}
			if n := len(e.userIdentities(t, b.ID)); n != 0 {
				t.Errorf("B got %d identities", n)
			}
			got, err := e.db.IdentityBySubject(ctx, ssoIssuer, ssoSubject)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != known.ID || got.UserID != a.ID || got.Email != tc.wantEmail {
				t.Errorf("identity = %+v, want A's with email %q", got, tc.wantEmail)
			}
			if tc.want.outcome == accounts.OutcomeSignIn {
				if got.Claims != `{"new":true}` || got.LastLoginAt == nil || !got.LastLoginAt.Equal(e.now) {
					t.Errorf("identity not touched: claims %s, last login %v (now %v)", got.Claims, got.LastLoginAt, e.now)
				}
			} else if got.Claims != `{"old":true}` || got.LastLoginAt == nil || !got.LastLoginAt.Equal(linkedAt) {
				t.Errorf("refused sign-in touched the identity: claims %s, last login %v", got.Claims, got.LastLoginAt)
			}
		})
	}
}

// TestSSOUseLinkedProviders: an SSO-only account lists each linked provider
// once, in the order they were linked.
func TestSSOUseLinkedProviders(t *testing.T) {
	t.Parallel()
	e := newSSOEnv(t)
	u := e.user(t, ssoEmail, ssoOnly)
	e.identity(t, u.ID, "lab", ssoOtherIssuer, "s1")
	e.now = e.now.Add(time.Minute)
	e.identity(t, u.ID, "partner", "https://partner.example", "s2")
	e.now = e.now.Add(time.Minute)
	e.identity(t, u.ID, "lab", ssoOtherIssuer, "s3")
	p := accounts.SSOPolicy{Link: accounts.LinkPassword, Authoritative: ssoAuthoritative(t, []string{"example.com"})}
	res, err := e.resolve(t.Context(), p, ssoNewIdentity(ssoEmail, true))
	e.checkNew(t, res, err, ssoWant{outcome: accounts.OutcomeUseLinked, providers: []string{"lab", "partner"}}, u, 1, 3, 3)
}

// TestSSOAutoCreateLongName: a display name longer than an account name may
// be must not stop the sign-in.
func TestSSOAutoCreateLongName(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, claim, want string }{
		{"short", "  Alice Example ", "Alice Example"},
		{"exactly 200", strings.Repeat("é", 200), strings.Repeat("é", 200)},
		{"longer than 200", strings.Repeat("é", 250), strings.Repeat("é", 200)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSOEnv(t)
			p := accounts.SSOPolicy{Link: accounts.LinkPassword, AutoCreate: true}
			id := ssoNewIdentity(ssoEmail, false)
			id.Name = tc.claim
			res, err := e.resolve(t.Context(), p, id)
			if err != nil {
				t.Fatalf("ResolveSSO: %v", err)
			}
			if !ssoCreates.equal(ssoGot(res)) {
				t.Fatalf("resolution = %v, want %v", ssoGot(res), ssoCreates)
			}
			if res.User.Name != tc.want || !utf8.ValidString(res.User.Name) {
				t.Errorf("name = %q (%d runes), want %q", res.User.Name, utf8.RuneCountInString(res.User.Name), tc.want)
			}
		})
	}
}

func TestSSOLinkWithPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		target   ssoUserKind
		pw       string
		takenBy  bool // the identity is already linked to another account
		deleted  bool // the account went away meanwhile
		wantErr  error
		wantLink bool
	}{
		{"right password", ssoWithPassword, ssoPassword, false, false, nil, true},
		{"right password, admin", ssoAdminWithPassword, ssoPassword, false, false, nil, true},
		{"wrong password", ssoWithPassword, "wrong horse battery", false, false, accounts.ErrBadCredentials, false},
		{"empty password", ssoWithPassword, "", false, false, accounts.ErrBadCredentials, false},
		{"password differing in case", ssoWithPassword, strings.ToUpper(ssoPassword), false, false, accounts.ErrBadCredentials, false},
		{"disabled meanwhile", ssoDisabled, ssoPassword, false, false, accounts.ErrBadCredentials, false},
		{"password removed meanwhile", ssoOnly, ssoPassword, false, false, accounts.ErrBadCredentials, false},
		{"identity linked elsewhere meanwhile", ssoWithPassword, ssoPassword, true, false, models.ErrIdentityTaken, false},
		{"account deleted meanwhile", ssoWithPassword, ssoPassword, false, true, models.ErrNotFound, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSOEnv(t)
			ctx := t.Context()
			target := e.user(t, ssoEmail, tc.target)
			bob := e.user(t, ssoBystander, ssoWithPassword)
			if tc.takenBy {
				e.identity(t, bob.ID, ssoProvider, ssoIssuer, ssoSubject)
			}
			authTime := e.now
			l := &models.PendingLink{
				TokenHash: "tok", BrowserHash: "br", UserID: target.ID, ProviderID: ssoProvider, Issuer: ssoIssuer,
				Subject: ssoSubject, Email: ssoEmail, Claims: `{"sub":"x"}`, SID: "sid", AuthTime: &authTime,
			}
			if err := e.db.CreatePendingLink(ctx, l, 10*time.Minute); err != nil {
				t.Fatal(err)
			}
			if tc.deleted {
				if err := e.db.DeleteUser(ctx, target.ID); err != nil {
					t.Fatal(err)
				}
				l.UserID = target.ID // the caller still holds the old row
			}
			idsBefore := e.identities(t)
			e.now = e.now.Add(time.Minute)
			u, err := e.svc.LinkWithPassword(ctx, l, tc.pw)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if u != nil {
					t.Errorf("user %+v returned with an error", u)
				}
			} else if err != nil {
				t.Fatalf("LinkWithPassword: %v", err)
			}
			if tc.wantLink {
				if u == nil || u.ID != target.ID {
					t.Fatalf("linked user = %+v, want %d", u, target.ID)
				}
				id, err := e.db.IdentityBySubject(ctx, ssoIssuer, ssoSubject)
				if err != nil {
					t.Fatalf("identity: %v", err)
				}
				if id.UserID != target.ID || id.ProviderID != ssoProvider || id.Email != ssoEmail || id.Claims != `{"sub":"x"}` ||
					id.LastLoginAt == nil || !id.LastLoginAt.Equal(e.now) {
					t.Errorf("identity = %+v", id)
				}
				if n := e.identities(t); n != idsBefore+1 {
					t.Errorf("%d identities, want %d", n, idsBefore+1)
				}
				// The identity now resolves to the account.
				res, err := e.resolve(ctx, accounts.SSOPolicy{Link: accounts.LinkNever}, ssoNewIdentity(ssoEmail, false))
				if err != nil || res.Outcome != accounts.OutcomeSignIn || res.User.ID != target.ID {
					t.Errorf("resolve after linking = %+v, %v", res, err)
				}
				return
			}
			if n := e.identities(t); n != idsBefore {
				t.Errorf("%d identities, want %d (nothing linked)", n, idsBefore)
			}
			if !tc.deleted {
				if n := len(e.userIdentities(t, target.ID)); n != 0 {
					t.Errorf("target got %d identities", n)
				}
			}
			if tc.takenBy {
				id, err := e.db.IdentityBySubject(ctx, ssoIssuer, ssoSubject)
				if err != nil || id.UserID != bob.ID {
					t.Errorf("identity = %+v, %v; want still bob's", id, err)
				}
			}
		})
	}
}

// TestSSOConcurrentAutoCreate: the same new person arriving in several
// requests at once (two tabs, a double click) gets one account and one
// identity, and every request signs in to it.
func TestSSOConcurrentAutoCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policy   accounts.SSOPolicy
		verified bool
	}{
		{"password policy, untrusted", accounts.SSOPolicy{Link: accounts.LinkPassword, AutoCreate: true}, false},
		{"password policy, trusted", accounts.SSOPolicy{Link: accounts.LinkPassword, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}, true},
		{"verified_email, trusted", accounts.SSOPolicy{Link: accounts.LinkVerifiedEmail, Authoritative: ssoAuthoritative(t, []string{"example.com"}), AutoCreate: true}, true},
		{"never", accounts.SSOPolicy{Link: accounts.LinkNever, AutoCreate: true}, true},
	}
	const n = 8
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 5 {
				e := newSSOEnv(t)
				results := make([]*accounts.Resolution, n)
				errs := make([]error, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						results[i], errs[i] = e.resolve(context.Background(), tc.policy, ssoNewIdentity(ssoIdPEmail, tc.verified))
					})
				}
				close(start)
				wg.Wait()
				if u := e.users(t); u != 1 {
					t.Fatalf("round %d: %d accounts, want 1", round, u)
				}
				if c := e.identities(t); c != 1 {
					t.Fatalf("round %d: %d identities, want 1", round, c)
				}
				stored, err := e.db.UserByEmail(t.Context(), ssoEmail)
				if err != nil {
					t.Fatal(err)
				}
				created := 0
				for i := range n {
					if errs[i] != nil {
						t.Errorf("round %d, request %d: %v", round, i, errs[i])
						continue
					}
					r := results[i]
					if r.Outcome != accounts.OutcomeSignIn || r.User == nil || r.User.ID != stored.ID {
						t.Errorf("round %d, request %d: %+v, want sign-in as %d", round, i, r, stored.ID)
					}
					if r.Created {
						created++
					}
				}
				if created != 1 {
					t.Errorf("round %d: %d requests report creating the account, want 1", round, created)
				}
			}
		})
	}
}

// TestSSOAutoCreateAtomic: when the identity cannot be stored, the account
// created for it is not left behind (it would look pre-provisioned and
// refuse the person's next sign-in).
func TestSSOAutoCreateAtomic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trigger string // makes storing the identity fail
	}{
		{"identity insert fails", `CREATE TRIGGER sso_test_fail BEFORE INSERT ON identities BEGIN SELECT RAISE(ABORT, 'no identities today'); END`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSOEnv(t)
			ctx := t.Context()
			if e.db.Dialect() == models.Postgres {
				tc.trigger = `CREATE FUNCTION sso_test_fail() RETURNS trigger LANGUAGE plpgsql AS $f$
					BEGIN RAISE EXCEPTION 'no identities today'; END $f$;
					CREATE TRIGGER sso_test_fail BEFORE INSERT ON identities FOR EACH ROW EXECUTE FUNCTION sso_test_fail()`
			}
			if _, err := e.raw.ExecContext(ctx, tc.trigger); err != nil {
				t.Fatal(err)
			}
			p := accounts.SSOPolicy{Link: accounts.LinkPassword, AutoCreate: true}
			res, err := e.resolve(ctx, p, ssoNewIdentity(ssoEmail, false))
			if err == nil {
				t.Fatalf("ResolveSSO = %+v, want an error", res)
			}
			if n := e.users(t); n != 0 {
				t.Errorf("%d accounts left behind, want 0", n)
			}
			// Once identities can be stored again, the same sign-in creates
			// the account rather than being refused as not provisioned.
			drop := map[models.Dialect]string{models.SQLite: "DROP TRIGGER sso_test_fail", models.Postgres: "DROP TRIGGER sso_test_fail ON identities"}[e.db.Dialect()]
			if _, err := e.raw.ExecContext(ctx, drop); err != nil {
				t.Fatal(err)
			}
			res, err = e.resolve(ctx, p, ssoNewIdentity(ssoEmail, false))
			e.checkNew(t, res, err, ssoCreates, nil, 0, 0, 0)
		})
	}
}
