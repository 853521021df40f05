package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

// LinkPolicy is a provider's rule for attaching a new SSO identity to an
// existing local account with the same email (config key providers[].link).
type LinkPolicy string

// Link policies.
const (
	LinkPassword      LinkPolicy = "password"       // prove the local password (the default)
	LinkVerifiedEmail LinkPolicy = "verified_email" // link when the provider vouches for the email and is trusted for its domain
	LinkNever         LinkPolicy = "never"          // refuse
)

// String returns the configured form.
func (p LinkPolicy) String() string { return string(p) }

// Valid reports whether p is one of the link policies.
func (p LinkPolicy) Valid() bool {
	switch p {
	case LinkPassword, LinkVerifiedEmail, LinkNever:
		return true
	}
	return false
}

// SSOPolicy is one provider's rules for SSO sign-in, built once at start-up
// from its configuration.
type SSOPolicy struct {
	Link       LinkPolicy
	AutoCreate bool
	// Authoritative reports whether the provider may speak for an email's
	// domain (sso.Provider.Authoritative); nil: for none.
	Authoritative func(email string) bool
	// RefreshInterval is how often a session signed in through the
	// provider is re-checked with it (prompt=none); 0 never.
	RefreshInterval time.Duration
	// GroupsClaim, AdminGroups and AllowedGroups are the provider's group
	// settings (sso.ProviderConfig): who is an administrator, who may
	// sign in.
	GroupsClaim                string
	AdminGroups, AllowedGroups []string
	// Issuer is the provider's configured issuer.
	Issuer string
	// MigrateFrom and MigrateEnd are a migration window: until MigrateEnd,
	// a new identity whose subject is exactly an identity's of provider
	// MigrateFrom signs in to that identity's account (and is linked).
	MigrateFrom string
	MigrateEnd  time.Time
	// SubjectClaim, EmailClaim and NameClaim are the claim mapping
	// (sso.ProviderConfig), named in the decision trace; "" is the
	// standard claim.
	SubjectClaim, EmailClaim, NameClaim string
	// OfflineCheck is how often the provider is asked, server side,
	// whether each identity with live sessions may still sign in
	// (CheckIdentities); 0 never. DisableAfter disables an SSO-only,
	// non-admin account the provider has not confirmed for that long; 0
	// never.
	OfflineCheck, DisableAfter time.Duration
}

// trusts reports whether the provider may vouch for email: it says the
// address is verified (a JSON true) and the domain is one it is configured
// as authoritative for. A provider that lets users type any address must not
// be able to claim someone else's account.
func (p SSOPolicy) trusts(email string, verified bool) bool {
	return verified && p.Authoritative != nil && p.Authoritative(email)
}

// Outcome is what ResolveSSO decided.
type Outcome int

// Outcomes of ResolveSSO.
const (
	OutcomeRefused      Outcome = iota // Reason says why
	OutcomeSignIn                      // User may be signed in
	OutcomeNeedPassword                // prove User's password to link
	OutcomeUseLinked                   // User is SSO-only: sign in with a provider already linked (Providers)
)

// String names the outcome for logs.
func (o Outcome) String() string {
	switch o {
	case OutcomeSignIn:
		return "sign_in"
	case OutcomeNeedPassword:
		return "need_password"
	case OutcomeUseLinked:
		return "use_linked"
	}
	return "refused"
}

// Reason is why a sign-in was refused. Its values are written to the audit
// log as the event detail.
type Reason string

// String returns the audited form.
func (r Reason) String() string { return string(r) }

// Refusal reasons of ResolveSSO.
const (
	ReasonLinkNever      Reason = "link_never"
	ReasonNoAccount      Reason = "no_account"
	ReasonNoEmail        Reason = "no_email"
	ReasonAdminNoProof   Reason = "admin_needs_password"
	ReasonNotProvisioned Reason = "sso_only_untrusted"
	// ReasonEmailLookalike: the provider's email only normalises to the
	// address (sso.EmailExact), so it neither links nor creates an account
	// by itself.
	ReasonEmailLookalike Reason = "email_lookalike"
	// ReasonEmailChanged: the account's email changed less than
	// EmailChangeCooldown ago, so no identity is linked to it by email.
	ReasonEmailChanged Reason = "email_recently_changed"
)

// EmailChangeCooldown is how long after an account's email changes no SSO
// identity is linked to it automatically. Whoever changed the address (say,
// with an administrator's stolen session) must not be able to sign in as
// the account through it at once; proof of the account's password still
// links it.
const EmailChangeCooldown = 24 * time.Hour

// Resolution is the decision for one SSO sign-in, with what the session
// needs: the account, and the provider and identity it signed in through.
type Resolution struct {
	Outcome    Outcome
	User       *models.User
	Reason     Reason
	Created    bool     // the account was created just in time
	Linked     bool     // the identity was linked just now
	Providers  []string // for OutcomeUseLinked: provider IDs linked to User
	ProviderID string
	Identity   *sso.Identity
	Policy     SSOPolicy   // the provider's policy that decided
	Admin      AdminChange // what the provider's groups did to the admin flag
	// MigratedFrom names the old provider whose identity the new one was
	// linked beside (a migration window).
	MigratedFrom string
	// Trace is why: every rule the sign-in met and the one that decided.
	Trace *Trace
}

// ResolveSSO decides who an SSO sign-in is. A known (issuer, subject) is its
// linked account, whatever the email says now. A new identity is linked to
// the account with the same email only as the provider's policy allows;
// administrators are never linked without their password.
//
// Concurrent first sign-ins of one person (two tabs, a double click) race to
// create or link: the loser's insert fails on a unique key, and resolving
// once more finds what the winner stored.
func (s *Service) ResolveSSO(ctx context.Context, providerID string, id *sso.Identity) (*Resolution, error) {
	p := s.Policy(providerID)
	r, err := s.resolveGroups(ctx, p, providerID, id)
	if r != nil {
		r.ProviderID, r.Identity, r.Policy = providerID, id, p
	}
	return r, err
}

// errDryRun rolls back TraceSSO's transaction.
var errDryRun = errors.New("dry run")

// TraceSSO is ResolveSSO that changes nothing: the provider test page's
// "what would this sign-in do". It runs the very same resolution inside a
// transaction that is always rolled back, so the answer (the account it
// would create or link, the administrator rights it would grant, and the
// trace) is the real one and no row is kept.
func (s *Service) TraceSSO(ctx context.Context, providerID string, id *sso.Identity) (*Resolution, error) {
	var r *Resolution
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		// The administrators first, as every guard of the last one locks
		// them: this one transaction holds what the real sign-in takes
		// and lets go of step by step, so it must take it in the same
		// order.
		if _, err := tx.LockAdmins(ctx); err != nil {
			return err
		}
		dry := *s
		dry.DB = tx
		var err error
		if r, err = dry.ResolveSSO(ctx, providerID, id); err != nil {
			return err
		}
		return errDryRun
	})
	if errors.Is(err, errDryRun) {
		return r, nil
	}
	return nil, err
}

// resolveGroups is resolveSSO between the provider's two group rules:
// a person outside allowed_groups is refused before any account is looked
// up or made, and the account signing in is synced with admin_groups.
func (s *Service) resolveGroups(ctx context.Context, p SSOPolicy, providerID string, id *sso.Identity) (*Resolution, error) {
	t := &Trace{}
	t.note(RuleClaims, VerdictPass, "%s", p.claimsDetail(id))
	if len(p.AllowedGroups) > 0 {
		if g, ok := id.Member(p.AllowedGroups); ok {
			t.note(RuleAllowedGroups, VerdictPass, "in %s, one of allowed_groups", g)
		} else {
			t.decide(RuleAllowedGroups, VerdictRefuse, "in none of allowed_groups (%s)", listed(p.AllowedGroups))
			return traced(refused(nil, ReasonNotInGroup), t), nil
		}
	}
	before := len(t.Steps)
	r, err := s.resolveSSO(ctx, p, providerID, id, t)
	if errors.Is(err, models.ErrIdentityTaken) || errors.Is(err, models.ErrEmailTaken) {
		t.Steps = t.Steps[:before] // what the lost race decided is not what happened
		r, err = s.resolveSSO(ctx, p, providerID, id, t)
	}
	if err != nil || r.Outcome != OutcomeSignIn {
		return traced(r, t), err
	}
	r.Admin, err = s.syncAdmin(ctx, p, providerID, id, r.User, t)
	if errors.Is(err, ErrLastAdmin) {
		return traced(refused(r.User, ReasonLastAdminGroup), t), nil
	}
	return traced(r, t), err
}

// traced hands t back with r.
func traced(r *Resolution, t *Trace) *Resolution {
	if r != nil {
		r.Trace = t
	}
	return r
}

// claimsDetail says what the claim mapping made of the provider's claims:
// the subject, the address and whether it counts, the name and groups.
func (p SSOPolicy) claimsDetail(id *sso.Identity) string {
	email := "none"
	switch {
	case id.Email != "" && !id.EmailExact:
		email = id.Email + " (a look-alike of the address as written: never links or creates by itself)"
	case id.Email != "" && id.EmailVerified:
		email = id.Email + " (verified by the provider)"
	case id.Email != "":
		email = id.Email + " (not verified by the provider)"
	}
	groups := "not decided by this provider"
	switch {
	case id.HasGroups:
		groups = fmt.Sprintf("%d: %s", len(id.Groups), listed(id.Groups))
	case p.GroupsClaim != "" || len(p.AdminGroups) > 0 || len(p.AllowedGroups) > 0:
		groups = "claim missing"
	}
	return fmt.Sprintf("subject %s (claim %s); email %s (claim %s); name %q (claim %s); groups %s (claim %s)",
		id.Subject, or(p.SubjectClaim, "sub"), email, or(p.EmailClaim, "email"),
		id.Name, or(p.NameClaim, "name"), groups, or(p.GroupsClaim, sso.DefaultGroupsClaim))
}

// SyncGroups applies the provider's admin_groups to u, who signs in
// through it after proving the account's password (a pending link): the
// identity's groups are read again from its claims. ErrLastAdmin refuses
// to demote the last administrator.
func (s *Service) SyncGroups(ctx context.Context, providerID string, id *sso.Identity, u *models.User) (AdminChange, error) {
	p := s.Policy(providerID)
	if !id.HasGroups {
		id.Groups, id.HasGroups = sso.GroupsIn(id.Claims, p.GroupsClaim)
	}
	if (len(p.AdminGroups) > 0 || len(p.AllowedGroups) > 0) && !id.HasGroups {
		return AdminChange{}, conflict("The provider's answer no longer shows your groups. Sign in again.")
	}
	if !p.allowed(id) {
		return AdminChange{}, &Error{Code: CodeForbidden, Msg: "You are not in a group allowed to sign in through this provider."}
	}
	return s.syncAdmin(ctx, p, providerID, id, u, nil)
}

// Policy is the provider's SSO policy; a provider without one links by
// password only and creates nothing.
func (s *Service) Policy(providerID string) SSOPolicy {
	if p, ok := s.Providers[providerID]; ok {
		if p.Link == "" {
			p.Link = LinkPassword
		}
		return p
	}
	return SSOPolicy{Link: LinkPassword}
}

func (s *Service) resolveSSO(ctx context.Context, p SSOPolicy, providerID string, id *sso.Identity, t *Trace) (*Resolution, error) {
	known, err := s.DB.IdentityBySubject(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		return s.returning(ctx, p, known, id, t)
	case !errors.Is(err, models.ErrNotFound):
		return nil, err
	}
	t.note(RuleIdentity, VerdictSkip, "no account is linked to issuer %s and subject %s yet", id.Issuer, id.Subject)
	if r, err := s.migrated(ctx, p, providerID, id, t); r != nil || err != nil {
		return r, err
	}
	email := sso.NormalizeEmail(id.Email)
	if !models.ValidEmail(email) {
		t.decide(RuleEmail, VerdictRefuse, "the claims give no usable email address to find or create the account by")
		return refused(nil, ReasonNoEmail), nil
	}
	u, err := s.DB.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, models.ErrNotFound):
		t.note(RuleEmail, VerdictSkip, "no account has the address %s", email)
		return s.createJIT(ctx, p, providerID, id, email, t)
	case err != nil:
		return nil, err
	}
	t.note(RuleEmail, VerdictPass, "account %d has the address %s", u.ID, email)
	// Look again now that the account exists: one created just in time for
	// this identity by a concurrent sign-in is committed with its identity.
	known, err = s.DB.IdentityBySubject(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		return s.returning(ctx, p, known, id, t)
	case !errors.Is(err, models.ErrNotFound):
		return nil, err
	case u.Disabled():
		t.decide(RuleDisabled, VerdictRefuse, "account %d is disabled", u.ID)
		return refused(u, ReasonDisabled), nil
	case p.Link == LinkNever:
		t.decide(RuleLink, VerdictRefuse, "link: never, so no identity is linked to an existing account")
		return refused(u, ReasonLinkNever), nil
	}
	trusted, hold := p.trusts(email, id.EmailVerified), linkHold(u, id, s.DB.Now())
	// An account with a password whose address was never proved (say, an
	// administrator mistyped it) may belong to someone else than whoever
	// the provider says has that address: its password proves who it is.
	if p.Link == LinkVerifiedEmail && trusted && hold == "" && !u.IsAdmin && (u.EmailVerified() || !u.HasPassword()) {
		t.decide(RuleLink, VerdictLink, "link: verified_email, and the provider vouches for %s (verified, a domain it is trusted for)", email)
		return s.link(ctx, providerID, u, id, true)
	}
	if u.HasPassword() {
		t.decide(RuleLink, VerdictNeedPassword, "the account has a password, which must prove it is the same person: %s", p.whyNoAutoLink(u, trusted, hold))
		return &Resolution{Outcome: OutcomeNeedPassword, User: u}, nil
	}
	return s.ssoOnly(ctx, providerID, u, id, trusted, hold, t)
}

// whyNoAutoLink says why an account with a password is not linked to a
// new identity by its address alone.
func (p SSOPolicy) whyNoAutoLink(u *models.User, trusted bool, hold Reason) string {
	switch {
	case p.Link != LinkVerifiedEmail:
		return "link: " + p.Link.String() + " links only with the password"
	case !trusted:
		return "the provider does not vouch for the address (not verified, or not a domain in its email_domains)"
	case hold != "":
		return "held back: " + hold.String()
	case u.IsAdmin:
		return "administrators are never linked without their password"
	}
	return "the account's address was never verified"
}

// linkHold is why an identity may not be linked to u, the account with its
// email, automatically, even by a provider trusted for that email, or ""
// when nothing holds it back: the claim is a look-alike of the address, or
// the address is new. The person can still prove the account's password.
func linkHold(u *models.User, id *sso.Identity, now time.Time) Reason {
	switch {
	case !id.EmailExact:
		return ReasonEmailLookalike
	case u.EmailChangedWithin(EmailChangeCooldown, now):
		return ReasonEmailChanged
	}
	return ""
}

// migrated links a new identity to the account of the old provider's
// identity with exactly its subject, during the provider's migration
// window; nil when the window is closed or no identity matches. Never by
// email: only the stable key the operator chose to carry over.
func (s *Service) migrated(ctx context.Context, p SSOPolicy, providerID string, id *sso.Identity, t *Trace) (*Resolution, error) {
	if p.MigrateFrom == "" {
		return nil, nil
	}
	if !s.DB.Now().Before(p.MigrateEnd) {
		t.note(RuleMigration, VerdictSkip, "the window from %s closed at %s", p.MigrateFrom, p.MigrateEnd.UTC().Format(time.DateTime))
		return nil, nil
	}
	old, err := s.DB.ProviderIdentityBySubject(ctx, p.MigrateFrom, id.Subject)
	if errors.Is(err, models.ErrNotFound) {
		t.note(RuleMigration, VerdictSkip, "no identity of %s has the subject %s", p.MigrateFrom, id.Subject)
		return nil, nil
	}
	if errors.Is(err, models.ErrAmbiguous) {
		t.note(RuleMigration, VerdictSkip, "identities of %s under two issuers have the subject %s: carried over to neither", p.MigrateFrom, id.Subject)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.DB.UserByID(ctx, old.UserID)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Disabled():
		t.decide(RuleDisabled, VerdictRefuse, "account %d (%s's identity) is disabled", u.ID, p.MigrateFrom)
		return refused(u, ReasonDisabled), nil
	case u.IsAdmin && u.HasPassword():
		// Claims never link an administrator without the password: a
		// subject claim the new provider lets people choose must not
		// reach one.
		t.decide(RuleMigration, VerdictNeedPassword, "%s's identity belongs to administrator %d, who must prove the password", p.MigrateFrom, u.ID)
		return &Resolution{Outcome: OutcomeNeedPassword, User: u}, nil
	case u.IsAdmin:
		t.decide(RuleMigration, VerdictRefuse, "%s's identity belongs to administrator %d, who has no password to prove", p.MigrateFrom, u.ID)
		return refused(u, ReasonAdminNoProof), nil
	}
	t.decide(RuleMigration, VerdictLink, "the subject is %s's identity's, of account %d: linked beside it until %s", p.MigrateFrom, u.ID, p.MigrateEnd.UTC().Format(time.DateTime))
	r, err := s.link(ctx, providerID, u, id, false)
	if r != nil {
		r.MigratedFrom = p.MigrateFrom
	}
	return r, err
}

// returning signs in the account an identity is already linked to.
func (s *Service) returning(ctx context.Context, p SSOPolicy, known *models.Identity, id *sso.Identity, t *Trace) (*Resolution, error) {
	u, err := s.DB.UserByID(ctx, known.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		t.decide(RuleDisabled, VerdictRefuse, "the identity's account %d is disabled", u.ID)
		return refused(u, ReasonDisabled), nil
	}
	t.decide(RuleIdentity, VerdictSignIn, "the identity (issuer %s, subject %s) is linked to account %d (%s), whatever the email says now", id.Issuer, id.Subject, u.ID, u.Email)
	email := sso.NormalizeEmail(id.Email)
	if !models.ValidEmail(email) { // kept only when it is an address (never NUL or broken UTF-8)
		email = ""
	}
	if err := s.DB.TouchIdentity(ctx, known.ID, email, string(id.Claims)); err != nil {
		return nil, err
	}
	if err := s.keepRefresh(ctx, p, known, id.RefreshToken); err != nil {
		return nil, err
	}
	if err := s.followName(ctx, u, id); err != nil {
		return nil, err
	}
	return &Resolution{Outcome: OutcomeSignIn, User: u}, nil
}

// followName gives u the provider's display name at a sign-in, unless the
// name was set in gatehouse (models.User.NameLocal) or the provider's is
// not one gatehouse accepts (CheckName).
func (s *Service) followName(ctx context.Context, u *models.User, id *sso.Identity) error {
	if u.NameLocal || id.Name == "" || id.Name == u.Name {
		return nil
	}
	name, err := CheckName(id.Name)
	if err != nil || name == "" {
		return nil
	}
	changed, err := s.DB.FollowProviderName(ctx, u.ID, name)
	if changed {
		u.Name = name
	}
	return err
}

// ssoOnly handles an account with no password: there is nothing to prove
// ownership with, so it links only an account pre-provisioned for SSO (no
// identity yet) to a provider trusted for its email when nothing holds the
// link back (linkHold), and otherwise points to the providers already
// linked.
func (s *Service) ssoOnly(ctx context.Context, providerID string, u *models.User, id *sso.Identity, trusted bool, hold Reason, t *Trace) (*Resolution, error) {
	linked, err := s.DB.UserIdentities(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if len(linked) > 0 {
		r := &Resolution{Outcome: OutcomeUseLinked, User: u}
		for _, l := range linked {
			if !slices.Contains(r.Providers, l.ProviderID) {
				r.Providers = append(r.Providers, l.ProviderID)
			}
		}
		t.decide(RuleLink, VerdictUseLinked, "the account has no password and signs in with %s: not linked to another identity by its address", strings.Join(r.Providers, ", "))
		return r, nil
	}
	switch {
	case u.IsAdmin:
		t.decide(RuleLink, VerdictRefuse, "an administrator without a password is never linked by address")
		return refused(u, ReasonAdminNoProof), nil
	case !trusted:
		t.decide(RuleLink, VerdictRefuse, "the account has no password, and the provider does not vouch for its address (not verified, or not a domain in its email_domains)")
		return refused(u, ReasonNotProvisioned), nil
	case hold != "":
		t.decide(RuleLink, VerdictRefuse, "held back: %s", hold)
		return refused(u, hold), nil
	}
	t.decide(RuleLink, VerdictLink, "an account made for SSO (no password, no identity yet), and the provider vouches for its address")
	return s.link(ctx, providerID, u, id, true)
}

// createJIT creates an account from the claims when the provider allows it.
func (s *Service) createJIT(ctx context.Context, p SSOPolicy, providerID string, id *sso.Identity, email string, t *Trace) (*Resolution, error) {
	if !p.AutoCreate {
		t.decide(RuleAutoCreate, VerdictRefuse, "auto_create is off: no account is made for %s", email)
		return refused(nil, ReasonNoAccount), nil
	}
	if !id.EmailExact { // the account would take an address the person was not given
		t.decide(RuleAutoCreate, VerdictRefuse, "the email claim is a look-alike of %s: no account is made with an address the person was not given", email)
		return refused(nil, ReasonEmailLookalike), nil
	}
	t.decide(RuleAutoCreate, VerdictCreate, "auto_create: a new account for %s, linked to this identity", email)
	// The account and its identity are stored together: an account left
	// without its identity would look pre-provisioned to the next sign-in.
	var r *Resolution
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		u := &models.User{Email: email, Name: jitName(id.Name)}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		txs := *s
		txs.DB = tx
		var err error
		r, err = txs.link(ctx, providerID, u, id, p.trusts(email, id.EmailVerified))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create account for SSO sign-in: %w", err)
	}
	r.Created = true
	return r, nil
}

// jitName fits the provider's display name to what CheckName accepts:
// valid text on one line (line breaks and controls become spaces), without
// invisible characters, at most MaxNameLen characters.
func jitName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.TrimSpace(sso.RemoveInvisible(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, name)))
	if r := []rune(name); len(r) > MaxNameLen {
		name = strings.TrimSpace(string(r[:MaxNameLen]))
	}
	return name
}

// link attaches the identity to u, whose address it carries, and deletes
// u's invitation link: the invited person signed in. With vouched (a
// provider trusted for the address says it is verified) the address
// counts as verified too.
func (s *Service) link(ctx context.Context, providerID string, u *models.User, id *sso.Identity, vouched bool) (*Resolution, error) {
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		row := models.NewIdentity(u.ID, providerID, id)
		if err := tx.CreateIdentity(ctx, row); err != nil {
			return err
		}
		txs := *s
		txs.DB = tx
		if err := txs.keepRefresh(ctx, s.Policy(providerID), row, id.RefreshToken); err != nil {
			return err
		}
		if vouched {
			if err := tx.MarkEmailVerified(ctx, u.ID, u.Email); err != nil {
				return err
			}
		}
		return tx.DeleteEmailLinks(ctx, u.ID, models.LinkInvite)
	})
	if err != nil {
		return nil, err
	}
	return &Resolution{Outcome: OutcomeSignIn, User: u, Linked: true}, nil
}

// LinkWithPassword links a pending identity to the account after checking
// its password: the person proved they own both.
func (s *Service) LinkWithPassword(ctx context.Context, l *models.PendingLink, pw string) (*models.User, error) {
	target, err := s.DB.UserByID(ctx, l.UserID)
	if err != nil {
		return nil, err
	}
	u, err := s.Authenticate(ctx, target.Email, pw)
	if err != nil {
		return nil, err
	}
	// The password alone must not sign in to an account that asks for a
	// second factor: its owner signs in fully, then links the provider.
	if second, err := s.HasSecondFactor(ctx, u.ID); err != nil {
		return nil, err
	} else if second {
		return nil, ErrLinkNeedsMFA
	}
	row := models.NewIdentity(u.ID, l.ProviderID, l.Identity())
	if err := s.DB.CreateIdentity(ctx, row); err != nil {
		return nil, err
	}
	// The parked token was sealed for this very identity.
	if err := s.keepSealed(ctx, s.Policy(l.ProviderID), row, l.RefreshToken); err != nil {
		return nil, err
	}
	return u, nil
}

// AttachIdentity links an SSO identity to the signed-in account u (the
// account page's "link another provider"), never to another account. An
// identity already linked is refused with ErrIdentityLinkedHere or
// ErrIdentityLinkedElsewhere.
func (s *Service) AttachIdentity(ctx context.Context, u *models.User, providerID string, id *sso.Identity) error {
	row := models.NewIdentity(u.ID, providerID, id)
	err := s.DB.CreateIdentity(ctx, row)
	if err == nil {
		return s.keepRefresh(ctx, s.Policy(providerID), row, id.RefreshToken)
	}
	if !errors.Is(err, models.ErrIdentityTaken) {
		return err
	}
	known, lookup := s.DB.IdentityBySubject(ctx, id.Issuer, id.Subject)
	if lookup == nil && known.UserID == u.ID {
		return ErrIdentityLinkedHere
	}
	return ErrIdentityLinkedElsewhere
}

// OwnsIdentity reports whether the SSO identity is linked to the account
// with userID: a re-authentication through SSO must come back as the same
// person, not merely anyone the provider knows.
func (s *Service) OwnsIdentity(ctx context.Context, userID int64, id *sso.Identity) (bool, error) {
	known, err := s.DB.IdentityBySubject(ctx, id.Issuer, id.Subject)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return known.UserID == userID, nil
}

func refused(u *models.User, reason Reason) *Resolution {
	return &Resolution{Outcome: OutcomeRefused, User: u, Reason: reason}
}
