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
	"sync/atomic"
	"syscall"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// openSQLite opens (creating when needed) the SQLite file at path. A folder
// it creates is 0700 and a file it creates 0600 (SQLite gives its -wal and
// -shm files the database file's mode): the file holds password hashes and
// session data, which no other local user may read.
func openSQLite(path string) (*DB, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	return openSQLiteDSN(path, dsn(path), 8)
}

// openSQLiteDSN opens the SQLite database at path through dsn, with a
// pool of at most conns connections, and checks that it answers.
func openSQLiteDSN(path, dsn string, conns int) (*DB, error) {
	db := &DB{Now: time.Now, dialect: SQLite, path: path, audit: new(atomic.Pointer[EventHooks])}
	g, err := gorm.Open(sqlite.Open(dsn), db.gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(conns)
	sqlDB.SetMaxIdleConns(conns)
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
	// gorm's; see PrepareStmt in gormConfig): without it every query is
	// parsed and planned again, about a quarter of a signed-in page's CPU.
	q.Set("_stmt_cache_size", "64")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// openSQLiteSQL is OpenSQL for an SQLite file.
func openSQLiteSQL(path string) (*sql.DB, error) {
	pool, err := sql.Open(sqlite.DriverName, dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return pool, nil
}

// lockFile takes an exclusive lock on the file at path (created 0600 when
// missing), waiting for another process holding it until ctx ends, and
// returns the function that releases it. The kernel releases the lock of a
// process that dies, so a crash mid-migration leaves nothing to clean up.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// SetConnPragma sets the integer pragma name on every connection the pool
// may hold and reads it back (SQLite only). Some pragmas (query_only,
// max_page_count) belong to a connection, not the file, so making a running
// database read-only or full, as the fault drills do, has to reach each one.
// It holds every connection at once, so it waits for requests to give
// theirs back; connections opened after it returns do not get the pragma.
func (db *DB) SetConnPragma(ctx context.Context, name string, value int64) error {
	if db.dialect != SQLite {
		return fmt.Errorf("pragma %s: %s has no pragmas", name, db.dialect)
	}
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
