package models

import (
	"testing"
	"time"
)

// TestGormStampsFromTheDBClock: the times gorm fills in itself (a zero
// CreatedAt on insert, UpdatedAt on an update that leaves it out) come from
// DB.Now, as in a transaction, so a test moving the clock moves them too.
func TestGormStampsFromTheDBClock(t *testing.T) {
	db := openTestDB(t)
	t0 := time.Date(2031, 5, 6, 7, 8, 9, 0, time.FixedZone("east", 3*3600))
	set := fixedClock(db, t0)
	ctx := t.Context()

	e := &Event{Kind: EventLogout}
	if err := db.gorm.WithContext(ctx).Create(e).Error; err != nil {
		t.Fatal(err)
	}
	if !e.CreatedAt.Equal(t0) || e.CreatedAt.Location() != time.UTC {
		t.Errorf("gorm stamped CreatedAt %v, want the DB clock's %v in UTC", e.CreatedAt, t0.UTC())
	}

	u := mustCreateUser(t, db, "stamp@example.com")
	t1 := t0.Add(time.Hour)
	set(t1)
	err := db.Tx(ctx, func(tx *DB) error {
		return tx.gorm.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{"name": "Stamped"}).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.Equal(t1) {
		t.Errorf("gorm stamped UpdatedAt %v, want the DB clock's %v", got.UpdatedAt, t1.UTC())
	}
}
