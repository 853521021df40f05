package models

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"
)

func TestUserEmails(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	ann, bob := mustCreateUser(t, db, "ann@example.com"), mustCreateUser(t, db, "bob@example.com")
	got, err := db.UserEmails(ctx, []int64{bob.ID, ann.ID, bob.ID, 9999})
	want := map[int64]string{ann.ID: "ann@example.com", bob.ID: "bob@example.com"}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("UserEmails = %v, %v; want %v (the unknown id left out)", got, err, want)
	}
	if got, err := db.UserEmails(ctx, nil); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("UserEmails(nil) = %#v, %v; want an empty map", got, err)
	}
}

func TestUpdateUserName(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, t0)
	ctx := t.Context()
	u := mustCreateUser(t, db, "ann@example.com")
	// Another writer changes the email and admin flag after u was read.
	if err := db.UpdateUser(ctx, u.ID, u.Name, "ann.new@example.com", true); err != nil {
		t.Fatal(err)
	}
	set(t0.Add(time.Hour))
	if err := db.UpdateUserName(ctx, u.ID, "Ann Example"); err != nil {
		t.Fatal(err)
	}
	got, err := db.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Ann Example" || got.Email != "ann.new@example.com" || !got.IsAdmin || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after UpdateUserName: %+v; want the new name, the other writer's email and flag, updated_at %v", got, t0.Add(time.Hour))
	}
	if err := db.UpdateUserName(ctx, 9999, "Nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateUserName of a missing account: %v, want ErrNotFound", err)
	}
}

// TestUpdateUserEmailChangedAt: a new email stamps email_changed_at with
// the clock; saving the same email (in any case), the name or the admin
// flag leaves the stamp as it was.
func TestUpdateUserEmailChangedAt(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, t0)
	ctx := t.Context()
	u := mustCreateUser(t, db, "ann@example.com")
	stamp := func() *time.Time {
		t.Helper()
		got, err := db.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.EmailChangedAt
	}
	if at := stamp(); at != nil {
		t.Fatalf("a new account has email_changed_at %v, want NULL", at)
	}
	steps := []struct {
		name, email string
		admin       bool
		want        *time.Time
	}{
		{"Ann", "ann@example.com", false, nil},                       // the name only
		{"Ann", " ANN@Example.com", true, nil},                       // the same address and the flag
		{"Ann", "ann.new@example.com", true, new(t0.Add(time.Hour))}, // a new address
		{"Ann B", "ann.new@example.com", true, new(t0.Add(time.Hour))},
		{"Ann B", "ann@example.com", true, new(t0.Add(2 * time.Hour))}, // changed back: a change too
	}
	for i, s := range steps {
		set(t0.Add(time.Duration(i) * 30 * time.Minute))
		if err := db.UpdateUser(ctx, u.ID, s.name, s.email, s.admin); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if at := stamp(); (at == nil) != (s.want == nil) || (at != nil && !at.Equal(*s.want)) {
			t.Errorf("step %d (%q): email_changed_at = %v, want %v", i, s.email, at, s.want)
		}
	}
	if got, err := db.UserByID(ctx, u.ID); err != nil || !got.EmailChangedWithin(time.Hour, t0.Add(150*time.Minute)) ||
		got.EmailChangedWithin(time.Hour, t0.Add(3*time.Hour)) {
		t.Errorf("EmailChangedWithin around %v: %+v, %v", got.EmailChangedAt, got, err)
	}
}

// TestMigrateEmailChangedAt: migration 7 adds users.email_changed_at
// (NULL for existing accounts) and its Down removes it, keeping the rows.
func TestMigrateEmailChangedAt(t *testing.T) {
	testkit.SkipOnPostgres(t, "reads columns with pragma_table_info")
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	u := mustCreateUser(t, db, "ann@example.com")
	if err := db.UpdateUser(ctx, u.ID, "", "ann.new@example.com", false); err != nil {
		t.Fatal(err)
	}
	p, err := db.migrator()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 6); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_table_info('users') WHERE name = 'email_changed_at'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after down: %d email_changed_at columns, %v", n, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	got, err := db.UserByID(ctx, u.ID)
	if err != nil || got.Email != "ann.new@example.com" || got.EmailChangedAt != nil {
		t.Fatalf("after down and up: %+v, %v; want the account, with email_changed_at NULL", got, err)
	}
}
