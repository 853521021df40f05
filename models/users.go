package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/sso"
	"gorm.io/gorm"
)

// ErrEmailTaken is returned when another account already has the email.
var ErrEmailTaken = errors.New("an account with this email already exists")

// User is a local account. PasswordHash is nil for SSO-only accounts.
type User struct {
	ID              int64
	Email           string
	Name            string
	PasswordHash    *string
	IsAdmin         bool
	DisabledAt      *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	LastLoginAt     *time.Time
	LastLoginMethod Method
	// EmailChangedAt is when Email last changed; nil when it never did.
	EmailChangedAt *time.Time
	// EmailVerifiedAt is when Email was last proved to reach the account's
	// owner; nil when it never was, or not since it changed.
	EmailVerifiedAt *time.Time
	// AdminVia names the provider and group that make the account an
	// administrator ("acme: gatehouse-admins"); "" when none does.
	AdminVia string
	// NameLocal reports that Name was set in gatehouse (by the owner or an
	// administrator): SSO sign-ins no longer replace it.
	NameLocal bool
}

// EmailVerified reports whether the account's address was proved to reach
// its owner.
func (u *User) EmailVerified() bool { return u.EmailVerifiedAt != nil }

// EmailChangedWithin reports whether the account's email changed less than
// d before now (or, with the clock set back, after it).
func (u *User) EmailChangedWithin(d time.Duration, now time.Time) bool {
	return u.EmailChangedAt != nil && now.Sub(*u.EmailChangedAt) < d
}

// Disabled reports whether the account may not sign in.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

// HasPassword reports whether the account can sign in with a password.
func (u *User) HasPassword() bool { return u.PasswordHash != nil && *u.PasswordHash != "" }

// ValidEmail checks the shape of an already normalised email: one @, a
// non-empty local part and a dotted-or-not domain, no spaces and no
// characters that hide or reorder text (sso.Invisible: controls,
// zero-width and bidi characters), which would let two addresses that look
// the same be different accounts.
func ValidEmail(email string) bool {
	if len(email) > 254 || !utf8.ValidString(email) {
		return false
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return false
	}
	return !strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || sso.Invisible(r) })
}

// CreateUser inserts u (email normalised) and fills its ID and times.
func (db *DB) CreateUser(ctx context.Context, u *User) error {
	u.Email = sso.NormalizeEmail(u.Email)
	if !ValidEmail(u.Email) {
		return fmt.Errorf("create user: invalid email %q", u.Email)
	}
	now := db.now()
	u.CreatedAt, u.UpdatedAt = now, now
	if err := db.gorm.WithContext(ctx).Create(u).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return ErrEmailTaken
		}
		return fmt.Errorf("create user %s: %w", u.Email, err)
	}
	return nil
}

// UserByEmail finds an account by email (normalised here).
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	return db.findUser(ctx, "email = ?", sso.NormalizeEmail(email))
}

// UserByID finds an account by ID.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	return db.findUser(ctx, "id = ?", id)
}

// LockUser is UserByID for a guard inside Tx: on PostgreSQL the row stays
// locked (SELECT ... FOR UPDATE) until the transaction ends, so another
// transaction changing the same account's ways to sign in waits and then
// sees this one's writes.
func (db *DB) LockUser(ctx context.Context, id int64) (*User, error) {
	return db.forUpdate().findUser(ctx, "id = ?", id)
}

// Admins returns the enabled administrators, at most limit.
func (db *DB) Admins(ctx context.Context, limit int) ([]User, error) {
	var us []User
	if err := db.gorm.WithContext(ctx).Where("is_admin AND disabled_at IS NULL").Order("id").Limit(limit).Find(&us).Error; err != nil {
		return nil, fmt.Errorf("list administrators: %w", err)
	}
	return us, nil
}

// LockAdmins returns the IDs of the enabled administrators, their rows
// locked until the transaction ends on PostgreSQL (see Tx): two
// transactions each taking away a different administrator cannot both
// count two and leave none.
func (db *DB) LockAdmins(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := db.forUpdate().gorm.WithContext(ctx).Model(&User{}).
		Where("is_admin AND disabled_at IS NULL").Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("lock administrators: %w", err)
	}
	return ids, nil
}

func (db *DB) findUser(ctx context.Context, where string, arg any) (*User, error) {
	var u User
	err := db.gorm.WithContext(ctx).Where(where, arg).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return &u, nil
}

// ListUsers returns all accounts ordered by email (the CLI listing).
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	var users []User
	if err := db.gorm.WithContext(ctx).Order("email").Find(&users).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// UserEmails maps each of ids that names an account to its current email
// (the audit log shows who events are about as they are now), in one query
// per inChunk IDs. IDs of deleted accounts are left out.
func (db *DB) UserEmails(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	for chunk := range slices.Chunk(ids, inChunk) {
		var rows []struct {
			ID    int64
			Email string
		}
		if err := db.gorm.WithContext(ctx).Model(&User{}).Select("id, email").Where("id IN ?", chunk).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("look up user emails: %w", err)
		}
		for _, r := range rows {
			out[r.ID] = r.Email
		}
	}
	return out, nil
}

// inChunk is the most values one IN (...) list carries: each is a bound
// parameter, and SQLite takes at most 32,766 of them in a statement and
// PostgreSQL 65,535.
const inChunk = 1000

// CountUsers counts accounts; adminsOnly counts enabled admins.
func (db *DB) CountUsers(ctx context.Context, adminsOnly bool) (int64, error) {
	q := db.gorm.WithContext(ctx).Model(&User{})
	if adminsOnly {
		q = q.Where("is_admin AND disabled_at IS NULL")
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetPasswordHash replaces (or with nil removes) the account's password hash.
func (db *DB) SetPasswordHash(ctx context.Context, id int64, hash *string) error {
	return db.updateUser(ctx, id, map[string]any{"password_hash": hash})
}

// RecordLogin stamps the account's last sign-in time and method.
func (db *DB) RecordLogin(ctx context.Context, id int64, method Method) error {
	return db.updateUser(ctx, id, map[string]any{"last_login_at": db.now(), "last_login_method": method})
}

// SetDisabled disables (ending every session of the account in the same
// transaction) or re-enables an account.
func (db *DB) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	return db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var at *time.Time
		if disabled {
			now := db.now()
			at = &now
			if err := tx.Where("user_id = ?", id).Delete(&Session{}).Error; err != nil {
				return fmt.Errorf("end sessions of user %d: %w", id, err)
			}
		}
		res := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{"disabled_at": at, "updated_at": db.now()})
		if res.Error != nil {
			return fmt.Errorf("disable user %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

func (db *DB) updateUser(ctx context.Context, id int64, fields map[string]any) error {
	fields["updated_at"] = db.now()
	res := db.gorm.WithContext(ctx).Model(&User{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return fmt.Errorf("update user %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetAdmin sets the account's admin flag and what grants it (AdminVia),
// as an SSO sign-in's group sync decided.
func (db *DB) SetAdmin(ctx context.Context, id int64, admin bool, via string) error {
	return db.updateUser(ctx, id, map[string]any{"is_admin": admin, "admin_via": via})
}

// MarkEmailVerified records that the account's address, if it is still
// email, reaches its owner: a link sent to it was used. The address is
// compared in the statement, so a link sent to an address the account no
// longer has verifies nothing.
func (db *DB) MarkEmailVerified(ctx context.Context, id int64, email string) error {
	res := db.gorm.WithContext(ctx).Model(&User{}).Where("id = ? AND email = ?", id, sso.NormalizeEmail(email)).
		Updates(map[string]any{"email_verified_at": db.now(), "updated_at": db.now()})
	if res.Error != nil {
		return fmt.Errorf("mark email verified: %w", res.Error)
	}
	return nil
}

// ChangeEmail gives the account a new address its owner proved (a
// confirmation link sent to it was used): it is verified now, and
// email_changed_at is stamped as for every change of address.
func (db *DB) ChangeEmail(ctx context.Context, id int64, email string) error {
	email = sso.NormalizeEmail(email)
	if !ValidEmail(email) {
		return fmt.Errorf("change email: invalid email %q", email)
	}
	now := db.now()
	err := db.updateUser(ctx, id, map[string]any{"email": email, "email_changed_at": now, "email_verified_at": now})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrEmailTaken
	}
	return err
}

// UpdateUserName changes only the name (set in gatehouse, so marked
// NameLocal): an edit of one field must not write back others read
// earlier, undoing a concurrent change to them.
func (db *DB) UpdateUserName(ctx context.Context, id int64, name string) error {
	return db.updateUser(ctx, id, map[string]any{"name": name, "name_local": true})
}

// FollowProviderName sets the name an SSO sign-in's provider gives, unless
// the name was set in gatehouse since (one statement decides, so an edit
// that commits meanwhile is kept), and reports whether it changed.
func (db *DB) FollowProviderName(ctx context.Context, id int64, name string) (bool, error) {
	res := db.gorm.WithContext(ctx).Model(&User{}).Where("id = ? AND NOT name_local AND name <> ?", id, name).
		Updates(map[string]any{"name": name, "updated_at": db.now()})
	if res.Error != nil {
		return false, fmt.Errorf("follow provider name: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}
