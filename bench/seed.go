package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
)

// benchPassword is every seeded account's password.
const benchPassword = "bench-a-long-passphrase"

// seedSpec describes a database to create.
type seedSpec struct {
	database string // an SQLite path or a postgres:// URL (an empty database)
	users    int    // accounts, ids 1..users; id 1 is an administrator (its sessions say so, as Start writes them)
	hash     string // bcrypt hash stored for every account
	sessions int    // session rows, user 1+i%users, token tokenFor(tag, i)
	tag      string
	now      time.Time
	// spread: session i's last_seen_at is now - (i % spread) seconds (idle
	// expiry follows from it); 0 or 1 is now for every session.
	spread int
}

// lastSeen is session i's last_seen_at.
func (s seedSpec) lastSeen(i int) time.Time {
	return s.now.Add(-time.Duration(i%max(1, s.spread)) * time.Second)
}

// userEmail is seeded account id's email.
func userEmail(id int) string { return fmt.Sprintf("user%07d@bench.example", id) }

// tokenFor is seeded session i's cookie token: 32 bytes, base64url, as
// sessionstore issues them. It is derived, not stored, so a million
// sessions cost no memory to address.
func tokenFor(tag string, i int) string {
	sum := sha256.Sum256([]byte(tag + "/" + strconv.Itoa(i)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// seed migrates the database, then inserts the accounts and sessions on a
// connection of its own (models.OpenSQL), each table in one transaction:
// batched multi-row INSERTs on SQLite (with a large page cache), one
// INSERT ... SELECT FROM generate_series for the sessions on PostgreSQL
// (followed by VACUUM ANALYZE, so the measurement neither sets hint bits
// nor waits on autovacuum). Both handles are closed after, so no seeding
// state (cache, prepared statements) leaks into a measurement.
func seed(ctx context.Context, s seedSpec) error {
	db, err := models.Open(s.database)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	pg := db.Dialect() == models.Postgres
	sqlDB, err := models.OpenSQL(s.database)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if !pg {
		if _, err := conn.ExecContext(ctx, "PRAGMA cache_size = -262144"); err != nil { // 256 MiB
			return err
		}
	}
	if err := seedUsers(ctx, conn, s); err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	if pg {
		err = seedSessionsPG(ctx, conn, s)
	} else {
		err = seedSessions(ctx, conn, s)
	}
	if err != nil {
		return fmt.Errorf("seed sessions: %w", err)
	}
	if pg {
		// Ids were given explicitly: the identity continues after them.
		if _, err := conn.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('users', 'id'), $1)", max(1, s.users)); err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, "VACUUM (ANALYZE) users, sessions")
		return err
	}
	_, err = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

func seedUsers(ctx context.Context, conn *sql.Conn, s seedSpec) error {
	const batch = 500
	return inTx(ctx, conn, func(tx *sql.Tx) error {
		for start := 1; start <= s.users; start += batch {
			end := min(start+batch-1, s.users)
			var q strings.Builder
			q.WriteString("INSERT INTO users (id, email, name, password_hash, is_admin, created_at, updated_at) VALUES ")
			args := make([]any, 0, 7*(end-start+1))
			for id := start; id <= end; id++ {
				if id > start {
					q.WriteString(",")
				}
				n := len(args)
				fmt.Fprintf(&q, "($%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
				args = append(args, id, userEmail(id), fmt.Sprintf("Bench User %d", id), s.hash, id == 1, s.now, s.now)
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// seedSessions inserts the sessions on SQLite in token-hash order (every index then
// grows at its end, which keeps a million rows to seconds); lookups pick
// rows at random, so the order does not favour them.
func seedSessions(ctx context.Context, conn *sql.Conn, s seedSpec) error {
	if s.sessions == 0 {
		return nil
	}
	type item struct {
		hash [32]byte
		i    int32
	}
	items := make([]item, s.sessions)
	for i := range items {
		items[i] = item{hash: sha256.Sum256([]byte(tokenFor(s.tag, i))), i: int32(i)}
	}
	slices.SortFunc(items, func(a, b item) int { return bytes.Compare(a.hash[:], b.hash[:]) })

	const batch = 1000
	stmtFor := func(n int) string {
		var q strings.Builder
		q.WriteString(`INSERT INTO sessions (token_hash, user_id, last_seen_at, idle_expires_at, created_at, expires_at, auth_time,
			ip, user_agent, auth_method, data)
			SELECT column1, column2, column3, column4, ?, ?, ?, '127.0.0.1', 'gatehouse-bench', 'password',
				CASE WHEN column2 = 1 THEN '{"admin":true}' ELSE '{}' END FROM (VALUES `)
		for j := range n {
			if j > 0 {
				q.WriteString(",")
			}
			q.WriteString("(?,?,?,?)")
		}
		q.WriteString(")")
		return q.String()
	}
	created, expires := s.now.Add(-time.Minute).UTC(), s.now.Add(12*time.Hour).UTC()
	return inTx(ctx, conn, func(tx *sql.Tx) error {
		full, err := tx.PrepareContext(ctx, stmtFor(batch))
		if err != nil {
			return err
		}
		defer full.Close()
		args := make([]any, 0, 3+4*batch)
		for start := 0; start < len(items); start += batch {
			chunk := items[start:min(start+batch, len(items))]
			args = append(args[:0], created, expires, created)
			for _, it := range chunk {
				seen := s.lastSeen(int(it.i)).UTC()
				args = append(args, hex.EncodeToString(it.hash[:]), 1+int(it.i)%s.users, seen, seen.Add(30*time.Minute))
			}
			if len(chunk) == batch {
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, stmtFor(len(chunk)), args...)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// respread sets the sessions' last_seen_at (and idle expiry) again as
// seeding does, now - (i % spread) seconds, with now the time it is called:
// whatever time passed since seeding (start-ups, waiting for a quiet
// machine) would otherwise make every session due for its last_seen write
// at once. Sessions are numbered by id here, which only changes which
// session gets which offset. On PostgreSQL it vacuums after, so the
// measurement does not start with a table of dead rows.
func respread(ctx context.Context, database string, spread int, now time.Time) error {
	sqlDB, err := models.OpenSQL(database)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = inTx(ctx, conn, func(tx *sql.Tx) error {
		var ids []int64
		rows, err := tx.QueryContext(ctx, "SELECT id FROM sessions ORDER BY id")
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		up, err := tx.PrepareContext(ctx, "UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 WHERE id = $3")
		if err != nil {
			return err
		}
		defer up.Close()
		for i, id := range ids {
			seen := now.Add(-time.Duration(i%max(1, spread)) * time.Second).UTC()
			if _, err := up.ExecContext(ctx, seen, seen.Add(30*time.Minute), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !models.IsPostgres(database) {
		return err
	}
	_, err = conn.ExecContext(ctx, "VACUUM (ANALYZE) sessions")
	return err
}

// seedSessionsPG inserts the sessions on PostgreSQL in one statement: the
// server derives each token and its hash as tokenFor and sessionstore.Hash
// do (base64url without padding of SHA-256(tag/i), then hex SHA-256 of
// that), and the rows go in in token-hash order as on SQLite. The caller's
// check of the first and last session proves the derivations agree.
func seedSessionsPG(ctx context.Context, conn *sql.Conn, s seedSpec) error {
	if s.sessions == 0 {
		return nil
	}
	const q = `INSERT INTO sessions (token_hash, user_id, last_seen_at, idle_expires_at, created_at, expires_at, auth_time,
			ip, user_agent, auth_method, data)
		SELECT h, u, seen, seen + interval '30 minutes', $1, $2, $1, '127.0.0.1', 'gatehouse-bench', 'password',
			CASE WHEN u = 1 THEN '{"admin":true}' ELSE '{}' END
		FROM (
			SELECT encode(sha256(convert_to(
					translate(rtrim(encode(sha256(convert_to($3::text || '/' || i, 'UTF8')), 'base64'), '='), '+/', '-_'),
					'UTF8')), 'hex') AS h,
				1 + i % $4::int AS u,
				$5::timestamptz - make_interval(secs => i % $6::int) AS seen
			FROM generate_series(0, $7::int - 1) AS i
		) AS g
		ORDER BY h`
	created, expires := s.now.Add(-time.Minute).UTC(), s.now.Add(12*time.Hour).UTC()
	return inTx(ctx, conn, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q, created, expires, s.tag, s.users, s.now.UTC(), max(1, s.spread), s.sessions)
		return err
	})
}

func inTx(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// sessionHash is what the store looks session i up by (a cross-check that
// seeding and the store agree on the hashing).
func sessionHash(tag string, i int) string { return sessionstore.Hash(tokenFor(tag, i)) }
