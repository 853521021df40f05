package sessionstore

import (
	"database/sql"
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
