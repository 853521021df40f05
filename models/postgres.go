package models

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// DefaultMaxConns is the connection pool size of one replica on
// PostgreSQL when database_max_conns is not set.
const DefaultMaxConns = 10

// IsPostgres reports whether the database value names a PostgreSQL server:
// a postgres:// or postgresql:// URL. Anything else is an SQLite path.
func IsPostgres(database string) bool {
	d := strings.ToLower(database)
	return strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://")
}

// ParseDatabase checks a database value before anything opens it: a
// PostgreSQL URL must be one pgx accepts. Its error never holds the
// password.
func ParseDatabase(database string) error {
	if !IsPostgres(database) {
		return nil
	}
	_, err := postgresConfig(database)
	return err
}

// Redact is the database value fit for a log line or a message: a
// PostgreSQL URL with its password replaced by "xxxxx", and so is every
// query parameter whose name holds "password" (password, sslpassword); an
// SQLite path as it is.
func Redact(database string) string {
	if !IsPostgres(database) {
		return database
	}
	u, err := url.Parse(database)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q, changed := u.Query(), false
	for name := range q {
		if strings.Contains(strings.ToLower(name), "password") {
			q.Set(name, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// postgresConfig parses a PostgreSQL URL with gatehouse's defaults: the
// server sees the connections as application_name=gatehouse, and a
// connection attempt gives up after 10 s unless connect_timeout says
// otherwise.
func postgresConfig(database string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(database)
	if err != nil {
		msg := err.Error()
		if u, uerr := url.Parse(database); uerr == nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
		return nil, fmt.Errorf("not a PostgreSQL URL pgx accepts (%s): %s", Redact(database), msg)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "gatehouse"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	return cfg, nil
}

// openPostgresSQL is OpenSQL for a PostgreSQL URL: a pool whose
// connections read timestamptz values back in UTC, the zone gatehouse
// writes them in, so a time read equals the time written.
func openPostgresSQL(database string) (*sql.DB, error) {
	cfg, err := postgresConfig(database)
	if err != nil {
		return nil, err
	}
	pool := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
		c.TypeMap().RegisterType(&pgtype.Type{
			Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}))
	pool.SetMaxOpenConns(DefaultMaxConns)
	pool.SetMaxIdleConns(DefaultMaxConns)
	// Connections are replaced now and then, so a pool follows a failover
	// or a server-side setting change without a restart.
	pool.SetConnMaxLifetime(30 * time.Minute)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	return pool, nil
}

// openPostgres opens a pool on the PostgreSQL server database names and
// checks it answers.
func openPostgres(database string) (*DB, error) {
	pool, err := openPostgresSQL(database)
	if err != nil {
		return nil, err
	}
	db := &DB{Now: time.Now, dialect: Postgres, audit: new(atomic.Pointer[EventHooks])}
	g, err := gorm.Open(postgres.New(postgres.Config{Conn: pool}), db.gormConfig())
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(database), err)
	}
	if err := pool.Ping(); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(database), err)
	}
	db.gorm, db.sql = g, pool
	return db, nil
}

// postgresMigrator is the goose provider for PostgreSQL, holding a session
// advisory lock while it migrates (through PgBouncer in transaction mode
// such a lock does not hold: migrate on a direct connection).
func postgresMigrator(pool *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, pool, mustSub(migrations.Postgres, "postgres"), goose.WithSessionLocker(locker))
}
