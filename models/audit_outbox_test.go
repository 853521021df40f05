package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// hookLog records what EventHooks were called with.
type hookLog struct {
	mu       sync.Mutex
	recorded []string
	skipped  []string
}

func (l *hookLog) hooks(queue bool, outboxCap int64) *EventHooks {
	h := &EventHooks{Recorded: func(_ context.Context, e *Event) {
		l.mu.Lock()
		l.recorded = append(l.recorded, e.Detail)
		l.mu.Unlock()
	}}
	if queue {
		h.Delivery = func(_ context.Context, e *Event) (AuditDelivery, error) {
			return AuditDelivery{EventID: e.ID, DeliveryID: fmt.Sprintf("d-%d", e.ID), Kind: e.Kind, Body: `{"detail":"` + e.Detail + `"}`}, nil
		}
		h.OutboxCap = outboxCap
		h.Skipped = func(_ context.Context, e *Event) {
			l.mu.Lock()
			l.skipped = append(l.skipped, e.Detail)
			l.mu.Unlock()
		}
	}
	return h
}

func (l *hookLog) get() (recorded, skipped []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.recorded...), append([]string(nil), l.skipped...)
}

func record(t *testing.T, db *DB, detail string) {
	t.Helper()
	if err := db.RecordEvent(t.Context(), &Event{Kind: EventLoginFailure, Email: "ann@example.org", Detail: detail}); err != nil {
		t.Fatal(err)
	}
}

// TestRecordEventHooks: Recorded sees an event once it is stored, after
// the commit of the transaction it was written in (nested ones included),
// and never one rolled back (its delivery is rolled back with it); with
// Delivery the outbox row is written beside the event.
func TestRecordEventHooks(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	var l hookLog
	db.SetAudit(l.hooks(true, 0))
	ctx := t.Context()

	record(t, db, "alone")
	rollback := errors.New("rollback")
	err := db.Tx(ctx, func(tx *DB) error {
		record(t, tx, "in a rolled-back tx")
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	err = db.Tx(ctx, func(tx *DB) error {
		record(t, tx, "in a tx")
		if rec, _ := l.get(); len(rec) != 1 {
			t.Errorf("recorded before the commit: %v", rec)
		}
		_ = tx.Tx(ctx, func(inner *DB) error {
			record(t, inner, "in a rolled-back savepoint")
			return rollback
		})
		return tx.Tx(ctx, func(inner *DB) error {
			record(t, inner, "in a savepoint")
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, skipped := l.get()
	if want := fmt.Sprint([]string{"alone", "in a tx", "in a savepoint"}); fmt.Sprint(rec) != want || len(skipped) != 0 {
		t.Fatalf("recorded %v, skipped %v, want %s", rec, skipped, want)
	}
	if n, err := db.CountQueuedAudit(ctx); err != nil || n != 3 {
		t.Fatalf("queued %d %v, want 3", n, err)
	}
	evs, err := db.Events(ctx, 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("events %d %v", len(evs), err)
	}

	// A failed insert (a cancelled context) calls nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.RecordEvent(cctx, &Event{Kind: EventLogout, Detail: "cancelled"}); err == nil {
		t.Fatal("recorded with a cancelled context")
	}
	if rec, _ := l.get(); len(rec) != 3 {
		t.Fatalf("recorded a failed insert: %v", rec)
	}

	// Without Delivery nothing is queued.
	db.SetAudit(l.hooks(false, 0))
	record(t, db, "no webhook")
	if n, _ := db.CountQueuedAudit(ctx); n != 3 {
		t.Fatalf("queued without a webhook: %d", n)
	}
}

// TestAuditOutboxCap: past the cap an event is stored but not queued, and
// Skipped says so; once the queue drains below the cap, events are queued
// again.
func TestAuditOutboxCap(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	fixedClock(db, time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC))
	var l hookLog
	db.SetAudit(l.hooks(true, 5))
	ctx := t.Context()
	for i := range 8 {
		record(t, db, fmt.Sprint(i))
	}
	rec, skipped := l.get()
	if len(rec) != 8 || fmt.Sprint(skipped) != "[5 6 7]" {
		t.Fatalf("recorded %v, skipped %v", rec, skipped)
	}
	if n, _ := db.CountQueuedAudit(ctx); n != 5 {
		t.Fatalf("queued %d, want 5", n)
	}
	if evs, _ := db.Events(ctx, 100); len(evs) != 8 {
		t.Fatalf("stored %d events, want 8", len(evs))
	}
	// Deliver two: room for two more.
	batch, err := db.ClaimAuditBatch(ctx, "c", time.Minute, 2)
	if err != nil || len(batch) != 2 {
		t.Fatalf("claimed %d %v", len(batch), err)
	}
	for _, d := range batch {
		if err := db.MarkAuditDelivered(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for i := 8; i < 11; i++ {
		record(t, db, fmt.Sprint(i))
	}
	if _, skipped := l.get(); fmt.Sprint(skipped) != "[5 6 7 10]" {
		t.Fatalf("skipped %v", skipped)
	}
	if n, _ := db.CountQueuedAudit(ctx); n != 5 {
		t.Fatalf("queued %d, want 5", n)
	}
}

// TestAuditOutboxClaims: claims take the oldest due deliveries in order,
// hide them while leased, and a lapsed claim is taken over (the old
// claimant reports nothing); a failure makes everything newer wait behind
// it, the released rest uncounted; the last attempt gives up, keeping the
// row until the sweep.
func TestAuditOutboxClaims(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	start := time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, start)
	var l hookLog
	db.SetAudit(l.hooks(true, 0))
	ctx := t.Context()
	for i := range 5 {
		record(t, db, fmt.Sprint(i))
	}
	a, err := db.ClaimAuditBatch(ctx, "a", time.Minute, 3)
	if err != nil || len(a) != 3 || a[0].Body != `{"detail":"0"}` || a[2].Body != `{"detail":"2"}` || a[0].Attempts != 1 || a[0].Claim != "a" {
		t.Fatalf("claim a: %+v %v", a, err)
	}
	b, err := db.ClaimAuditBatch(ctx, "b", time.Minute, 3)
	if err != nil || len(b) != 2 || b[0].Body != `{"detail":"3"}` {
		t.Fatalf("claim b: %+v %v", b, err)
	}
	// a's lease lapses; c takes its rows over.
	set(start.Add(2 * time.Minute))
	c, err := db.ClaimAuditBatch(ctx, "c", time.Minute, 10)
	if err != nil || len(c) != 5 || c[0].Attempts != 2 {
		t.Fatalf("claim c: %+v %v", c, err)
	}
	if err := db.MarkAuditDelivered(ctx, a[0]); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountQueuedAudit(ctx); n != 5 {
		t.Fatalf("a stale claim deleted a row: %d queued", n)
	}
	// c delivers the first, fails the second and releases the rest.
	if err := db.MarkAuditDelivered(ctx, c[0]); err != nil {
		t.Fatal(err)
	}
	retry := start.Add(2*time.Minute + 10*time.Second)
	gaveUp, err := db.MarkAuditFailed(ctx, c[1], errors.New("HTTP 500"), retry, 3)
	if err != nil || gaveUp {
		t.Fatal(gaveUp, err)
	}
	if err := db.ReleaseAudit(ctx, c[2:], retry); err != nil {
		t.Fatal(err)
	}
	record(t, db, "5") // newer, due at once, yet behind the failed one
	if got, err := db.ClaimAuditBatch(ctx, "d", time.Minute, 10); err != nil || len(got) != 0 {
		t.Fatalf("claimed past a failed delivery: %+v %v", got, err)
	}
	set(retry)
	d, err := db.ClaimAuditBatch(ctx, "d", time.Minute, 10)
	if err != nil || len(d) != 5 || d[0].Body != `{"detail":"1"}` || d[0].Attempts != 3 || d[1].Attempts != 2 || d[4].Body != `{"detail":"5"}` {
		t.Fatalf("claim d: %+v %v", d, err)
	}
	// The third attempt gives up; the rest goes on.
	if gaveUp, err := db.MarkAuditFailed(ctx, d[0], errors.New("HTTP 500"), retry.Add(time.Hour), 3); err != nil || !gaveUp {
		t.Fatal(gaveUp, err)
	}
	if err := db.ReleaseAudit(ctx, d[1:], retry); err != nil {
		t.Fatal(err)
	}
	e, err := db.ClaimAuditBatch(ctx, "e", time.Minute, 10)
	if err != nil || len(e) != 4 || e[0].Body != `{"detail":"2"}` {
		t.Fatalf("claim e: %+v %v", e, err)
	}
	failed, err := db.FailedAudit(ctx, 10)
	if err != nil || len(failed) != 1 || failed[0].LastError != "HTTP 500" || failed[0].Attempts != 3 || failed[0].DeliveryID != fmt.Sprintf("d-%d", failed[0].EventID) {
		t.Fatalf("failed %+v %v", failed, err)
	}
	if n, _ := db.CountQueuedAudit(ctx); n != 4 {
		t.Fatalf("queued %d, want 4", n)
	}
	if n, err := db.DeleteFailedAudit(ctx, retry, 10); err != nil || n != 0 {
		t.Fatalf("deleted a fresh failure: %d %v", n, err)
	}
	if n, err := db.DeleteFailedAudit(ctx, retry.Add(31*24*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("deleted %d %v", n, err)
	}
}

// TestRecordEventQueueFails: a delivery that cannot be queued is skipped
// and reported; the event itself is stored all the same, alone or inside
// a caller's transaction, which goes on.
func TestRecordEventQueueFails(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	var l hookLog
	h := l.hooks(true, 0)
	h.Delivery = func(context.Context, *Event) (AuditDelivery, error) {
		return AuditDelivery{}, errors.New("no randomness")
	}
	db.SetAudit(h)
	record(t, db, "alone")
	if err := db.Tx(t.Context(), func(tx *DB) error {
		record(t, tx, "in a tx")
		return tx.RecordEvent(t.Context(), &Event{Kind: EventLogout, Detail: "after"})
	}); err != nil {
		t.Fatalf("the caller's transaction failed: %v", err)
	}
	es, err := db.Events(t.Context(), 10)
	if err != nil || len(es) != 3 {
		t.Fatalf("%d events stored, want 3 (%v)", len(es), err)
	}
	if n, _ := db.CountQueuedAudit(t.Context()); n != 0 {
		t.Errorf("%d deliveries queued", n)
	}
	if rec, skipped := l.get(); len(rec) != 3 || len(skipped) != 3 {
		t.Errorf("recorded %v, skipped %v", rec, skipped)
	}
}
