package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/models"
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

// SSOPolicy is one provider's rules for SSO sign-in.
type SSOPolicy struct {
	ProviderID   string
	Link         LinkPolicy
	EmailDomains []string // domains the provider is authoritative for
	AutoCreate   bool
}

// trusts reports whether the provider may vouch for email: it says the
// address is verified (a JSON true) and the domain is one it is configured
// as authoritative for. A provider that lets users type any address must not
// be able to claim someone else's account.
func (p SSOPolicy) trusts(email string, verified bool) bool {
	return verified && slices.Contains(p.EmailDomains, models.EmailDomain(email))
}

// SSOIdentity is what a validated SSO sign-in says about the person.
type SSOIdentity struct {
	Issuer, Subject string
	Email           string // normalised
	EmailVerified   bool
	Name            string
	Claims          string // JSON snapshot
}

// Outcomes of ResolveSSO.
const (
	OutcomeSignIn       = "sign_in"       // User may be signed in
	OutcomeNeedPassword = "need_password" // prove User's password to link
	OutcomeUseLinked    = "use_linked"    // User is SSO-only: sign in with a provider already linked (Providers)
	OutcomeRefused      = "refused"       // Reason says why
)

// Refusal reasons (also the audit detail).
const (
	ReasonLinkNever      = "link_never"
	ReasonNoAccount      = "no_account"
	ReasonNoEmail        = "no_email"
	ReasonAdminNoProof   = "admin_needs_password"
	ReasonNotProvisioned = "sso_only_untrusted"
)

// Resolution is the decision for one SSO sign-in.
type Resolution struct {
	Outcome   string
	User      *models.User
	Reason    string
	Created   bool     // the account was created just in time
	Linked    bool     // the identity was linked just now
	Providers []string // for OutcomeUseLinked: provider IDs linked to User
}

// ResolveSSO decides who an SSO sign-in is. A known (issuer, subject) is its
// linked account, whatever the email says now. A new identity is linked to
// the account with the same email only as the provider's policy allows;
// administrators are never linked without their password.
//
// Concurrent first sign-ins of one person (two tabs, a double click) race to
// create or link: the loser's insert fails on a unique key, and resolving
// once more finds what the winner stored.
func (s *Service) ResolveSSO(ctx context.Context, p SSOPolicy, id SSOIdentity) (*Resolution, error) {
	r, err := s.resolveSSO(ctx, p, id)
	if errors.Is(err, models.ErrIdentityTaken) || errors.Is(err, models.ErrEmailTaken) {
		r, err = s.resolveSSO(ctx, p, id)
	}
	return r, err
}

func (s *Service) resolveSSO(ctx context.Context, p SSOPolicy, id SSOIdentity) (*Resolution, error) {
	known, err := s.DB.IdentityBySubject(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		return s.returning(ctx, known, id)
	case !errors.Is(err, models.ErrNotFound):
		return nil, err
	}
	email := models.NormalizeEmail(id.Email)
	if !models.ValidEmail(email) {
		return refused(nil, ReasonNoEmail), nil
	}
	u, err := s.DB.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return s.createJIT(ctx, p, id, email)
	case err != nil:
		return nil, err
	}
	// Look again now that the account exists: one created just in time for
	// this identity by a concurrent sign-in is committed with its identity.
	known, err = s.DB.IdentityBySubject(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		return s.returning(ctx, known, id)
	case !errors.Is(err, models.ErrNotFound):
		return nil, err
	case u.Disabled():
		return refused(u, ReasonDisabled), nil
	case p.Link == LinkNever:
		return refused(u, ReasonLinkNever), nil
	}
	trusted := p.trusts(email, id.EmailVerified)
	if p.Link == LinkVerifiedEmail && trusted && !u.IsAdmin {
		return s.link(ctx, p, u, id)
	}
	if u.HasPassword() {
		return &Resolution{Outcome: OutcomeNeedPassword, User: u}, nil
	}
	return s.ssoOnly(ctx, p, u, id, trusted)
}

// returning signs in the account an identity is already linked to.
func (s *Service) returning(ctx context.Context, known *models.Identity, id SSOIdentity) (*Resolution, error) {
	u, err := s.DB.UserByID(ctx, known.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		return refused(u, ReasonDisabled), nil
	}
	if err := s.DB.TouchIdentity(ctx, known.ID, models.NormalizeEmail(id.Email), id.Claims); err != nil {
		return nil, err
	}
	return &Resolution{Outcome: OutcomeSignIn, User: u}, nil
}

// ssoOnly handles an account with no password: there is nothing to prove
// ownership with, so it links only an account pre-provisioned for SSO (no
// identity yet) to a provider trusted for its email, and otherwise points to
// the providers already linked.
func (s *Service) ssoOnly(ctx context.Context, p SSOPolicy, u *models.User, id SSOIdentity, trusted bool) (*Resolution, error) {
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
		return r, nil
	}
	switch {
	case u.IsAdmin:
		return refused(u, ReasonAdminNoProof), nil
	case !trusted:
		return refused(u, ReasonNotProvisioned), nil
	}
	return s.link(ctx, p, u, id)
}

// createJIT creates an account from the claims when the provider allows it.
func (s *Service) createJIT(ctx context.Context, p SSOPolicy, id SSOIdentity, email string) (*Resolution, error) {
	if !p.AutoCreate {
		return refused(nil, ReasonNoAccount), nil
	}
	// The account and its identity are stored together: an account left
	// without its identity would look pre-provisioned to the next sign-in.
	var r *Resolution
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		u := &models.User{Email: email, Name: jitName(id.Name)}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		var err error
		r, err = (&Service{DB: tx}).link(ctx, p, u, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create account for SSO sign-in: %w", err)
	}
	r.Created = true
	return r, nil
}

// jitName fits the provider's display name to what an account name may be
// (valid text, at most 200 characters, as CreateUser requires).
func jitName(name string) string {
	name = strings.ToValidUTF8(strings.TrimSpace(name), "\uFFFD")
	if r := []rune(name); len(r) > 200 {
		name = strings.TrimSpace(string(r[:200]))
	}
	return name
}

// link attaches the identity to u.
func (s *Service) link(ctx context.Context, p SSOPolicy, u *models.User, id SSOIdentity) (*Resolution, error) {
	err := s.DB.CreateIdentity(ctx, &models.Identity{
		UserID: u.ID, ProviderID: p.ProviderID, Issuer: id.Issuer, Subject: id.Subject,
		Email: models.NormalizeEmail(id.Email), Claims: id.Claims,
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
	err = s.DB.CreateIdentity(ctx, &models.Identity{
		UserID: u.ID, ProviderID: l.ProviderID, Issuer: l.Issuer, Subject: l.Subject, Email: l.Email, Claims: l.Claims,
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func refused(u *models.User, reason string) *Resolution {
	return &Resolution{Outcome: OutcomeRefused, User: u, Reason: reason}
}
