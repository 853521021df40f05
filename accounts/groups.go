package accounts

// Groups from a provider decide who may sign in through it
// (allowed_groups) and who is an administrator (admin_groups). The sync
// runs at every sign-in through the provider, the first included, after
// the account is resolved and before its session starts, so a promotion or
// a demotion takes effect at that sign-in; the sso package has already
// refused a sign-in whose claims lack the groups (fail closed).

import (
	"context"
	"strings"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sso"
)

// Group refusals of ResolveSSO.
const (
	// ReasonNotInGroup: the provider's allowed_groups does not include one
	// of the person's groups.
	ReasonNotInGroup Reason = "not_in_allowed_groups"
	// ReasonLastAdminGroup: the provider's admin_groups would demote the
	// last enabled administrator.
	ReasonLastAdminGroup Reason = "last_admin_not_in_admin_groups"
)

// AdminChange is what a group sync did to the admin flag.
type AdminChange struct {
	Granted, Revoked bool
	Via              string // "provider: group" that grants it
}

// allowed reports whether the person may sign in through the provider.
func (p SSOPolicy) allowed(id *sso.Identity) bool {
	if len(p.AllowedGroups) == 0 {
		return true
	}
	_, ok := id.Member(p.AllowedGroups)
	return ok
}

// ErrAdminViaProvider refuses to demote by hand an administrator a
// provider grants: its next sign-in would grant it again.
func errAdminViaProvider(via string) error {
	return conflict("This account is an administrator through " + via + ": remove it from that group at the provider, and its next sign-in ends it.")
}

// grantsAdmin reports whether the provider named in an account's AdminVia
// ("acme: gatehouse-admins") still decides administrators: configured,
// with admin_groups. One removed, or without them, no longer holds the
// account's admin flag against the console.
func (s *Service) grantsAdmin(via string) bool {
	pid, _, ok := strings.Cut(via, ": ")
	if !ok {
		return false
	}
	p, configured := s.Providers[pid]
	return configured && len(p.AdminGroups) > 0
}

// syncAdmin makes u an administrator, or not, as the provider's
// admin_groups and the person's groups say, in one transaction that holds
// the administrators' rows (the last one is never demoted: the sign-in is
// refused instead). u is updated in place.
func (s *Service) syncAdmin(ctx context.Context, p SSOPolicy, providerID string, id *sso.Identity, u *models.User, t *Trace) (AdminChange, error) {
	var ch AdminChange
	if len(p.AdminGroups) == 0 {
		t.note(RuleAdminGroups, VerdictSkip, "the provider has no admin_groups: administrator rights are the console's")
		return ch, nil
	}
	group, member := id.Member(p.AdminGroups)
	if member {
		ch.Via = providerID + ": " + group
	}
	if u.IsAdmin == member && u.AdminVia == ch.Via {
		t.noteAdmin(VerdictKeep, member, group, p.AdminGroups)
		return ch, nil
	}
	var was bool
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		// Decide from the rows as they are now, held: another sign-in or
		// an administrator may have changed them since u was read. The
		// administrators are locked first, in one order, as every guard
		// of the last administrator does, so two syncs cannot deadlock.
		admins, err := tx.LockAdmins(ctx)
		if err != nil {
			return err
		}
		cur, err := tx.LockUser(ctx, u.ID)
		if err != nil {
			return err
		}
		was = cur.IsAdmin
		if !member && was && !cur.Disabled() && len(admins) == 1 && admins[0] == u.ID {
			t.decide(RuleAdminGroups, VerdictRefuse, "in none of admin_groups (%s), but the account is the last administrator: the sign-in is refused rather than leave none", listed(p.AdminGroups))
			return ErrLastAdmin
		}
		if was == member && cur.AdminVia == ch.Via {
			return nil
		}
		return tx.SetAdmin(ctx, u.ID, member, ch.Via)
	})
	if err != nil {
		return AdminChange{}, err
	}
	ch.Granted, ch.Revoked = member && !was, !member && was
	u.IsAdmin, u.AdminVia = member, ch.Via
	switch {
	case ch.Granted:
		t.noteAdmin(VerdictGrant, member, group, p.AdminGroups)
	case ch.Revoked:
		t.noteAdmin(VerdictRevoke, member, group, p.AdminGroups)
	default:
		t.noteAdmin(VerdictKeep, member, group, p.AdminGroups)
	}
	return ch, nil
}

// noteAdmin records what admin_groups did: v for a member of group, or
// for someone in none of groups.
func (t *Trace) noteAdmin(v Verdict, member bool, group string, groups []string) {
	if member {
		t.note(RuleAdminGroups, v, "administrator: in %s, one of admin_groups", group)
		return
	}
	t.note(RuleAdminGroups, v, "not an administrator: in none of admin_groups (%s)", listed(groups))
}
