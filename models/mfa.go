package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Factor is a second factor a sign-in gave, as its session records it.
type Factor string

// Second factors.
const (
	FactorNone     Factor = ""
	FactorTOTP     Factor = "totp"     // an authenticator app's code
	FactorRecovery Factor = "recovery" // a recovery code
	FactorSSO      Factor = "sso"      // the provider said its sign-in was multi-factor (amr, acr)
	FactorPasskey  Factor = "passkey"  // a passkey (as second step, or alone with user verification)
)

// String is the stored form.
func (f Factor) String() string { return string(f) }

// Label says the factor for people.
func (f Factor) Label() string {
	switch f {
	case FactorTOTP:
		return "authenticator app"
	case FactorRecovery:
		return "recovery code"
	case FactorSSO:
		return "the provider's multi-factor sign-in"
	case FactorPasskey:
		return "passkey"
	}
	return "none"
}

// TOTPFactor is an account's authenticator app: its secret, sealed
// (secrets.Box, bound to the account), and the step of the last code
// accepted. ConfirmedAt is nil while enrolment waits for a first code.
type TOTPFactor struct {
	UserID      int64 `gorm:"primaryKey;autoIncrement:false"`
	Secret      []byte
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	LastUsedAt  *time.Time
	LastStep    int64
}

// TableName is the table authenticator apps live in.
func (TOTPFactor) TableName() string { return "totp_factors" }

// Confirmed reports whether the app is in use (a code confirmed it).
func (f *TOTPFactor) Confirmed() bool { return f.ConfirmedAt != nil }

// RecoveryCode is one single-use recovery code, hashed.
type RecoveryCode struct {
	ID        int64 `gorm:"primaryKey"`
	UserID    int64
	CodeHash  string
	CreatedAt time.Time
	UsedAt    *time.Time
}

// PendingMFA is a sign-in waiting for its second factor.
type PendingMFA struct {
	TokenHash string `gorm:"primaryKey"`
	UserID    int64
	Next      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TableName is pending_mfa.
func (PendingMFA) TableName() string { return "pending_mfa" }

// TOTPFactorOf returns the account's authenticator app, confirmed or
// waiting, or ErrNotFound.
func (db *DB) TOTPFactorOf(ctx context.Context, userID int64) (*TOTPFactor, error) {
	var f TOTPFactor
	err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Take(&f).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find authenticator app: %w", err)
	}
	return &f, nil
}

// LockTOTPFactor is TOTPFactorOf with the row locked until the
// transaction ends (PostgreSQL; see Tx): two codes checked at once take
// turns, so the second sees the first's step.
func (db *DB) LockTOTPFactor(ctx context.Context, userID int64) (*TOTPFactor, error) {
	return db.forUpdate().TOTPFactorOf(ctx, userID)
}

// PutTOTPFactor stores a new, unconfirmed authenticator app for the
// account, replacing one waiting for confirmation; a confirmed one is
// kept (ErrFactorExists). One statement decides, so a confirmation that
// commits meanwhile is never undone.
func (db *DB) PutTOTPFactor(ctx context.Context, userID int64, sealed []byte) error {
	res := db.gorm.WithContext(ctx).Exec(`INSERT INTO totp_factors (user_id, secret, created_at, last_step) VALUES (?, ?, ?, 0)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
			confirmed_at = NULL, last_used_at = NULL, last_step = 0
		WHERE totp_factors.confirmed_at IS NULL`, userID, sealed, db.now())
	if res.Error != nil {
		return fmt.Errorf("store authenticator app: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrFactorExists
	}
	return nil
}

// ErrFactorExists refuses to replace an authenticator app in use.
var ErrFactorExists = errors.New("an authenticator app is set up already")

// UseTOTPStep records that the code of step was accepted for the account
// (confirming the app if it waited): step must be after the last one, or
// nothing changes and ok is false. One statement does it, so of two
// requests with the same code one wins.
func (db *DB) UseTOTPStep(ctx context.Context, userID, step int64) (ok bool, err error) {
	now := db.now()
	res := db.gorm.WithContext(ctx).Exec(`UPDATE totp_factors SET last_step = ?, last_used_at = ?, confirmed_at = COALESCE(confirmed_at, ?)
		WHERE user_id = ? AND last_step < ?`, step, now, now, userID, step)
	if res.Error != nil {
		return false, fmt.Errorf("use authenticator code: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// CountTOTPFactors counts the stored authenticator apps, confirmed or not.
func (db *DB) CountTOTPFactors(ctx context.Context) (int64, error) {
	var n int64
	if err := db.gorm.WithContext(ctx).Model(&TOTPFactor{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count authenticator apps: %w", err)
	}
	return n, nil
}

// DeleteTOTPFactor removes the account's authenticator app.
func (db *DB) DeleteTOTPFactor(ctx context.Context, userID int64) error {
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Delete(&TOTPFactor{}).Error; err != nil {
		return fmt.Errorf("delete authenticator app: %w", err)
	}
	return nil
}

// ReplaceRecoveryCodes deletes the account's recovery codes and stores
// the hashes given, in one transaction.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string) error {
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.DeleteRecoveryCodes(ctx, userID); err != nil {
			return err
		}
		now := tx.now()
		rows := make([]RecoveryCode, len(hashes))
		for i, h := range hashes {
			rows[i] = RecoveryCode{UserID: userID, CodeHash: h, CreatedAt: now}
		}
		if len(rows) == 0 {
			return nil
		}
		if err := tx.gorm.WithContext(ctx).Create(&rows).Error; err != nil {
			return fmt.Errorf("store recovery codes: %w", err)
		}
		return nil
	})
}

// UseRecoveryCode marks the account's unused code of hash used and
// reports whether there was one: one statement, so a code works once
// however many requests carry it.
func (db *DB) UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error) {
	res := db.gorm.WithContext(ctx).Model(&RecoveryCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hash).Update("used_at", db.now())
	if res.Error != nil {
		return false, fmt.Errorf("use recovery code: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecoveryCodesLeft counts the account's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// DeleteRecoveryCodes deletes the account's recovery codes.
func (db *DB) DeleteRecoveryCodes(ctx context.Context, userID int64) error {
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	return nil
}

// maxPendingMFA bounds the sign-ins one account may have waiting for a
// second factor: each needs the account's password, so only its owner (or
// whoever has the password) makes them, and the oldest goes first.
const maxPendingMFA = 5

// AddPendingMFA stores a sign-in of the account waiting for its second
// factor, valid for ttl, and drops the account's oldest beyond
// maxPendingMFA, in one transaction.
func (db *DB) AddPendingMFA(ctx context.Context, p PendingMFA, ttl time.Duration) error {
	now := db.now()
	p.CreatedAt, p.ExpiresAt = now, now.Add(ttl)
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.gorm.WithContext(ctx).Create(&p).Error; err != nil {
			return fmt.Errorf("store pending second factor: %w", err)
		}
		err := tx.gorm.WithContext(ctx).Exec(`DELETE FROM pending_mfa WHERE user_id = ? AND token_hash <> ? AND token_hash NOT IN (
			SELECT token_hash FROM pending_mfa WHERE user_id = ? AND token_hash <> ? ORDER BY created_at DESC, token_hash LIMIT ?)`,
			p.UserID, p.TokenHash, p.UserID, p.TokenHash, maxPendingMFA-1).Error
		if err != nil {
			return fmt.Errorf("prune pending second factors: %w", err)
		}
		return nil
	})
}

// PendingMFAByHash returns the unexpired pending sign-in of hash, or
// ErrNotFound.
func (db *DB) PendingMFAByHash(ctx context.Context, hash string) (*PendingMFA, error) {
	var rows []PendingMFA
	err := db.gorm.WithContext(ctx).Where("token_hash = ? AND expires_at > ?", hash, db.now()).Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("find pending second factor: %w", err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// ConsumePendingMFA deletes the unexpired pending sign-in of hash and
// reports whether there was one: one statement, so it completes once.
func (db *DB) ConsumePendingMFA(ctx context.Context, hash string) (bool, error) {
	res := db.gorm.WithContext(ctx).Where("token_hash = ? AND expires_at > ?", hash, db.now()).Delete(&PendingMFA{})
	if res.Error != nil {
		return false, fmt.Errorf("consume pending second factor: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// HasSecondFactor reports whether the account has a second factor in use
// (a confirmed authenticator app or a passkey): one query, as every
// password sign-in asks it.
func (db *DB) HasSecondFactor(ctx context.Context, userID int64) (bool, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Raw(`SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = ? AND confirmed_at IS NOT NULL)
		+ (SELECT COUNT(*) FROM passkeys WHERE user_id = ?)`, userID, userID).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("find second factors: %w", err)
	}
	return n > 0, nil
}

// DeleteMFA removes every second factor of the account (its app and its
// passkeys), its recovery codes and its sign-ins waiting for one.
func (db *DB) DeleteMFA(ctx context.Context, userID int64) error {
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.DeleteTOTPFactor(ctx, userID); err != nil {
			return err
		}
		if err := tx.DeletePasskeys(ctx, userID); err != nil {
			return err
		}
		return tx.dropRecovery(ctx, userID)
	})
}

// DropOrphanRecovery deletes the account's recovery codes and sign-ins
// waiting for a second factor when it has no second factor left (the
// last one was just removed), and reports whether it did.
func (db *DB) DropOrphanRecovery(ctx context.Context, userID int64) (bool, error) {
	has, err := db.HasSecondFactor(ctx, userID)
	if err != nil || has {
		return false, err
	}
	return true, db.dropRecovery(ctx, userID)
}

func (db *DB) dropRecovery(ctx context.Context, userID int64) error {
	if err := db.DeleteRecoveryCodes(ctx, userID); err != nil {
		return err
	}
	return db.DeletePendingMFA(ctx, userID)
}

// DeletePendingMFA deletes the account's sign-ins waiting for a second
// factor: a password change or disabling makes them worthless.
func (db *DB) DeletePendingMFA(ctx context.Context, userID int64) error {
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Delete(&PendingMFA{}).Error; err != nil {
		return fmt.Errorf("delete pending second factors: %w", err)
	}
	return nil
}

// DeleteExpiredPendingMFA deletes up to limit pending sign-ins past their
// expiry and returns how many went.
func (db *DB) DeleteExpiredPendingMFA(ctx context.Context, limit int) (int64, error) {
	return db.deleteExpired(ctx, "pending_mfa", "token_hash", db.now(), limit)
}
