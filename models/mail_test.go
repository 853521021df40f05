package models

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func enqueueTestMail(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		if err := db.EnqueueMail(t.Context(), OutboxMail{MessageID: fmt.Sprintf("%032x", i+1), Recipient: "ann@example.org", Subject: "s", Body: "b"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMailOutboxLifecycle: a message enqueued in a transaction exists only
// if it commits; a claim hides it until its lease lapses, and a claim that
// lapsed and was taken over reports nothing; failures back off 1m, 2m, 4m
// and the last gives up; a given-up message is listed, retried and sent;
// the sweep deletes old sent and failed ones.
func TestMailOutboxLifecycle(t *testing.T) {
	t.Parallel()
	db := openTestDB(t)
	start := time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)
	set := fixedClock(db, start)
	ctx := t.Context()

	rollback := errors.New("rollback")
	if err := db.Tx(ctx, func(tx *DB) error {
		enqueueTestMail(t, tx, 1)
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if n, _ := db.CountQueuedMail(ctx); n != 0 {
		t.Fatalf("rolled back message queued: %d", n)
	}
	if err := db.Tx(ctx, func(tx *DB) error { enqueueTestMail(t, tx, 1); return nil }); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountQueuedMail(ctx); n != 1 {
		t.Fatalf("queued %d", n)
	}

	claim := func(tok string) (ClaimedMail, bool) {
		t.Helper()
		m, ok, err := db.ClaimMail(ctx, tok, 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return m, ok
	}
	a, ok := claim("a")
	if !ok || a.Attempts != 1 || a.Claim != "a" || a.Recipient != "ann@example.org" || a.Body != "b" {
		t.Fatalf("claim %+v %v", a, ok)
	}
	if _, ok := claim("b"); ok {
		t.Fatal("claimed twice")
	}
	set(start.Add(2 * time.Minute)) // a's lease lapsed: b takes over
	b, ok := claim("b")
	if !ok || b.Attempts != 2 || b.ID != a.ID {
		t.Fatalf("takeover %+v %v", b, ok)
	}
	if err := db.MarkMailSent(ctx, a); err != nil { // a, late: ignored
		t.Fatal(err)
	}
	if n, _ := db.CountQueuedMail(ctx); n != 1 {
		t.Fatal("a lapsed claim marked the message sent")
	}

	// b fails (attempt 2): due again 2m later; then 4m; the 4th gives up.
	now := start.Add(2 * time.Minute)
	for attempt, m := 2, b; ; attempt++ {
		gaveUp, err := db.MarkMailFailed(ctx, m, errors.New("451 try later"), false, 4)
		if err != nil {
			t.Fatal(err)
		}
		if gaveUp != (attempt == 4) {
			t.Fatalf("attempt %d: gave up %v", attempt, gaveUp)
		}
		if gaveUp {
			break
		}
		wait := MailBackoff(attempt)
		set(now.Add(wait - time.Second))
		if _, ok := claim("early"); ok {
			t.Fatalf("attempt %d: due before its backoff %v", attempt, wait)
		}
		now = now.Add(wait)
		set(now)
		if m, ok = claim(fmt.Sprint("c", attempt)); !ok || m.Attempts != attempt+1 {
			t.Fatalf("attempt %d: not due after %v: %+v", attempt, wait, m)
		}
	}
	if n, _ := db.CountQueuedMail(ctx); n != 0 {
		t.Fatalf("a given-up message still queued")
	}
	set(now.Add(24 * time.Hour))
	if _, ok := claim("z"); ok {
		t.Fatal("a given-up message was claimed")
	}
	failed, err := db.FailedMail(ctx, 10)
	if err != nil || len(failed) != 1 || failed[0].LastError != "451 try later" || failed[0].Attempts != 4 || failed[0].FailedAt == nil {
		t.Fatalf("failed %+v %v", failed, err)
	}
	if got, err := db.RetryMail(ctx, failed[0].ID); err != nil || got.ID != failed[0].ID || got.Recipient != failed[0].Recipient || got.Subject != failed[0].Subject {
		t.Fatalf("retry: %+v %v, want %+v", got, err, failed[0])
	}
	if _, err := db.RetryMail(ctx, failed[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry of a queued message: %v", err)
	}
	r, ok := claim("r")
	if !ok || r.Attempts != 1 {
		t.Fatalf("retried %+v %v", r, ok)
	}
	if err := db.MarkMailSent(ctx, r); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountQueuedMail(ctx); n != 0 {
		t.Fatal("sent message still queued")
	}
	var body string
	if err := db.gorm.WithContext(ctx).Raw(`SELECT body FROM mail_outbox WHERE id = ?`, r.ID).Scan(&body).Error; err != nil || body != "" {
		t.Fatalf("a delivered message keeps its body (it may hold a link): %q %v", body, err)
	}
	if f, _ := db.FailedMail(ctx, 10); len(f) != 0 {
		t.Fatalf("sent message listed as failed: %+v", f)
	}

	sentAt := db.Time()
	if n, err := db.DeleteOldMail(ctx, sentAt, sentAt, 10); err != nil || n != 0 {
		t.Fatalf("deleted %d %v", n, err)
	}
	if n, err := db.DeleteOldMail(ctx, sentAt.Add(time.Second), sentAt, 10); err != nil || n != 1 {
		t.Fatalf("deleted %d %v", n, err)
	}
}

func TestMailBackoff(t *testing.T) {
	t.Parallel()
	want := []time.Duration{time.Minute, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour}
	for n, w := range want {
		if got := MailBackoff(n); got != w {
			t.Errorf("MailBackoff(%d) = %v, want %v", n, got, w)
		}
	}
	if MailBackoff(1000) != time.Hour {
		t.Error("not capped")
	}
}
