package throttle_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/throttle"
)

func newLimiter(t *testing.T) (*throttle.Limiter, *models.DB, *time.Time) {
	t.Helper()
	db, err := models.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	return throttle.New(db, throttle.DefaultRules()), db, &now
}

func fail(t *testing.T, l *throttle.Limiter, account, addr string, n int) {
	t.Helper()
	for range n {
		if err := l.Fail(context.Background(), account, addr); err != nil {
			t.Fatal(err)
		}
	}
}

func wait(t *testing.T, l *throttle.Limiter, account, addr string) time.Duration {
	t.Helper()
	d, err := l.Check(context.Background(), account, addr)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAllowanceThenGrowingDelay(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	fail(t, l, "a@example.com", "10.0.0.1", 5)
	if d := wait(t, l, "a@example.com", "10.0.0.1"); d != 0 {
		t.Fatalf("after 5 failures wait = %v, want 0 (allowance)", d)
	}
	var last time.Duration
	for i := range 4 {
		fail(t, l, "A@Example.com", "10.0.0.1", 1) // same account whatever the case
		d := wait(t, l, "a@example.com", "10.0.0.1")
		if d <= last {
			t.Fatalf("failure %d: wait %v did not grow past %v", 6+i, d, last)
		}
		last = d
	}
	if last != 8*time.Second {
		t.Fatalf("9th failure wait = %v, want 8s", last)
	}
}

func TestOtherAddressStillWorks(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	fail(t, l, "victim@example.com", "203.0.113.9", 12) // attacker's address
	if d := wait(t, l, "victim@example.com", "203.0.113.9"); d == 0 {
		t.Fatal("attacker address not throttled")
	}
	if d := wait(t, l, "victim@example.com", "198.51.100.7"); d != 0 {
		t.Fatalf("victim's own address waits %v; want 0", d)
	}
}

func TestAccountWideDelayIsCapped(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	// A distributed attack: many addresses, a few tries each.
	for i := range 40 {
		fail(t, l, "victim@example.com", "192.0.2."+string(rune('0'+i%10))+string(rune('0'+i/10)), 1)
	}
	d := wait(t, l, "victim@example.com", "198.51.100.7")
	if d == 0 || d > time.Minute {
		t.Fatalf("account-wide wait = %v, want > 0 and <= 1m", d)
	}
}

func TestAddressLimitAcrossAccounts(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	for i := range 21 {
		fail(t, l, string(rune('a'+i))+"@example.com", "203.0.113.5", 1)
	}
	if d := wait(t, l, "fresh@example.com", "203.0.113.5"); d == 0 {
		t.Fatal("spraying address not throttled for a fresh account")
	}
}

func TestWindowExpiresAndSucceedResets(t *testing.T) {
	t.Parallel()
	l, _, now := newLimiter(t)
	fail(t, l, "a@example.com", "10.0.0.1", 7)
	if wait(t, l, "a@example.com", "10.0.0.1") == 0 {
		t.Fatal("not throttled")
	}
	*now = now.Add(16 * time.Minute)
	if d := wait(t, l, "a@example.com", "10.0.0.1"); d != 0 {
		t.Fatalf("still waiting %v after the lock passed", d)
	}
	fail(t, l, "a@example.com", "10.0.0.1", 1) // new window: counts from 1
	if d := wait(t, l, "a@example.com", "10.0.0.1"); d != 0 {
		t.Fatalf("a failure in a new window waits %v", d)
	}
	fail(t, l, "b@example.com", "10.0.0.2", 5)
	if err := l.Succeed(context.Background(), "b@example.com", "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	fail(t, l, "b@example.com", "10.0.0.2", 1)
	if d := wait(t, l, "b@example.com", "10.0.0.2"); d != 0 {
		t.Fatalf("after success the allowance did not reset: wait %v", d)
	}
	if err := l.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
}
