package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/testkit"
)

// TestSweepClearsBacklogs: one sweep clears a backlog far larger than a
// batch, of expired pending sign-ins (a flood of abandoned SSO starts), of
// audit events past audit.retention and of webhook deliveries given up on
// over 30 days ago, and keeps what is still live or recent.
func TestSweepClearsBacklogs(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.Database = testkit.Database(t, "g.db")
	cfg.Audit.Retention = 30 * 24 * time.Hour
	if err := cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	pool, err := models.OpenSQL(cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })

	const expiredPending, livePending = 2_345, 7
	const oldEvents, recentEvents = 3_210, 11
	seed := func(query string, n int, args func(i int) []any) {
		t.Helper()
		tx, err := pool.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for i := range n {
			if _, err := tx.Exec(query, args(i)...); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	const pendingSQL = `INSERT INTO pending_logins (state_hash, browser_hash, provider_id, nonce, code_verifier, created_at, expires_at)
		VALUES ($1, $2, 'acme', 'n', 'v', $3, $4)`
	seed(pendingSQL, expiredPending, func(i int) []any {
		return []any{fmt.Sprintf("old-%d", i), fmt.Sprintf("b-%d", i), now.Add(-time.Hour), now.Add(-50 * time.Minute)}
	})
	seed(pendingSQL, livePending, func(i int) []any {
		return []any{fmt.Sprintf("live-%d", i), fmt.Sprintf("b-%d", i), now, now.Add(10 * time.Minute)}
	})
	const eventSQL = `INSERT INTO events (created_at, kind, detail) VALUES ($1, 'login.failure', $2)`
	seed(eventSQL, oldEvents, func(i int) []any {
		return []any{now.Add(-31*24*time.Hour - time.Duration(i)*time.Minute), "old"}
	})
	seed(eventSQL, recentEvents, func(i int) []any {
		return []any{now.Add(-29*24*time.Hour + time.Duration(i)*time.Minute), "recent"}
	})

	// Webhook deliveries: given up on over 30 days ago (deleted), given up
	// on lately and still waiting however old (both kept).
	const outboxSQL = `INSERT INTO audit_outbox (event_id, delivery_id, kind, body, created_at, next_attempt_at, failed_at)
		VALUES (1, $1, 'logout', '{}', $2, $2, $3)`
	const oldFailed = 1_234
	seed(outboxSQL, oldFailed, func(i int) []any {
		return []any{fmt.Sprintf("old-%d", i), now.Add(-40 * 24 * time.Hour), now.Add(-31*24*time.Hour - time.Duration(i)*time.Second)}
	})
	seed(outboxSQL, 3, func(i int) []any {
		return []any{fmt.Sprintf("recent-%d", i), now.Add(-40 * 24 * time.Hour), now.Add(-29 * 24 * time.Hour)}
	})
	seed(outboxSQL, 2, func(i int) []any { return []any{fmt.Sprintf("waiting-%d", i), now.Add(-40 * 24 * time.Hour), nil} })

	a.Sweep(context.Background())
	count := func(query string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("SELECT count(*) FROM pending_logins"); n != livePending {
		t.Errorf("%d pending sign-ins left after one sweep, want the %d live ones", n, livePending)
	}
	if n := count("SELECT count(*) FROM pending_logins WHERE state_hash LIKE 'live-%'"); n != livePending {
		t.Errorf("the sweep deleted live pending sign-ins: %d of %d left", n, livePending)
	}
	if n := count("SELECT count(*) FROM events WHERE detail = 'old'"); n != 0 {
		t.Errorf("%d audit events past the retention left after one sweep, want 0", n)
	}
	if n := count("SELECT count(*) FROM events WHERE detail = 'recent'"); n != recentEvents {
		t.Errorf("%d recent audit events left, want all %d", n, recentEvents)
	}
	if n := count("SELECT count(*) FROM audit_outbox WHERE delivery_id LIKE 'old-%'"); n != 0 {
		t.Errorf("%d webhook deliveries given up over 30 days ago left, want 0", n)
	}
	if n := count("SELECT count(*) FROM audit_outbox"); n != 5 {
		t.Errorf("%d webhook deliveries left, want the 3 recent failures and the 2 waiting", n)
	}
	// A cancelled sweep stops without deleting more than it started.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	seed(eventSQL, 10, func(i int) []any { return []any{now.Add(-time.Duration(40*24+i) * time.Hour), "old"} })
	a.Sweep(ctx)
	if n := count("SELECT count(*) FROM events WHERE detail = 'old'"); n != 10 {
		t.Errorf("a sweep with its context done deleted %d events", 10-n)
	}
}
