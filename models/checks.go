package models

// The offline check's rows: each identity of a provider with
// offline_check keeps its sealed refresh token and the time its next check
// is due (identities.check_at). A check is claimed by moving check_at
// forward in one statement, so replicas checking at once never check one
// identity twice.

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// EventIdentityRevoked: the provider said, at an offline check, that the
// person may no longer sign in (invalid_grant, or UserInfo 401); the
// identity's sessions were ended. Its detail is the provider's answer.
const EventIdentityRevoked EventKind = "identity.revoked"

// KeepRefresh stores identity id's sealed refresh token and when its next
// offline check is due.
func (db *DB) KeepRefresh(ctx context.Context, id int64, sealed []byte, checkAt time.Time) error {
	err := db.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ?", id).
		Updates(map[string]any{"refresh_token": sealed, "check_at": checkAt.UTC()}).Error
	if err != nil {
		return fmt.Errorf("keep refresh token of identity %d: %w", id, err)
	}
	return nil
}

// DueChecks lists at most limit identities of providerID whose offline
// check is due at now and that have a refresh token, the longest due
// first.
func (db *DB) DueChecks(ctx context.Context, providerID string, now time.Time, limit int) ([]Identity, error) {
	var ids []Identity
	err := db.gorm.WithContext(ctx).Where("provider_id = ? AND check_at IS NOT NULL AND check_at <= ? AND refresh_token IS NOT NULL", providerID, now.UTC()).
		Order("check_at, id").Limit(limit).Find(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("list due checks of %s: %w", providerID, err)
	}
	return ids, nil
}

// ClaimCheck moves identity id's next check from was (as DueChecks read
// it) to next, and reports whether this call did: another replica that
// claimed it first has moved it already.
func (db *DB) ClaimCheck(ctx context.Context, id int64, was, next time.Time) (bool, error) {
	res := db.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ? AND check_at = ?", id, was.UTC()).Update("check_at", next.UTC())
	if res.Error != nil {
		return false, fmt.Errorf("claim check of identity %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// IdentitySessions counts the sessions signed in through (issuer, subject).
func (db *DB) IdentitySessions(ctx context.Context, issuer, subject string) (int64, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Model(&Session{}).Where("issuer = ? AND subject = ?", issuer, subject).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count sessions of an identity: %w", err)
	}
	return n, nil
}

// StopChecks clears identity id's next check: it has no live session to
// end.
func (db *DB) StopChecks(ctx context.Context, id int64) error {
	if err := db.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ?", id).Update("check_at", nil).Error; err != nil {
		return fmt.Errorf("stop checks of identity %d: %w", id, err)
	}
	return nil
}

// ConfirmIdentity records a successful offline check, with the refresh
// token to keep (the provider may have rotated it).
func (db *DB) ConfirmIdentity(ctx context.Context, id int64, sealed []byte) error {
	err := db.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ?", id).
		Updates(map[string]any{"refresh_token": sealed, "confirmed_at": db.now(), "revoked_at": nil}).Error
	if err != nil {
		return fmt.Errorf("confirm identity %d: %w", id, err)
	}
	return nil
}

// RevokeIdentity records the provider's definite no for identity id: its
// refresh token and next check go, revoked_at is now, and every session
// signed in through it ends. It returns how many sessions ended.
func (db *DB) RevokeIdentity(ctx context.Context, id *Identity) (int64, error) {
	var ended int64
	err := db.Tx(ctx, func(tx *DB) error {
		err := tx.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ?", id.ID).
			Updates(map[string]any{"refresh_token": nil, "check_at": nil, "revoked_at": db.now()}).Error
		if err != nil {
			return fmt.Errorf("revoke identity %d: %w", id.ID, err)
		}
		ended, err = tx.DeleteSessionsBySID(ctx, id.Issuer, id.Subject, "")
		return err
	})
	return ended, err
}

// StaleSSOAccounts lists at most limit accounts to disable under
// providerID's disable_after: enabled, not administrators, without a
// password, with an identity of providerID, not changed since before (an
// administrator enabling it again gives it another period), and neither
// signed in nor confirmed by any provider since before.
func (db *DB) StaleSSOAccounts(ctx context.Context, providerID string, before time.Time, limit int) ([]User, error) {
	var us []User
	err := db.stale(db.gorm.WithContext(ctx), providerID, before).Order("id").Limit(limit).Find(&us).Error
	if err != nil {
		return nil, fmt.Errorf("list stale accounts of %s: %w", providerID, err)
	}
	return us, nil
}

// DisableStale disables account id, ending its sessions, if it is still
// one StaleSSOAccounts lists, in one statement: a sign-in since the list
// was read keeps it. It reports whether it disabled the account.
func (db *DB) DisableStale(ctx context.Context, id int64, providerID string, before time.Time) (bool, error) {
	var done bool
	err := db.Tx(ctx, func(tx *DB) error {
		now := db.now()
		res := db.stale(tx.gorm.WithContext(ctx).Model(&User{}).Where("id = ?", id), providerID, before).
			Updates(map[string]any{"disabled_at": now, "updated_at": now})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		done = true
		return tx.gorm.WithContext(ctx).Where("user_id = ?", id).Delete(&Session{}).Error
	})
	if err != nil {
		return false, fmt.Errorf("disable stale account %d: %w", id, err)
	}
	return done, nil
}

// stale narrows q to the accounts disable_after of providerID disables.
func (db *DB) stale(q *gorm.DB, providerID string, before time.Time) *gorm.DB {
	b := before.UTC()
	return q.Where("is_admin = ? AND disabled_at IS NULL AND password_hash IS NULL AND updated_at < ? AND (last_login_at IS NULL OR last_login_at < ?)", false, b, b).
		Where("EXISTS (SELECT 1 FROM identities i WHERE i.user_id = users.id AND i.provider_id = ?)", providerID).
		Where("NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = users.id AND (i.last_login_at >= ? OR i.confirmed_at >= ?))", b, b)
}
