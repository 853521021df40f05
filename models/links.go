package models

import (
	"context"
	"fmt"
	"time"
)

// LinkPurpose is what an emailed link (a row of email_links) is for.
type LinkPurpose string

// Link purposes.
const (
	// LinkInvite invites the person to a new account: it sets the first
	// password (or points to the provider trusted for the address).
	LinkInvite LinkPurpose = "invite"
	// LinkVerify confirms an address: the account's own, or the new one a
	// change waits for.
	LinkVerify LinkPurpose = "verify"
)

// String returns the stored form.
func (p LinkPurpose) String() string { return string(p) }

// EmailLink is an emailed link that proves an address: the hash of its
// token, what it is for, the account, the address it was sent to, and when
// it stops working.
type EmailLink struct {
	TokenHash string `gorm:"primaryKey"`
	Purpose   LinkPurpose
	UserID    int64
	Email     string
	// FromEmail is, for a link confirming a change of address, the
	// account's address when the change was asked for: the change is made
	// only while the account still has it. "" for every other link.
	FromEmail string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AddEmailLink stores the link l (its token hash, purpose, account and
// addresses), valid for ttl from now, and fills its times; it replaces the
// account's older link of that purpose: only the newest works, and the
// table holds at most one link of each purpose per account.
func (db *DB) AddEmailLink(ctx context.Context, l *EmailLink, ttl time.Duration) error {
	now := db.now()
	l.CreatedAt, l.ExpiresAt = now, now.Add(ttl)
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.DeleteEmailLinks(ctx, l.UserID, l.Purpose); err != nil {
			return err
		}
		if err := tx.gorm.WithContext(ctx).Create(l).Error; err != nil {
			return fmt.Errorf("store %s link: %w", l.Purpose, err)
		}
		return nil
	})
}

// EmailLinkByHash returns the unexpired link of purpose whose token hashes
// to hash, or ErrNotFound.
func (db *DB) EmailLinkByHash(ctx context.Context, purpose LinkPurpose, hash string) (*EmailLink, error) {
	return db.liveLink(ctx, purpose, "token_hash = ?", hash)
}

// EmailLinkOf returns the account's unexpired link of purpose (without its
// token, which is not kept), or ErrNotFound: an invitation still open.
func (db *DB) EmailLinkOf(ctx context.Context, userID int64, purpose LinkPurpose) (*EmailLink, error) {
	return db.liveLink(ctx, purpose, "user_id = ?", userID)
}

// liveLink is the unexpired link of purpose that where (one condition on
// arg) selects, or ErrNotFound.
func (db *DB) liveLink(ctx context.Context, purpose LinkPurpose, where string, arg any) (*EmailLink, error) {
	var rows []EmailLink
	err := db.gorm.WithContext(ctx).Where(where, arg).Where("purpose = ? AND expires_at > ?", purpose, db.now()).
		Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("find %s link: %w", purpose, err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// ConsumeEmailLink deletes the unexpired link of purpose whose token hashes
// to hash and returns it, else ErrNotFound. One statement does both, so of
// two concurrent uses of a link one gets it and the other ErrNotFound.
func (db *DB) ConsumeEmailLink(ctx context.Context, purpose LinkPurpose, hash string) (*EmailLink, error) {
	var rows []EmailLink
	err := db.gorm.WithContext(ctx).Raw(`DELETE FROM email_links WHERE token_hash = ? AND purpose = ? AND expires_at > ?
		RETURNING token_hash, purpose, user_id, email, from_email, created_at, expires_at`, hash, purpose, db.now()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("consume %s link: %w", purpose, err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// DeleteEmailLinks deletes the account's links of purpose.
func (db *DB) DeleteEmailLinks(ctx context.Context, userID int64, purpose LinkPurpose) error {
	if err := db.gorm.WithContext(ctx).Where("user_id = ? AND purpose = ?", userID, purpose).Delete(&EmailLink{}).Error; err != nil {
		return fmt.Errorf("delete %s links: %w", purpose, err)
	}
	return nil
}

// DeleteAccountLinks deletes every link mailed for the account id: its
// password reset link and its invitation and confirmation links. A
// password change, a change of address and disabling the account each
// make whatever was mailed before worthless.
func (db *DB) DeleteAccountLinks(ctx context.Context, id int64) error {
	if err := db.DeletePasswordResets(ctx, id); err != nil {
		return err
	}
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", id).Delete(&EmailLink{}).Error; err != nil {
		return fmt.Errorf("delete email links: %w", err)
	}
	return nil
}

// DeleteExpiredEmailLinks deletes up to limit links past their expiry and
// returns how many went.
func (db *DB) DeleteExpiredEmailLinks(ctx context.Context, limit int) (int64, error) {
	return db.deleteExpired(ctx, "email_links", "token_hash", db.now(), limit)
}
