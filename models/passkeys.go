package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Passkey is one WebAuthn credential of an account. Credential is the
// record as accounts encodes it (go-webauthn's JSON: public key, flags,
// AAGUID, transports); SignCount is the authenticator's counter, kept in
// its own column so UsePasskey can refuse one that went back in one
// statement.
type Passkey struct {
	ID           int64
	UserID       int64
	CredentialID []byte
	UserHandle   []byte
	Name         string
	Credential   []byte
	SignCount    int64
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// MaxPasskeys bounds the passkeys of one account.
const MaxPasskeys = 20

// ErrTooManyPasskeys refuses a passkey beyond MaxPasskeys.
var ErrTooManyPasskeys = errors.New("too many passkeys")

// ErrPasskeyExists refuses a credential ID stored already.
var ErrPasskeyExists = errors.New("passkey registered already")

// AddPasskey stores p, unless its account has MaxPasskeys already or the
// credential is registered (to any account). The count and the insert
// take turns per account (serialise), so two registrations at once
// cannot pass the cap together. also, when not nil, runs in the same
// transaction after the insert (the recovery codes of a first factor).
func (db *DB) AddPasskey(ctx context.Context, p *Passkey, also func(tx *DB) error) error {
	p.CreatedAt = db.now()
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.serialise(ctx, "passkeys "+strconv.FormatInt(p.UserID, 10)); err != nil {
			return err
		}
		n, err := tx.CountPasskeys(ctx, p.UserID)
		if err != nil {
			return err
		}
		if n >= MaxPasskeys {
			return ErrTooManyPasskeys
		}
		var taken int64
		if err := tx.gorm.WithContext(ctx).Model(&Passkey{}).Where("credential_id = ?", p.CredentialID).Count(&taken).Error; err != nil {
			return fmt.Errorf("find passkey: %w", err)
		}
		if taken > 0 {
			return ErrPasskeyExists
		}
		if err := tx.gorm.WithContext(ctx).Create(p).Error; err != nil {
			return fmt.Errorf("store passkey: %w", err)
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
}

// CountPasskeys counts the account's passkeys.
func (db *DB) CountPasskeys(ctx context.Context, userID int64) (int64, error) {
	var n int64
	if err := db.gorm.WithContext(ctx).Model(&Passkey{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count passkeys: %w", err)
	}
	return n, nil
}

// PasskeysOf lists the account's passkeys, oldest first.
func (db *DB) PasskeysOf(ctx context.Context, userID int64) ([]Passkey, error) {
	var ps []Passkey
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Order("id").Limit(MaxPasskeys * 2).Find(&ps).Error; err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return ps, nil
}

// PasskeyByCredentialID returns the passkey of the credential ID, or
// ErrNotFound.
func (db *DB) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error) {
	var p Passkey
	err := db.gorm.WithContext(ctx).Where("credential_id = ?", credentialID).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find passkey: %w", err)
	}
	return &p, nil
}

// UsePasskey records a verified assertion of the passkey id: its new
// counter and credential record, and when. The counter must go up (or
// stay 0 on an authenticator that keeps none, as synced passkeys do), or
// nothing changes and ok is false: a counter that went back is a cloned
// authenticator or a replayed assertion. One statement, so of two
// requests carrying the same assertion one wins.
func (db *DB) UsePasskey(ctx context.Context, id, signCount int64, credential []byte) (ok bool, err error) {
	res := db.gorm.WithContext(ctx).Exec(`UPDATE passkeys SET sign_count = ?, credential = ?, last_used_at = ?
		WHERE id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`, signCount, credential, db.now(), id, signCount, signCount)
	if res.Error != nil {
		return false, fmt.Errorf("use passkey: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeletePasskey deletes the account's passkey id and reports whether it
// was there.
func (db *DB) DeletePasskey(ctx context.Context, userID, id int64) (bool, error) {
	res := db.gorm.WithContext(ctx).Where("user_id = ? AND id = ?", userID, id).Delete(&Passkey{})
	if res.Error != nil {
		return false, fmt.Errorf("delete passkey: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeletePasskeys deletes every passkey of the account.
func (db *DB) DeletePasskeys(ctx context.Context, userID int64) error {
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Delete(&Passkey{}).Error; err != nil {
		return fmt.Errorf("delete passkeys: %w", err)
	}
	return nil
}

// CeremonyPurpose is what a WebAuthn ceremony in progress is for; a
// ceremony finishes only at the endpoint of its purpose.
type CeremonyPurpose string

// Ceremony purposes.
const (
	CeremonyRegister CeremonyPurpose = "register" // adding a passkey on the account page
	CeremonyLogin    CeremonyPurpose = "login"    // passwordless sign-in
	CeremonySecond   CeremonyPurpose = "second"   // the second step of a password sign-in
	CeremonyStepUp   CeremonyPurpose = "stepup"   // a session that owes a second factor
	CeremonySudo     CeremonyPurpose = "sudo"     // re-authentication
)

// String is the stored form.
func (p CeremonyPurpose) String() string { return string(p) }

// PasskeyCeremony is a WebAuthn registration or assertion in progress,
// found again by the hash of its challenge (which the browser's response
// carries) and the browser it was given to.
type PasskeyCeremony struct {
	ID            int64
	ChallengeHash string
	BrowserHash   string
	Purpose       CeremonyPurpose
	UserID        *int64
	Data          []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// ErrTooManyCeremonies is CreatePasskeyCeremony's refusal when the cap on
// ceremonies in progress is reached.
var ErrTooManyCeremonies = errors.New("too many passkey ceremonies in progress")

// CreatePasskeyCeremony stores c for ttl and keeps the browser's newest
// keep ceremonies (the oldest go). A passwordless sign-in begins without
// an account, and a browser without a cookie is a new browser, so the
// table is also capped as a whole: with maxLive unexpired ceremonies
// stored it refuses with ErrTooManyCeremonies; the count and the insert
// take turns (serialise), so concurrent begins cannot overshoot.
func (db *DB) CreatePasskeyCeremony(ctx context.Context, c *PasskeyCeremony, ttl time.Duration, keep, maxLive int) error {
	now := db.now()
	c.CreatedAt, c.ExpiresAt = now, now.Add(ttl)
	return db.Tx(ctx, func(t *DB) error {
		if err := t.serialise(ctx, "passkey_ceremonies"); err != nil {
			return err
		}
		tx := t.gorm.WithContext(ctx)
		var live int64
		if err := tx.Model(&PasskeyCeremony{}).Where("expires_at > ?", now).Count(&live).Error; err != nil {
			return fmt.Errorf("count passkey ceremonies: %w", err)
		}
		if live >= int64(maxLive) {
			return ErrTooManyCeremonies
		}
		if err := tx.Create(c).Error; err != nil {
			return fmt.Errorf("store passkey ceremony: %w", err)
		}
		err := tx.Exec(`DELETE FROM passkey_ceremonies WHERE browser_hash = ? AND id NOT IN (
			SELECT id FROM passkey_ceremonies WHERE browser_hash = ? ORDER BY id DESC LIMIT ?)`, c.BrowserHash, c.BrowserHash, keep).Error
		if err != nil {
			return fmt.Errorf("trim passkey ceremonies: %w", err)
		}
		return nil
	})
}

// ceremonyColumns are the columns ConsumePasskeyCeremony returns, named
// so a replica of the previous version keeps working while a newer one
// adds a column.
var ceremonyColumns = []clause.Column{
	{Name: "id"}, {Name: "challenge_hash"}, {Name: "browser_hash"}, {Name: "purpose"}, {Name: "user_id"},
	{Name: "data"}, {Name: "created_at"}, {Name: "expires_at"},
}

// ConsumePasskeyCeremony deletes and returns the ceremony of the challenge
// hash, only when it was given to this browser for this purpose and has
// not expired, or ErrNotFound. Deleting with RETURNING makes it single
// use: one statement, one winner.
func (db *DB) ConsumePasskeyCeremony(ctx context.Context, challengeHash, browserHash string, purpose CeremonyPurpose) (*PasskeyCeremony, error) {
	var rows []PasskeyCeremony
	err := db.gorm.WithContext(ctx).Clauses(clause.Returning{Columns: ceremonyColumns}).
		Where("challenge_hash = ? AND browser_hash = ? AND purpose = ?", challengeHash, browserHash, purpose).Delete(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("consume passkey ceremony: %w", err)
	}
	if len(rows) == 0 || !db.now().Before(rows[0].ExpiresAt) {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// DeleteExpiredPasskeyCeremonies deletes up to limit ceremonies past
// their expiry and returns how many went.
func (db *DB) DeleteExpiredPasskeyCeremonies(ctx context.Context, limit int) (int64, error) {
	return db.deleteExpired(ctx, "passkey_ceremonies", "id", db.now(), limit)
}
