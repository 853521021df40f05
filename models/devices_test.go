package models

import (
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/testkit"
)

// TestDevices: a remembered device is known to its account only, within
// the age asked for; remembering it again refreshes it; an account keeps
// only its most recently used devices; old ones are deleted, and an
// account's go with it.
func TestDevices(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, t0)
	alice, bob := mustCreateUser(t, db, "alice@example.com"), mustCreateUser(t, db, "bob@example.com")
	known := func(email, hash string, age time.Duration) bool {
		t.Helper()
		ok, err := db.KnownDevice(ctx, email, hash, age)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := db.RememberDevice(ctx, alice.ID, "h1", 3); err != nil {
		t.Fatal(err)
	}
	if !known(" Alice@Example.com", "h1", time.Hour) || known("bob@example.com", "h1", time.Hour) || known("alice@example.com", "h2", time.Hour) {
		t.Fatal("a device must be known to its own account only")
	}
	set(t0.Add(2 * time.Hour))
	if known("alice@example.com", "h1", time.Hour) {
		t.Fatal("a device unused for longer than the age asked for is known")
	}
	if err := db.RememberDevice(ctx, alice.ID, "h1", 3); err != nil { // again: refreshed, not duplicated
		t.Fatal(err)
	}
	if !known("alice@example.com", "h1", time.Hour) || countRows(t, db, "SELECT count(*) FROM devices") != 1 {
		t.Fatal("remembering a device again did not refresh its one row")
	}

	// Five more browsers: alice keeps her three most recent; bob's device
	// is not pruned by hers.
	if err := db.RememberDevice(ctx, bob.ID, "b1", 3); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		set(t0.Add(3*time.Hour + time.Duration(i)*time.Minute))
		if err := db.RememberDevice(ctx, alice.ID, "n"+strconv.Itoa(i), 3); err != nil {
			t.Fatal(err)
		}
	}
	if n := countRows(t, db, "SELECT count(*) FROM devices WHERE user_id = ?", alice.ID); n != 3 {
		t.Fatalf("alice has %d devices, want the 3 kept", n)
	}
	for hash, want := range map[string]bool{"h1": false, "n0": false, "n1": false, "n2": true, "n3": true, "n4": true} {
		if known("alice@example.com", hash, 24*time.Hour) != want {
			t.Errorf("device %s known = %t, want %t", hash, !want, want)
		}
	}
	if !known("bob@example.com", "b1", 24*time.Hour) {
		t.Error("pruning alice's devices removed bob's")
	}

	// b1 was used at t0+2h, alice's at t0+3h02 and later.
	set(t0.Add(3*time.Hour + 3*time.Minute))
	if n, err := db.DeleteOldDevices(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("DeleteOldDevices = %d, %v; want 1 (bob's)", n, err)
	}
	if err := db.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "SELECT count(*) FROM devices"); n != 0 {
		t.Fatalf("%d devices left after their account was deleted", n)
	}
}

// TestMigrateDevices: migration 6 goes down and up again.
func TestMigrateDevices(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := Open(testkit.Database(t, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := db.migrator()
	if err != nil {
		t.Fatal(err)
	}
	down, err := p.DownTo(ctx, 5)
	if err != nil {
		t.Fatalf("migrate down to 5: %v", err)
	}
	if n := countRows(t, db, map[Dialect]string{
		SQLite:   "SELECT count(*) FROM sqlite_master WHERE name = 'devices'",
		Postgres: "SELECT count(*) FROM information_schema.tables WHERE table_name = 'devices'",
	}[db.Dialect()]); n != 0 {
		t.Fatal("devices table left after migrating down")
	}
	if n, err := db.Migrate(ctx); err != nil || n != len(down) || n < 1 {
		t.Fatalf("migrate up again = %d, %v; want the %d rolled back", n, err, len(down))
	}
}
