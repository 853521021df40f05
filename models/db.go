// Package models is gatehouse's data layer: the SQLite database, its schema
// migrations and the rows for users, sessions and audit events.
package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/migrations"
	"github.com/pressly/goose/v3"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// DB is the open database with the clock every write stamps times from.
type DB struct {
	gorm *gorm.DB
	sql  *sql.DB
	// Now is the clock; tests replace it to move time.
	Now func() time.Time
	// trace is Trace's function for the statements run on database/sql
	// directly (gorm's callbacks report the others); nil when not tracing.
	trace func(sql string)
}

// Open opens (creating when needed) the SQLite file at path. A folder it
// creates is 0700 and a file it creates 0600 (SQLite gives its -wal and
// -shm files the database file's mode): the file holds password hashes and
// session data, which no other local user may read.
func Open(path string) (*DB, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	db := &DB{Now: time.Now}
	g, err := gorm.Open(sqlite.Open(dsn(path)), &gorm.Config{
		Logger: logger.Discard,
		// gorm stamps a zero CreatedAt (and UpdatedAt) itself: from the same
		// clock as every other time, so a test moving Now moves those too.
		NowFunc:                db.now,
		SkipDefaultTransaction: true,
		// No gorm statement cache: it waits for a statement being prepared
		// on the pool while holding its lock, so a transaction holding
		// SQLite's write lock could wait on a prepare that waits for a
		// connection held by writers waiting on that transaction, until
		// busy_timeout failed them ("database is locked" after 10s, seen
		// under load with a cold cache). SQLite prepares in microseconds.
		PrepareStmt:    false,
		TranslateError: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(8)
	sqlDB.SetMaxIdleConns(8)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.Ping(); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.gorm, db.sql = g, sqlDB
	return db, nil
}

// createPrivate creates the database file's folders (0700) and the empty
// file (0600) when they do not exist, before SQLite would create the file
// with its default mode (0644 less the umask). An existing file or folder
// keeps the mode its operator gave it.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

// dsn is the data source name of the SQLite file at path. The pragmas sit
// in it so every pooled connection gets them, not just the first.
func dsn(path string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate") // writers take the lock up front: no deadlocked upgrades
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	// The driver's own per-connection statement cache (no pool lock, unlike
	// gorm's; see PrepareStmt in Open): without it every query is parsed and
	// planned again, about a quarter of a signed-in page's CPU.
	q.Set("_stmt_cache_size", "64")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// OpenSQL opens a database/sql pool of its own on the SQLite file at path,
// with the pragmas Open sets, for tools and tests that need SQL no DB method
// offers: seeding in bulk, checking any table, breaking rows on purpose. It
// shares no connection (and no clock) with a DB open on the same file, and
// neither creates the file's directory nor migrates it.
func OpenSQL(path string) (*sql.DB, error) {
	pool, err := sql.Open(sqlite.DriverName, dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return pool, nil
}

// now is the injectable clock in UTC, the only zone the database stores.
func (db *DB) now() time.Time { return db.Now().UTC() }

// pool is where a statement run on database/sql directly goes: the pool,
// or inside Tx the transaction, so such a query sees the transaction's
// writes like every other method.
func (db *DB) pool() gorm.ConnPool { return db.gorm.Statement.ConnPool }

// traced reports a statement run on database/sql directly to Trace's
// function, if any.
func (db *DB) traced(sql string) {
	if db.trace != nil {
		db.trace(sql)
	}
}

// Close closes every pooled connection.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// SetConnPragma sets the integer pragma name on every connection the pool
// may hold and reads it back. Some pragmas (query_only, max_page_count)
// belong to a connection, not the file, so making a running database
// read-only or full, as the fault drills do, has to reach each one. It
// holds every connection at once, so it waits for requests to give theirs
// back; connections opened after it returns do not get the pragma.
func (db *DB) SetConnPragma(ctx context.Context, name string, value int64) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r != '_' && (r < 'a' || r > 'z') }) {
		return fmt.Errorf("pragma %q: not a pragma name", name)
	}
	n := db.sql.Stats().MaxOpenConnections
	if n <= 0 {
		return errors.New("set pragma: the pool has no connection limit, so no way to reach every connection")
	}
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.sql.Conn(ctx)
		if err != nil {
			return fmt.Errorf("pragma %s: take connection %d of %d: %w", name, len(conns)+1, n, err)
		}
		conns = append(conns, c)
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA %s = %d", name, value)); err != nil {
			return fmt.Errorf("pragma %s on connection %d: %w", name, len(conns), err)
		}
		var got int64
		if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
			return fmt.Errorf("pragma %s on connection %d: %w", name, len(conns), err)
		}
		if got != value {
			return fmt.Errorf("pragma %s on connection %d is %d after setting %d", name, len(conns), got, value)
		}
	}
	return nil
}

func (db *DB) migrator() (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectSQLite3, db.sql, mustSub(migrations.SQLite, "sqlite"))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration and returns how many ran; running
// it again is a no-op.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	p, err := db.migrator()
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("migrate: %w", err)
	}
	return len(res), nil
}

// MigrationsCurrent reports whether no migration is pending (readiness).
func (db *DB) MigrationsCurrent(ctx context.Context) (bool, error) {
	p, err := db.migrator()
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	return !pending, err
}

// Trace calls fn with the SQL of every statement the DB runs, after it
// runs: for diagnostics and for tests that count round trips. Register it
// before the DB is in concurrent use; transactions begun after it are
// traced too.
func (db *DB) Trace(fn func(sql string)) {
	db.trace = fn
	record := func(tx *gorm.DB) { fn(tx.Statement.SQL.String()) }
	cb := db.gorm.Callback()
	_ = cb.Create().After("*").Register("gatehouse:trace", record)
	_ = cb.Query().After("*").Register("gatehouse:trace", record)
	_ = cb.Update().After("*").Register("gatehouse:trace", record)
	_ = cb.Delete().After("*").Register("gatehouse:trace", record)
	_ = cb.Row().After("*").Register("gatehouse:trace", record)
	_ = cb.Raw().After("*").Register("gatehouse:trace", record)
}
