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
		Updates(map[string]any{"refresh_token": sealed, "check_at": stored(checkAt)}).Error
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
	err := db.gorm.WithContext(ctx).Where("provider_id = ? AND check_at IS NOT NULL AND check_at <= ? AND refresh_token IS NOT NULL", providerID, stored(now)).
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
	res := db.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ? AND check_at = ?", id, stored(was)).Update("check_at", stored(next))
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

// The writes of a check below hold only while the check's claim does:
// identity id's check_at is still claim (ClaimCheck's next). A sign-in
// since has rescheduled it, and its token and sessions are newer than
// anything the check knows.

// claimed is identity id, while the check that claimed it at claim still
// holds it.
func (db *DB) claimed(ctx context.Context, id int64, claim time.Time) *gorm.DB {
	return db.gorm.WithContext(ctx).Model(&Identity{}).Where("id = ? AND check_at = ?", id, stored(claim))
}

// StopChecks clears identity id's next check: it has no live session to
// end.
func (db *DB) StopChecks(ctx context.Context, id int64, claim time.Time) error {
	err := db.claimed(ctx, id, claim).Update("check_at", nil).Error
	if err != nil {
		return fmt.Errorf("stop checks of identity %d: %w", id, err)
	}
	return nil
}

// StoreRefresh replaces identity id's sealed refresh token with the one
// the provider rotated it to, and reports whether it did.
func (db *DB) StoreRefresh(ctx context.Context, id int64, claim time.Time, sealed []byte) (bool, error) {
	res := db.claimed(ctx, id, claim).Update("refresh_token", sealed)
	if res.Error != nil {
		return false, fmt.Errorf("store refresh token of identity %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ConfirmIdentity records a successful offline check.
func (db *DB) ConfirmIdentity(ctx context.Context, id int64, claim time.Time) error {
	err := db.claimed(ctx, id, claim).Updates(map[string]any{"confirmed_at": db.now(), "revoked_at": nil}).Error
	if err != nil {
		return fmt.Errorf("confirm identity %d: %w", id, err)
	}
	return nil
}

// ConfirmSession records that the provider confirmed the person of
// (issuer, subject) at a session check (a prompt=none round trip).
func (db *DB) ConfirmSession(ctx context.Context, issuer, subject string) error {
	err := db.gorm.WithContext(ctx).Model(&Identity{}).Where("issuer = ? AND subject = ?", issuer, subject).
		Updates(map[string]any{"confirmed_at": db.now(), "revoked_at": nil}).Error
	if err != nil {
		return fmt.Errorf("confirm identity: %w", err)
	}
	return nil
}

// RevokeIdentity records the provider's definite no for identity id: its
// refresh token and next check go, revoked_at is now, and every session
// signed in through it before roundStart ends. It returns how many
// sessions ended, and whether it revoked (not when a sign-in has taken
// over the identity since the claim).
func (db *DB) RevokeIdentity(ctx context.Context, id *Identity, claim, roundStart time.Time) (int64, bool, error) {
	var ended int64
	var done bool
	err := db.Tx(ctx, func(tx *DB) error {
		res := tx.claimed(ctx, id.ID, claim).Updates(map[string]any{"refresh_token": nil, "check_at": nil, "revoked_at": db.now()})
		if res.Error != nil {
			return fmt.Errorf("revoke identity %d: %w", id.ID, res.Error)
		}
		if done = res.RowsAffected == 1; !done {
			return nil
		}
		del := tx.gorm.WithContext(ctx).Where("issuer = ? AND subject = ? AND created_at <= ?", id.Issuer, id.Subject, stored(roundStart)).Delete(&Session{})
		if del.Error != nil {
			return fmt.Errorf("end sessions of identity %d: %w", id.ID, del.Error)
		}
		ended = del.RowsAffected
		return nil
	})
	return ended, done, err
}

// StaleSSOAccounts lists at most limit accounts to disable under
// providerID's disable_after: enabled, not administrators, without a
// password and without a live session, with an identity of providerID,
// not changed since before (an
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
	return q.Where("is_admin = ? AND disabled_at IS NULL AND (password_hash IS NULL OR password_hash = '') AND updated_at < ? AND (last_login_at IS NULL OR last_login_at < ?)", false, b, b).
		Where("NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id)").
		Where("EXISTS (SELECT 1 FROM identities i WHERE i.user_id = users.id AND i.provider_id = ?)", providerID).
		Where("NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = users.id AND (i.last_login_at >= ? OR i.confirmed_at >= ?))", b, b)
}
