package models

import (
	"context"
	"fmt"
	"time"
)

// SetupToken is a first-administrator setup link: the hash of its token
// and when it stops working.
type SetupToken struct {
	TokenHash string `gorm:"primaryKey"`
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AddSetupToken stores a setup link's token hash, valid for ttl, and
// deletes the expired ones. Links are added only when a process starts
// with no administrator, so the table stays a handful of rows.
func (db *DB) AddSetupToken(ctx context.Context, hash string, ttl time.Duration) error {
	now := db.now()
	return db.Tx(ctx, func(tx *DB) error {
		// In turn with ConsumeSetupTokens: a link is not added while the
		// first administrator is being created, and the deletes of both
		// cannot deadlock.
		if err := tx.serialise(ctx, "setup_tokens"); err != nil {
			return err
		}
		if err := tx.gorm.WithContext(ctx).Where("expires_at <= ?", now).Delete(&SetupToken{}).Error; err != nil {
			return fmt.Errorf("delete expired setup tokens: %w", err)
		}
		if err := tx.gorm.WithContext(ctx).Create(&SetupToken{TokenHash: hash, CreatedAt: now, ExpiresAt: now.Add(ttl)}).Error; err != nil {
			return fmt.Errorf("store setup token: %w", err)
		}
		return nil
	})
}

// SetupTokenValid reports whether hash is a stored, unexpired setup token.
func (db *DB) SetupTokenValid(ctx context.Context, hash string) (bool, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Model(&SetupToken{}).Where("token_hash = ? AND expires_at > ?", hash, db.now()).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check setup token: %w", err)
	}
	return n == 1, nil
}

// ConsumeSetupTokens is for the transaction that creates the first
// administrator: it reports whether hash was a stored, unexpired token and
// deletes every setup token, so no link works again. Transactions calling
// it take turns (serialise), so two links used at once on two replicas
// cannot each find no administrator and both make one.
func (db *DB) ConsumeSetupTokens(ctx context.Context, hash string) (bool, error) {
	if err := db.serialise(ctx, "setup_tokens"); err != nil {
		return false, err
	}
	res := db.gorm.WithContext(ctx).Where("token_hash = ? AND expires_at > ?", hash, db.now()).Delete(&SetupToken{})
	if res.Error != nil {
		return false, fmt.Errorf("consume setup token: %w", res.Error)
	}
	if err := db.gorm.WithContext(ctx).Where("1 = 1").Delete(&SetupToken{}).Error; err != nil {
		return false, fmt.Errorf("delete setup tokens: %w", err)
	}
	return res.RowsAffected == 1, nil
}
