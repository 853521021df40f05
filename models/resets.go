package models

import (
	"context"
	"fmt"
	"time"
)

// PasswordReset is a password reset link: the hash of its token, the
// account it resets and when it stops working.
type PasswordReset struct {
	TokenHash string `gorm:"primaryKey"`
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AddPasswordReset stores a reset link's token hash for userID, valid for
// ttl, and deletes every older link of the account: only the newest link
// works. An account has one row at most, so the table stays as small as
// the number of accounts.
func (db *DB) AddPasswordReset(ctx context.Context, userID int64, hash string, ttl time.Duration) error {
	now := db.now()
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.DeletePasswordResets(ctx, userID); err != nil {
			return err
		}
		if err := tx.gorm.WithContext(ctx).Create(&PasswordReset{TokenHash: hash, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(ttl)}).Error; err != nil {
			return fmt.Errorf("store password reset: %w", err)
		}
		return nil
	})
}

// PasswordResetUser returns the account an unexpired reset link's token
// hash resets, or ErrNotFound.
func (db *DB) PasswordResetUser(ctx context.Context, hash string) (int64, error) {
	var rows []PasswordReset
	err := db.gorm.WithContext(ctx).Where("token_hash = ? AND expires_at > ?", hash, db.now()).Limit(1).Find(&rows).Error
	if err != nil {
		return 0, fmt.Errorf("find password reset: %w", err)
	}
	if len(rows) == 0 {
		return 0, ErrNotFound
	}
	return rows[0].UserID, nil
}

// ConsumePasswordReset deletes the reset link of hash and returns its
// account if it was unexpired, else ErrNotFound. One statement does both,
// so of two concurrent uses of a link one gets the account and the other
// ErrNotFound.
func (db *DB) ConsumePasswordReset(ctx context.Context, hash string) (int64, error) {
	var ids []int64
	err := db.gorm.WithContext(ctx).Raw(`DELETE FROM password_resets WHERE token_hash = ? AND expires_at > ? RETURNING user_id`,
		hash, db.now()).Scan(&ids).Error
	if err != nil {
		return 0, fmt.Errorf("consume password reset: %w", err)
	}
	if len(ids) == 0 {
		return 0, ErrNotFound
	}
	return ids[0], nil
}

// DeletePasswordResets deletes every reset link of userID: a password
// change makes them useless.
func (db *DB) DeletePasswordResets(ctx context.Context, userID int64) error {
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Delete(&PasswordReset{}).Error; err != nil {
		return fmt.Errorf("delete password resets: %w", err)
	}
	return nil
}

// DeleteExpiredPasswordResets deletes the reset links past their expiry.
func (db *DB) DeleteExpiredPasswordResets(ctx context.Context) (int64, error) {
	res := db.gorm.WithContext(ctx).Where("expires_at <= ?", db.now()).Delete(&PasswordReset{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete expired password resets: %w", res.Error)
	}
	return res.RowsAffected, nil
}
