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
// The hash is compared as CAST($1 AS TEXT), not as a bare parameter: with a
// bare parameter SQLite re-prepares this join at every execution (the
// driver rebinds, and the bound value is taken to affect the plan), which
// measured at three times the cost of the query prepared once. The cast is
// a no-op on a text argument, and the token_hash index is still used. The
// placeholder is written $1, which both SQLite and PostgreSQL read.
const sessionWithUserQuery = `SELECT
	s.id, s.token_hash, s.user_id, s.created_at, s.last_seen_at, s.idle_expires_at, s.expires_at,
	s.ip, s.user_agent, s.auth_method, s.auth_time, s.provider_id, s.issuer, s.subject, s.sid,
	s.id_token, s.data, s.reauth_at, s.sso_checked_at, s.mfa,
	u.id, u.email, u.name, u.password_hash, u.is_admin, u.disabled_at, u.created_at, u.updated_at,
	u.last_login_at, u.last_login_method, u.email_changed_at, u.email_verified_at, u.admin_via, u.name_local
FROM sessions s LEFT JOIN users u ON u.id = s.user_id
WHERE s.token_hash = CAST($1 AS TEXT)`

// SessionWithUser finds a session by its token hash, expired or not, with
// its account in User (nil when it has none). ErrNotFound when no session
// has the hash.
//
// It runs on database/sql with an explicit Scan rather than through gorm:
// every page view runs it, and gorm's statement building (a copy of the
// handle, a byte-by-byte pass over the SQL for placeholders) and its
// reflection cost more than SQLite's own work on this query. The nullable
// columns are scanned into sql.Null* values so only those that are set
// cost a pointer.
func (db *DB) SessionWithUser(ctx context.Context, hash string) (*Session, error) {
	var (
		s Session
		n struct { // the nullable columns; one struct, so one allocation
			userID, uID                                 sql.NullInt64
			authTime, reauthAt, checkedAt               sql.NullTime
			email, name, pwHash, method, adminVia       sql.NullString
			isAdmin, nameLocal                          sql.NullBool
			disabledAt, lastLogin, createdAt, updatedAt sql.NullTime
			emailChangedAt, emailVerifiedAt             sql.NullTime
		}
	)
	err := db.pool().QueryRowContext(ctx, sessionWithUserQuery, hash).Scan(
		&s.ID, &s.TokenHash, &n.userID, &s.CreatedAt, &s.LastSeenAt, &s.IdleExpiresAt, &s.ExpiresAt,
		&s.IP, &s.UserAgent, (*string)(&s.AuthMethod), &n.authTime, &s.ProviderID, &s.Issuer, &s.Subject, &s.SID,
		&s.IDToken, &s.Data, &n.reauthAt, &n.checkedAt, (*string)(&s.MFA),
		&n.uID, &n.email, &n.name, &n.pwHash, &n.isAdmin, &n.disabledAt, &n.createdAt, &n.updatedAt,
		&n.lastLogin, &n.method, &n.emailChangedAt, &n.emailVerifiedAt, &n.adminVia, &n.nameLocal,
	)
	db.traced(sessionWithUserQuery)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find session with user: %w", err)
	}
	if n.userID.Valid {
		s.UserID = &n.userID.Int64
	}
	s.AuthTime, s.ReauthAt, s.SSOCheckedAt = timeOrNil(n.authTime), timeOrNil(n.reauthAt), timeOrNil(n.checkedAt)
	if n.uID.Valid {
		s.User = &User{
			ID: n.uID.Int64, Email: n.email.String, Name: n.name.String, IsAdmin: n.isAdmin.Bool,
			DisabledAt: timeOrNil(n.disabledAt), CreatedAt: n.createdAt.Time, UpdatedAt: n.updatedAt.Time,
			LastLoginAt: timeOrNil(n.lastLogin), LastLoginMethod: Method(n.method.String),
			EmailChangedAt: timeOrNil(n.emailChangedAt), EmailVerifiedAt: timeOrNil(n.emailVerifiedAt),
			AdminVia: n.adminVia.String, NameLocal: n.nameLocal.Bool,
		}
		if n.pwHash.Valid {
			s.User.PasswordHash = &n.pwHash.String
		}
	}
	return &s, nil
}

// timeOrNil is a nullable column's time as the row types hold it.
func timeOrNil(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}
