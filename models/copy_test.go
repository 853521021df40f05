package models

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/testkit"
)

// openSQLiteTestDB opens a migrated SQLite database whatever the tests run
// on: CopyFrom's source.
func openSQLiteTestDB(t *testing.T, name string) *DB {
	t.Helper()
	return openMigrated(t, filepath.Join(t.TempDir(), name))
}

// TestCopyFromSQLiteKnowsEveryTable: copyTables lists every table the
// migrations make (on the dialect the tests run on, and on SQLite), and in
// foreign-key order: a table comes after each table it references. A
// migration adding a table without adding it there fails here.
func TestCopyFromSQLiteKnowsEveryTable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	want := slices.Sorted(slices.Values(copyTables))
	lite := openSQLiteTestDB(t, "tables.db")
	for _, db := range []*DB{openTestDB(t), lite} {
		got, err := db.tables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s tables %v, copyTables %v", db.dialect, got, want)
		}
	}
	for i, table := range copyTables {
		rows, err := lite.sql.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list($1)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var ref string
			if err := rows.Scan(&ref); err != nil {
				t.Fatal(err)
			}
			if j := slices.Index(copyTables, ref); j < 0 || j >= i {
				t.Errorf("%s references %s, which copyTables puts after it", table, ref)
			}
		}
		rows.Close()
	}
}

// TestCopyFromSQLiteDialects: CopyFrom copies from SQLite into PostgreSQL
// only, and only between databases at this binary's migration version.
func TestCopyFromSQLiteDialects(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := openSQLiteTestDB(t, "src.db")
	if _, err := CopyFrom(ctx, openSQLiteTestDB(t, "dst.db"), src); err == nil || !strings.Contains(err.Error(), "destination must be a PostgreSQL database") {
		t.Errorf("copy into SQLite: %v", err)
	}
	if !testkit.OnPostgres() {
		t.Skip("the rest copies into PostgreSQL: run with bash .ci/postgres.sh")
	}
	dst := openTestDB(t)
	if _, err := CopyFrom(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "source must be an SQLite database") {
		t.Errorf("copy from PostgreSQL: %v", err)
	}
	unmigrated, err := Open(filepath.Join(t.TempDir(), "unmigrated.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer unmigrated.Close()
	if _, err := CopyFrom(ctx, dst, unmigrated); err == nil || !strings.Contains(err.Error(), "the source is at migration version 0") {
		t.Errorf("copy from an unmigrated database: %v", err)
	}
	mustCreateUser(t, dst, "taken@example.com")
	if _, err := CopyFrom(ctx, dst, src); !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), ": users already hold rows") {
		t.Errorf("copy into a database with a user: %v", err)
	}
}

// TestCopyFromSQLiteRollsBack: a row PostgreSQL refuses (a session of an
// account that does not exist, which SQLite kept because foreign keys were
// off when it was written) fails the whole copy, and the destination keeps
// no row of it, not even the tables copied before.
func TestCopyFromSQLiteRollsBack(t *testing.T) {
	if !testkit.OnPostgres() {
		t.Skip("copies into PostgreSQL: run with bash .ci/postgres.sh")
	}
	t.Parallel()
	ctx := t.Context()
	src := openSQLiteTestDB(t, "orphan.db")
	u := mustCreateUser(t, src, "kept@example.com")
	mustCreateSession(t, src, "fine", &u.ID, src.now(), src.now())
	conn, err := src.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, idle_expires_at, expires_at) VALUES ('orphan', 99, $1, $1, $1, $1)`, src.now()); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	dst := openTestDB(t)
	_, err = CopyFrom(ctx, dst, src)
	if err == nil || !strings.Contains(err.Error(), "copy: sessions: write:") || !strings.Contains(err.Error(), "foreign key") {
		t.Fatalf("copy of an orphan session: %v", err)
	}
	for _, table := range copyTables {
		if n := countRows(t, dst, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("a failed copy left %d rows in %s", n, table)
		}
	}
	// And nothing holds the destination: a copy of a clean source goes through.
	if _, err := src.sql.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = 'orphan'`); err != nil {
		t.Fatal(err)
	}
	counts, err := CopyFrom(ctx, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(counts, TableCount{"users", 1}) || !slices.Contains(counts, TableCount{"sessions", 1}) || len(counts) != len(copyTables) {
		t.Errorf("counts %v", counts)
	}
	if got, err := dst.UserByEmail(ctx, "kept@example.com"); err != nil || got.ID != u.ID || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("copied user %+v, %v; want %+v", got, err, u)
	}
}
