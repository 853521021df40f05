package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Tx runs fn in one transaction on one connection: it commits when fn
// returns nil and rolls back when fn returns an error or panics (the panic
// carries on). Every method called on tx runs inside the transaction and
// stamps times from db's clock; Tx called on tx nests as a savepoint.
//
// On SQLite the transaction is immediate (Open sets _txlock=immediate):
// BEGIN takes the write lock up front, waiting for it up to the busy
// timeout, so no other writer runs between fn's reads and its writes. A
// check and the write it guards (the last admin, a throttle counter's
// read-modify-write) cannot interleave with another request's, and a
// transaction never fails halfway for want of upgrading a read lock.
// Readers are not blocked (WAL); they see the rows as they were until the
// commit.
//
// On PostgreSQL the transaction is READ COMMITTED and other writers do run
// between fn's statements, so a guard there locks what it counts: the rows
// with SELECT ... FOR UPDATE (forUpdate), or rows yet to be inserted with
// serialise.
//
// What a method inside fn defers with afterCommit (the audit hooks of
// RecordEvent) runs once the outermost transaction commits, and never when
// it (or the savepoint it was deferred in) rolls back.
func (db *DB) Tx(ctx context.Context, fn func(tx *DB) error) error {
	var after []func()
	err := db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		return fn(&DB{gorm: g, sql: db.sql, dialect: db.dialect, path: db.path, Now: db.Now, trace: db.trace, audit: db.audit, after: &after})
	})
	if err != nil {
		return err
	}
	for _, f := range after {
		db.afterCommit(f)
	}
	return nil
}

// afterCommit runs f now, or inside Tx once the outermost transaction has
// committed: what it does (a log record, a webhook kick) must never tell of
// a write that was rolled back.
func (db *DB) afterCommit(f func()) {
	if db.after != nil {
		*db.after = append(*db.after, f)
		return
	}
	f()
}

// forUpdate is db whose next query locks the rows it reads until the
// transaction ends, on PostgreSQL; gorm leaves the clause out on SQLite,
// whose write transactions hold the one lock anyway. The lock is FOR NO KEY
// UPDATE: it excludes other guards and writers of the rows, but not the
// KEY SHARE lock an insert referencing the row takes (a new session of the
// account), which would otherwise wait on the guard and deadlock with it.
func (db *DB) forUpdate() *DB {
	c := *db
	c.gorm = db.gorm.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
	return &c
}

// byteOrder is an ORDER BY term sorting the text column by its bytes, the
// order Go's sort gives strings, whatever the database's collation: locks
// taken in one order everywhere cannot deadlock.
func (db *DB) byteOrder(column string) string {
	if db.dialect == Postgres {
		return column + ` COLLATE "C"`
	}
	return column // SQLite's default collation is BINARY
}

// skipLocked ends a batch sweep's subquery: on PostgreSQL the rows it picks
// are locked, skipping rows another replica's sweep has locked, so sweeps
// running on every replica at once take disjoint batches and never wait on
// each other or deadlock. SQLite runs one writer at a time anyway.
func (db *DB) skipLocked() string {
	if db.dialect == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// serialise makes the PostgreSQL transactions that call it with the same
// name take turns until each ends (a transaction-scoped advisory lock). A
// guard that counts rows and then inserts one (a cap on live rows) needs
// it: SELECT ... FOR UPDATE locks the rows that exist, not the ones another
// transaction is about to insert, so two could each count below the cap
// and both insert. On SQLite every write transaction already holds the one
// write lock (see Tx), so it does nothing.
func (db *DB) serialise(ctx context.Context, name string) error {
	if db.dialect != Postgres {
		return nil
	}
	if err := db.gorm.WithContext(ctx).Exec("SELECT pg_advisory_xact_lock(?, hashtext(?))", advisoryLockSpace, name).Error; err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	return nil
}

// advisoryLockSpace is the first key of gatehouse's two-key advisory locks,
// so they cannot collide with another application's on a shared server.
const advisoryLockSpace = 0x67617465 // "gate"
