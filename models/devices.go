package models

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/sso"
	"gorm.io/gorm/clause"
)

// Device is a browser that signed in to an account: the hash of the token
// its device cookie carries (never the token) and when it last did. What a
// device is good for is the throttle package's policy.
type Device struct {
	ID         int64
	UserID     int64
	TokenHash  string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// TableName is the table devices live in.
func (Device) TableName() string { return "devices" }

// RememberDevice records a sign-in to the account userID from the browser
// whose device token hashes to tokenHash, and forgets that account's
// devices beyond the keep most recently used, in one transaction: the
// table grows only with successful sign-ins, and by at most keep rows per
// account however many browsers sign in to it.
func (db *DB) RememberDevice(ctx context.Context, userID int64, tokenHash string, keep int) error {
	return db.Tx(ctx, func(tx *DB) error {
		now := tx.now()
		d := Device{UserID: userID, TokenHash: tokenHash, CreatedAt: now, LastUsedAt: now}
		err := tx.gorm.WithContext(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "user_id"}, {Name: "token_hash"}},
			DoUpdates: clause.AssignmentColumns([]string{"last_used_at"}),
		}).Create(&d).Error
		if err != nil {
			return fmt.Errorf("remember device: %w", err)
		}
		err = tx.gorm.WithContext(ctx).Exec(`DELETE FROM devices WHERE user_id = ? AND id NOT IN (
			SELECT id FROM devices WHERE user_id = ? ORDER BY last_used_at DESC, id DESC LIMIT ?)`, userID, userID, keep).Error
		if err != nil {
			return fmt.Errorf("prune devices: %w", err)
		}
		return nil
	})
}

// KnownDevice reports whether the browser whose device token hashes to
// tokenHash signed in to the account of email (normalised here) within the
// last maxAge, by the DB's clock.
func (db *DB) KnownDevice(ctx context.Context, email, tokenHash string, maxAge time.Duration) (bool, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Model(&Device{}).
		Joins("JOIN users ON users.id = devices.user_id").
		Where("users.email = ? AND devices.token_hash = ? AND devices.last_used_at > ?", sso.NormalizeEmail(email), tokenHash, db.now().Add(-maxAge)).
		Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("look up device: %w", err)
	}
	return n > 0, nil
}

// DeleteOldDevices forgets the devices that have not signed in for maxAge,
// by the DB's clock, and returns how many went.
func (db *DB) DeleteOldDevices(ctx context.Context, maxAge time.Duration) (int64, error) {
	res := db.gorm.WithContext(ctx).Where("last_used_at <= ?", db.now().Add(-maxAge)).Delete(&Device{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete old devices: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// ForgetDevices forgets every browser known to have signed in to the
// account: after its password changes, a browser that signed in with the
// old one (perhaps an attacker's) must not keep a known browser's
// throttling budget.
func (db *DB) ForgetDevices(ctx context.Context, userID int64) error {
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Delete(&Device{}).Error; err != nil {
		return fmt.Errorf("forget devices of user %d: %w", userID, err)
	}
	return nil
}
