package handlers_test

import (
	"database/sql"
	"regexp"
	"strconv"
	"testing"

	"github.com/gatehouse/gatehouse/models"
)

// rawSQL opens a database/sql pool of its own on the database file at path,
// closed when t ends, for what a test reads or writes below the models API.
func rawSQL(t testing.TB, path string) *sql.DB {
	t.Helper()
	pool, err := models.OpenSQL(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// countRows counts the rows of table (those matching where, unless it is
// "") in the database at path, on a pool closed before it returns. Each ?
// in where is a placeholder.
func countRows(t testing.TB, path, table, where string, args ...any) int64 {
	t.Helper()
	pool, err := models.OpenSQL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		n := 0
		q += " WHERE " + regexp.MustCompile(`\?`).ReplaceAllStringFunc(where, func(string) string {
			n++
			return "$" + strconv.Itoa(n)
		})
	}
	var n int64
	if err := pool.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// inRawTx runs fn in a transaction on db, committed when fn returns nil.
func inRawTx(db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
