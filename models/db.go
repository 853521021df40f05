// Package models is gatehouse's data layer: the database (an SQLite file,
// or a PostgreSQL server several replicas share), its schema migrations and
// the rows for users, sessions and audit events.
package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/migrations"
	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Dialect is the kind of database a DB runs on.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DB is the open database with the clock every write stamps times from.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect Dialect
	// path is the SQLite file ("" on PostgreSQL): Migrate locks beside it.
	path string
	// Now is the clock; tests replace it to move time.
	Now func() time.Time
	// trace is Trace's function for the statements run on database/sql
	// directly (gorm's callbacks report the others); nil when not tracing.
	trace func(sql string)
	// audit is what RecordEvent does beyond the insert (the audit record,
	// the webhook's outbox), set with SetAudit; nil is nothing. It is
	// swapped atomically, as a configuration reload does while requests
	// record events, and shared by transactions begun from the DB.
	audit *atomic.Pointer[EventHooks]
	// after collects what afterCommit defers inside Tx (nil outside one).
	after *[]func()
}

// Open opens the database the config's database value names: a
// postgres:// or postgresql:// URL is a PostgreSQL server (see
// ParseDatabase), anything else the path of an SQLite file, created when
// missing.
func Open(database string) (*DB, error) {
	if IsPostgres(database) {
		return openPostgres(database)
	}
	return openSQLite(database)
}

// OpenSQL opens a database/sql pool of its own on database, with the
// settings Open uses, for tools and tests that need SQL no DB method
// offers: seeding in bulk, checking any table, breaking rows on purpose. It
// shares no connection (and no clock) with a DB open on the same database,
// and neither creates an SQLite file's directory nor migrates. Placeholders
// written $1, $2, ... in order work on both dialects.
func OpenSQL(database string) (*sql.DB, error) {
	if IsPostgres(database) {
		return openPostgresSQL(database)
	}
	return openSQLiteSQL(database)
}

// gormConfig is the gorm configuration of both dialects.
func (db *DB) gormConfig() *gorm.Config {
	return &gorm.Config{
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
		// under load with a cold cache). Each driver keeps its own
		// per-connection cache instead.
		PrepareStmt:    false,
		TranslateError: true,
		// Columns by name, never SELECT *: a replica still running the
		// previous version keeps working while a newer one adds a column
		// (PostgreSQL would otherwise fail its cached statements with
		// "cached plan must not change result type").
		QueryFields: true,
	}
}

// SetAudit sets what RecordEvent does beyond the insert (nil: nothing),
// for every RecordEvent from now on, on db and the DBs sharing its
// connections.
func (db *DB) SetAudit(h *EventHooks) { db.audit.Store(h) }

// Dialect reports which database db runs on.
func (db *DB) Dialect() Dialect { return db.dialect }

// SetMaxConns sets how many connections the pool may open (and keep idle).
func (db *DB) SetMaxConns(n int) {
	db.sql.SetMaxOpenConns(n)
	db.sql.SetMaxIdleConns(n)
}

// now is the injectable clock in UTC, the only zone the database stores,
// to the microsecond, the finest both dialects keep: a time read back
// equals the time written.
func (db *DB) now() time.Time { return stored(db.Now()) }

// Time is the clock's time as the database keeps it (UTC, to the
// microsecond): a time computed from it and read back compares equal.
func (db *DB) Time() time.Time { return db.now() }

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

// migrator is the goose provider of db's dialect. On PostgreSQL it holds
// a session advisory lock while it works, so replicas starting together on
// an empty database migrate it once, one after the other.
func (db *DB) migrator() (*goose.Provider, error) {
	var (
		p   *goose.Provider
		err error
	)
	if db.dialect == Postgres {
		p, err = postgresMigrator(db.sql)
	} else {
		p, err = goose.NewProvider(goose.DialectSQLite3, db.sql, mustSub(migrations.SQLite, "sqlite"))
	}
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration and returns how many ran; running
// it again is a no-op. Processes migrating one database at once take turns
// (an advisory lock on PostgreSQL, a lock file beside an SQLite file): the
// first applies the migrations, the others find none pending.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	if db.dialect == SQLite {
		unlock, err := lockFile(ctx, db.path+".migrate.lock")
		if err != nil {
			return 0, fmt.Errorf("migrate: %w", err)
		}
		defer unlock()
	}
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
