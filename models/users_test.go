package models

import (
	"errors"
	"maps"
	"testing"
	"time"
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
