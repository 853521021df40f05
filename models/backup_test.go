package models

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestServeLock: servers share the lock beside the database, a restore
// needs it alone, and a released lock is free again.
func TestServeLock(t *testing.T) {
	db := filepath.Join(t.TempDir(), "new", "g.db") // its folder does not exist yet
	tests := []struct {
		name      string
		held, try func(string) (func(), error)
		want      error
	}{
		{"two servers", LockServing, LockServing, nil},
		{"restore while serving", LockServing, LockStopped, ErrServing},
		{"serve while restoring", LockStopped, LockServing, ErrRestoring},
		{"two restores", LockStopped, LockStopped, ErrServing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unlock, err := tt.held(db)
			if err != nil {
				t.Fatal(err)
			}
			again, err := tt.try(db)
			if !errors.Is(err, tt.want) {
				t.Fatalf("second lock: %v, want %v", err, tt.want)
			}
			if again != nil {
				again()
			}
			unlock()
			free, err := tt.try(db)
			if err != nil {
				t.Fatalf("after release: %v", err)
			}
			free()
		})
	}
	if fi, err := os.Stat(ServeLockFile(db)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v %v", fi, err)
	}
}

// TestOpenSnapshot: a snapshot is opened without creating anything: not
// a missing file, nor a -wal or -shm beside a WAL-mode one.
func TestOpenSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db, err := Open(live) // WAL mode
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	snap, err := OpenSnapshot(live)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if v, latest, err := snap.SchemaVersion(ctx); err != nil || v != latest {
		t.Fatalf("version %d of %d: %v", v, latest, err)
	}
	snap.Close()
	for _, f := range []string{live + "-wal", live + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("OpenSnapshot left %s", f)
		}
	}
	missing := filepath.Join(dir, "missing.db")
	if _, err := OpenSnapshot(missing); err == nil {
		t.Fatal("OpenSnapshot opened a missing file")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("OpenSnapshot created a missing file")
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	if g, err := OpenSnapshot(garbage); err == nil {
		if err := g.IntegrityCheck(ctx); err == nil {
			t.Error("a file of zeros passed the integrity check")
		}
		g.Close()
	}
}
