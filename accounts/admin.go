package accounts

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse/models"
)

// guardLastAdmin refuses to take away the only enabled administrator. It
// locks every enabled administrator's row before it counts them (a no-op
// on SQLite, whose transactions already exclude each other), so it runs
// first in its transaction: two admins demoting each other at the same
// moment on PostgreSQL take turns, and the second sees one admin left.
func guardLastAdmin(ctx context.Context, tx *models.DB, id int64) error {
	admins, err := tx.LockAdmins(ctx)
	if err != nil {
		return err
	}
	if len(admins) == 1 && admins[0] == id {
		return ErrLastAdmin
	}
	return nil
}

// UpdateUser edits name, email and the admin flag. Demoting the last
// enabled administrator is refused. A new email is stamped
// (EmailChangedAt): for EmailChangeCooldown no SSO identity is linked to
// the account by it. It is not verified (an administrator typed it), the
// links mailed to the old address stop working, and the old address is
// told.
func (s *Service) UpdateUser(ctx context.Context, id int64, name, email string, admin bool) (*models.User, error) {
	email, err := checkEmail(email)
	if err != nil {
		return nil, err
	}
	if name, err = CheckName(name); err != nil {
		return nil, err
	}
	var out *models.User
	err = s.send(ctx, func(tx *models.DB) error {
		if !admin {
			if err := guardLastAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		before, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		if !admin && s.grantsAdmin(before.AdminVia) {
			return errAdminViaProvider(before.AdminVia)
		}
		if err := tx.UpdateUser(ctx, id, name, email, admin); err != nil {
			if errors.Is(err, models.ErrEmailTaken) {
				return conflict("Another account already uses " + email + ".")
			}
			return err
		}
		if before.Email != email {
			if err := s.emailChangedByAdmin(ctx, tx, before, email); err != nil {
				return err
			}
		}
		out, err = tx.UserByID(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// emailChangedByAdmin follows an administrator's change of before's
// address to email in tx: the links mailed to the old address (password
// reset, invitation, a confirmation waiting) stop working, and the old
// address is told (the email_changed notice).
func (s *Service) emailChangedByAdmin(ctx context.Context, tx *models.DB, before *models.User, email string) error {
	if err := tx.DeleteAccountLinks(ctx, before.ID); err != nil {
		return err
	}
	notice, err := s.emailChangedNotice(before, email, "by an administrator")
	if err != nil {
		return err
	}
	return enqueue(ctx, tx, notice)
}

// SetDisabled disables (ending every session at once) or enables an
// account. Administrators cannot disable themselves or the last admin.
func (s *Service) SetDisabled(ctx context.Context, actor *models.User, id int64, disabled bool) error {
	if disabled && actor.ID == id {
		return ErrSelf
	}
	return s.DB.Tx(ctx, func(tx *models.DB) error {
		if disabled {
			if err := guardLastAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.UserByID(ctx, id); err != nil {
			return err
		}
		return setDisabled(ctx, tx, id, disabled)
	})
}

// setDisabled disables (ending its sessions and every link mailed for it,
// so none works if it is enabled again) or enables the account id in tx.
func setDisabled(ctx context.Context, tx *models.DB, id int64, disabled bool) error {
	if disabled {
		if err := tx.DeleteAccountLinks(ctx, id); err != nil {
			return err
		}
		if err := tx.DeletePendingMFA(ctx, id); err != nil {
			return err
		}
	}
	return tx.SetDisabled(ctx, id, disabled)
}

// DeleteUser deletes an account with its identities and sessions, under the
// same guard rails as disabling.
func (s *Service) DeleteUser(ctx context.Context, actor *models.User, id int64) (*models.User, error) {
	if actor.ID == id {
		return nil, ErrSelf
	}
	var deleted *models.User
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		if err := guardLastAdmin(ctx, tx, id); err != nil {
			return err
		}
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		deleted = u
		return tx.DeleteUser(ctx, id)
	})
	return deleted, err
}

// RemovePassword makes an account SSO-only and ends its sessions; how
// tells the owner who did it.
func (s *Service) RemovePassword(ctx context.Context, id int64, how string) error {
	return s.replacePassword(ctx, id, passwordChange{how: how})
}

// Unlink removes an identity and ends the sessions it started. With
// keepLogin (the account page) it refuses to remove the account's last way
// to sign in.
// The check and the delete share one transaction holding the account's row
// locked, so two concurrent unlinks (or an unlink and a password removal)
// cannot each see the other way to sign in and remove both.
func (s *Service) Unlink(ctx context.Context, userID, identityID int64, keepLogin bool) (*models.Identity, error) {
	var out *models.Identity
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		if keepLogin {
			u, err := tx.LockUser(ctx, userID)
			if err != nil {
				return err
			}
			ids, err := tx.UserIdentities(ctx, userID)
			if err != nil {
				return err
			}
			if !u.HasPassword() && len(ids) <= 1 {
				return ErrLastLogin
			}
		}
		var err error
		out, err = tx.DeleteIdentity(ctx, userID, identityID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ChangePassword checks the current password, sets the new one and ends the
// user's other sessions (keep is the current session's token hash).
func (s *Service) ChangePassword(ctx context.Context, u *models.User, current, next, keep string) error {
	if u.HasPassword() {
		if _, err := s.Authenticate(ctx, u.Email, current); err != nil {
			return err
		}
	}
	h, err := s.hash(next)
	if err != nil {
		return err
	}
	return s.replacePassword(ctx, u.ID, passwordChange{hash: &h, keep: keep, how: "from the account page"})
}

// UpdateName changes an account's display name (the account page), under
// the rules of CheckName. It returns the name as stored.
func (s *Service) UpdateName(ctx context.Context, id int64, name string) (string, error) {
	name, err := CheckName(name)
	if err != nil {
		return "", err
	}
	return name, s.DB.UpdateUserName(ctx, id, name)
}

// DisableBreakGlass disables an account and ends its sessions without the
// console's guard rails: it is the command line's path for an operator
// with access to the server, who may need to stop even the last
// administrator (a stolen password) and then create a new one.
func (s *Service) DisableBreakGlass(ctx context.Context, id int64) error {
	return s.DB.Tx(ctx, func(tx *models.DB) error { return setDisabled(ctx, tx, id, true) })
}
