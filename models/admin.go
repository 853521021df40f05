package models

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/sso"
	"math"
	"strings"
	"time"

	"gorm.io/gorm"
)

// UserFilter selects and orders the admin users list.
type UserFilter struct {
	Query       string // substring of email or name
	Admin       *bool
	Disabled    *bool
	HasPassword *bool
	HasSSO      *bool
	Verified    *bool  // the email is verified
	HasMFA      *bool  // a second factor is in use
	Sort        string // email, name, created, last_login; "-" prefix for descending
	Page        int    // from 1
	PerPage     int
}

// UserRow is a user with what the list shows beside it.
type UserRow struct {
	User
	Identities int64
}

// userSorts maps sort keys to indexed columns (no user text reaches SQL).
var userSorts = map[string]string{
	"email": "email", "name": "name", "created": "created_at", "last_login": "last_login_at",
}

// userColumns are the users columns a UserRow holds, named (never
// users.*) so a replica still running the previous version reads the
// columns it knows while a newer one adds some.
const userColumns = "users.id, users.email, users.name, users.password_hash, users.is_admin, users.disabled_at, " +
	"users.created_at, users.updated_at, users.last_login_at, users.last_login_method, users.email_changed_at, users.email_verified_at"

// SearchUsers returns one page of users and the total matching.
func (db *DB) SearchUsers(ctx context.Context, f UserFilter) ([]UserRow, int64, error) {
	q := db.gorm.WithContext(ctx).Table("users")
	if s := strings.TrimSpace(f.Query); s != "" {
		like := "%" + escapeLike(strings.ToLower(s)) + "%"
		// Case-insensitive on both: SQLite's LIKE already ignores ASCII case
		// (and its lower() folds ASCII only, so lower(name) matched nothing
		// more and cost a third of the scan); PostgreSQL's is ILIKE.
		op := map[Dialect]string{SQLite: "LIKE", Postgres: "ILIKE"}[db.dialect]
		q = q.Where("(email "+op+" ? ESCAPE '\\' OR name "+op+" ? ESCAPE '\\')", like, like)
	}
	if f.Admin != nil {
		q = q.Where("is_admin = ?", *f.Admin)
	}
	if f.Disabled != nil {
		q = q.Where(map[bool]string{true: "disabled_at IS NOT NULL", false: "disabled_at IS NULL"}[*f.Disabled])
	}
	if f.HasPassword != nil {
		q = q.Where(map[bool]string{true: "password_hash IS NOT NULL", false: "password_hash IS NULL"}[*f.HasPassword])
	}
	if f.HasSSO != nil {
		q = q.Where(map[bool]string{true: "EXISTS", false: "NOT EXISTS"}[*f.HasSSO] + " (SELECT 1 FROM identities i WHERE i.user_id = users.id)")
	}
	if f.Verified != nil {
		q = q.Where(map[bool]string{true: "email_verified_at IS NOT NULL", false: "email_verified_at IS NULL"}[*f.Verified])
	}
	if f.HasMFA != nil {
		q = q.Where(map[bool]string{true: "EXISTS", false: "NOT EXISTS"}[*f.HasMFA] + " (SELECT 1 FROM totp_factors f WHERE f.user_id = users.id AND f.confirmed_at IS NOT NULL" +
			" UNION ALL SELECT 1 FROM passkeys p WHERE p.user_id = users.id)")
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	col, desc := userSorts[strings.TrimPrefix(f.Sort, "-")], strings.HasPrefix(f.Sort, "-")
	if col == "" {
		col = "email"
	}
	// Accounts that never signed in (NULL) come first going up and last
	// going down, on both databases (PostgreSQL would put them last going
	// up); the index on last_login_at is in that order.
	order := col + " NULLS FIRST"
	if desc {
		order = col + " DESC NULLS LAST"
	}
	per := min(max(f.PerPage, 1), 200)
	page := max(f.Page, 1)
	var rows []UserRow
	err := q.Select(userColumns + ", (SELECT COUNT(*) FROM identities i WHERE i.user_id = users.id) AS identities").
		Order(order + ", id").Limit(per).Offset((page - 1) * per).Scan(&rows).Error
	if err != nil {
		return nil, 0, fmt.Errorf("search users: %w", err)
	}
	return rows, total, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// UpdateUser changes an account's name, email and admin flag. A new email
// stamps email_changed_at and clears email_verified_at in the same
// statement, compared with the stored one, so no change of address escapes
// the records that SSO linking reads: an address an administrator typed is
// not proved to reach anyone.
func (db *DB) UpdateUser(ctx context.Context, id int64, name, email string, admin bool) error {
	email = sso.NormalizeEmail(email)
	if !ValidEmail(email) {
		return fmt.Errorf("update user: invalid email %q", email)
	}
	err := db.updateUser(ctx, id, map[string]any{
		"name": name, "email": email, "is_admin": admin,
		"name_local": gorm.Expr("name_local OR name <> ?", name),
		// A demotion by hand ends what a provider granted.
		"admin_via":         gorm.Expr("CASE WHEN ? THEN admin_via ELSE '' END", admin),
		"email_changed_at":  gorm.Expr("CASE WHEN email = ? THEN email_changed_at ELSE ? END", email, db.now()),
		"email_verified_at": gorm.Expr("CASE WHEN email = ? THEN email_verified_at ELSE NULL END", email),
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrEmailTaken
	}
	return err
}

// DeleteUser removes an account; its identities, sessions and pending
// links go with it (ON DELETE CASCADE). Audit events stay.
func (db *DB) DeleteUser(ctx context.Context, id int64) error {
	res := db.gorm.WithContext(ctx).Delete(&User{}, id)
	if res.Error != nil {
		return fmt.Errorf("delete user %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// IdentityByID finds one of a user's identities.
func (db *DB) IdentityByID(ctx context.Context, userID, id int64) (*Identity, error) {
	var ident Identity
	err := db.gorm.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Take(&ident).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find identity: %w", err)
	}
	return &ident, nil
}

// DeleteIdentity unlinks an identity and ends the sessions that came from it.
func (db *DB) DeleteIdentity(ctx context.Context, userID, id int64) (*Identity, error) {
	var ident *Identity
	err := db.Tx(ctx, func(tx *DB) error {
		var err error
		if ident, err = tx.IdentityByID(ctx, userID, id); err != nil {
			return err
		}
		if err := tx.gorm.Delete(&Identity{}, id).Error; err != nil {
			return fmt.Errorf("unlink identity %d: %w", id, err)
		}
		err = tx.gorm.Where("user_id = ? AND issuer = ? AND subject = ?", userID, ident.Issuer, ident.Subject).Delete(&Session{}).Error
		if err != nil {
			return fmt.Errorf("end sessions of identity %d: %w", id, err)
		}
		return nil
	})
	return ident, err
}

// EventFilter selects audit log entries.
type EventFilter struct {
	UserID   *int64
	Kind     string // exact kind, or a prefix ending in "." (login.)
	From, To time.Time
	Page     int
	PerPage  int // 0 with Page 0: no limit
}

// eventQuery is the events matching f's filters (not its paging).
func (db *DB) eventQuery(ctx context.Context, f EventFilter) *gorm.DB {
	q := db.gorm.WithContext(ctx).Model(&Event{})
	if f.UserID != nil {
		q = q.Where("user_id = ? OR actor_id = ?", *f.UserID, *f.UserID)
	}
	if k := f.Kind; k != "" {
		if strings.HasSuffix(k, ".") {
			q = q.Where("kind LIKE ? ESCAPE '\\'", escapeLike(k)+"%")
		} else {
			q = q.Where("kind = ?", k)
		}
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	return q
}

// SearchEvents returns audit events newest first, and the total matching.
func (db *DB) SearchEvents(ctx context.Context, f EventFilter) ([]Event, int64, error) {
	var total int64
	if err := db.eventQuery(ctx, f).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count events: %w", err)
	}
	q := db.eventQuery(ctx, f).Order("id DESC")
	if f.PerPage > 0 {
		q = q.Limit(f.PerPage).Offset((max(f.Page, 1) - 1) * f.PerPage)
	}
	var es []Event
	if err := q.Find(&es).Error; err != nil {
		return nil, 0, fmt.Errorf("search events: %w", err)
	}
	return es, total, nil
}

// EachEventPage calls fn with every event matching f's filters (its paging
// is ignored), newest first, at most pageSize at a time, until fn returns
// an error (returned as is) or the events run out. Pages are keyset pages
// (the ids below the last one seen), so an export of any size holds one
// page in memory, each query is as cheap as the first, and events written
// while it runs, whose ids are higher, are left out: the export is the log
// as it stood when it began, less what the sweep removes meanwhile.
func (db *DB) EachEventPage(ctx context.Context, f EventFilter, pageSize int, fn func([]Event) error) error {
	var before int64 = math.MaxInt64
	for {
		var es []Event
		err := db.eventQuery(ctx, f).Where("id < ?", before).Order("id DESC").Limit(pageSize).Find(&es).Error
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		if len(es) == 0 {
			return nil
		}
		if err := fn(es); err != nil {
			return err
		}
		if len(es) < pageSize {
			return nil
		}
		before = es[len(es)-1].ID
	}
}
