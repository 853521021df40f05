package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Session is one signed-in browser. Only the SHA-256 of the cookie token is
// stored, so a leaked database does not hand out live sessions.
type Session struct {
	ID            int64
	TokenHash     string
	UserID        *int64
	CreatedAt     time.Time
	LastSeenAt    time.Time
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	IP            string `gorm:"column:ip"`
	UserAgent     string
	AuthMethod    Method
	AuthTime      *time.Time
	ProviderID    string
	Issuer        string
	Subject       string
	SID           string `gorm:"column:sid"`
	IDToken       string `gorm:"column:id_token"`
	Data          string
	ReauthAt      *time.Time // last re-authentication: with AuthTime it decides sudo mode
	SSOCheckedAt  *time.Time `gorm:"column:sso_checked_at"` // provider session last confirmed by a refresh
	// MFA is the second factor the sign-in gave; "" for none.
	MFA Factor `gorm:"column:mfa"`
	// User is the account, filled by SessionWithUser only: nil for an
	// anonymous session and for one whose account is gone.
	User *User `gorm:"-"`
}

// Expired reports whether the session has outlived its idle or absolute limit.
func (s *Session) Expired(now time.Time) bool {
	return !now.Before(s.IdleExpiresAt) || !now.Before(s.ExpiresAt)
}

// utc puts the row's times in UTC, to the microsecond: SQLite stores times
// as text and the expiry queries compare them as text, which only holds
// when every row uses one zone, and both databases keep microseconds, so a
// time read back equals the time written.
func (s *Session) utc() {
	s.CreatedAt, s.LastSeenAt = stored(s.CreatedAt), stored(s.LastSeenAt)
	s.IdleExpiresAt, s.ExpiresAt = stored(s.IdleExpiresAt), stored(s.ExpiresAt)
	for _, p := range []**time.Time{&s.AuthTime, &s.ReauthAt, &s.SSOCheckedAt} {
		if *p != nil {
			t := stored(**p)
			*p = &t
		}
	}
}

// stored is t as the database keeps it: UTC, to the microsecond.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// CreateSession inserts a session row.
func (db *DB) CreateSession(ctx context.Context, s *Session) error {
	s.utc()
	if err := db.gorm.WithContext(ctx).Create(s).Error; err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByHash finds a session by its token hash, expired or not.
func (db *DB) SessionByHash(ctx context.Context, hash string) (*Session, error) {
	var s Session
	err := db.gorm.WithContext(ctx).Where("token_hash = ?", hash).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	return &s, nil
}

// TouchSession records activity: a new last-seen time and idle expiry.
func (db *DB) TouchSession(ctx context.Context, id int64, seen, idleExpires time.Time) error {
	err := db.gorm.WithContext(ctx).Model(&Session{}).Where("id = ?", id).
		Updates(map[string]any{"last_seen_at": seen.UTC(), "idle_expires_at": idleExpires.UTC()}).Error
	if err != nil {
		return fmt.Errorf("touch session %d: %w", id, err)
	}
	return nil
}

// SaveSessionData writes the mutable columns of an existing session.
func (db *DB) SaveSessionData(ctx context.Context, s *Session) error {
	s.utc()
	err := db.gorm.WithContext(ctx).Model(&Session{}).Where("id = ?", s.ID).Updates(map[string]any{
		"user_id": s.UserID, "auth_method": s.AuthMethod, "auth_time": s.AuthTime, "provider_id": s.ProviderID,
		"issuer": s.Issuer, "subject": s.Subject, "sid": s.SID, "id_token": s.IDToken, "data": s.Data,
		"reauth_at": s.ReauthAt, "sso_checked_at": s.SSOCheckedAt, "mfa": s.MFA,
	}).Error
	if err != nil {
		return fmt.Errorf("save session %d: %w", s.ID, err)
	}
	return nil
}

// DeleteSession removes the session with the token hash, if any.
func (db *DB) DeleteSession(ctx context.Context, hash string) error {
	if err := db.gorm.WithContext(ctx).Where("token_hash = ?", hash).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessionByID removes one session of a user (revocation from a list).
func (db *DB) DeleteSessionByID(ctx context.Context, userID, id int64) (bool, error) {
	res := db.gorm.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&Session{})
	if res.Error != nil {
		return false, fmt.Errorf("delete session %d: %w", id, res.Error)
	}
	return res.RowsAffected > 0, nil
}

// DeleteUserSessions ends every session of a user except the one whose hash
// is keep (empty keeps none), returning how many ended.
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64, keep string) (int64, error) {
	res := db.gorm.WithContext(ctx).Where("user_id = ? AND token_hash <> ?", userID, keep).Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete sessions of user %d: %w", userID, res.Error)
	}
	return res.RowsAffected, nil
}

// UserSessions lists a user's live sessions, most recently used first.
func (db *DB) UserSessions(ctx context.Context, userID int64) ([]Session, error) {
	now := db.now()
	var ss []Session
	err := db.gorm.WithContext(ctx).Where("user_id = ? AND idle_expires_at > ? AND expires_at > ?", userID, now, now).
		Order("last_seen_at DESC").Find(&ss).Error
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	return ss, nil
}

// DeleteExpiredSessions removes at most batch expired rows, so a large
// backlog is cleared in short transactions that never block sign-ins for long.
func (db *DB) DeleteExpiredSessions(ctx context.Context, batch int) (int64, error) {
	now := db.now()
	// SQLite finds the rows through both indexes with UNION; PostgreSQL
	// cannot lock the rows of a UNION, and takes the rows no other
	// replica's sweep holds (SKIP LOCKED), so sweeps never wait on each
	// other or deadlock.
	q := map[Dialect]string{
		SQLite: `DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE idle_expires_at <= ? UNION SELECT id FROM sessions WHERE expires_at <= ? LIMIT ?)`,
		Postgres: `DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE idle_expires_at <= ? OR expires_at <= ? LIMIT ? FOR UPDATE SKIP LOCKED)`,
	}[db.dialect]
	res := db.gorm.WithContext(ctx).Exec(q, now, now, batch)
	if res.Error != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// CountActiveSessions counts signed-in sessions that have not expired (the
// gatehouse_active_sessions metric).
func (db *DB) CountActiveSessions(ctx context.Context) (int64, error) {
	now := db.now()
	var n int64
	err := db.gorm.WithContext(ctx).Model(&Session{}).
		Where("user_id IS NOT NULL AND idle_expires_at > ? AND expires_at > ?", now, now).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count active sessions: %w", err)
	}
	return n, nil
}
