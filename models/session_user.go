package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// sessionWithUserQuery selects a session and its account in one round trip:
// every page view runs it, and the account must be read on each one so that
// a disabled account is signed out at once. The columns are listed because
// both tables have id and created_at; the users columns are all NULL for an
// anonymous session or an account that is gone (LEFT JOIN).
//
// The hash is compared as CAST(? AS TEXT), not as a bare parameter: with a
// bare parameter SQLite re-prepares this join at every execution (the
// driver rebinds, and the bound value is taken to affect the plan), which
// measured at three times the cost of the query prepared once. The cast is
// a no-op on a text argument, and the token_hash index is still used.
const sessionWithUserQuery = `SELECT
	s.id, s.token_hash, s.user_id, s.created_at, s.last_seen_at, s.idle_expires_at, s.expires_at,
	s.ip, s.user_agent, s.auth_method, s.auth_time, s.provider_id, s.issuer, s.subject, s.sid,
	s.id_token, s.data, s.reauth_at, s.sso_checked_at,
	u.id, u.email, u.name, u.password_hash, u.is_admin, u.disabled_at, u.created_at, u.updated_at,
	u.last_login_at, u.last_login_method, u.email_changed_at
FROM sessions s LEFT JOIN users u ON u.id = s.user_id
WHERE s.token_hash = CAST(? AS TEXT)`

// SessionWithUser finds a session by its token hash, expired or not, with
// its account in User (nil when it has none). ErrNotFound when no session
// has the hash.
func (db *DB) SessionWithUser(ctx context.Context, hash string) (*Session, error) {
	var (
		s Session
		u struct {
			id                    sql.NullInt64
			email, name, method   sql.NullString
			isAdmin               sql.NullBool
			createdAt, updatedAt  sql.NullTime
			passwordHash          *string
			disabledAt, lastLogin *time.Time
			emailChangedAt        *time.Time
		}
	)
	err := db.gorm.WithContext(ctx).Raw(sessionWithUserQuery, hash).Row().Scan(
		&s.ID, &s.TokenHash, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.IdleExpiresAt, &s.ExpiresAt,
		&s.IP, &s.UserAgent, &s.AuthMethod, &s.AuthTime, &s.ProviderID, &s.Issuer, &s.Subject, &s.SID,
		&s.IDToken, &s.Data, &s.ReauthAt, &s.SSOCheckedAt,
		&u.id, &u.email, &u.name, &u.passwordHash, &u.isAdmin, &u.disabledAt, &u.createdAt, &u.updatedAt,
		&u.lastLogin, &u.method, &u.emailChangedAt,
	)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find session with user: %w", err)
	}
	if u.id.Valid {
		s.User = &User{
			ID: u.id.Int64, Email: u.email.String, Name: u.name.String, PasswordHash: u.passwordHash,
			IsAdmin: u.isAdmin.Bool, DisabledAt: u.disabledAt, CreatedAt: u.createdAt.Time, UpdatedAt: u.updatedAt.Time,
			LastLoginAt: u.lastLogin, LastLoginMethod: Method(u.method.String), EmailChangedAt: u.emailChangedAt,
		}
	}
	return &s, nil
}
