package models

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrServing is the error of LockStopped while a gatehouse server runs on
// the database: replacing the file under it would lose its writes and
// leave its open connections on the old file.
var ErrServing = errors.New("a gatehouse server is running on this database")

// ErrRestoring is the error of LockServing while a restore holds the
// database.
var ErrRestoring = errors.New("the database is being restored")

// ServeLockFile is the lock file beside the SQLite file at path that a
// running server holds (LockServing) and a restore takes (LockStopped).
func ServeLockFile(path string) string { return path + ".lock" }

// LockServing takes a shared lock on ServeLockFile(path), for as long as a
// server runs on the SQLite file at path; the returned function releases
// it. Shared, because several processes may serve one SQLite file (WAL
// allows it); what it keeps out is a restore, which needs it exclusively.
// It does not wait: a restore under way is ErrRestoring. The kernel
// releases the lock of a process that dies, so kill -9 leaves nothing to
// clean up.
func LockServing(path string) (unlock func(), err error) {
	return flockNB(path, syscall.LOCK_SH, ErrRestoring)
}

// LockStopped takes ServeLockFile(path) exclusively, without waiting: it
// fails with ErrServing while any server holds it (LockServing).
func LockStopped(path string) (unlock func(), err error) {
	return flockNB(path, syscall.LOCK_EX, ErrServing)
}

// flockNB locks ServeLockFile(path) with how (LOCK_SH or LOCK_EX), or
// returns busy when another process holds a conflicting lock. It creates
// the database's folder (0700) and the lock file (0600) when missing, since
// a server takes the lock before its first start creates them.
func flockNB(path string, how int, busy error) (func(), error) {
	name := ServeLockFile(path)
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked)", busy, name)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}

// VacuumInto writes a consistent copy of the SQLite database at src into
// dst, which must not exist or be an empty file: SQLite's VACUUM INTO reads
// one snapshot in a read transaction, so under WAL it neither waits for
// nor blocks the writers of a running server, and the copy holds exactly
// the transactions committed before it began. The copy is a single file
// in rollback-journal mode (no -wal beside it) without free pages. src is
// opened on a connection of its own and never created: a mistyped path is
// an error, not an empty backup.
func VacuumInto(ctx context.Context, src, dst string) error {
	if err := regularFile(src); err != nil {
		return err
	}
	pool, err := openSQLiteSQL(src)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open database %s: %w", src, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("copy %s into %s: %w", src, dst, err)
	}
	return nil
}

// regularFile checks that an SQLite database file exists at path, since
// opening a missing one would create it empty.
func regularFile(path string) error {
	switch fi, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no SQLite database at %s", path)
	case err != nil:
		return fmt.Errorf("database: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a file", path)
	}
	return nil
}

// OpenSnapshot opens the SQLite file at path, a file at rest such as a
// backup, read-only and immutable, to inspect it (IntegrityCheck,
// SchemaVersion, CountUsers) without changing a byte of it or creating
// anything beside it: no lock, no -shm, no journal mode set, nothing
// migrated. It reads the main file alone, ignoring any -wal, so it is not
// for a database in use. A missing file is an error, not a new database.
func OpenSnapshot(path string) (*DB, error) {
	if err := regularFile(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("immutable", "1")
	q.Set("_busy_timeout", "10000")
	return openSQLiteDSN(path, "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode(), 1)
}

// IntegrityCheck runs SQLite's PRAGMA integrity_check, which reads every
// page, and returns nil when it reports ok, else an error with its first
// findings. A file that is not an SQLite database fails here too.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	if db.dialect != SQLite {
		return fmt.Errorf("integrity check: %s has none (use its own tools)", db.dialect)
	}
	rows, err := db.sql.QueryContext(ctx, "PRAGMA integrity_check(10)")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		found = append(found, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(found) == 1 && found[0] == "ok" {
		return nil
	}
	return fmt.Errorf("integrity check failed: %s", strings.Join(found, "; "))
}
