package models

import (
	"context"

	"gorm.io/gorm"
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
func (db *DB) Tx(ctx context.Context, fn func(tx *DB) error) error {
	return db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		return fn(&DB{gorm: g, sql: db.sql, Now: db.Now, trace: db.trace})
	})
}
