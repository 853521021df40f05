package accounts

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/models"
)

// Guard-rail refusals, shown to the administrator as they are.
var (
	ErrLastAdmin = &ValidationError{"This is the last enabled administrator: make another administrator first."}
	ErrSelf      = &ValidationError{"You cannot do that to your own account."}
	ErrLastLogin = &ValidationError{"This is the account's only way to sign in: add a password or another provider first."}
)

// guardLastAdmin refuses to take away the only enabled administrator.
func guardLastAdmin(ctx context.Context, tx *models.DB, target *models.User) error {
	if !target.IsAdmin || target.Disabled() {
		return nil
	}
	n, err := tx.CountUsers(ctx, true)
	if err != nil {
		return err
	}
	if n <= 1 {
		return ErrLastAdmin
	}
	return nil
}

// UpdateUser edits name, email and the admin flag. Demoting the last
// enabled administrator is refused.
func (s *Service) UpdateUser(ctx context.Context, id int64, name, email string, admin bool) (*models.User, error) {
	email = models.NormalizeEmail(email)
	name = strings.TrimSpace(name)
	switch {
	case !models.ValidEmail(email):
		return nil, &ValidationError{"Enter a valid email address."}
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > 200:
		return nil, &ValidationError{"Names are at most 200 characters of text."}
	}
	var out *models.User
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		if !admin {
			if err := guardLastAdmin(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := tx.UpdateUser(ctx, id, name, email, admin); err != nil {
			if errors.Is(err, models.ErrEmailTaken) {
				return &ValidationError{"Another account already uses " + email + "."}
			}
			return err
		}
		out, err = tx.UserByID(ctx, id)
		return err
	})
	return out, err
}

// SetDisabled disables (ending every session at once) or enables an
// account. Administrators cannot disable themselves or the last admin.
func (s *Service) SetDisabled(ctx context.Context, actor *models.User, id int64, disabled bool) error {
	if disabled && actor.ID == id {
		return ErrSelf
	}
	return s.DB.Tx(ctx, func(tx *models.DB) error {
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		if disabled {
			if err := guardLastAdmin(ctx, tx, u); err != nil {
				return err
			}
		}
		return tx.SetDisabled(ctx, id, disabled)
	})
}

// DeleteUser deletes an account with its identities and sessions, under the
// same guard rails as disabling.
func (s *Service) DeleteUser(ctx context.Context, actor *models.User, id int64) (*models.User, error) {
	if actor.ID == id {
		return nil, ErrSelf
	}
	var deleted *models.User
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		if err := guardLastAdmin(ctx, tx, u); err != nil {
			return err
		}
		deleted = u
		return tx.DeleteUser(ctx, id)
	})
	return deleted, err
}

// RemovePassword makes an account SSO-only and ends its sessions.
func (s *Service) RemovePassword(ctx context.Context, id int64) error {
	if err := s.DB.SetPasswordHash(ctx, id, nil); err != nil {
		return err
	}
	_, err := s.DB.DeleteUserSessions(ctx, id, "")
	return err
}

// Unlink removes an identity and ends the sessions it started. With
// keepLogin (the account page) it refuses to remove the account's last way
// to sign in.
// The check and the delete share one (write-locked) transaction, so two
// concurrent unlinks cannot each see the other identity and remove both.
func (s *Service) Unlink(ctx context.Context, userID, identityID int64, keepLogin bool) (*models.Identity, error) {
	var out *models.Identity
	err := s.DB.Tx(ctx, func(tx *models.DB) error {
		if keepLogin {
			u, err := tx.UserByID(ctx, userID)
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
	h, err := s.Hasher.Hash(next)
	if err != nil {
		return &ValidationError{policyMessage(err, s.Hasher)}
	}
	if err := s.DB.SetPasswordHash(ctx, u.ID, &h); err != nil {
		return err
	}
	_, err = s.DB.DeleteUserSessions(ctx, u.ID, keep)
	return err
}
