package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// copyTables are the tables CopyFrom copies, in foreign-key order: each
// comes after every table it references (identities, sessions, devices,
// pending_logins and pending_links reference users). goose_db_version is
// not copied: each database keeps its own. A migration adding a table adds
// it here too; CopyFrom refuses a database holding a table not listed.
var copyTables = []string{
	"users",
	"identities",
	"sessions",
	"devices",
	"pending_logins",
	"pending_links",
	"events",
	"throttle",
	"client_registrations",
	"logout_jtis",
	"setup_tokens",
	"mail_outbox",
	"password_resets",
	"email_links",
	"totp_factors",
	"recovery_codes",
	"pending_mfa",
	"passkeys",
	"passkey_ceremonies",
	"audit_outbox",
}

// CopyTables lists the tables CopyFrom copies, in its order.
func CopyTables() []string { return slices.Clone(copyTables) }

// versionTable is goose's table of applied migrations.
const versionTable = "goose_db_version"

// ErrNotEmpty is CopyFrom's error when a destination table already holds
// rows: a copy never merges into (or overwrites) an installation in use.
var ErrNotEmpty = errors.New("the destination database is not empty")

// TableCount is how many rows one table holds.
type TableCount struct {
	Table string
	Rows  int64
}

// SchemaVersion reports the migration version db is at (0 when no
// migration was ever applied to it) and the latest version this binary's
// migrations reach. Migrate brings the first up to the second; a database
// whose version is higher was migrated by a newer gatehouse.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.migrator()
	if err != nil {
		return 0, 0, err
	}
	sources := p.ListSources()
	if len(sources) == 0 {
		return 0, 0, errors.New("schema version: no migrations in this binary")
	}
	latest = sources[len(sources)-1].Version
	ok, err := db.tableExists(ctx, versionTable)
	if err != nil || !ok {
		return 0, latest, err
	}
	current, _, err = p.GetVersions(ctx)
	if err != nil {
		return 0, latest, fmt.Errorf("schema version: %w", err)
	}
	return current, latest, nil
}

// tableExists reports whether db (in PostgreSQL's current schema) has the
// table name.
func (db *DB) tableExists(ctx context.Context, name string) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if db.dialect == Postgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	if err := db.pool().QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	db.traced(q)
	return n > 0, nil
}

// tables lists db's tables (PostgreSQL's current schema), without SQLite's
// own and goose's.
func (db *DB) tables(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> $1 ORDER BY name`
	if db.dialect == Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> $1 ORDER BY table_name`
	}
	rows, err := db.pool().QueryContext(ctx, q, versionTable)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		names = append(names, n)
	}
	db.traced(q)
	return names, rows.Err()
}

// NonEmptyTables lists the tables of copyTables that hold at least one
// row, in copy order: CopyFrom copies only into a database where it is
// empty. Every table must exist (migrate first).
func (db *DB) NonEmptyTables(ctx context.Context) ([]string, error) {
	var full []string
	for _, t := range copyTables {
		var has bool
		q := `SELECT EXISTS (SELECT 1 FROM ` + t + `)`
		if err := db.pool().QueryRowContext(ctx, q).Scan(&has); err != nil {
			return nil, fmt.Errorf("count rows of %s: %w", t, err)
		}
		db.traced(q)
		if has {
			full = append(full, t)
		}
	}
	return full, nil
}

// CopyFrom copies every row of every gatehouse table from src, an SQLite
// database, into dst, a PostgreSQL one, and returns how many rows each
// table got, in copy order. Both must be migrated to this binary's latest
// version (see SchemaVersion and Migrate), and every table of dst must be
// empty (ErrNotEmpty otherwise, with nothing written).
//
// The copy is one transaction on each side: on src an immediate one, which
// holds SQLite's write lock so every table is read as of one moment (a
// server still writing to src waits, then fails); on dst one that locks
// every table against writes until it commits. Tables go in foreign-key
// order, columns by name, ids as they are; then each identity column's
// sequence is set past the highest id (for users, past the highest SQLite
// ever handed out, since AUTOINCREMENT never reuses one), and each table's
// row count on dst is checked against src's before the commit. Times are
// read as times, not text, and written in UTC to the microsecond, the
// finest PostgreSQL keeps (gatehouse writes no finer).
//
// On any error nothing is committed to dst.
func CopyFrom(ctx context.Context, dst, src *DB) ([]TableCount, error) {
	if src.dialect != SQLite {
		return nil, fmt.Errorf("copy: the source must be an SQLite database, not %s", src.dialect)
	}
	if dst.dialect != Postgres {
		return nil, fmt.Errorf("copy: the destination must be a PostgreSQL database, not %s", dst.dialect)
	}
	for _, side := range []struct {
		name string
		db   *DB
	}{{"source", src}, {"destination", dst}} {
		current, latest, err := side.db.SchemaVersion(ctx)
		if err != nil {
			return nil, fmt.Errorf("copy: %s: %w", side.name, err)
		}
		if current != latest {
			return nil, fmt.Errorf("copy: the %s is at migration version %d, not %d like this binary: migrate it first", side.name, current, latest)
		}
	}
	var counts []TableCount
	err := src.Tx(ctx, func(s *DB) error {
		return dst.Tx(ctx, func(d *DB) error {
			for _, db := range []*DB{s, d} {
				names, err := db.tables(ctx)
				if err != nil {
					return err
				}
				for _, n := range names {
					if !slices.Contains(copyTables, n) {
						return fmt.Errorf("the %s database has a table %s that this binary does not know how to copy", db.dialect, n)
					}
				}
			}
			q := `LOCK TABLE ` + strings.Join(copyTables, ", ") + ` IN EXCLUSIVE MODE`
			if _, err := d.pool().ExecContext(ctx, q); err != nil {
				return fmt.Errorf("lock the destination's tables: %w", err)
			}
			d.traced(q)
			full, err := d.NonEmptyTables(ctx)
			if err != nil {
				return err
			}
			if len(full) > 0 {
				return fmt.Errorf("%w: %s already hold rows", ErrNotEmpty, strings.Join(full, ", "))
			}
			for _, t := range copyTables {
				n, err := copyTable(ctx, d, s, t)
				if err != nil {
					return fmt.Errorf("%s: %w", t, err)
				}
				counts = append(counts, TableCount{Table: t, Rows: n})
			}
			for _, t := range copyTables {
				if err := advanceSequence(ctx, d, s, t); err != nil {
					return fmt.Errorf("set the id sequence of %s: %w", t, err)
				}
			}
			for _, c := range counts {
				want, err := s.countRows(ctx, c.Table)
				if err != nil {
					return err
				}
				got, err := d.countRows(ctx, c.Table)
				if err != nil {
					return err
				}
				if got != want || c.Rows != want {
					return fmt.Errorf("%s: the source holds %d rows, %d were read and the destination holds %d", c.Table, want, c.Rows, got)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return counts, nil
}

// countRows is how many rows table holds.
func (db *DB) countRows(ctx context.Context, table string) (int64, error) {
	var n int64
	q := `SELECT COUNT(*) FROM ` + table
	if err := db.pool().QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of %s: %w", table, err)
	}
	db.traced(q)
	return n, nil
}

// column is one column of a destination table and the kind of Go value
// that carries it.
type column struct {
	name string
	kind columnKind
}

type columnKind int

const (
	textColumn columnKind = iota
	intColumn
	boolColumn
	timeColumn
	bytesColumn
)

// columns lists table's columns on PostgreSQL with the kind of each.
func (db *DB) columns(ctx context.Context, table string) ([]column, error) {
	q := `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`
	rows, err := db.pool().QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("list columns: %w", err)
		}
		c := column{name: name}
		switch typ {
		case "text", "character varying":
			c.kind = textColumn
		case "bigint", "integer", "smallint":
			c.kind = intColumn
		case "boolean":
			c.kind = boolColumn
		case "timestamp with time zone", "timestamp without time zone":
			c.kind = timeColumn
		case "bytea":
			c.kind = bytesColumn
		default:
			return nil, fmt.Errorf("column %s has the type %s, which the copy does not know", name, typ)
		}
		cols = append(cols, c)
	}
	db.traced(q)
	return cols, rows.Err()
}

// sqliteColumns lists table's column names on SQLite.
func (db *DB) sqliteColumns(ctx context.Context, table string) ([]string, error) {
	q := `SELECT name FROM pragma_table_info($1)`
	rows, err := db.pool().QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list columns: %w", err)
		}
		names = append(names, n)
	}
	db.traced(q)
	return names, rows.Err()
}

// copyBatchParams bounds the parameters of one multi-row INSERT, below
// PostgreSQL's limit of 65535.
const copyBatchParams = 16000

// copyTable copies every row of table from s to d, columns by name, and
// returns how many rows it read.
func copyTable(ctx context.Context, d, s *DB, table string) (int64, error) {
	cols, err := d.columns(ctx, table)
	if err != nil {
		return 0, err
	}
	srcCols, err := s.sqliteColumns(ctx, table)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	if a, b := slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(srcCols)); !slices.Equal(a, b) {
		return 0, fmt.Errorf("the columns differ: (%s) on SQLite, (%s) on PostgreSQL", strings.Join(b, ", "), strings.Join(a, ", "))
	}
	quoted := make([]string, len(cols))
	for i, n := range names {
		quoted[i] = `"` + n + `"`
	}
	list := strings.Join(quoted, ", ")

	q := `SELECT ` + list + ` FROM ` + table
	rows, err := s.pool().QueryContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	defer rows.Close()
	s.traced(q)

	perBatch := max(1, copyBatchParams/len(cols))
	args := make([]any, 0, perBatch*len(cols))
	var n, pending int64
	flush := func() error {
		if pending == 0 {
			return nil
		}
		var b strings.Builder
		b.WriteString(`INSERT INTO ` + table + ` (` + list + `) VALUES `)
		for r := range pending {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range cols {
				if c > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "$%d", int(r)*len(cols)+c+1)
			}
			b.WriteByte(')')
		}
		if _, err := d.pool().ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		d.traced(b.String())
		args, pending = args[:0], 0
		return nil
	}

	dest := make([]any, len(cols))
	for i, c := range cols {
		switch c.kind {
		case textColumn:
			dest[i] = new(sql.NullString)
		case intColumn:
			dest[i] = new(sql.NullInt64)
		case boolColumn:
			dest[i] = new(sql.NullBool)
		case timeColumn:
			dest[i] = new(sql.NullTime)
		case bytesColumn:
			dest[i] = new([]byte)
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, fmt.Errorf("read row %d: %w", n+1, err)
		}
		for _, v := range dest {
			args = append(args, copyValue(v))
		}
		n++
		pending++
		if int(pending) == perBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read: %w", err)
	}
	return n, flush()
}

// copyValue is the value to write for one scanned column: nil for NULL,
// a time in UTC to the microsecond, text PostgreSQL accepts.
func copyValue(v any) any {
	switch v := v.(type) {
	case *sql.NullString:
		if v.Valid {
			return Text(v.String)
		}
	case *sql.NullInt64:
		if v.Valid {
			return v.Int64
		}
	case *sql.NullBool:
		if v.Valid {
			return v.Bool
		}
	case *sql.NullTime:
		if v.Valid {
			return v.Time.UTC().Truncate(time.Microsecond)
		}
	case *[]byte: // Scan gave a copy of its own
		if *v != nil {
			return *v
		}
	}
	return nil
}

// advanceSequence sets the sequence of table's identity column id, if it
// has one, so the next id is past the highest copied and, for an SQLite
// AUTOINCREMENT table, past the highest SQLite ever handed out.
func advanceSequence(ctx context.Context, d, s *DB, table string) error {
	cols, err := d.columns(ctx, table)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(cols, func(c column) bool { return c.name == "id" }) {
		return nil
	}
	var seq sql.NullString
	q := `SELECT pg_get_serial_sequence($1, 'id')`
	if err := d.pool().QueryRowContext(ctx, q, table).Scan(&seq); err != nil {
		return err
	}
	d.traced(q)
	if !seq.Valid {
		return nil
	}
	var last sql.NullInt64
	q = `SELECT MAX(id) FROM ` + table
	if err := d.pool().QueryRowContext(ctx, q).Scan(&last); err != nil {
		return err
	}
	d.traced(q)
	if ok, err := s.tableExists(ctx, "sqlite_sequence"); err != nil {
		return err
	} else if ok {
		var used sql.NullInt64
		q = `SELECT MAX(seq) FROM sqlite_sequence WHERE name = $1`
		if err := s.pool().QueryRowContext(ctx, q, table).Scan(&used); err != nil {
			return err
		}
		s.traced(q)
		if used.Valid && used.Int64 > last.Int64 {
			last = used
		}
	}
	// setval(seq, n, true) makes the next id n+1; an empty table keeps
	// starting at 1 with setval(seq, 1, false).
	q = `SELECT setval($1::regclass, $2, $3)`
	if _, err := d.pool().ExecContext(ctx, q, seq.String, max(last.Int64, 1), last.Int64 > 0); err != nil {
		return err
	}
	d.traced(q)
	return nil
}
