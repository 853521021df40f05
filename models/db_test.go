package models

import (
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/migrations"
	"github.com/gatehouse/gatehouse/testkit"
)

// TestGormStampsFromTheDBClock: the times gorm fills in itself (a zero
// CreatedAt on insert, UpdatedAt on an update that leaves it out) come from
// DB.Now, as in a transaction, so a test moving the clock moves them too.
func TestGormStampsFromTheDBClock(t *testing.T) {
	t.Parallel()
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

// TestOpenSQL: the pool of its own sees the DB's rows and gets Open's
// pragmas, foreign keys included (a raw DELETE cascades as DeleteUser's).
func TestOpenSQL(t *testing.T) {
	t.Parallel()
	path := testkit.Database(t, "raw.db")
	db := openMigrated(t, path)
	u := mustCreateUser(t, db, "raw@example.com")
	if err := db.CreateIdentity(t.Context(), &Identity{UserID: u.ID, ProviderID: "p", Issuer: "https://idp.example", Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	pool, err := OpenSQL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if db.Dialect() == Postgres {
		var app string
		if err := pool.QueryRow("SHOW application_name").Scan(&app); err != nil || app != "gatehouse" {
			t.Errorf("application_name = %q, %v; want gatehouse", app, err)
		}
	} else {
		checkPragmas(t, pool)
	}
	if _, err := pool.Exec("DELETE FROM users WHERE id = $1", u.ID); err != nil {
		t.Fatal(err)
	}
	if ids, err := db.UserIdentities(t.Context(), u.ID); err != nil || len(ids) != 0 {
		t.Errorf("identities after a raw DELETE of their account: %v, %v; want none (cascade)", ids, err)
	}
}

// checkPragmas checks an SQLite pool has the pragmas Open sets.
func checkPragmas(t *testing.T, pool *sql.DB) {
	t.Helper()
	var fk, busy int
	var journal string
	if err := pool.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow("PRAGMA journal_mode").Scan(&journal); err != nil {
		t.Fatal(err)
	}
	if fk != 1 || busy != 10000 || journal != "wal" {
		t.Errorf("OpenSQL pragmas: foreign_keys=%d busy_timeout=%d journal_mode=%q; want 1 10000 wal", fk, busy, journal)
	}
}

// TestSetConnPragma: query_only on every connection fails every write
// until it is turned off again, whichever connection the write gets.
func TestSetConnPragma(t *testing.T) {
	testkit.SkipOnPostgres(t, "pragmas")
	t.Parallel()
	db := openTestDB(t)
	ctx := t.Context()
	for _, bad := range []string{"", "query_only = 0; DROP TABLE users", "Query_Only"} {
		if err := db.SetConnPragma(ctx, bad, 1); err == nil {
			t.Errorf("SetConnPragma(%q) accepted", bad)
		}
	}
	if err := db.SetConnPragma(ctx, "query_only", 1); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		err := db.CreateUser(ctx, &User{Email: fmt.Sprintf("ro%d@example.com", i)})
		if err == nil || !strings.Contains(err.Error(), "readonly database") {
			t.Fatalf("write %d with query_only on: %v, want a readonly database error", i, err)
		}
	}
	if err := db.SetConnPragma(ctx, "query_only", 0); err != nil {
		t.Fatal(err)
	}
	mustCreateUser(t, db, "rw@example.com")
}

// TestOpenCreatesPrivateFiles: the database holds password hashes and
// session data, so the folders Open creates are 0700 and the file 0600,
// and so are SQLite's -wal and -shm files beside it; a folder that was
// already there keeps its mode.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(parent, "state", "gatehouse", "g.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil { // writes: the -wal and -shm files exist now
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		parent:                         0o755 | os.ModeDir,
		filepath.Join(parent, "state"): 0o700 | os.ModeDir,
		filepath.Dir(path):             0o700 | os.ModeDir,
		path:                           0o600,
		path + "-wal":                  0o600,
		path + "-shm":                  0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
}

// TestMigrateConcurrent: four processes starting at once on one new
// database (four pools of their own) all come up, and the migrations run
// once between them.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	database := testkit.EmptyDatabase(t, t.TempDir(), "new.db")
	const replicas = 4
	dbs := make([]*DB, replicas)
	for i := range dbs {
		db, err := Open(database)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	applied := make([]int, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { applied[i], errs[i] = db.Migrate(t.Context()) })
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
		total += applied[i]
	}
	files, _ := fs.ReadDir(migrations.SQLite, "sqlite")
	if total != len(files) {
		t.Errorf("%v migrations applied between the replicas, want %d in all", applied, len(files))
	}
	if ok, err := dbs[0].MigrationsCurrent(t.Context()); !ok || err != nil {
		t.Errorf("MigrationsCurrent = %v, %v", ok, err)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"data/gatehouse.db": "data/gatehouse.db",
		"postgres://gh:s3cret@db:5432/gh?sslmode=require":        "postgres://gh:xxxxx@db:5432/gh?sslmode=require",
		"postgresql://gh@db/gh?password=s3cret&sslpassword=k3y":  "postgresql://gh@db/gh?password=xxxxx&sslpassword=xxxxx",
		"postgres://gh@db/gh?sslmode=disable&application_name=a": "postgres://gh@db/gh?sslmode=disable&application_name=a",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	err := ParseDatabase("postgres://gh:s3cret@db:notaport/gh")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("ParseDatabase of a bad URL = %v; want an error without the password", err)
	}
}
