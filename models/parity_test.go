package models

import (
	"database/sql"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/migrations"
	"github.com/gatehouse/gatehouse/testkit"
)

// TestMigrationVersionsMatch: both migration sets have the same files, so
// version N means the same change on either database.
func TestMigrationVersionsMatch(t *testing.T) {
	t.Parallel()
	names := func(fsys fs.FS, dir string) []string {
		es, err := fs.ReadDir(fsys, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	sq, pg := names(migrations.SQLite, "sqlite"), names(migrations.Postgres, "postgres")
	if !slices.Equal(sq, pg) || len(sq) == 0 {
		t.Fatalf("migration files differ:\nsqlite:   %v\npostgres: %v", sq, pg)
	}
}

// schemaColumn is what the parity test compares of a column.
type schemaColumn struct {
	table, name string
	nullable    bool
}

// TestSchemaParity: migrated to the end, SQLite and PostgreSQL have the
// same tables, the same columns and the same NULL rules.
func TestSchemaParity(t *testing.T) {
	if !testkit.OnPostgres() {
		t.Skip("compares with PostgreSQL; run with " + testkit.DatabaseEnv + " (make test-postgres)")
	}
	t.Parallel()
	sq := openMigrated(t, t.TempDir()+"/parity.db")
	pg := openMigrated(t, testkit.EmptyDatabase(t, t.TempDir(), "unused.db"))
	var sqCols, pgCols []schemaColumn
	rows, err := sq.sql.Query(`SELECT m.name, p.name, p."notnull" = 0 AND p.pk = 0
		FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`)
	sqCols = scanColumns(t, rows, err)
	rows, err = pg.sql.Query(`SELECT table_name, column_name, is_nullable = 'YES'
		FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name <> 'goose_db_version'`)
	pgCols = scanColumns(t, rows, err)
	for _, cols := range [][]schemaColumn{sqCols, pgCols} {
		slices.SortFunc(cols, func(a, b schemaColumn) int { return strings.Compare(a.table+"."+a.name, b.table+"."+b.name) })
	}
	if !slices.Equal(sqCols, pgCols) {
		t.Errorf("schemas differ:\nsqlite:   %v\npostgres: %v", sqCols, pgCols)
	}
	if len(sqCols) < 50 {
		t.Errorf("only %d columns compared", len(sqCols))
	}
}

func scanColumns(t *testing.T, rows *sql.Rows, err error) []schemaColumn {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []schemaColumn
	for rows.Next() {
		var c schemaColumn
		if err := rows.Scan(&c.table, &c.name, &c.nullable); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
