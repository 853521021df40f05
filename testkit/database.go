package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/migrations"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "github.com/mattn/go-sqlite3"    // the "sqlite3" database/sql driver
	"github.com/pressly/goose/v3"
)

// DatabaseEnv names the variable that runs the tests on PostgreSQL: a
// postgres:// URL of a server the tests may create and drop databases on
// (.ci/postgres.sh sets it). Unset, every test database is an SQLite file.
const DatabaseEnv = "GATEHOUSE_TEST_DATABASE"

// Template is the database on the test server that holds the migrated
// schema; .ci/postgres.sh migrates it before the tests run. Each test's
// database is a copy of it, which is much faster than migrating each one.
const Template = "gatehouse_template"

// OnPostgres reports whether the tests run on PostgreSQL.
func OnPostgres() bool { return os.Getenv(DatabaseEnv) != "" }

// SkipOnPostgres skips a test that is about SQLite itself (its pragmas, its
// file on disk) when the tests run on PostgreSQL.
func SkipOnPostgres(t testing.TB, why string) {
	t.Helper()
	if OnPostgres() {
		t.Skip("about SQLite, not run on PostgreSQL: " + why)
	}
}

// Database is the database value (config's database) of a migrated
// database of the test's own, dropped when the test ends: an SQLite file
// named name in the test's temporary folder, copied from one migrated once
// per test process, or on PostgreSQL a new database copied from Template.
// Copying is much faster than migrating each one.
func Database(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if OnPostgres() {
		return database(t, path, Template)
	}
	b, err := sqliteTemplate()
	if err != nil {
		t.Fatalf("migrate the SQLite template: %v", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sqliteTemplate is the bytes of an SQLite file migrated to the newest
// version, made once per test process with the embedded migrations, as
// models.Migrate applies them.
var sqliteTemplate = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "gatehouse-template")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		db.Close()
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err == nil {
		_, err = p.Up(context.Background())
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
})

// DatabaseIn is a database for a test that keeps its SQLite file beside a
// config file of its own, at dir/name: on SQLite a path where nothing is
// yet (gatehouse creates and migrates it, as on a first start); on
// PostgreSQL the same as Database.
func DatabaseIn(t testing.TB, dir, name string) string {
	t.Helper()
	return database(t, filepath.Join(dir, name), Template)
}

// EmptyDatabase is Database without any schema on PostgreSQL, for the
// tests of migrating itself. On SQLite it is the same as Database.
func EmptyDatabase(t testing.TB, dir, name string) string {
	t.Helper()
	return database(t, filepath.Join(dir, name), "template0")
}

// database is the SQLite path, or on PostgreSQL a new database copied from
// template.
func database(t testing.TB, path, template string) string {
	t.Helper()
	server := os.Getenv(DatabaseEnv)
	if server == "" {
		return path
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("%s: %v", DatabaseEnv, err)
	}
	admin := adminPool(t, server)
	var b [6]byte
	rand.Read(b[:])
	db := "t_" + hex.EncodeToString(b[:])
	if err := createDatabase(admin, db, template); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", db, err)
		}
	})
	u.Path = "/" + db
	return u.String()
}

// createDatabase copies template into a new database db. Two copies of
// one template started at the same moment can refuse each other ("source
// database is being accessed by other users"), so a refusal is retried for
// a few seconds.
func createDatabase(admin *sql.DB, db, template string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; ; i++ {
		_, err := admin.ExecContext(ctx, "CREATE DATABASE "+db+" TEMPLATE "+template)
		if err == nil || i == 50 || !strings.Contains(err.Error(), "being accessed by other users") {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var admins = struct {
	sync.Mutex
	m map[string]*sql.DB
}{m: map[string]*sql.DB{}}

// adminPool is one small pool per test process on the server's own
// database, for creating and dropping the tests' databases.
func adminPool(t testing.TB, server string) *sql.DB {
	admins.Lock()
	defer admins.Unlock()
	if p, ok := admins.m[server]; ok {
		return p
	}
	p, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("%s: %v", DatabaseEnv, err)
	}
	p.SetMaxOpenConns(4)
	admins.m[server] = p
	return p
}
