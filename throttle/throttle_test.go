package throttle_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/models"
	"github.com/gatehouse/gatehouse/sessionstore"
	"github.com/gatehouse/gatehouse/testkit"
	"github.com/gatehouse/gatehouse/throttle"
)

// limiterClock is a settable clock safe to read from many goroutines.
type limiterClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *limiterClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *limiterClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLimiter(t *testing.T) (*throttle.Limiter, *models.DB, *limiterClock) {
	t.Helper()
	db, err := models.Open(testkit.Database(t, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Nanoseconds on purpose: the database keeps microseconds, and a lock
	// read back must still be recognised as the one an attempt set.
	clock := &limiterClock{t: time.Date(2026, 1, 1, 12, 0, 0, 123456789, time.UTC)}
	db.Now = clock.Now
	return throttle.New(db, throttle.DefaultRules()), db, clock
}

func from(account, addr string) throttle.Client { return throttle.Client{Account: account, Addr: addr} }

// fail makes n wrong-password attempts from c and returns how many were let
// through to the password check (and so counted); the others were refused.
func fail(t *testing.T, l *throttle.Limiter, c throttle.Client, n int) int {
	t.Helper()
	evaluated := 0
	for range n {
		a, wait, err := l.Begin(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if (a == nil) != (wait > 0) {
			t.Fatalf("Begin = %v, %v: want an attempt or a wait, not both or neither", a, wait)
		}
		if a != nil {
			evaluated++
		}
	}
	return evaluated
}

// succeed makes one attempt from c with the right password.
func succeed(t *testing.T, l *throttle.Limiter, c throttle.Client) {
	t.Helper()
	a, wait, err := l.Begin(context.Background(), c)
	if err != nil || a == nil {
		t.Fatalf("Begin for a right password = %v, %v, %v; want to be let through", a, wait, err)
	}
	if err := a.Succeeded(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func wait(t *testing.T, l *throttle.Limiter, c throttle.Client) time.Duration {
	t.Helper()
	d, err := l.Check(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAllowanceThenGrowingDelay(t *testing.T) {
	t.Parallel()
	l, _, clock := newLimiter(t)
	a := from("a@example.com", "10.0.0.1")
	fail(t, l, a, 5)
	if d := wait(t, l, a); d != 0 {
		t.Fatalf("after 5 failures wait = %v, want 0 (allowance)", d)
	}
	var last time.Duration
	for i := range 4 {
		clock.Add(last)
		if fail(t, l, from("A@Example.com", "10.0.0.1"), 1) != 1 { // same account whatever the case
			t.Fatalf("failure %d refused once the delay had passed", 6+i)
		}
		d := wait(t, l, a)
		if d <= last {
			t.Fatalf("failure %d: wait %v did not grow past %v", 6+i, d, last)
		}
		last = d
	}
	if last != 8*time.Second {
		t.Fatalf("9th failure wait = %v, want 8s", last)
	}
	if n := fail(t, l, a, 3); n != 0 {
		t.Fatalf("%d attempts let through during the lock, want 0", n)
	}
}

func TestOtherAddressStillWorks(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	attacker := from("victim@example.com", "203.0.113.9")
	if n := fail(t, l, attacker, 12); n != 6 {
		t.Fatalf("%d of 12 attempts from one address let through, want 6", n)
	}
	if d := wait(t, l, attacker); d == 0 {
		t.Fatal("attacker address not throttled")
	}
	if d := wait(t, l, from("victim@example.com", "198.51.100.7")); d != 0 {
		t.Fatalf("victim's own address waits %v; want 0", d)
	}
}

func TestAccountWideDelayIsCapped(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	// A distributed attack: many addresses, a few tries each.
	for i := range 40 {
		fail(t, l, from("victim@example.com", "192.0.2."+strconv.Itoa(i)), 1)
	}
	d := wait(t, l, from("victim@example.com", "198.51.100.7"))
	if d == 0 || d > time.Minute {
		t.Fatalf("account-wide wait = %v, want > 0 and <= 1m", d)
	}
}

func TestAddressLimitAcrossAccounts(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	for i := range 21 {
		fail(t, l, from(string(rune('a'+i))+"@example.com", "203.0.113.5"), 1)
	}
	if d := wait(t, l, from("fresh@example.com", "203.0.113.5")); d == 0 {
		t.Fatal("spraying address not throttled for a fresh account")
	}
}

func TestWindowExpiresAndSucceedResets(t *testing.T) {
	t.Parallel()
	l, _, clock := newLimiter(t)
	a := from("a@example.com", "10.0.0.1")
	fail(t, l, a, 7)
	if wait(t, l, a) == 0 {
		t.Fatal("not throttled")
	}
	clock.Add(16 * time.Minute)
	if d := wait(t, l, a); d != 0 {
		t.Fatalf("still waiting %v after the lock passed", d)
	}
	fail(t, l, a, 1) // new window: counts from 1
	if d := wait(t, l, a); d != 0 {
		t.Fatalf("a failure in a new window waits %v", d)
	}
	b := from("b@example.com", "10.0.0.2")
	fail(t, l, b, 5)
	succeed(t, l, b)
	fail(t, l, b, 1)
	if d := wait(t, l, b); d != 0 {
		t.Fatalf("after success the allowance did not reset: wait %v", d)
	}
	if err := l.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentAttemptsCountedInTurn: attempts begun all at once for one
// account from one address are let through no more often than sequential
// ones, 5 allowed and the 6th starting the delay (run with -race).
func TestConcurrentAttemptsCountedInTurn(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	var through atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			<-start
			a, _, err := l.Begin(context.Background(), from("a@example.com", "10.0.0.1"))
			if err != nil {
				t.Error(err)
			}
			if a != nil {
				through.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if through.Load() != 6 {
		t.Fatalf("%d of 16 concurrent attempts let through, want 6", through.Load())
	}
}

// TestSettleGivesTheAttemptBack: a right password leaves the shared
// counters as if it had not been counted, its lock included, and clears
// its own; an attempt with no verdict gives every counter its count back.
func TestSettleGivesTheAttemptBack(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	for i := range 20 { // the account's allowance, used up from 20 addresses
		fail(t, l, from("v@example.com", "192.0.2."+strconv.Itoa(i)), 1)
	}
	elsewhere := from("v@example.com", "198.51.100.7")
	if d := wait(t, l, elsewhere); d != 0 {
		t.Fatalf("within the allowance the account waits %v", d)
	}
	succeed(t, l, elsewhere) // the 21st attempt set a 1s lock, then was right
	if d := wait(t, l, elsewhere); d != 0 {
		t.Fatalf("a right password left the account locked for %v", d)
	}
	if fail(t, l, elsewhere, 1) != 1 || wait(t, l, elsewhere) != time.Second {
		t.Fatal("after a right password the next failure is not the 21st (1s delay)")
	}

	c := from("w@example.com", "10.0.0.9")
	fail(t, l, c, 5)
	a, _, err := l.Begin(context.Background(), c) // the 6th: sets a 1s lock
	if err != nil || a == nil {
		t.Fatalf("Begin = %v, %v", a, err)
	}
	if err := a.Abandoned(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := wait(t, l, c); d != 0 {
		t.Fatalf("an abandoned attempt left a %v lock", d)
	}
	if fail(t, l, c, 1) != 1 || wait(t, l, c) != time.Second {
		t.Fatal("an abandoned attempt was not given back: the next one is not the 6th")
	}
}

// TestIPv6CountedBySlash64: the addresses of one IPv6 /64 are one client
// for the address rules; another /64 is another client; an IPv4-mapped
// address is its IPv4 address.
func TestIPv6CountedBySlash64(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	through := 0
	for i := range 25 {
		through += fail(t, l, from("v@example.com", "2001:db8:1:2:"+strconv.FormatInt(int64(i)*2477+1, 16)+"::"+strconv.Itoa(i+1)), 1)
	}
	if through != 6 {
		t.Fatalf("%d of 25 guesses from one /64 let through, want 6 (the per-address allowance)", through)
	}
	if d := wait(t, l, from("v@example.com", "2001:db8:1:2:ffff:ffff:ffff:ffff")); d == 0 {
		t.Fatal("another address of the same /64 is not throttled")
	}
	if d := wait(t, l, from("v@example.com", "2001:db8:1:3::1")); d != 0 {
		t.Fatalf("the next /64 waits %v, want 0", d)
	}

	fail(t, l, from("m@example.com", "::ffff:203.0.113.7"), 6)
	if d := wait(t, l, from("m@example.com", "203.0.113.7")); d == 0 {
		t.Fatal("an IPv4-mapped address is counted apart from its IPv4 address")
	}
}

// TestKnownDevice: a browser that signed in to the account before answers
// to its own device rule only: guesses from elsewhere, the account-wide
// lock included, do not refuse it; its own failures do, 10 allowed; a
// device of another account, an unknown token or a device unused for
// DeviceLifetime count as a new browser.
func TestKnownDevice(t *testing.T) {
	t.Parallel()
	l, db, clock := newLimiter(t)
	ctx := context.Background()
	victim := &models.User{Email: "victim@example.com"}
	other := &models.User{Email: "other@example.com"}
	for _, u := range []*models.User{victim, other} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	const token, otherToken = "dev-token-of-the-victims-browser", "dev-token-of-another-account"
	if err := l.RememberDevice(ctx, victim.ID, token); err != nil {
		t.Fatal(err)
	}
	if err := l.RememberDevice(ctx, other.ID, otherToken); err != nil {
		t.Fatal(err)
	}
	device := throttle.Client{Account: "Victim@example.com", Addr: "198.51.100.7", Device: token}

	for i := range 60 { // the attacker, from many addresses
		fail(t, l, from("victim@example.com", "192.0.2."+strconv.Itoa(i)), 1)
	}
	if d := wait(t, l, from("victim@example.com", "198.51.100.7")); d == 0 {
		t.Fatal("the account-wide rule did not lock the account for a new browser")
	}
	for _, c := range []throttle.Client{
		{Account: "victim@example.com", Addr: "198.51.100.7", Device: "an-unknown-token"},
		{Account: "victim@example.com", Addr: "198.51.100.7", Device: otherToken},
	} {
		if d := wait(t, l, c); d == 0 {
			t.Fatalf("device %q is treated as known to the victim's account", c.Device)
		}
	}
	succeed(t, l, device)

	// The device's own rule: 10 allowed, the 11th starts the delay; the
	// attacker's address locks do not add to it.
	if n := fail(t, l, device, 14); n != 11 {
		t.Fatalf("%d of 14 wrong passwords from the known device let through, want 11", n)
	}
	if d := wait(t, l, device); d != time.Second {
		t.Fatalf("known device waits %v after 11 failures, want 1s", d)
	}
	clock.Add(time.Second)
	succeed(t, l, device)
	if fail(t, l, device, 10) != 10 {
		t.Fatal("a right password did not clear the device's count")
	}

	clock.Add(throttle.DeviceLifetime)
	if d := wait(t, l, device); d != 0 {
		t.Fatalf("wait %v", d)
	}
	for i := range 21 { // the account locks again
		fail(t, l, from("victim@example.com", "192.0.2."+strconv.Itoa(i)), 1)
	}
	if d := wait(t, l, device); d == 0 {
		t.Fatal("a device unused for DeviceLifetime is still known")
	}
	if err := l.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if known, err := db.KnownDevice(ctx, "victim@example.com", sessionstore.Hash(token), 100*throttle.DeviceLifetime); err != nil || known {
		t.Fatalf("after Cleanup the old device is still stored: %t, %v", known, err)
	}
}
