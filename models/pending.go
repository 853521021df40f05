package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/sso"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// PendingLogin is an SSO sign-in between the redirect to the provider and its
// callback. It lives server side; the browser holds only the state (in the
// URL) and a binding cookie, whose hashes are stored.
type PendingLogin struct {
	ID           int64
	StateHash    string
	BrowserHash  string
	ProviderID   string
	Nonce        string
	CodeVerifier string
	Next         string
	Mode         string
	UserID       *int64
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// ErrTooManyPending is CreatePendingLogin's refusal when the cap on live
// pending logins is reached.
var ErrTooManyPending = errors.New("too many sign-ins in progress")

// CreatePendingLogin stores p and keeps at most keep pending logins per
// browser (the oldest go), so one browser cannot fill the table. Anyone can
// start a sign-in, and a new browser is one without a cookie, so the table
// is also capped as a whole: with maxLive unexpired pending logins stored,
// it refuses with ErrTooManyPending. The count and the insert share one
// write transaction, so concurrent starts cannot overshoot the cap.
func (db *DB) CreatePendingLogin(ctx context.Context, p *PendingLogin, ttl time.Duration, keep, maxLive int) error {
	now := db.now()
	p.CreatedAt, p.ExpiresAt = now, now.Add(ttl)
	return db.Tx(ctx, func(t *DB) error {
		if err := t.serialise(ctx, "pending_logins"); err != nil {
			return err
		}
		tx := t.gorm.WithContext(ctx)
		var live int64
		if err := tx.Model(&PendingLogin{}).Where("expires_at > ?", now).Count(&live).Error; err != nil {
			return fmt.Errorf("count pending logins: %w", err)
		}
		if live >= int64(maxLive) {
			return ErrTooManyPending
		}
		if err := tx.Create(p).Error; err != nil {
			return fmt.Errorf("store pending login: %w", err)
		}
		err := tx.Exec(`DELETE FROM pending_logins WHERE browser_hash = ? AND id NOT IN (
			SELECT id FROM pending_logins WHERE browser_hash = ? ORDER BY id DESC LIMIT ?)`, p.BrowserHash, p.BrowserHash, keep).Error
		if err != nil {
			return fmt.Errorf("trim pending logins: %w", err)
		}
		return nil
	})
}

// pendingLoginColumns are the columns ConsumePendingLogin returns, named
// (never RETURNING *) so a replica of the previous version keeps working
// while a newer one adds a column.
var pendingLoginColumns = []clause.Column{
	{Name: "id"}, {Name: "state_hash"}, {Name: "browser_hash"}, {Name: "provider_id"}, {Name: "nonce"},
	{Name: "code_verifier"}, {Name: "next"}, {Name: "mode"}, {Name: "user_id"}, {Name: "created_at"}, {Name: "expires_at"},
}

// ConsumePendingLogin deletes and returns the pending login for the state
// hash, only when it belongs to this browser and has not expired. Deleting
// with RETURNING makes it single-use even under concurrent replays: one
// statement, one winner.
func (db *DB) ConsumePendingLogin(ctx context.Context, stateHash, browserHash string) (*PendingLogin, error) {
	var rows []PendingLogin
	err := db.gorm.WithContext(ctx).Clauses(clause.Returning{Columns: pendingLoginColumns}).
		Where("state_hash = ? AND browser_hash = ?", stateHash, browserHash).Delete(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("consume pending login: %w", err)
	}
	if len(rows) == 0 || !db.now().Before(rows[0].ExpiresAt) {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// PendingLink is an SSO identity waiting for the local password before it
// is linked to the account with the same email.
type PendingLink struct {
	ID          int64
	TokenHash   string
	BrowserHash string
	UserID      int64
	ProviderID  string
	Issuer      string
	Subject     string
	Email       string
	Claims      string
	SID         string `gorm:"column:sid"`
	IDToken     string `gorm:"column:id_token"`
	AuthTime    *time.Time
	Next        string
	// Trace is the sign-in's decision trace so far (accounts.Trace).
	Trace string
	// RefreshToken is the sign-in's refresh token, sealed for the
	// identity it becomes (accounts.SealLinkRefresh); nil for none.
	RefreshToken []byte
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// NewPendingLink parks the verified identity id, signed in through
// providerID, until the person proves the password of account userID.
func NewPendingLink(userID int64, providerID string, id *sso.Identity) *PendingLink {
	l := &PendingLink{
		UserID: userID, ProviderID: providerID, Issuer: id.Issuer, Subject: id.Subject,
		Email: sso.NormalizeEmail(id.Email), Claims: string(id.Claims), SID: id.SID, IDToken: id.IDToken,
	}
	if !id.AuthTime.IsZero() {
		t := id.AuthTime.UTC()
		l.AuthTime = &t
	}
	return l
}

// Identity is the parked identity, as the provider verified it.
func (l *PendingLink) Identity() *sso.Identity {
	id := &sso.Identity{
		ProviderID: l.ProviderID, Issuer: l.Issuer, Subject: l.Subject, Email: l.Email,
		Claims: []byte(l.Claims), SID: l.SID, IDToken: l.IDToken,
	}
	if l.AuthTime != nil {
		id.AuthTime = *l.AuthTime
	}
	return id
}

// CreatePendingLink stores l for ttl.
func (db *DB) CreatePendingLink(ctx context.Context, l *PendingLink, ttl time.Duration) error {
	now := db.now()
	l.CreatedAt, l.ExpiresAt = now, now.Add(ttl)
	if err := db.gorm.WithContext(ctx).Create(l).Error; err != nil {
		return fmt.Errorf("store pending link: %w", err)
	}
	return nil
}

// PendingLink finds an unexpired pending link of this browser.
func (db *DB) PendingLink(ctx context.Context, tokenHash, browserHash string) (*PendingLink, error) {
	var l PendingLink
	err := db.gorm.WithContext(ctx).Where("token_hash = ? AND browser_hash = ? AND expires_at > ?", tokenHash, browserHash, db.now()).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find pending link: %w", err)
	}
	return &l, nil
}

// DeletePendingLink removes a pending link (used, cancelled or abandoned).
func (db *DB) DeletePendingLink(ctx context.Context, id int64) error {
	if err := db.gorm.WithContext(ctx).Delete(&PendingLink{}, id).Error; err != nil {
		return fmt.Errorf("delete pending link: %w", err)
	}
	return nil
}

// deleteExpired deletes up to limit rows of table (a constant, never
// input) whose expires_at is at or before now, picked by their key column,
// and returns how many went: one sweep batch, taking only rows no other
// replica's sweep holds (skipLocked).
func (db *DB) deleteExpired(ctx context.Context, table, key string, now time.Time, limit int) (int64, error) {
	res := db.gorm.WithContext(ctx).Exec("DELETE FROM "+table+" WHERE "+key+" IN (SELECT "+key+" FROM "+table+
		" WHERE expires_at <= ? LIMIT ?"+db.skipLocked()+")", now, limit)
	if res.Error != nil {
		return 0, fmt.Errorf("delete expired %s: %w", table, res.Error)
	}
	return res.RowsAffected, nil
}

// DeleteExpiredPending removes expired pending logins, links and logout
// token IDs, in one batch of each.
func (db *DB) DeleteExpiredPending(ctx context.Context, batch int) (int64, error) {
	now := db.now()
	var total int64
	for _, table := range []string{"pending_logins", "pending_links"} {
		n, err := db.deleteExpired(ctx, table, "id", now, batch)
		total += n
		if err != nil {
			return total, err
		}
	}
	res := db.gorm.WithContext(ctx).Exec("DELETE FROM logout_jtis WHERE expires_at <= ?", now) // small: one row per logout
	if res.Error != nil {
		return total, fmt.Errorf("delete expired logout jtis: %w", res.Error)
	}
	return total + res.RowsAffected, nil
}
